@testable import DistilCL
import Foundation
import Testing

/// Regression and multi-label classification against PyTorch, from golden files made by
/// `scripts/make_problem_golden.py` with transformers (dropout off): the loss (MSELoss,
/// BCEWithLogitsLoss), the logits and every gradient of one batch, then five AdamW steps with
/// Trainer's recipe (clipping on the first two); and the losses alone, distillation's soft
/// terms included, on given logits.
@Suite("Regression and multi-label against PyTorch")
struct ProblemTypeGoldenTests {
    /// A golden file, the model it was made on and its problem type.
    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        let model: String
        let problem: ProblemType
        let labels: Int

        init(_ name: String) throws {
            (model, problem) = name == "regression" ? ("tiny-distilbert-sst", .regression)
                                                    : ("tiny-bert-pairs", .multiLabel)
            file = try SafeTensorsFile(url: Fixtures.model(model).appendingPathComponent("\(name)-golden.safetensors"))
            json = try Fixtures.json("\(model)/\(name)-golden.json")
            labels = (json["num_labels"] as? Int) ?? 0
        }

        var zeroGradient: Set<String> {
            Set(((json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
        }

        /// Batch `b`, packed, and its targets `[texts][labels]`.
        func batch(_ b: Int) throws -> (TokenBatch, [[Float]?]) {
            let ids = try file.int64s("input.\(b).ids"), types = try file.int64s("input.\(b).type_ids")
            var rows: [[Int]] = [], typeRows: [[Int]] = [], start = 0
            for n in try file.int64s("input.\(b).lengths").map({ Int($0) }) {
                rows.append(ids[start..<(start + n)].map { Int($0) })
                typeRows.append(types[start..<(start + n)].map { Int($0) })
                start += n
            }
            let y = try file.floats("input.\(b).targets")
            let targets: [[Float]?] = (0..<rows.count).map { Array(y[($0 * labels)..<(($0 + 1) * labels)]) }
            return (TokenBatch(paddedIds: rows, attentionMask: rows.map { $0.map { _ in 1 } }, typeIds: typeRows), targets)
        }

        /// The fixture with its classifier cut to the first `labels` rows, as the script does,
        /// through `forSequenceClassification` (which sets the problem type).
        func encoder(on backend: any ComputeBackend) throws -> EncoderModel {
            var c = try Checkpoint(directory: Fixtures.model(model))
            let head = c.heads.classifier!, h = head.weight.shape[1]
            c.heads.classifier = LinearWeights(weight: WeightTensor(shape: [labels, h], values: Array(head.weight.values.prefix(labels * h))),
                                               bias: WeightTensor(shape: [labels], values: Array(head.bias.values.prefix(labels))))
            c.config.labels = Array(c.config.labels.prefix(labels))
            let prepared = try c.forSequenceClassification(labels: (0..<labels).map { "LABEL_\($0)" }, seed: 0, problem: problem)
            #expect(prepared.config.problemType == problem)
            return try EncoderModel(checkpoint: prepared, backend: backend, trainable: true)
        }
    }

    static let problems = ["regression", "multilabel"]

    static func setUp(_ g: Golden, _ bc: BackendCase, tokens: Int, texts: Int) throws
        -> (EncoderModel, GradientTable, TrainingArena, DropoutPlan) {
        let m = try g.encoder(on: bc.backend)
        let grads = try GradientTable(try m.trainableParameters(), backend: bc.backend)
        let arena = try TrainingArena(backend: bc.backend, config: m.config, labels: g.labels, tokens: tokens, sequences: texts)
        let plan = DropoutPlan(rates: .all(0), bertProjection: m.config.modelType == .bert, seed: 0, examples: [],
                               layers: m.config.layers)
        return (m, grads, arena, plan)
    }

    @Test("loss, logits and every gradient match autograd", arguments: Self.problems, BackendCase.primary)
    func gradients(_ name: String, _ bc: BackendCase) throws {
        let g = try Golden(name)
        let (batch, targets) = try g.batch(0)
        let (m, grads, arena, plan) = try Self.setUp(g, bc, tokens: batch.tokens, texts: batch.batch)
        try grads.zero(on: bc.trainer)
        let out = try m.classificationStep(batch, loss: FloatTargetLoss(problem: g.problem, targets: targets), arena: arena,
                                           grads: grads, dropout: plan)
        let want = Double(try g.file.floats("loss")[0])
        #expect(abs(out.loss - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) \(name) loss \(out.loss), PyTorch \(want)")
        expectClose(out.logits.flatMap { $0 }, try g.file.floats("logits"), atol: 1e-5, rtol: 1e-5, "\(bc.name) \(name) logits")
        try GoldenTensors.expectGradients(grads, file: g.file, zeroGradient: g.zeroGradient, "\(name) grad", on: bc)
    }

    @Test("five AdamW steps match torch.optim.AdamW", arguments: Self.problems, BackendCase.primary)
    func fiveSteps(_ name: String, _ bc: BackendCase) throws {
        let g = try Golden(name)
        let batches = [try g.batch(0), try g.batch(1)]
        let (m, grads, arena, plan) = try Self.setUp(g, bc, tokens: batches.map(\.0.tokens).max()!,
                                                     texts: batches.map(\.0.batch).max()!)
        let initial = try grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let settings = OptimizerSettings(learningRate: 1e-3, weightDecay: 0.01,
                                         maxGradNorm: Float((g.json["max_grad_norm"] as? Double) ?? 0),
                                         warmupSteps: 1, totalSteps: 5)
        let optimizer = try AdamWOptimizer(settings: settings, gradients: grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = []
        for step in 0..<5 {
            let (batch, targets) = batches[step % 2]
            try grads.zero(on: bc.trainer)
            let out = try m.classificationStep(batch, loss: FloatTargetLoss(problem: g.problem, targets: targets),
                                               arena: arena, grads: grads, dropout: plan, withLogits: false)
            losses.append(Float(out.loss))
            norms.append(try optimizer.update(on: bc.trainer).gradNorm)
        }
        expectClose(losses, try g.file.floats("steps.losses"), atol: 0, rtol: 1e-4, "\(bc.name) \(name) step losses")
        expectClose(norms, try g.file.floats("steps.grad_norms"), atol: 0, rtol: 1e-4, "\(bc.name) \(name) gradient norms")
        let bound = Float(((g.json["zero_gradient_parameters"] as? [String: Any])?["movement_bound"] as? Double) ?? 0)
        try GoldenTensors.expectFinalWeights(grads, file: g.file, initial: initial, zeroGradient: g.zeroGradient,
                                             movementBound: bound, name, on: bc)
    }

    /// The host loss on PyTorch's float64 cases: hard, soft (distillation), their sum and its
    /// gradient, with unlabelled rows, one and several outputs, each temperature and weighting.
    @Test("the losses and their gradients on given logits, distillation's soft terms included")
    func losses() throws {
        let cases = try Fixtures.json("problem-loss-golden.json")["cases"] as? [[String: Any]] ?? []
        #expect(cases.count == 9)
        for c in cases {
            let classes = c["classes"] as! Int, labelled = c["labelled"] as! [Bool]
            func doubles(_ k: String) -> [Double] { (c[k] as! [NSNumber]).map(\.doubleValue) }
            let y = doubles("targets").map(Float.init)
            let targets: [[Float]?] = labelled.enumerated().map { r, l in l ? Array(y[(r * classes)..<((r + 1) * classes)]) : nil }
            var options = DistillationOptions()
            options.temperature = Float(c["temperature"] as! Double)
            options.alphaKD = Float(c["alpha_kd"] as! Double)
            options.alphaCE = Float(c["alpha_ce"] as! Double)
            let problem: ProblemType = c["problem"] as! String == "regression" ? .regression : .multiLabel
            let loss = FloatTargetLoss(problem: problem, targets: targets, teacher: doubles("teacher").map(Float.init),
                                       distillation: options)
            let (hard, soft, gradient) = loss.values(doubles("logits").map(Float.init), classes: classes)
            let what = "\(problem) C=\(classes) T=\(options.temperature) α \(options.alphaKD)/\(options.alphaCE)"
            let hardMean = hard.reduce(0.0) { $0 + Double($1) } / Double(labelled.filter { $0 }.count)
            let softMean = soft.reduce(0.0) { $0 + Double($1) } / Double(labelled.count)
            #expect(abs(hardMean - (c["hard"] as! Double)) <= 1e-5 * max(1, abs(c["hard"] as! Double)), "\(what) hard")
            #expect(abs(softMean - (c["soft"] as! Double)) <= 1e-5 * max(1, abs(c["soft"] as! Double)), "\(what) soft")
            #expect(abs(loss.batchLoss([hard, soft]) - (c["loss"] as! Double)) <= 1e-5 * max(1, abs(c["loss"] as! Double)),
                    "\(what) loss")
            expectClose(gradient, doubles("gradient"), atol: 1e-6, rtol: 1e-5, "\(what) gradient")
        }
    }
}
