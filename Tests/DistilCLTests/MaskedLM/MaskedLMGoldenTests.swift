@testable import DistilCL
import Foundation
import Testing

/// Masked-LM training and DistilBERT's triple-loss distillation against PyTorch, from golden
/// files `scripts/make_mlm_golden.py` made with transformers (dropout off, masks given
/// explicitly so both sides predict the same positions): the masked-LM loss, the logits at the
/// masked positions and every gradient of `BertForMaskedLM` and `DistilBertForMaskedLM` (the
/// decoder tied to the word embeddings, so the table's gradient holds both uses), five AdamW
/// steps (which must keep the decoder equal to the updated table), and the distillation loss
/// term by term with every gradient of the student, the KL over the masked positions and over
/// every token.
@Suite("Masked-LM against PyTorch")
struct MaskedLMGoldenTests {
    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        let model: String

        init(_ model: String) throws {
            self.model = model
            file = try SafeTensorsFile(url: Fixtures.model(model).appendingPathComponent("mlm-golden.safetensors"))
            json = try Fixtures.json("\(model)/mlm-golden.json")
        }

        var zeroGradient: Set<String> {
            Set(((json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        }

        /// Batch `b` (its masked inputs, packed) and its `[tokens]` labels (−1: not predicted).
        func batch(_ b: Int) throws -> (TokenBatch, [Int32]) {
            let ids = try file.int64s("input.\(b).ids")
            var rows: [[Int]] = [], start = 0
            for n in try file.int64s("input.\(b).lengths").map({ Int($0) }) {
                rows.append(ids[start..<(start + n)].map { Int($0) })
                start += n
            }
            let labels = try file.int64s("input.\(b).labels").map { $0 < 0 ? Int32(-1) : Int32($0) }
            return (TokenBatch(paddedIds: rows, attentionMask: rows.map { $0.map { _ in 1 } }), labels)
        }

        func encoder(on backend: any ComputeBackend, trainable: Bool = true) throws -> EncoderModel {
            let c = try Checkpoint(directory: Fixtures.model(model)).forMaskedLM(seed: 0)
            #expect(c.heads.vocabProjectorIsTied, "\(model): the decoder is tied to the word embeddings")
            return try EncoderModel(checkpoint: c, backend: backend, trainable: trainable)
        }
    }

    static let models = ["tiny-bert-mlm", "tiny-distilbert-mlm"]

    struct Setup {
        let model: EncoderModel
        let grads: GradientTable
        let arena: TrainingArena
        let head: MaskedLMHeadArena
        let plan: DropoutPlan
    }

    static func setUp(_ g: Golden, _ bc: BackendCase, batches: [(TokenBatch, [Int32])], allTokens: Bool = false) throws -> Setup {
        let m = try g.encoder(on: bc.backend)
        let grads = try GradientTable(try m.trainableParameters(), backend: bc.backend)
        let tokens = batches.map(\.0.tokens).max()!, texts = batches.map(\.0.batch).max()!
        let rows = allTokens ? tokens : batches.map { $0.1.filter { $0 >= 0 }.count }.max()!
        return Setup(model: m, grads: grads,
                     arena: try TrainingArena(backend: bc.backend, config: m.config, labels: 2, tokens: tokens, sequences: texts),
                     head: try MaskedLMHeadArena(backend: bc.backend, hidden: m.config.hidden, vocab: m.config.vocabSize, rows: rows),
                     plan: DropoutPlan(rates: .all(0), bertProjection: m.config.modelType == .bert, seed: 0, examples: [],
                                       layers: m.config.layers))
    }

    @Test("loss, logits at the masked positions and every gradient match autograd", arguments: Self.models, BackendCase.primary)
    func gradients(_ name: String, _ bc: BackendCase) throws {
        let g = try Golden(name)
        let (batch, labels) = try g.batch(0)
        let s = try Self.setUp(g, bc, batches: [(batch, labels)])
        try s.grads.zero(on: bc.trainer)
        let out = try s.model.maskedLMStep(batch, targets: MaskedLMTargets(labels: labels), arena: s.arena, head: s.head,
                                           grads: s.grads, dropout: s.plan, withLogits: true)
        let want = Double(try g.file.floats("loss")[0])
        #expect(abs(out.loss.total - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(name) loss \(out.loss.total), PyTorch \(want)")
        #expect(out.loss.kd == 0 && out.loss.cos == 0)
        #expect(out.logits.count == labels.filter { $0 >= 0 }.count)
        expectClose(out.logits.flatMap { $0 }, try g.file.floats("logits"), atol: 1e-4, rtol: 1e-5, "\(bc.name) \(name) logits")
        try GoldenTensors.expectGradients(s.grads, file: g.file, zeroGradient: g.zeroGradient, "\(name) grad", on: bc)
    }

    @Test("five AdamW steps match torch.optim.AdamW, the tied decoder following the table", arguments: Self.models,
          BackendCase.primary)
    func fiveSteps(_ name: String, _ bc: BackendCase) throws {
        let g = try Golden(name)
        let batches = [try g.batch(0), try g.batch(1)]
        let s = try Self.setUp(g, bc, batches: batches)
        let initial = try s.grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let settings = OptimizerSettings(learningRate: 1e-3, weightDecay: 0.01,
                                         maxGradNorm: Float((g.json["max_grad_norm"] as? Double) ?? 0),
                                         warmupSteps: 1, totalSteps: 5)
        let optimizer = try AdamWOptimizer(settings: settings, gradients: s.grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = []
        for step in 0..<5 {
            let (batch, labels) = batches[step % 2]
            try s.grads.zero(on: bc.trainer)
            let out = try s.model.maskedLMStep(batch, targets: MaskedLMTargets(labels: labels), arena: s.arena,
                                               head: s.head, grads: s.grads, dropout: s.plan)
            losses.append(Float(out.loss.total))
            norms.append(try optimizer.update(on: bc.trainer).gradNorm)
        }
        expectClose(losses, try g.file.floats("steps.losses"), atol: 0, rtol: 1e-4, "\(bc.name) \(name) step losses")
        expectClose(norms, try g.file.floats("steps.grad_norms"), atol: 0, rtol: 1e-4, "\(bc.name) \(name) gradient norms")
        let bound = Float(((g.json["zero_gradient_parameters"] as? [String: Any])?["movement_bound"] as? Double) ?? 0)
        try GoldenTensors.expectFinalWeights(s.grads, file: g.file, initial: initial, zeroGradient: g.zeroGradient,
                                             movementBound: bound, name, on: bc)
        // Steps 2 to 5 run the decoder after updates: their losses match only if the tied
        // decoder's packed layout followed the table (its owner's refresh).
    }

    /// The student tiny-distilbert-mlm, the teacher tiny-bert-mlm on the same masked inputs.
    @Test("the triple loss term by term and every gradient of the student", arguments: [false, true], BackendCase.primary)
    func distillation(_ allTokens: Bool, _ bc: BackendCase) throws {
        let g = try Golden("tiny-distilbert-mlm")
        let (batch, labels) = try g.batch(0)
        let s = try Self.setUp(g, bc, batches: [(batch, labels)], allTokens: allTokens)
        var options = DistillationOptions()
        (options.temperature, options.alphaKD, options.alphaCE, options.alphaCos) = (2, 5, 2, 1)
        let teacher = Teacher(model: try Golden("tiny-bert-mlm").encoder(on: bc.backend, trainable: false), options: options)
        var targets = MaskedLMTargets(labels: labels, allTokens: allTokens, distillation: options)
        let prefix = allTokens ? "distill_all." : "distill."
        let (logits, hidden) = try teacher.maskedLMTargets(batch, rows: targets.predictedRows())
        let teacherLogits = try bc.backend.download(logits!, count: targets.predictedRows().count * s.model.config.vocabSize)
        expectClose(teacherLogits, try g.file.floats(prefix + "teacher_logits"), atol: 1e-4, rtol: 1e-5,
                    "\(bc.name) teacher logits")
        targets.teacher = logits
        try s.grads.zero(on: bc.trainer)
        let out = try s.model.maskedLMStep(batch, targets: targets, hiddenTarget: hidden, arena: s.arena, head: s.head,
                                           grads: s.grads, dropout: s.plan)
        func scalar(_ k: String) throws -> Double { Double(try g.file.floats(k)[0]) }
        let terms: [(String, Double, Double)] = [
            ("kd", out.loss.kd, 5 * (try scalar(prefix + "loss_kd"))),
            ("mlm", out.loss.mlm, 2 * (try scalar("distill.loss_mlm"))),
            ("cos", out.loss.cos, try scalar("distill.loss_cos")),
            ("total", out.loss.total, try scalar(prefix + "loss")),
        ]
        for (what, mine, want) in terms {
            #expect(abs(mine - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(prefix)\(what) \(mine), PyTorch \(want)")
        }
        try GoldenTensors.expectGradients(s.grads, file: g.file, prefix: prefix + "grad.", zeroGradient: g.zeroGradient,
                                          "\(prefix)grad", on: bc)
    }
}
