@testable import DistilCL
import Foundation
import Testing

/// Token classification's training step against PyTorch autograd and torch.optim.AdamW, from
/// `scripts/make_token_golden.py` (transformers' `BertForTokenClassification` and
/// `DistilBertForTokenClassification`, dropout off): the loss, logits and every gradient of
/// one batch (labels aligned as run_ner.py: first word piece only), the distillation loss and
/// its gradients against fixed teacher logits, then five AdamW steps.
@Suite("Token classification against PyTorch")
struct TokenClassificationGoldenTests {
    static let models = ["tiny-distilbert-ner", "tiny-bert-ner"]

    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        let zeroGradient: Set<String>

        init(_ model: String) throws {
            file = try SafeTensorsFile(url: Fixtures.model(model).appendingPathComponent("token-golden.safetensors"))
            json = try Fixtures.json("\(model)/token-golden.json")
            zeroGradient = Set(((json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        }

        /// Batch `b`, packed, and its per-token labels (−1 for none).
        func batch(_ b: Int) throws -> (TokenBatch, [Int32]) {
            let ids = try file.int64s("input.\(b).ids"), types = try file.int64s("input.\(b).type_ids")
            let lengths = try file.int64s("input.\(b).lengths").map { Int($0) }
            var rows: [[Int]] = [], typeRows: [[Int]] = [], start = 0
            for n in lengths {
                rows.append(ids[start..<(start + n)].map { Int($0) })
                typeRows.append(types[start..<(start + n)].map { Int($0) })
                start += n
            }
            let batch = TokenBatch(paddedIds: rows, attentionMask: rows.map { $0.map { _ in 1 } }, typeIds: typeRows)
            return (batch, try file.int64s("input.\(b).labels").map { $0 < 0 ? -1 : Int32($0) })
        }
    }

    struct Setup {
        let model: EncoderModel
        let grads: GradientTable
        let arena: TrainingArena
        let head: TokenHeadArena
        let plan: DropoutPlan
    }

    static func setUp(_ model: String, on backend: any ComputeBackend, tokens: Int, texts: Int) throws -> Setup {
        let m = try EncoderModel(directory: Fixtures.model(model), backend: backend, trainable: true)
        let grads = try GradientTable(try m.trainableParameters(), backend: backend)
        let classes = m.config.labels.count
        let arena = try TrainingArena(backend: backend, config: m.config, labels: classes, tokens: tokens, sequences: texts)
        let head = try TokenHeadArena(backend: backend, hidden: m.config.hidden, outputs: classes, tokens: tokens)
        let plan = DropoutPlan(rates: .all(0), bertProjection: m.config.modelType == .bert, seed: 0, examples: [],
                               layers: m.config.layers)
        return Setup(model: m, grads: grads, arena: arena, head: head, plan: plan)
    }

    /// Every gradient within 1e-4 of its tensor's largest |gradient| (key biases, whose
    /// gradient is 0 up to rounding, of the model's largest), as the sequence goldens.
    static func expectGradients(_ s: Setup, _ golden: Golden, prefix: String, _ what: String,
                                on backend: any ComputeBackend) throws {
        var wanted: [(String, [Float], [Float])] = [], largest: Float = 0
        for (i, p) in s.grads.parameters.enumerated() {
            let got = try backend.download(s.grads.gradients[i], count: p.count)
            for part in p.parts {
                let want = try golden.file.floats(prefix + part.name)
                wanted.append((part.name, Array(got[part.range]), want))
                largest = max(largest, want.map(abs).max() ?? 0)
            }
        }
        let goldenNames = Set(golden.file.names.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
        #expect(Set(wanted.map(\.0)) == goldenNames, "\(what): parameters differ from transformers' named_parameters()")
        for (name, got, want) in wanted {
            #expect(got.count == want.count, "\(what) \(name): \(got.count) values, golden \(want.count)")
            let scale = golden.zeroGradient.contains(name) ? largest : (want.map(abs).max() ?? 0)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst.isFinite && worst <= 1e-4 * scale, "\(what) grad \(name): max |diff| \(worst), bound \(1e-4 * scale)")
        }
    }

    @Test("loss, logits and every gradient match autograd", arguments: Self.models, BackendCase.primary)
    func gradients(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let (batch, labels) = try golden.batch(0)
        let s = try Self.setUp(model, on: bc.backend, tokens: batch.tokens, texts: batch.batch)
        try s.grads.zero(on: bc.trainer)
        let out = try s.model.tokenClassificationStep(batch, targets: TokenClassificationTargets(labels: labels),
                                                      arena: s.arena, head: s.head, grads: s.grads, dropout: s.plan,
                                                      withLogits: true)
        let want = Double(try golden.file.floats("loss")[0])
        #expect(abs(out.loss - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(model) loss \(out.loss), PyTorch \(want)")
        // Every token's logits (711 here, of weights drawn at std 0.3): float32 holds them to
        // the 1e-4 the reference files document for logits (their README, "Tolerances").
        expectClose(out.logits.flatMap { $0 }, try golden.file.floats("logits"), atol: 1e-4, rtol: 0,
                    "\(bc.name) \(model) logits")
        try Self.expectGradients(s, golden, prefix: "grad.", "\(bc.name) \(model)", on: bc.backend)
    }

    @Test("the distillation loss and its gradients match autograd", arguments: Self.models, BackendCase.primary)
    func distillation(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let (batch, labels) = try golden.batch(0)
        let s = try Self.setUp(model, on: bc.backend, tokens: batch.tokens, texts: batch.batch)
        let spec = golden.json["distillation"] as? [String: Double] ?? [:]
        var options = DistillationOptions()
        options.temperature = Float(spec["temperature"] ?? 0)
        options.alphaKD = Float(spec["alpha_kd"] ?? 0)
        options.alphaCE = Float(spec["alpha_ce"] ?? 0)
        let teacher = try bc.backend.buffer(try golden.file.floats("distill.teacher_logits"))
        try s.grads.zero(on: bc.trainer)
        let out = try s.model.tokenClassificationStep(
            batch, targets: TokenClassificationTargets(labels: labels, teacher: teacher, distillation: options),
            arena: s.arena, head: s.head, grads: s.grads, dropout: s.plan)
        let want = Double(try golden.file.floats("distill.loss")[0])
        #expect(abs(out.loss - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(model) loss \(out.loss), PyTorch \(want)")
        try Self.expectGradients(s, golden, prefix: "distill.grad.", "\(bc.name) \(model) distill", on: bc.backend)
    }

    /// Five steps, step i on batch i % 2: losses and pre-clip norms within 1e-4 relative, every
    /// final weight within 1e-4 of its tensor's largest |value| (key biases: moved less than
    /// the sum of the learning rates).
    @Test("five AdamW steps match torch.optim.AdamW", arguments: Self.models, BackendCase.primary)
    func fiveSteps(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let batches = [try golden.batch(0), try golden.batch(1)]
        let s = try Self.setUp(model, on: bc.backend, tokens: batches.map(\.0.tokens).max()!,
                               texts: batches.map(\.0.batch).max()!)
        let initial = try s.grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let o = golden.json["optimizer"] as? [String: Any] ?? [:]
        let settings = OptimizerSettings(learningRate: Float(o["lr"] as? Double ?? 0),
                                         weightDecay: Float(o["weight_decay"] as? Double ?? 0),
                                         maxGradNorm: Float(golden.json["max_grad_norm"] as? Double ?? 0),
                                         warmupSteps: o["warmup_steps"] as? Int ?? 0, totalSteps: o["total_steps"] as? Int ?? 0)
        let optimizer = try AdamWOptimizer(settings: settings, gradients: s.grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = []
        for step in 0..<5 {
            let (batch, labels) = batches[step % 2]
            try s.grads.zero(on: bc.trainer)
            let out = try s.model.tokenClassificationStep(batch, targets: TokenClassificationTargets(labels: labels),
                                                          arena: s.arena, head: s.head, grads: s.grads, dropout: s.plan)
            losses.append(Float(out.loss))
            norms.append(try optimizer.update(on: bc.trainer).gradNorm)
        }
        expectClose(losses, try golden.file.floats("steps.losses"), atol: 0, rtol: 1e-4, "\(bc.name) \(model) losses")
        expectClose(norms, try golden.file.floats("steps.grad_norms"), atol: 0, rtol: 1e-4, "\(bc.name) \(model) norms")
        let bound = Float(((golden.json["zero_gradient_parameters"] as? [String: Any])?["movement_bound"] as? Double) ?? 0)
        for (i, p) in s.grads.parameters.enumerated() {
            let got = try bc.backend.download(p.value, count: p.count)
            for part in p.parts {
                let mine = Array(got[part.range])
                if golden.zeroGradient.contains(part.name) {
                    let moved = zip(mine, initial[i][part.range]).map { abs($0 - $1) }.max() ?? 0
                    #expect(moved <= bound, "\(bc.name) \(model) \(part.name) moved \(moved) > \(bound)")
                    continue
                }
                let want = try golden.file.floats("final." + part.name)
                let worst = zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity
                let limit = 1e-4 * (want.map(abs).max() ?? 0)
                #expect(worst <= limit, "\(bc.name) \(model) final \(part.name): max |diff| \(worst), bound \(limit)")
            }
        }
    }
}
