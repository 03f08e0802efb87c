import Foundation

/// How `distilcl evaluate` (and a run's `--eval`) reads and batches an evaluation file.
public struct EvaluationSettings: Sendable {
    public var task: TrainingTask
    /// Most tokens per input, special tokens included.
    public var maxLength: Int
    public var batchSize: Int
    /// Token classification's file format.
    public var format: TaggedData.Format
    /// Token classification: score every piece of a word (run_ner's `--label_all_tokens`).
    public var labelAllTokens: Bool

    public init(task: TrainingTask, maxLength: Int, batchSize: Int, format: TaggedData.Format = .jsonl,
                labelAllTokens: Bool = false) {
        self.task = task
        self.maxLength = maxLength
        self.batchSize = batchSize
        self.format = format
        self.labelAllTokens = labelAllTokens
    }
}

/// Evaluates a model on a labelled file with the code a training run's `--eval` uses
/// (`TextClassificationEvaluation`, `TokenClassificationEvaluation`): the file's labels are
/// read under the model's own `id2label`.
public enum Evaluator {
    public static func evaluate(_ model: EncoderModel, tokenizer: BertTokenizer, data url: URL,
                                settings s: EvaluationSettings) throws -> Evaluation {
        let names = model.config.labels
        switch s.task {
        case .textClassification:
            guard model.heads.classifier != nil, model.config.task == .sequenceClassification else {
                throw TrainingError.headMismatch("\(model.config.architectures.first ?? "the model") has no sequence-classification head to evaluate")
            }
            let examples = try LabeledData.read(url)
            let classes = try LabeledData.classes(examples, labels: names, path: url.path)
            let encoded = zip(examples, classes).map { (tokenizer.encode($0.text, pair: $0.pair, maxLength: s.maxLength), $1) }
            return try TextClassificationEvaluation.run(model, encoded, batchSize: s.batchSize)
        case .tokenClassification:
            guard model.heads.classifier != nil, model.config.task == .tokenClassification else {
                throw TrainingError.headMismatch("\(model.config.architectures.first ?? "the model") has no token-classification head to evaluate")
            }
            let sentences = try TaggedData.read(url, format: s.format)
            let features = try TaggedFeatures(sentences, names: names, path: url.path, tokenizer: tokenizer,
                                              maxLength: s.maxLength, labelAllTokens: s.labelAllTokens)
            return try TokenClassificationEvaluation.run(model, features.examples, names: names, batchSize: s.batchSize)
        case .questionAnswering:
            throw TrainingError.badOption("--task question-answering: evaluation is not built yet")
        }
    }
}
