import Foundation

/// Question answering's side of a `Trainer` run: the training windows (`run_qa.py`'s
/// `prepare_train_features`) and the evaluation questions with their windows.
final class QATaskState {
    let train: [QATrainingFeature]
    let evalExamples: [SquadExample]
    /// Every evaluation window, labelled as training's (for the loss), grouped by example.
    let evalFeatures: [QATrainingFeature]
    let settings: QAPredictionSettings
    /// SQuAD v2.0 (unanswerable questions in the data): v2.0 metrics and null answers.
    let version2: Bool

    init(train: [QATrainingFeature], evalExamples: [SquadExample], evalFeatures: [QATrainingFeature],
         settings: QAPredictionSettings, version2: Bool) {
        self.train = train
        self.evalExamples = evalExamples
        self.evalFeatures = evalFeatures
        self.settings = settings
        self.version2 = version2
    }
}

/// Question answering's evaluation: each question's windows through the QA head once, the loss
/// of its windows' start and end positions (as training's, mean over windows), and the
/// pipeline's decoding scored with the official SQuAD script: v1.1 `exact_match`, `f1`; v2.0
/// `exact`, `f1`, `HasAns_…`, `NoAns_…` (×100, as the scripts report).
enum QuestionAnsweringEvaluation {
    static func run(_ model: EncoderModel, examples: [SquadExample], features: [QATrainingFeature],
                    settings: QAPredictionSettings, version2: Bool, batchSize: Int) throws -> Evaluation {
        var starts: [[Float]] = [], ends: [[Float]] = [], loss = 0.0
        for first in stride(from: 0, to: features.count, by: max(1, batchSize)) {
            let part = features[first..<min(first + max(1, batchSize), features.count)]
            let logits = try model.tokenLogits(TokenBatch(part.map(\.encoding)), head: .questionAnswering)
            for (row, f) in zip(logits, part) {
                let (s, e) = (row.map { $0[0] }, row.map { $0[1] })
                loss += (PipelineMath.crossEntropy(s, label: f.startPosition)
                         + PipelineMath.crossEntropy(e, label: f.endPosition)) / 2
                starts.append(s)
                ends.append(e)
            }
        }
        var predictions: [String] = [], first = 0
        for (i, example) in examples.enumerated() {
            var last = first
            while last < features.count, features[last].example == i { last += 1 }
            let p = try QATrainingFeatures.prediction(windows: features[first..<last].map(\.window),
                                                      startLogits: Array(starts[first..<last]),
                                                      endLogits: Array(ends[first..<last]), context: example.context,
                                                      settings: settings)
            predictions.append(p.text)
            first = last
        }
        let references = examples.map { $0.answers.map(\.text) }
        let mean = features.isEmpty ? nil : loss / Double(features.count)
        if version2 {
            let s = try SquadMetrics.evaluateV2(predictions: predictions, references: references)
            var metrics: [(name: String, value: Double)] = [("exact", s.all.exact), ("f1", s.all.f1)]
            for (prefix, split) in [("HasAns", s.hasAnswer), ("NoAns", s.noAnswer)] {
                guard let split else { continue }
                metrics += [("\(prefix)_exact", split.exact), ("\(prefix)_f1", split.f1)]
            }
            return Evaluation(loss: mean, metrics: metrics)
        }
        let s = try SquadMetrics.evaluateV1(predictions: predictions, references: references)
        return Evaluation(loss: mean, metrics: [("exact_match", s.exactMatch), ("f1", s.f1)])
    }
}

extension Trainer {
    /// Question answering's micro-batch: training windows `indices` (their batch `batch`)
    /// forward and backward, the loss averaged over the step's `windowsInStep` windows;
    /// distilling, against the teacher's start and end logits of every token.
    func accumulateQA(_ qa: QATaskState, indices: [Int], batch: TokenBatch, plan: DropoutPlan,
                      windowsInStep: Int) throws -> Double {
        let (arena, head) = try arenas(for: batch, tokenOutputs: 2)
        var teacherLogits: [Float]?
        if let teacher, teacher.options.alphaKD > 0 {
            teacherLogits = try teacher.model.tokenLogits(batch, head: .questionAnswering).flatMap { $0.flatMap { $0 } }
        }
        let targets = QuestionAnsweringTargets(indices.map { qa.train[$0] }, teacher: teacherLogits,
                                               distillation: options.distillation, windowsInStep: windowsInStep)
        return try model.questionAnsweringStep(batch, targets: targets, arena: arena, head: head!, grads: grads,
                                               dropout: plan).loss
    }
}
