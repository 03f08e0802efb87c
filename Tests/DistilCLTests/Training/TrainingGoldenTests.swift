@testable import DistilCL
import Foundation
import Testing

/// The whole training step against PyTorch autograd and torch.optim.AdamW, from golden files
/// made by `scripts/make_training_golden.py` with transformers (dropout off): the loss, the
/// logits and the gradient of every parameter on one batch, then ten AdamW steps (warm-up,
/// linear decay, clipping on the first five steps, weight decay but not on biases and
/// LayerNorm weights) with their losses and final weights.
@Suite("Training against PyTorch")
struct TrainingGoldenTests {
    static let models = ["tiny-distilbert-sst", "tiny-bert-pairs"]

    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        let zeroGradient: Set<String>

        init(_ model: String) throws {
            file = try SafeTensorsFile(url: Fixtures.model(model).appendingPathComponent("train-golden.safetensors"))
            json = try Fixtures.json("\(model)/train-golden.json")
            zeroGradient = Set(((json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        }

        /// Batch `b`, packed, and its labels.
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
            return (batch, try file.int64s("input.\(b).labels").map { Int32($0) })
        }
    }

    /// A model with dropout off and what a step needs.
    static func setUp(_ model: String, on backend: any ComputeBackend, tokens: Int, texts: Int) throws
        -> (EncoderModel, GradientTable, TrainingArena, DropoutPlan) {
        let m = try EncoderModel(directory: Fixtures.model(model), backend: backend, trainable: true)
        let grads = try GradientTable(try m.trainableParameters(), backend: backend)
        let arena = try TrainingArena(backend: backend, config: m.config, labels: m.config.labels.count,
                                      tokens: tokens, sequences: texts)
        let plan = DropoutPlan(rates: .all(0), bertProjection: m.config.modelType == .bert, seed: 0, examples: [],
                               layers: m.config.layers)
        return (m, grads, arena, plan)
    }

    /// Loss and logits within 1e-5 (float32 noise of a 3-layer model); every gradient within
    /// 1e-4 of its tensor's largest |gradient| (the bound). Attention key biases have a
    /// gradient of exactly 0 (softmax cancels a shift of a whole score row), so both sides hold
    /// rounding noise there: they are held to 1e-4 of the model's largest gradient instead.
    @Test("loss, logits and every gradient match autograd", arguments: Self.models, BackendCase.primary)
    func gradients(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let (batch, labels) = try golden.batch(0)
        let (m, grads, arena, plan) = try Self.setUp(model, on: bc.backend, tokens: batch.tokens, texts: batch.batch)
        try grads.zero(on: bc.trainer)
        let (losses, logits) = try m.classificationStep(batch, labels: labels, arena: arena, grads: grads, dropout: plan)
        let loss = losses.reduce(0, +) / Float(losses.count)
        let wantLoss = try golden.file.floats("loss")[0]
        #expect(abs(loss - wantLoss) <= 1e-5 * max(1, abs(wantLoss)), "\(bc.name) \(model) loss \(loss), PyTorch \(wantLoss)")
        expectClose(logits.flatMap { $0 }, try golden.file.floats("logits"), atol: 1e-5, rtol: 1e-5,
                    "\(bc.name) \(model) logits")

        try GoldenTensors.expectGradients(grads, file: golden.file, zeroGradient: golden.zeroGradient, "\(model) grad", on: bc)
    }

    /// Ten AdamW steps, step i on batch i % 2: each step's loss within 1e-4 relative of
    /// PyTorch's, the pre-clip gradient norms within 1e-4 relative, and every final weight
    /// within 1e-4 of its tensor's largest |value|. The key biases (zero gradient, see above)
    /// move by rounding noise that Adam normalises into steps of about lr, in PyTorch as here,
    /// so they are held to moving less than the sum of the learning rates.
    @Test("ten AdamW steps match torch.optim.AdamW", arguments: Self.models, BackendCase.primary)
    func tenSteps(_ model: String, _ bc: BackendCase) throws {
        let golden = try Golden(model)
        let batches = [try golden.batch(0), try golden.batch(1)]
        let tokens = batches.map(\.0.tokens).max()!, texts = batches.map(\.0.batch).max()!
        let (m, grads, arena, plan) = try Self.setUp(model, on: bc.backend, tokens: tokens, texts: texts)
        let initial = try grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let settings = OptimizerSettings(learningRate: 1e-3, weightDecay: 0.01,
                                         maxGradNorm: Float((golden.json["max_grad_norm"] as? Double) ?? 0),
                                         warmupSteps: 3, totalSteps: 10)
        let optimizer = try AdamWOptimizer(settings: settings, gradients: grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = []
        for step in 0..<10 {
            let (batch, labels) = batches[step % 2]
            try grads.zero(on: bc.trainer)
            let out = try m.classificationStep(batch, labels: labels, arena: arena, grads: grads, dropout: plan)
            losses.append(out.losses.reduce(0, +) / Float(out.losses.count))
            norms.append(try optimizer.update(on: bc.trainer).gradNorm)
        }
        let wantLosses = try golden.file.floats("steps.losses"), wantNorms = try golden.file.floats("steps.grad_norms")
        expectClose(losses, wantLosses, atol: 0, rtol: 1e-4, "\(bc.name) \(model) step losses")
        expectClose(norms, wantNorms, atol: 0, rtol: 1e-4, "\(bc.name) \(model) gradient norms")
        let movementBound = Float(((golden.json["zero_gradient_parameters"] as? [String: Any])?["movement_bound"]
            as? Double) ?? 0)
        try GoldenTensors.expectFinalWeights(grads, file: golden.file, initial: initial, zeroGradient: golden.zeroGradient,
                                             movementBound: movementBound, model, on: bc)
    }

    /// The weight-decay split, compared name by name with the list transformers'
    /// `Trainer.get_decay_parameter_names` gives (the ten steps' bound cannot see a decay of
    /// 0.01·Σlr ≈ 5e-5 relative, so this checks the set itself).
    @Test("weight decay skips exactly the parameters transformers' Trainer exempts", arguments: Self.models)
    func decaySet(_ model: String) throws {
        let golden = try Golden(model)
        let optimizer = golden.json["optimizer"] as? [String: Any] ?? [:]
        let exempt = Set(optimizer["no_decay_parameters"] as? [String] ?? [])
        #expect(!exempt.isEmpty)
        let m = try EncoderModel(directory: Fixtures.model(model), backend: BackendCase.cpu.backend, trainable: true)
        var mine = Set<String>()
        for p in try m.trainableParameters() where !p.decays { mine.formUnion(p.parts.map(\.name)) }
        #expect(mine == exempt, "not decayed here but decayed by transformers: \(mine.subtracting(exempt).sorted()); the reverse: \(exempt.subtracting(mine).sorted())")
    }

    /// Dropout inside the model (every site on, fixed keys): on the CPU path the gradient of the
    /// parameters at each dropout site matches central differences of the same masked loss
    /// (float32: h = 1e-3, so 1e-3 absolute + 3% relative covers the quotient's rounding,
    /// about 1e-7/h, and ReLU kinks are avoided by taking the largest gradients); OpenCL draws
    /// the same masks, so its gradients match the CPU path's within the bound of the golden test.
    @Test("dropout inside the model: gradients match finite differences, and OpenCL the CPU path",
          arguments: Self.models)
    func dropoutGradients(_ model: String) throws {
        let golden = try Golden(model)
        let (batch, labels) = try golden.batch(0)
        let plan = DropoutPlan(rates: .init(hidden: 0.2, attention: 0.25, classifier: 0.3), bertProjection: model.contains("bert-pairs"),
                               seed: 99, examples: (0..<UInt64(batch.batch)).map { 40 + 3 * $0 }, layers: 3)
        var cpuGradients: [String: [Float]] = [:]
        for bc in BackendCase.primary {
            let (m, grads, arena, _) = try Self.setUp(model, on: bc.backend, tokens: batch.tokens, texts: batch.batch)
            func loss() throws -> Double {
                try grads.zero(on: bc.trainer)
                let out = try m.classificationStep(batch, labels: labels, arena: arena, grads: grads, dropout: plan)
                return out.losses.reduce(0.0) { $0 + Double($1) } / Double(out.losses.count)
            }
            _ = try loss()
            let gradients = try grads.parameters.enumerated().map { i, p in try bc.backend.download(grads.gradients[i], count: p.count) }
            if bc.isReference {
                for (i, p) in grads.parameters.enumerated() { cpuGradients[p.names[0]] = gradients[i] }
                // The tensors around every dropout site: embeddings' norm, attention, the FFN, the head.
                let probed = grads.parameters.indices.filter { i in
                    let n = grads.parameters[i].names[0]
                    return n.contains("embeddings.LayerNorm.weight") || n.contains("layer.1.attention") && n.hasSuffix("weight")
                        || n.contains("layer.2.") && (n.contains("lin2.weight") || n.contains("output.dense.weight"))
                        || n.hasPrefix("classifier.weight") || n.contains("pre_classifier.weight") || n.contains("pooler.dense.weight")
                }
                #expect(probed.count >= 5)
                for i in probed {
                    let p = grads.parameters[i]
                    let top = gradients[i].indices.sorted { abs(gradients[i][$0]) > abs(gradients[i][$1]) }.prefix(2)
                    for e in top {
                        var values = try bc.backend.download(p.value, count: p.count)
                        let original = values[e], h: Float = 1e-3
                        values[e] = original + h
                        try bc.backend.upload(values, to: p.value)
                        if let owner = p.owner { try bc.trainer.refresh(owner) }
                        let up = try loss()
                        values[e] = original - h
                        try bc.backend.upload(values, to: p.value)
                        if let owner = p.owner { try bc.trainer.refresh(owner) }
                        let down = try loss()
                        values[e] = original
                        try bc.backend.upload(values, to: p.value)
                        if let owner = p.owner { try bc.trainer.refresh(owner) }
                        let numeric = (up - down) / (2 * Double(h)), analytic = Double(gradients[i][e])
                        #expect(abs(numeric - analytic) <= 1e-3 + 0.03 * abs(analytic),
                                "\(model) \(p.names[0])[\(e)]: gradient \(analytic), central difference \(numeric)")
                    }
                }
            } else {
                for (i, p) in grads.parameters.enumerated() {
                    guard let want = cpuGradients[p.names[0]] else { continue }
                    let scale = max(want.map(abs).max() ?? 0, 1e-3)
                    let worst = zip(gradients[i], want).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(worst <= 1e-4 * scale, "\(bc.name) \(model) \(p.names[0]) with dropout: max |diff| \(worst) from the CPU path's")
                }
            }
        }
    }
}
