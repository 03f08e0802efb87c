// The text-classification pipeline's post-processing (transformers `TextClassificationPipeline`
// with `top_k=None`): scores for every label, best first.

/// One label and its score, as the pipeline's `{"label": ..., "score": ...}`.
public struct LabelScore: Sendable, Equatable, Codable {
    /// The label name (`id2label`).
    public var label: String
    /// Its probability (or raw logit with `ClassificationFunction.none`).
    public var score: Float

    public init(label: String, score: Float) {
        self.label = label
        self.score = score
    }
}

/// `function_to_apply` of the text-classification pipeline.
public enum ClassificationFunction: String, CaseIterable, Sendable {
    /// Softmax over the labels (single-label models with two or more labels).
    case softmax
    /// Independent logistic per label (one-label regression-style heads, multi-label models).
    case sigmoid
    /// The raw logits.
    case none

    /// The pipeline's default for a model with `labelCount` labels: sigmoid for one label
    /// (or `multiLabel`), softmax otherwise.
    public static func `default`(labelCount: Int, multiLabel: Bool = false) -> ClassificationFunction {
        multiLabel || labelCount == 1 ? .sigmoid : .softmax
    }

    /// The pipeline's default for a model (transformers' `postprocess`): none for
    /// `problem_type` regression, sigmoid for multi-label or a one-label head, else softmax.
    public static func `default`(for config: ModelConfig) -> ClassificationFunction {
        config.problemType == .regression ? .none
            : .default(labelCount: config.labels.count, multiLabel: config.problemType == .multiLabel)
    }
}

/// Post-processing of sequence-classification logits.
public enum TextClassification {
    /// Label scores for one text, sorted by score (highest first; equal scores keep label order),
    /// like `pipeline("text-classification", top_k=None)`.
    ///
    /// - Parameters:
    ///   - logits: the model's logits for the text, `[labels]`.
    ///   - labels: label names by id (`ModelConfig.labels`); a missing name becomes `LABEL_<id>`.
    ///   - function: what turns logits into scores; `nil` picks the pipeline's default
    ///     (`ClassificationFunction.default(labelCount:)`).
    ///   - topK: keep only the best `topK` (all when `nil`).
    /// - Returns: `[min(labels, topK)]` label scores.
    public static func scores(logits: [Float], labels: [String], function: ClassificationFunction? = nil,
                              topK: Int? = nil) -> [LabelScore] {
        let apply = function ?? .default(labelCount: logits.count)
        let values: [Float]
        switch apply {
        case .softmax: values = PipelineMath.softmax(logits)
        case .sigmoid: values = PipelineMath.sigmoid(logits)
        case .none: values = logits
        }
        let order = values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        let kept = topK.map { Array(order.prefix(max(0, $0))) } ?? order
        return kept.map { LabelScore(label: label(for: $0, in: labels), score: values[$0]) }
    }

    /// Scores for a batch, `[batch][labels]` logits in, one sorted list per text out.
    public static func scores(batchLogits: [[Float]], labels: [String], function: ClassificationFunction? = nil,
                              topK: Int? = nil) -> [[LabelScore]] {
        batchLogits.map { scores(logits: $0, labels: labels, function: function, topK: topK) }
    }

    /// `labels[id]`, or `LABEL_<id>` as transformers names labels without `id2label`.
    static func label(for id: Int, in labels: [String]) -> String {
        id >= 0 && id < labels.count ? labels[id] : "LABEL_\(id)"
    }
}
