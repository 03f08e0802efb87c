@testable import DistilCL
import Foundation
import Testing

/// Question answering's training against transformers and PyTorch autograd, from goldens made
/// by `scripts/make_qa_golden.py` (dropout off): run_qa.py's training features from the same
/// raw examples; the loss, start/end logits and every gradient of one step over a batch of
/// unpadded windows (one example cut into five windows, four of them labelled [CLS], an
/// unanswerable one, code points past an emoji); the distillation loss against a teacher's
/// logits (T = 2) and its gradient; five AdamW steps. Both backends.
@Suite("Question answering against PyTorch")
struct QuestionAnsweringGoldenTests {
    static let models = ["tiny-distilbert-qa", "tiny-bert-qa"]

    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        /// Rows of the word embeddings the golden's gradients and final weights hold.
        let wordRows: [Int]

        init(_ model: String) throws {
            file = try SafeTensorsFile(url: Fixtures.model(model).appendingPathComponent("qa-train-golden.safetensors"))
            json = try Fixtures.json("\(model)/qa-train-golden.json")
            wordRows = try file.int64s("word_rows").map { Int($0) }
        }

        /// The raw examples, as the reader gives them.
        var examples: [SquadExample] {
            (json["examples"] as? [[String: Any]] ?? []).map { e in
                let answers = e["answers"] as? [String: Any] ?? [:]
                let texts = answers["text"] as? [String] ?? [], starts = ints(answers["answer_start"])
                return SquadExample(id: e["id"] as? String ?? "", question: e["question"] as? String ?? "",
                                    context: e["context"] as? String ?? "",
                                    answers: zip(texts, starts).map { SquadAnswer(text: $0, start: $1) })
            }
        }

        var windowing: QAWindowing {
            QAWindowing(maxLength: number(json["max_length"]).map(Int.init) ?? 0,
                        docStride: number(json["doc_stride"]).map(Int.init) ?? 0)
        }

        /// `[tokens, 2]` (start, end) from two packed `[tokens]` tensors.
        func interleaved(_ start: String, _ end: String) throws -> [Float] {
            zip(try file.floats(start), try file.floats(end)).flatMap { [$0, $1] }
        }
    }

    /// The features DistilCL builds from the golden's examples, and a model set up to train.
    static func setUp(_ model: String, on bc: BackendCase, golden: Golden) throws
        -> (features: [QATrainingFeature], batch: TokenBatch, EncoderModel, GradientTable, TrainingArena,
            TokenHeadArena, DropoutPlan) {
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model(model))
        let features = try QATrainingFeatures.training(golden.examples, tokenizer: tokenizer,
                                                       windowing: golden.windowing, path: "golden")
        let batch = TokenBatch(features.map(\.encoding))
        let m = try EncoderModel(directory: Fixtures.model(model), backend: bc.backend, trainable: true)
        let grads = try GradientTable(try m.trainableParameters(), backend: bc.backend)
        let arena = try TrainingArena(backend: bc.backend, config: m.config, labels: 2, tokens: batch.tokens,
                                      sequences: batch.batch)
        let head = try TokenHeadArena(backend: bc.backend, hidden: m.config.hidden, outputs: 2, tokens: batch.tokens)
        let plan = DropoutPlan(rates: .all(0), bertProjection: m.config.modelType == .bert, seed: 0, examples: [],
                               layers: m.config.layers)
        return (features, batch, m, grads, arena, head, plan)
    }

    /// Every gradient within 1e-4 of its tensor's largest |value| (the attention key biases,
    /// qa_outputs.bias and the last LayerNorm's bias, whose exact gradient is 0 since softmax
    /// cancels the shift they make, within 1e-4 of the model's largest); the word embeddings
    /// compared on the rows the batch reads, every other row exactly 0.
    static func expectGradients(_ grads: GradientTable, golden: Golden, prefix: String, _ what: String,
                                on bc: BackendCase) throws {
        let zero = Set(((golden.json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        var compared: [(String, [Float], [Float])] = []
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(grads.gradients[i], count: p.count)
            for part in p.parts {
                var mine = Array(got[part.range])
                if part.name.hasSuffix("word_embeddings.weight") {
                    let d = part.shape[1], kept = Set(golden.wordRows)
                    let others = (0..<part.shape[0]).filter { !kept.contains($0) }.flatMap { mine[($0 * d)..<($0 * d + d)] }
                    #expect(others.allSatisfy { $0 == 0 }, "\(what) \(part.name): a row outside the batch has a gradient")
                    mine = golden.wordRows.flatMap { mine[($0 * d)..<($0 * d + d)] }
                }
                compared.append((part.name, mine, try golden.file.floats(prefix + part.name)))
            }
        }
        let goldenNames = Set(golden.file.names.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
        #expect(Set(compared.map(\.0)) == goldenNames, "\(what): parameters differ from transformers' named_parameters()")
        let largest = compared.map { $0.2.map(abs).max() ?? 0 }.max() ?? 0
        for (name, mine, want) in compared {
            #expect(mine.count == want.count, "\(what) \(name): \(mine.count) values, golden \(want.count)")
            let scale = zero.contains(name) ? largest : (want.map(abs).max() ?? 0)
            let worst = zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst.isFinite && worst <= 1e-4 * scale, "\(bc.name) \(what) \(name): max |diff| \(worst), bound \(1e-4 * scale)")
        }
    }

    @Test("training features: run_qa.py's ids, type ids and answer positions from the same examples",
          arguments: Self.models)
    func features(_ model: String) throws {
        let golden = try Golden(model)
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model(model))
        let features = try QATrainingFeatures.training(golden.examples, tokenizer: tokenizer, windowing: golden.windowing,
                                                       path: "golden")
        let starts = try golden.file.int64s("feature.starts").map { Int($0) }
        #expect(features.count == starts.count)
        #expect(features.map(\.startPosition) == starts)
        #expect(features.map(\.endPosition) == (try golden.file.int64s("feature.ends").map { Int($0) }))
        #expect(features.map(\.example) == (try golden.file.int64s("feature.examples").map { Int($0) }))
        let bert = model.contains("bert-qa") && !model.contains("distil")
        for (i, f) in features.enumerated() where i < starts.count {
            #expect(f.encoding.ids == (try golden.file.int64s("feature.\(i).ids").map { Int($0) }), "window \(i) ids")
            if bert {   // DistilBERT's tokenizer gives no type ids (its model reads none)
                #expect(f.encoding.typeIds == (try golden.file.int64s("feature.\(i).type_ids").map { Int($0) }),
                        "window \(i) type ids")
            }
        }
        // The long example's windows: [CLS] but for the last, which holds the answer.
        let long = features.filter { $0.example == 0 }
        #expect(long.count >= 3 && long.dropLast().allSatisfy { $0.startPosition == 0 && $0.endPosition == 0 })
        #expect(long.last.map { $0.startPosition > 0 && $0.endPosition >= $0.startPosition } == true)
    }

    /// The loss within 1e-5 (float32 noise of a 3-layer model), every gradient within 1e-4 of
    /// its tensor's largest (the bound).
    @Test("loss, start/end logits and every gradient match autograd", arguments: Self.models, BackendCase.primary)
    func gradients(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let (features, batch, m, grads, arena, head, plan) = try Self.setUp(model, on: bc, golden: golden)
        try grads.zero(on: bc.trainer)
        let out = try m.questionAnsweringStep(batch, targets: QuestionAnsweringTargets(features), arena: arena, head: head,
                                              grads: grads, dropout: plan, withLogits: true)
        let want = Double(try golden.file.floats("loss")[0])
        #expect(abs(out.loss - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(model) loss \(out.loss), PyTorch \(want)")
        #expect(out.hardLoss == out.loss && out.softLoss == 0)
        // Against the float64 forward: within twice PyTorch's own float32 error on these windows
        // (up to 1.6e-5: logits of every token, where the classification goldens read [CLS] alone).
        let bound = 2 * (number(golden.json["float32_logit_error"]) ?? 0)
        expectClose(out.startLogits.flatMap { $0 }, try golden.file.floats("exact.start_logits"), atol: bound, rtol: 0,
                    "\(bc.name) \(model) start logits")
        expectClose(out.endLogits.flatMap { $0 }, try golden.file.floats("exact.end_logits"), atol: bound, rtol: 0,
                    "\(bc.name) \(model) end logits")
        try Self.expectGradients(grads, golden: golden, prefix: "grad.", "\(model) grad", on: bc)
    }

    @Test("distillation: run_squad_w_distillation.py's loss against a teacher's logits (T = 2) and its gradient",
          arguments: Self.models, BackendCase.primary)
    func distillation(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let spec = golden.json["distillation"] as? [String: Any] ?? [:]
        var options = DistillationOptions()
        options.temperature = Float(number(spec["temperature"]) ?? 0)
        options.alphaKD = Float(number(spec["alpha_kd"]) ?? 0)
        options.alphaCE = Float(number(spec["alpha_ce"]) ?? 0)
        let (features, batch, m, grads, arena, head, plan) = try Self.setUp(model, on: bc, golden: golden)
        try grads.zero(on: bc.trainer)
        let teacher = try golden.interleaved("teacher.start_logits", "teacher.end_logits")
        let out = try m.questionAnsweringStep(batch, targets: QuestionAnsweringTargets(features, teacher: teacher,
                                                                                       distillation: options),
                                              arena: arena, head: head, grads: grads, dropout: plan)
        for (got, name) in [(out.loss, "distill.loss"), (out.softLoss, "distill.soft"), (out.hardLoss, "distill.hard")] {
            let want = Double(try golden.file.floats(name)[0])
            #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(model) \(name) \(got), PyTorch \(want)")
        }
        try Self.expectGradients(grads, golden: golden, prefix: "distill.grad.", "\(model) distillation grad", on: bc)
    }

    /// Five steps on the batch: each loss and pre-clip norm within 1e-4 relative, every final
    /// weight within 1e-4 of its tensor's largest |value|; word embedding rows the batch never
    /// reads only decay (p·Π(1 − lr·wd)); the zero-gradient biases move less than Σ lr.
    @Test("five AdamW steps match torch.optim.AdamW", arguments: Self.models, BackendCase.primary)
    func fiveSteps(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let (features, batch, m, grads, arena, head, plan) = try Self.setUp(model, on: bc, golden: golden)
        let initial = try grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let optimizer = golden.json["optimizer"] as? [String: Any] ?? [:]
        var settings = OptimizerSettings(learningRate: 1e-3, weightDecay: 0.01,
                                         maxGradNorm: Float(number(golden.json["max_grad_norm"]) ?? 0),
                                         warmupSteps: number(optimizer["warmup_steps"]).map(Int.init) ?? 0,
                                         totalSteps: number(optimizer["total_steps"]).map(Int.init) ?? 0)
        settings.eps = Float(number(optimizer["eps"]) ?? 0)   // 1e-5: see the golden's eps_why
        let adam = try AdamWOptimizer(settings: settings, gradients: grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = []
        for _ in 0..<5 {
            try grads.zero(on: bc.trainer)
            let out = try m.questionAnsweringStep(batch, targets: QuestionAnsweringTargets(features), arena: arena,
                                                  head: head, grads: grads, dropout: plan)
            losses.append(Float(out.loss))
            norms.append(try adam.update(on: bc.trainer).gradNorm)
        }
        expectClose(losses, try golden.file.floats("steps.losses"), atol: 0, rtol: 1e-4, "\(bc.name) \(model) step losses")
        expectClose(norms, try golden.file.floats("steps.grad_norms"), atol: 0, rtol: 1e-4, "\(bc.name) \(model) norms")
        let zero = golden.json["zero_gradient_parameters"] as? [String: Any] ?? [:]
        let keyBiases = Set(zero["names"] as? [String] ?? []), bound = Float(number(zero["movement_bound"]) ?? 0)
        let decay = floats(golden.json["lrs"]).reduce(1.0) { $0 * (1 - Double($1) * 0.01) }
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(p.value, count: p.count)
            for part in p.parts {
                var mine = Array(got[part.range])
                if keyBiases.contains(part.name) {
                    let moved = zip(mine, initial[i][part.range]).map { abs($0 - $1) }.max() ?? 0
                    #expect(moved <= bound, "\(bc.name) \(model) \(part.name) moved \(moved) > \(bound)")
                    continue
                }
                if part.name.hasSuffix("word_embeddings.weight") {
                    let d = part.shape[1], kept = Set(golden.wordRows)
                    let start = part.range.lowerBound
                    var worst = 0.0
                    for r in 0..<part.shape[0] where !kept.contains(r) {
                        for j in (r * d)..<(r * d + d) {
                            let want = Double(initial[i][start + j]) * decay
                            worst = max(worst, abs(Double(mine[j]) - want) - 1e-6 * abs(want))
                        }
                    }
                    #expect(worst <= 1e-9, "\(bc.name) \(model) \(part.name): unread rows do not only decay (\(worst))")
                    mine = golden.wordRows.flatMap { mine[($0 * d)..<($0 * d + d)] }
                }
                let want = try golden.file.floats("final." + part.name)
                let worst = zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity
                let limit = 1e-4 * (want.map(abs).max() ?? 0)
                #expect(mine.count == want.count && worst <= limit,
                        "\(bc.name) \(model) final \(part.name): max |diff| \(worst), bound \(limit)")
            }
        }
    }
}

/// A JSON number as a double.
private func number(_ any: Any?) -> Double? { (any as? NSNumber)?.doubleValue }
