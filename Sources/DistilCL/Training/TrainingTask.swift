import Foundation

/// What `distilcl train`, `distill` and `evaluate` work on (`--task`, transformers' pipeline
/// task names).
public enum TrainingTask: String, Sendable, CaseIterable, Codable {
    case textClassification = "text-classification"
    case tokenClassification = "token-classification"
    case questionAnswering = "question-answering"
    case maskedLM = "masked-lm"

    /// The task of a checkpoint's head (`architectures`): token classification or question
    /// answering for theirs, text classification for every other.
    public init(config: ModelConfig) {
        switch config.task {
        case .tokenClassification: self = .tokenClassification
        case .questionAnswering: self = .questionAnswering
        case .maskedLM: self = .maskedLM
        default: self = .textClassification
        }
    }

    /// `--task`'s value, or else the model folder's head.
    public static func resolve(_ given: TrainingTask?, model directory: URL) throws -> TrainingTask {
        if let given { return given }
        return TrainingTask(config: try ModelConfig(contentsOf: directory.appendingPathComponent("config.json")))
    }

    /// What `train` (and a `distill` student) trains without `--task`: the head's task, except
    /// that a masked-LM head is a pretrained checkpoint (`distilbert-base-uncased`'s
    /// `DistilBertForMaskedLM`) that users fine-tune into a text classifier, as `run_glue.py`
    /// does; `--task masked-lm` continues its masked-LM training instead.
    public static func resolveForTraining(_ given: TrainingTask?, model directory: URL) throws -> TrainingTask {
        let task = try resolve(given, model: directory)
        return given == nil && task == .maskedLM ? .textClassification : task
    }

    /// The metric `--metric-for-best-model` defaults to (each task's main one; regression's
    /// mean squared error).
    public func mainMetric(problem: ProblemType = .singleLabel) -> String {
        switch self {
        case .textClassification: problem == .regression ? "mse" : "accuracy"
        case .tokenClassification, .questionAnswering: "f1"
        case .maskedLM: "loss"
        }
    }
}

/// Token classification's data as the model reads it: each sentence's word pieces with the
/// labels run_ner.py aligns to them.
public struct TaggedFeatures: Sendable {
    /// The tag names, index = class id.
    public let names: [String]
    /// Each sentence's encoding (`encode(words:)`, cut at `maxLength`) and per-token class ids
    /// (−1 for special tokens and, unless `labelAllTokens`, a word's later pieces), `[seq]`.
    public let examples: [(Encoding, [Int32])]

    /// - Parameters:
    ///   - labelAllTokens: every piece of a word carries its tag (a `B-` word's later pieces
    ///     its `I-` tag), as run_ner's `--label_all_tokens`.
    public init(_ sentences: [TaggedSentence], names: [String], path: String, tokenizer: BertTokenizer,
                maxLength: Int, labelAllTokens: Bool) throws {
        let classes = try TaggedData.classes(sentences, names: names, path: path)
        let bToI = labelAllTokens ? TaggedData.bToILabel(names) : nil
        self.names = names
        examples = zip(sentences, classes).map { sentence, tags in
            let encoding = tokenizer.encode(words: sentence.words, maxLength: maxLength)
            let labels = TaggedData.alignLabels(wordIds: encoding.wordIds, wordTags: tags, labelAllTokens: bToI)
            return (encoding, labels.map { Int32($0) })
        }
    }
}

/// The task of a training run and how its data is read (`--task`, `--format`,
/// `--label-all-tokens`).
public struct TaskSettings: Sendable, Equatable {
    /// nil: the model folder's head.
    public var task: TrainingTask?
    /// Token classification's file format.
    public var format: TaggedData.Format
    /// Token classification: every piece of a word carries its tag (run_ner's `--label_all_tokens`).
    public var labelAllTokens: Bool
    /// Question answering: context tokens shared by consecutive windows (`--doc-stride`).
    public var docStride: Int
    /// Question answering's decoding at evaluation (`--n-best`, `--max-answer-length`,
    /// `--null-score-diff-threshold`; the threshold applies to SQuAD v2.0 data only).
    public var nBest: Int
    public var maxAnswerLength: Int
    public var nullScoreDiffThreshold: Float
    /// Text classification's problem type (`--regression`, `--multi-label`); nil: the model's
    /// `problem_type`, else inferred from its head (`ProblemType.inferred`).
    public var problemType: ProblemType?
    /// Masked-LM's blocks and masking.
    public var maskedLM: MaskedLMOptions

    public init(task: TrainingTask? = nil, format: TaggedData.Format = .jsonl, labelAllTokens: Bool = false,
                docStride: Int = 128, nBest: Int = 20, maxAnswerLength: Int = 30, nullScoreDiffThreshold: Float = 0,
                problemType: ProblemType? = nil, maskedLM: MaskedLMOptions = MaskedLMOptions()) {
        self.task = task
        self.maskedLM = maskedLM
        self.problemType = problemType
        self.format = format
        self.labelAllTokens = labelAllTokens
        self.docStride = docStride
        self.nBest = nBest
        self.maxAnswerLength = maxAnswerLength
        self.nullScoreDiffThreshold = nullScoreDiffThreshold
    }

    /// QA's decoding settings; `version2` turns the null answer on.
    func qaPrediction(version2: Bool) -> QAPredictionSettings {
        QAPredictionSettings(nBest: nBest, maxAnswerLength: maxAnswerLength,
                             nullScoreDiffThreshold: version2 ? nullScoreDiffThreshold : nil)
    }

    /// The problem type of a text classifier whose checkpoint has `config`: `problemType` when
    /// given, else the checkpoint's `problem_type`, else transformers' inference from its
    /// sequence-classification head (one label: regression), else single-label.
    func problem(for config: ModelConfig) -> ProblemType {
        problemType ?? config.problemType
            ?? (config.task == .sequenceClassification ? .inferred(labels: config.labels.count) : .singleLabel)
    }

    /// Checks the values a user gives (status 64).
    public func validate() throws {
        guard docStride >= 1 else { throw TrainingError.badOption("--doc-stride must be at least 1, got \(docStride)") }
        guard nBest >= 1 else { throw TrainingError.badOption("--n-best must be at least 1, got \(nBest)") }
        guard maxAnswerLength >= 1 else {
            throw TrainingError.badOption("--max-answer-length must be at least 1, got \(maxAnswerLength)")
        }
        guard nullScoreDiffThreshold.isFinite else {
            throw TrainingError.badOption("--null-score-diff-threshold must be finite")
        }
        try maskedLM.validate()
        if let problemType, problemType != .singleLabel, let task, task != .textClassification {
            throw TrainingError.badOption("--\(problemType == .regression ? "regression" : "multi-label") is for text-classification, not \(task.rawValue)")
        }
    }
}
