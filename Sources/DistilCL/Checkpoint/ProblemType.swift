/// transformers' `problem_type` of a sequence classifier (`config.json`): what its labels are,
/// the loss it trains with and how the text-classification pipeline turns its logits into scores.
public enum ProblemType: String, Sendable, Codable, CaseIterable {
    /// One class per text: softmax cross-entropy; scores by softmax.
    case singleLabel = "single_label_classification"
    /// One real number per text (a one-label head): mean squared error; scores are the raw logits.
    case regression
    /// Any set of labels per text: binary cross-entropy with logits, one per label; scores by
    /// sigmoid, a label predicted when its logit is above 0 (probability 0.5).
    case multiLabel = "multi_label_classification"

    /// The type transformers assumes for a head of `labels` labels without a `problem_type`:
    /// regression for one label, else single-label (integer labels).
    public static func inferred(labels: Int) -> ProblemType { labels == 1 ? .regression : .singleLabel }
}
