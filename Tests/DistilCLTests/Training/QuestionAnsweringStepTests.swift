@testable import DistilCL
import Foundation
import Testing

/// Question answering's training pieces beyond the goldens: answer positions at a window's
/// edge, evaluation's decoding and null answers, gradient accumulation's loss normaliser, and
/// DistilBERT's `qa_dropout`.
@Suite("Question answering step")
struct QuestionAnsweringStepTests {
    /// `[CLS] q [SEP] c0 c1 c2 [SEP]` with context offsets (0,4), (5,9), (10,14).
    static func window() -> QAWindow {
        let e = Encoding(ids: [101, 7, 102, 8, 9, 10, 102], tokens: ["[CLS]", "q", "[SEP]", "aaaa", "bbbb", "cccc", "[SEP]"],
                         offsets: [.init(0, 0), .init(0, 1), .init(0, 0), .init(0, 4), .init(5, 9), .init(10, 14), .init(0, 0)],
                         typeIds: [0, 0, 0, 1, 1, 1, 1], sequenceIds: [nil, 0, nil, 1, 1, 1, nil],
                         wordIds: [nil, 0, nil, 0, 1, 2, nil])
        return QAWindow(encoding: e, pMask: [false, true, true, false, false, false, true], contextTokenStart: 0)
    }

    static func labels(_ answer: SquadAnswer?, _ w: QAWindow) -> [Int] {
        let p = QATrainingFeatures.positions(of: answer, in: w)
        return [p.start, p.end]
    }

    @Test("answer positions: inside, at the window's last context token, partly outside, none")
    func positions() {
        let w = Self.window()
        #expect(Self.labels(SquadAnswer(text: "bbbb", start: 5), w) == [4, 4])
        #expect(Self.labels(SquadAnswer(text: "bb cc", start: 7), w) == [4, 5])
        // run_qa.py walks past the last context token here and labels the final [SEP] (6).
        #expect(Self.labels(SquadAnswer(text: "cccc", start: 10), w) == [5, 5])
        #expect(Self.labels(SquadAnswer(text: "cccc dd", start: 10), w) == [0, 0])
        #expect(Self.labels(nil, w) == [0, 0])
    }

    @Test("prediction: the best span's text, and the null answer only when its score wins by the threshold")
    func prediction() throws {
        let w = Self.window(), context = "aaaa bbbb cccc"
        var start: [Float] = [0, 0, 0, 1, 5, 1, 0], end: [Float] = [0, 0, 0, 1, 1, 5, 0]
        let v1 = try QATrainingFeatures.prediction(windows: [w], startLogits: [start], endLogits: [end], context: context)
        #expect(v1.text == "bbbb cccc" && v1.start == 5 && v1.end == 14 && v1.nullScoreDifference == nil)
        // [CLS] scores 4 + 4 = 8 against the span's 5 + 5 = 10: log-odds −2.
        start[0] = 4; end[0] = 4
        let settings = { (t: Float) in QAPredictionSettings(nullScoreDiffThreshold: t) }
        let kept = try QATrainingFeatures.prediction(windows: [w], startLogits: [start], endLogits: [end], context: context,
                                                     settings: settings(0))
        #expect(kept.text == "bbbb cccc")
        #expect(abs((kept.nullScoreDifference ?? 0) - -2) < 1e-5)
        let null = try QATrainingFeatures.prediction(windows: [w], startLogits: [start], endLogits: [end],
                                                     context: context, settings: settings(-2.5))
        #expect(null.text == "" && null.start == 0 && null.end == 0)
        // Threshold 0 answers as the pipeline's handle_impossible_answer does.
        for cls: Float in [4, 6] {
            start[0] = cls; end[0] = cls
            let mine = try QATrainingFeatures.prediction(windows: [w], startLogits: [start], endLogits: [end],
                                                         context: context, settings: settings(0))
            let pipeline = try QuestionAnswering.answers(windows: [w], startLogits: [start], endLogits: [end], context: context,
                                                         parameters: QAParameters(maxAnswerLen: 30, topK: 1,
                                                                                  handleImpossibleAnswer: true,
                                                                                  alignToWords: false))
            #expect(mine.text == pipeline.first?.answer, "[CLS] logits \(cls)")
        }
    }

    /// `predictions` over a model (windows batched across examples, logits split back) answers
    /// each example as the QA pipeline does over the same windows with the same settings.
    @Test("predictions through a model agree with the QA pipeline, example by example")
    func predictionsThroughModel() throws {
        let model = "tiny-distilbert-qa"
        let golden = try QuestionAnsweringGoldenTests.Golden(model)
        let m = try EncoderModel(directory: Fixtures.model(model), backend: BackendCase.cpu.backend)
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model(model))
        let examples = golden.examples
        let windows = try QATrainingFeatures.evaluation(examples, tokenizer: tokenizer, windowing: golden.windowing,
                                                        path: "golden")
        #expect(windows.map(\.count) == ints(golden.json["windows_per_example"]))
        for threshold: Float? in [nil, 0] {
            let settings = QAPredictionSettings(nBest: 1, maxAnswerLength: 30, nullScoreDiffThreshold: threshold,
                                                alignToWords: true)
            let mine = try QATrainingFeatures.predictions(examples, windows: windows, model: m, batchSize: 3,
                                                          settings: settings)
            let pipeline = try QuestionAnswering.answers(zip(windows, examples).map { ($0, $1.context) }, model: m,
                                                         batchSize: 5,
                                                         parameters: QAParameters(maxAnswerLen: 30, topK: 1,
                                                                                  handleImpossibleAnswer: threshold != nil))
            #expect(mine.map(\.text) == pipeline.map { $0.first?.answer ?? "" }, "threshold \(String(describing: threshold))")
            if threshold == nil { #expect(mine.allSatisfy { !$0.text.isEmpty }) }   // v1.1: always a span
        }
    }

    /// Two micro-batches whose loss is normalised by the step's windows add up to the gradient
    /// and loss of one batch of all the windows (gradient accumulation), distillation on, on
    /// every backend: the sums differ by float32 reassociation alone.
    @Test("windowsInStep: micro-batches add up to the whole batch", arguments: BackendCase.primary)
    func accumulation(_ bc: BackendCase) throws {
        let model = "tiny-distilbert-qa"
        let golden = try QuestionAnsweringGoldenTests.Golden(model)
        let (features, batch, m, grads, arena, head, plan) = try QuestionAnsweringGoldenTests.setUp(model, on: bc,
                                                                                                    golden: golden)
        let teacher = try golden.interleaved("teacher.start_logits", "teacher.end_logits")
        let options = DistillationOptions()
        try grads.zero(on: bc.trainer)
        let whole = try m.questionAnsweringStep(batch, targets: QuestionAnsweringTargets(features, teacher: teacher,
                                                                                         distillation: options),
                                                arena: arena, head: head, grads: grads, dropout: plan)
        let want = try grads.parameters.indices.map { try bc.backend.download(grads.gradients[$0], count: grads.parameters[$0].count) }
        try grads.zero(on: bc.trainer)
        var loss = 0.0
        for part in [0..<3, 3..<features.count] {
            let subset = Array(features[part])
            let tokens = batch.offsets[part.lowerBound]..<batch.offsets[part.upperBound]
            let out = try m.questionAnsweringStep(TokenBatch(subset.map(\.encoding)),
                                                  targets: QuestionAnsweringTargets(subset, teacher: Array(teacher[(2 * tokens.lowerBound)..<(2 * tokens.upperBound)]),
                                                                                    distillation: options,
                                                                                    windowsInStep: features.count),
                                                  arena: arena, head: head, grads: grads, dropout: plan)
            loss += out.loss
        }
        #expect(abs(loss - whole.loss) <= 1e-6 * abs(whole.loss), "\(bc.name): \(loss) vs \(whole.loss)")
        // Within 1e-5 of each tensor's largest gradient; the biases whose exact gradient is 0
        // (float32 noise on both sides) within 1e-5 of the model's largest.
        let zero = Set(((golden.json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        let largest = want.map { $0.map(abs).max() ?? 0 }.max() ?? 0
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(grads.gradients[i], count: p.count)
            let scale = zero.contains(p.names[0]) ? largest : (want[i].map(abs).max() ?? 0)
            let worst = zip(got, want[i]).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-5 * scale, "\(bc.name) \(p.names[0]): max |diff| \(worst) of \(scale)")
        }
    }

    /// DistilBERT's `qa_dropout` alone on (every other rate 0): on the CPU path the gradient of
    /// qa_outputs and of the last FFN matches central differences of the same masked loss
    /// (float32, h = 1e-3: 1e-3 absolute + 3% relative, as the training golden's dropout test);
    /// OpenCL draws the same masks, so its gradients match the CPU path's within 1e-4. A mask that
    /// was not applied, or applied in one direction only, fails the differences.
    @Test("qa_dropout: gradients match finite differences, and OpenCL the CPU path")
    func qaDropout() throws {
        let model = "tiny-distilbert-qa"
        let golden = try QuestionAnsweringGoldenTests.Golden(model)
        var cpu: [String: [Float]] = [:]
        for bc in BackendCase.primary {
            let (features, batch, m, grads, arena, head, _) = try QuestionAnsweringGoldenTests.setUp(model, on: bc,
                                                                                                     golden: golden)
            let plan = DropoutPlan(rates: .init(hidden: 0, attention: 0, classifier: 0, questionAnswering: 0.4),
                                   bertProjection: false, seed: 7, examples: (0..<UInt64(batch.batch)).map { $0 + 100 },
                                   layers: m.config.layers)
            let targets = QuestionAnsweringTargets(features)
            func loss() throws -> Double {
                try grads.zero(on: bc.trainer)
                return try m.questionAnsweringStep(batch, targets: targets, arena: arena, head: head, grads: grads,
                                                   dropout: plan).loss
            }
            let undropped = try m.questionAnsweringStep(batch, targets: targets, arena: arena, head: head, grads: grads,
                                                        dropout: DropoutPlan(rates: .all(0), bertProjection: false, seed: 7,
                                                                             examples: [], layers: m.config.layers)).loss
            let dropped = try loss()
            #expect(abs(dropped - undropped) > 1e-3, "\(bc.name): qa_dropout changed nothing")
            let gradients = try grads.parameters.indices.map { try bc.backend.download(grads.gradients[$0], count: grads.parameters[$0].count) }
            guard bc.isReference else {
                for (i, p) in grads.parameters.enumerated() {
                    guard let want = cpu[p.names[0]] else { continue }
                    let worst = zip(gradients[i], want).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(worst <= 1e-4 * max(want.map(abs).max() ?? 0, 1e-3), "\(bc.name) \(p.names[0]): \(worst)")
                }
                continue
            }
            for (i, p) in grads.parameters.enumerated() { cpu[p.names[0]] = gradients[i] }
            let probed = grads.parameters.indices.filter {
                let n = grads.parameters[$0].names[0]
                return n == "qa_outputs.weight" || n.hasSuffix("layer.2.ffn.lin2.weight")
            }
            #expect(probed.count == 2)
            for i in probed {
                let p = grads.parameters[i]
                for e in gradients[i].indices.sorted(by: { abs(gradients[i][$0]) > abs(gradients[i][$1]) }).prefix(3) {
                    var values = try bc.backend.download(p.value, count: p.count)
                    let original = values[e], h: Float = 1e-3
                    func at(_ v: Float) throws -> Double {
                        values[e] = v
                        try bc.backend.upload(values, to: p.value)
                        if let owner = p.owner { try bc.trainer.refresh(owner) }
                        return try loss()
                    }
                    let numeric = (try at(original + h) - (try at(original - h))) / (2 * Double(h))
                    _ = try at(original)
                    let analytic = Double(gradients[i][e])
                    #expect(abs(numeric - analytic) <= 1e-3 + 0.03 * abs(analytic),
                            "\(p.names[0])[\(e)]: gradient \(analytic), central difference \(numeric)")
                }
            }
        }
    }
}
