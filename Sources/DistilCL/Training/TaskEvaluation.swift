import Foundation

/// An evaluation's results: the mean loss (nil where a task has none to give) and the task's
/// metrics under the names transformers' examples report, without the `eval_` prefix the
/// training log adds: text classification `accuracy`, `f1` (macro); token classification
/// `precision`, `recall`, `f1` (entity level, seqeval) and `accuracy` (tokens); question
/// answering `exact_match`, `f1` (v2.0: `exact`, `f1`, `HasAns_…`, `NoAns_…`).
public struct Evaluation: Sendable, Equatable {
    public var loss: Double?
    /// In the order printed.
    public var metrics: [(name: String, value: Double)]

    public init(loss: Double?, metrics: [(name: String, value: Double)]) {
        self.loss = loss
        self.metrics = metrics
    }

    public subscript(name: String) -> Double? { metrics.first { $0.name == name }?.value }

    /// `eval_loss` and every `eval_<metric>`, as transformers' `Trainer.evaluate()` names them.
    public var prefixed: [(name: String, value: Double)] {
        (loss.map { [("eval_loss", $0)] } ?? []) + metrics.map { ("eval_" + $0.name, $0.value) }
    }

    public static func == (a: Evaluation, b: Evaluation) -> Bool {
        a.loss == b.loss && a.metrics.map(\.name) == b.metrics.map(\.name) && a.metrics.map(\.value) == b.metrics.map(\.value)
    }
}

/// Text classification's evaluation, by problem type: single-label the mean cross-entropy,
/// accuracy and macro-F1 (sklearn's); regression the mean squared error as loss and `mse`, and
/// Pearson's r (`pearson`, left out while undefined: a constant prediction); multi-label the
/// mean binary cross-entropy, `accuracy` (every label of a text right, sklearn's subset
/// accuracy) and `f1` (macro over the labels), a label predicted when its logit is above 0.
enum TextClassificationEvaluation {
    /// `examples`: encodings and class ids; `targets` (regression, multi-label): each example's
    /// `[labels]` values, every example labelled.
    static func run(_ model: EncoderModel, _ examples: [(Encoding, Int32)], problem: ProblemType = .singleLabel,
                    targets: [[Float]?]? = nil, batchSize: Int) throws -> Evaluation {
        var logits: [[Float]] = []
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let chunk = examples[start..<min(examples.count, start + batchSize)]
            logits += try model.classificationLogits(TokenBatch(chunk.map(\.0)))
        }
        let n = Double(max(1, examples.count))
        switch problem {
        case .singleLabel:
            let truth = examples.map { Int($0.1) }, predicted = logits.map { PipelineMath.argmax($0) ?? 0 }
            let loss = zip(logits, truth).reduce(0.0) { $0 + PipelineMath.crossEntropy($1.0, label: $1.1) }
            return Evaluation(loss: loss / n, metrics: [
                ("accuracy", try ClassificationMetrics.accuracy(true: truth, predicted: predicted)),
                ("f1", try ClassificationMetrics.macroF1(true: truth, predicted: predicted)),
            ])
        case .regression:
            let truth = try labelled(targets, examples.count).map { Double($0[0]) }
            let predicted = logits.map { Double($0.first ?? 0) }
            let mse = try ClassificationMetrics.meanSquaredError(true: truth, predicted: predicted)
            let r = try ClassificationMetrics.pearson(true: truth, predicted: predicted)
            return Evaluation(loss: mse, metrics: [("mse", mse)] + (r.isFinite ? [("pearson", r)] : []))
        case .multiLabel:
            let truth = try labelled(targets, examples.count)
            var loss = 0.0
            for (z, y) in zip(logits, truth) {
                loss += zip(z, y).reduce(0.0) { $0 + FloatTargetLoss.bce(Double($1.0), Double($1.1)) } / Double(max(1, z.count))
            }
            let t = truth.map { $0.map { $0 > 0.5 } }, p = logits.map { $0.map { $0 > 0 } }
            return Evaluation(loss: loss / n, metrics: [
                ("accuracy", try ClassificationMetrics.subsetAccuracy(true: t, predicted: p)),
                ("f1", try ClassificationMetrics.multiLabelMacroF1(true: t, predicted: p)),
            ])
        }
    }

    /// Every example's targets (an evaluation file labels each one).
    private static func labelled(_ targets: [[Float]?]?, _ count: Int) throws -> [[Float]] {
        let rows = (targets ?? []).compactMap { $0 }
        guard rows.count == count else {
            throw ModelError.malformedBatch("\(rows.count) targets for \(count) evaluation texts")
        }
        return rows
    }
}

/// Token classification's evaluation as transformers' run_ner.py `compute_metrics`: the
/// tokens that carry a label (each word's first piece) are predicted by argmax, both sides
/// mapped to tag names, and seqeval scores the sentences; the loss is the mean cross-entropy
/// over those tokens.
enum TokenClassificationEvaluation {
    /// `examples`: encodings and per-token class ids (−1 none); `names` the tag names.
    static func run(_ model: EncoderModel, _ examples: [(Encoding, [Int32])], names: [String],
                    batchSize: Int) throws -> Evaluation {
        let (truth, predicted, loss, counted) = try predictions(model, examples, names: names, batchSize: batchSize)
        let m = try SequenceLabelingMetrics(true: truth, predicted: predicted)
        return Evaluation(loss: counted > 0 ? loss / Double(counted) : nil, metrics: [
            ("precision", m.precision), ("recall", m.recall), ("f1", m.f1), ("accuracy", m.accuracy),
        ])
    }

    /// Each sentence's true and predicted tags over its labelled tokens, the summed loss and
    /// how many tokens it sums over.
    static func predictions(_ model: EncoderModel, _ examples: [(Encoding, [Int32])], names: [String],
                            batchSize: Int) throws -> ([[String]], [[String]], Double, Int) {
        var truth: [[String]] = [], predicted: [[String]] = [], loss = 0.0, counted = 0
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let chunk = examples[start..<min(examples.count, start + batchSize)]
            let logits = try model.tokenLogits(TokenBatch(chunk.map(\.0)), head: .tokenClassification)
            for (rows, (_, labels)) in zip(logits, chunk) {
                var t: [String] = [], p: [String] = []
                for (z, label) in zip(rows, labels) where label >= 0 {
                    loss += PipelineMath.crossEntropy(z, label: Int(label))
                    counted += 1
                    t.append(names[Int(label)])
                    p.append(names[PipelineMath.argmax(z) ?? 0])
                }
                truth.append(t)
                predicted.append(p)
            }
        }
        return (truth, predicted, loss, counted)
    }
}

extension PipelineMath {
    /// −log softmax(z)[label], in double precision.
    static func crossEntropy(_ z: [Float], label: Int) -> Double {
        let m = Double(z.max() ?? 0)
        return m + log(z.reduce(0.0) { $0 + exp(Double($1) - m) }) - Double(z[label])
    }
}
