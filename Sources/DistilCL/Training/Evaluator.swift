import Foundation

/// How `distilcl evaluate` (and a run's `--eval`) reads and batches an evaluation file.
public struct EvaluationSettings: Sendable {
    public var task: TrainingTask
    /// Most tokens per input, special tokens included (QA: of a window).
    public var maxLength: Int
    public var batchSize: Int
    /// How the data is read and QA decoded (its `task` is ignored).
    public var data: TaskSettings
    /// Masked-LM: the masks' seed (`--seed`), so that two models are scored on the same positions.
    public var seed: UInt64

    public init(task: TrainingTask, maxLength: Int, batchSize: Int, data: TaskSettings = TaskSettings(), seed: UInt64 = 0) {
        self.task = task
        self.seed = seed
        self.maxLength = maxLength
        self.batchSize = batchSize
        self.data = data
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
            let problem = s.data.problem(for: model.config)
            if problem == .regression, names.count != 1 {
                throw TrainingError.headMismatch("regression needs a one-label head; \(model.config.architectures.first ?? "the model") has \(names.count) labels")
            }
            let floats = try Trainer.floatTargets(problem, train: examples, eval: [], names: names, paths: (url.path, ""))
            let classes = try floats.map { $0.train.map { _ in Int32(0) } }
                ?? LabeledData.classes(examples, labels: names, path: url.path)
            let encoded = zip(examples, classes).map { (tokenizer.encode($0.text, pair: $0.pair, maxLength: s.maxLength), $1) }
            return try TextClassificationEvaluation.run(model, encoded, problem: problem, targets: floats?.train,
                                                        batchSize: s.batchSize)
        case .tokenClassification:
            guard model.heads.classifier != nil, model.config.task == .tokenClassification else {
                throw TrainingError.headMismatch("\(model.config.architectures.first ?? "the model") has no token-classification head to evaluate")
            }
            let sentences = try TaggedData.read(url, format: s.data.format)
            let features = try TaggedFeatures(sentences, names: names, path: url.path, tokenizer: tokenizer,
                                              maxLength: s.maxLength, labelAllTokens: s.data.labelAllTokens)
            return try TokenClassificationEvaluation.run(model, features.examples, names: names, batchSize: s.batchSize)
        case .maskedLM:
            guard model.heads.vocabProjector != nil else {
                throw TrainingError.headMismatch("\(model.config.architectures.first ?? "the model") has no masked-LM head to evaluate")
            }
            try s.data.validate()
            let m = s.data.maskedLM
            let blocks = MaskedLMBlocks(texts: try MaskedLMBlocks.texts(url), tokenizer: tokenizer, maxLength: s.maxLength,
                                        lineByLine: m.lineByLine).blocks
            guard !blocks.isEmpty else {
                throw LabeledDataError.badLine(url.path, line: 1, "the texts make no block of --max-length \(s.maxLength) tokens (pass a smaller --max-length, or --line-by-line)")
            }
            let masking = MaskedLMOptions(lineByLine: m.lineByLine, probability: m.probability, wholeWord: m.wholeWord)
                .masking(seed: s.seed, blocks: blocks, vocabSize: tokenizer.vocabSize)
            return try MaskedLMEvaluation.run(model, blocks: blocks, masking: masking, maskId: tokenizer.maskId,
                                              tokenizerVocabulary: tokenizer.vocabSize, batchSize: s.batchSize)
        case .questionAnswering:
            guard model.heads.qaOutputs != nil else {
                throw TrainingError.headMismatch("\(model.config.architectures.first ?? "the model") has no question-answering head to evaluate")
            }
            try s.data.validate()
            let examples = try SquadData.read(url)
            let features = try QATrainingFeatures.training(
                examples, tokenizer: tokenizer, windowing: QAWindowing(maxLength: s.maxLength, docStride: s.data.docStride),
                path: url.path)
            let version2 = examples.contains { $0.answers.isEmpty }
            return try QuestionAnsweringEvaluation.run(model, examples: examples, features: features,
                                                       settings: s.data.qaPrediction(version2: version2),
                                                       version2: version2, batchSize: s.batchSize)
        }
    }
}
