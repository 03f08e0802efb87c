@testable import DistilCL
import Foundation
import Testing

/// Distillation against PyTorch autograd and torch.optim.AdamW, from the golden files made by
/// `scripts/make_distill_golden.py` (dropout off, eager attention): the tiny-bert-pairs teacher,
/// the DistilBERT student built from its layers 0 and 2, one batch of 6 single sentences (2 of
/// them unlabelled), T 2, α_kd .5, α_ce .3, α_cos .2. The student's initial weights, the
/// teacher's targets, one step's loss, terms, logits, hidden states and every gradient, then 3
/// AdamW steps (clipping on every step, linear decay from 1e-3 without warm-up).
@Suite("Distillation against PyTorch")
struct DistillationGoldenTests {
    struct Golden {
        let file: SafeTensorsFile
        let json: [String: Any]
        let zeroGradient: Set<String>
        let batch: TokenBatch
        let labels: [Int32]
        let options: DistillationOptions

        init() throws {
            file = try SafeTensorsFile(url: Fixtures.model("tiny-bert-pairs").appendingPathComponent("distill-golden.safetensors"))
            json = try Fixtures.json("tiny-bert-pairs/distill-golden.json")
            zeroGradient = Set(((json["zero_gradient_parameters"] as? [String: Any])?["names"] as? [String]) ?? [])
            let ids = try file.int64s("input.ids").map { Int($0) }, lengths = try file.int64s("input.lengths").map { Int($0) }
            var rows: [[Int]] = [], start = 0
            for n in lengths {
                rows.append(Array(ids[start..<(start + n)]))
                start += n
            }
            batch = TokenBatch(paddedIds: rows, attentionMask: rows.map { $0.map { _ in 1 } })   // type ids 0
            labels = try file.int64s("input.labels").map { Int32($0) }
            let alphas = json["alphas"] as? [String: Any] ?? [:]
            func number(_ any: Any?) -> Float { Float((any as? Double) ?? .nan) }
            var o = DistillationOptions()
            o.temperature = number(json["temperature"])
            (o.alphaKD, o.alphaCE, o.alphaCos) = (number(alphas["kd"]), number(alphas["ce"]), number(alphas["cos"]))
            o.studentLayers = ints(json["student_layers"])
            options = o
        }
    }

    /// The student as `Trainer` builds it (its head kept, dropout off), the teacher, and a step's buffers.
    static func setUp(_ g: Golden, on bc: BackendCase) throws
        -> (student: EncoderModel, teacher: Teacher, grads: GradientTable, arena: TrainingArena, plan: DropoutPlan) {
        let teacher = try Checkpoint(directory: Fixtures.model("tiny-bert-pairs"))
        let checkpoint = try teacher.distilBertStudent(layers: g.options.studentLayers ?? [])
            .forSequenceClassification(labels: teacher.config.labels, seed: 0)
        let student = try EncoderModel(checkpoint: checkpoint, backend: bc.backend, trainable: true)
        let grads = try GradientTable(try student.trainableParameters(), backend: bc.backend)
        let arena = try TrainingArena(backend: bc.backend, config: student.config, labels: teacher.config.labels.count,
                                      tokens: g.batch.tokens, sequences: g.batch.batch)
        let plan = DropoutPlan(rates: .all(0), bertProjection: false, seed: 0, examples: [], layers: student.config.layers)
        return (student, Teacher(model: try EncoderModel(checkpoint: teacher, backend: bc.backend), options: g.options),
                grads, arena, plan)
    }

    /// The student's weights before training equal transformers' (the same float32 values
    /// copied, the position table plus token-type row 0 one float32 addition on both sides:
    /// exact), and its parameters are transformers' `named_parameters()` (the fused Q, K, V
    /// projection lists its three weights before its three biases, so as sets). The
    /// teacher's logits are held to 1e-5 (the training golden's bound for a 3-layer model) and
    /// its last hidden state of every token to 1e-4 (the inference golden's float32 bound).
    @Test("the student's initial weights and the teacher's targets", arguments: BackendCase.primary)
    func studentAndTeacher(_ bc: BackendCase) throws {
        let g = try Golden()
        let (student, teacher, grads, _, _) = try Self.setUp(g, on: bc)
        #expect(student.config.modelType == .distilbert && student.config.layers == 2)
        let names = grads.parameters.flatMap { $0.parts.map(\.name) }, want = g.json["parameters"] as? [String] ?? []
        let (extra, missing) = (Set(names).subtracting(want).sorted(), Set(want).subtracting(names).sorted())
        #expect(Set(names) == Set(want) && names.count == want.count,
                "not in transformers' student: \(extra); in it but not here: \(missing)")
        for p in grads.parameters {
            let got = try bc.backend.download(p.value, count: p.count)
            for part in p.parts {
                let want = try g.file.floats("student." + part.name)
                let differing = zip(got[part.range], want).filter { $0 != $1 }.count
                #expect(part.range.count == want.count && differing == 0,
                        "\(bc.name) initial \(part.name): \(differing) values differ from transformers' student")
            }
        }
        let (loss, hidden) = try teacher.targets(g.batch, labels: g.labels)
        let (classes, t, d) = (teacher.classes, g.batch.tokens, student.config.hidden)
        #expect(classes == 3)
        expectClose(try bc.backend.download(try #require(loss.teacher), count: g.batch.batch * classes),
                    try g.file.floats("teacher.logits"), atol: 1e-5, rtol: 1e-5, "\(bc.name) teacher logits")
        let states = try #require(hidden, "α_cos > 0 gives a hidden-state target")
        #expect(states.weight == g.options.alphaCos)
        expectClose(try bc.backend.download(states.states, count: t * d), try g.file.floats("teacher.hidden"),
                    atol: 1e-4, rtol: 0, "\(bc.name) teacher last hidden state")
    }

    /// One `classificationStep` with `DistillationLoss` and the cosine target. The loss, each
    /// term and the logits within 1e-5 (as the training golden), the student's last hidden
    /// state within 1e-4 (as the inference golden), every gradient within 1e-4 of its tensor's
    /// largest |gradient| (the training golden's bound). Key biases: gradient 0 in exact
    /// arithmetic, rounding noise on both sides, held to 1e-4 of the model's largest gradient.
    @Test("loss, its terms, logits, hidden states and every gradient match autograd", arguments: BackendCase.primary)
    func oneStep(_ bc: BackendCase) throws {
        let g = try Golden()
        let (student, teacher, grads, arena, plan) = try Self.setUp(g, on: bc)
        try grads.zero(on: bc.trainer)
        let (loss, hidden) = try teacher.targets(g.batch, labels: g.labels)
        let out = try student.classificationStep(g.batch, loss: loss, hiddenTarget: hidden, arena: arena, grads: grads,
                                                 dropout: plan)
        let o = g.options, rows = Double(g.batch.batch), labelled = Double(g.labels.filter { $0 >= 0 }.count)
        let terms: [(String, Double)] = [
            ("total", out.loss),
            ("kd", out.terms[1].reduce(0.0) { $0 + Double($1) } / rows / Double(o.alphaKD)),
            ("ce", out.terms[0].reduce(0.0) { $0 + Double($1) } / labelled),
            ("cos", out.hiddenLoss / Double(o.alphaCos)),
        ]
        for (name, got) in terms {
            let want = Double(try g.file.floats("loss." + name)[0])
            #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "\(bc.name) loss.\(name) \(got), PyTorch \(want)")
        }
        expectClose(out.logits.flatMap { $0 }, try g.file.floats("student.logits"), atol: 1e-5, rtol: 1e-5,
                    "\(bc.name) student logits")
        let last = arena.hidden[student.config.layers], d = student.config.hidden
        expectClose(try bc.backend.download(last, count: g.batch.tokens * d), try g.file.floats("student.hidden"),
                    atol: 1e-4, rtol: 0, "\(bc.name) student last hidden state")

        var wanted: [(String, [Float], [Float])] = []
        var largest: Float = 0
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(grads.gradients[i], count: p.count)
            for part in p.parts {
                let want = try g.file.floats("grad." + part.name)
                wanted.append((part.name, Array(got[part.range]), want))
                largest = max(largest, want.map(abs).max() ?? 0)
            }
        }
        for (name, got, want) in wanted {
            let scale = g.zeroGradient.contains(name) ? largest : (want.map(abs).max() ?? 0)
            let worst = got.count == want.count ? zip(got, want).map { abs($0 - $1) }.max() ?? 0 : .infinity
            #expect(worst.isFinite && worst <= 1e-4 * scale, "\(bc.name) grad \(name): max |diff| \(worst), bound \(1e-4 * scale)")
        }
    }

    /// Three AdamW steps on the batch, as transformers' Trainer: each step's loss and pre-clip
    /// gradient norm within 1e-4 relative, its learning rate within 1e-6 relative (float32 of
    /// the same schedule), every final weight within 1e-4 of its tensor's largest |value| (the
    /// training golden's bounds); the key biases only within the sum of the learning rates of
    /// where they started (Adam turns their noise gradients into steps of about lr).
    @Test("three AdamW steps match torch.optim.AdamW", arguments: BackendCase.primary)
    func threeSteps(_ bc: BackendCase) throws {
        let g = try Golden()
        let (student, teacher, grads, arena, plan) = try Self.setUp(g, on: bc)
        let initial = try grads.parameters.map { try bc.backend.download($0.value, count: $0.count) }
        let settings = OptimizerSettings(learningRate: 1e-3, weightDecay: 0.01,
                                         maxGradNorm: Float(g.json["max_grad_norm"] as? Double ?? .nan),
                                         warmupSteps: 0, totalSteps: 3)
        let optimizer = try AdamWOptimizer(settings: settings, gradients: grads, backend: bc.trainer)
        var losses: [Float] = [], norms: [Float] = [], rates: [Float] = []
        for _ in 0..<3 {
            try grads.zero(on: bc.trainer)
            let (loss, hidden) = try teacher.targets(g.batch, labels: g.labels)
            let out = try student.classificationStep(g.batch, loss: loss, hiddenTarget: hidden, arena: arena,
                                                     grads: grads, dropout: plan, withLogits: false)
            losses.append(Float(out.loss))
            let update = try optimizer.update(on: bc.trainer)
            norms.append(update.gradNorm)
            rates.append(update.learningRate)
        }
        expectClose(losses, try g.file.floats("steps.losses"), atol: 0, rtol: 1e-4, "\(bc.name) step losses")
        expectClose(norms, try g.file.floats("steps.grad_norms"), atol: 0, rtol: 1e-4, "\(bc.name) gradient norms")
        expectClose(rates, try g.file.floats("steps.lrs"), atol: 0, rtol: 1e-6, "\(bc.name) learning rates")
        let movementBound = Float(((g.json["zero_gradient_parameters"] as? [String: Any])?["movement_bound"]
            as? Double) ?? 0)
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(p.value, count: p.count)
            for part in p.parts {
                let mine = Array(got[part.range])
                if g.zeroGradient.contains(part.name) {
                    let moved = zip(mine, initial[i][part.range]).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(moved <= movementBound, "\(bc.name) \(part.name) moved \(moved) > \(movementBound)")
                    continue
                }
                let want = try g.file.floats("final." + part.name)
                let worst = mine.count == want.count ? zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity : .infinity
                let bound = 1e-4 * (want.map(abs).max() ?? 0)
                #expect(worst <= bound, "\(bc.name) final \(part.name): max |diff| \(worst), bound \(bound)")
            }
        }
    }
}
