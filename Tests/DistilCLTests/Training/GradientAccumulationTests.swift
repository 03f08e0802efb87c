@testable import DistilCL
import Foundation
import Testing

/// `--gradient-accumulation-steps`: N micro-batches of b texts train as one batch of N·b. The
/// loss of a step averages over all of its texts (and, distilling, its labelled texts and its
/// tokens), and dropout is keyed by example, so with dropout on the two runs differ only by
/// float rounding (the sums of a gradient grouped by micro-batch).
@Suite("Gradient accumulation")
struct GradientAccumulationTests {
    /// 32 texts: the golden batch's 9 sentences joined in pairs, labels `0..<classes`; with
    /// `unlabelled`, every fifth line without one (distillation's unlabelled texts).
    static func data(_ folder: TemporaryFolder, classes: Int = 2, unlabelled: Bool = false) throws -> URL {
        let json = try Fixtures.json("tiny-distilbert-sst/train-golden.json")
        var texts: [(String, Int)] = []
        for batch in json["batches"] as? [[String: Any]] ?? [] {
            texts += zip(batch["texts"] as? [String] ?? [], ints(batch["labels"])).map { ($0, $1) }
        }
        let lines: [[String: Any]] = (0..<32).map { i in
            let (a, b) = (texts[i % texts.count], texts[(5 * i + 2) % texts.count])
            var line: [String: Any] = ["text": a.0 + " " + b.0]
            if !(unlabelled && i % 5 == 0) { line["label"] = (a.1 + i) % classes }
            return line
        }
        let url = folder.file("train-\(classes)-\(unlabelled).jsonl")
        try CLI.jsonl(lines).write(to: url)
        return url
    }

    /// Five steps, dropout 0.1 everywhere (the config's 0.2 on the head replaced too),
    /// shuffled, AdamW at transformers' default rate without warm-up; `distil`: the KL,
    /// cross-entropy and cosine terms.
    static func options(batch: Int, accumulate: Int, distil: Bool = false) -> TrainingOptions {
        var o = TrainingOptions()
        o.batchSize = batch
        o.gradientAccumulationSteps = accumulate
        o.maxSteps = 5
        o.learningRate = 5e-5
        o.warmup = 0
        o.dropout = 0.1
        o.seed = 11
        if distil {
            var d = DistillationOptions()
            d.alphaCos = 0.5
            o.distillation = d
        }
        return o
    }

    /// Fine-tunes the tiny DistilBERT, or distils the tiny BERT pair classifier.
    static func trainer(_ folder: TemporaryFolder, _ out: String, train: URL, options: TrainingOptions,
                        backend: any ComputeBackend) throws -> Trainer {
        let model = Fixtures.model(options.distillation == nil ? "tiny-distilbert-sst" : "tiny-bert-pairs")
        return try Trainer(model: model, train: train, eval: nil, labels: nil, output: folder.file(out),
                           backend: backend, options: options, resume: false)
    }

    /// Every tensor of `out`'s saved model.
    static func weights(_ folder: TemporaryFolder, _ out: String) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(url: folder.file(out + "/model.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    /// Attention key biases: softmax ignores a shift of a whole score row, so their gradient is
    /// exactly 0 and what each run computes is float rounding noise, which AdamW divides by its
    /// own root mean square into steps of up to the learning rate. Their gradients are compared
    /// (`gradient`: both within rounding of 0); their weights cannot be.
    static func isKeyBias(_ name: String) -> Bool {
        name.hasSuffix("attention.k_lin.bias") || name.hasSuffix("attention.self.key.bias")
    }

    /// The property itself: one step's gradient accumulated over 4 micro-batches of 8 equals
    /// the gradient of the batch of 32, every tensor within 1e-5 of the model's largest
    /// gradient (float32 sums of a few hundred terms, grouped otherwise), and the same loss,
    /// dropout on. With masks keyed by step or packed position they differ at every dropout site.
    @Test("one step's gradient: 4 × 8 accumulated equals the batch of 32", arguments: [false, true], BackendCase.all)
    func gradient(_ distil: Bool, _ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder, classes: distil ? 3 : 2, unlabelled: distil)
        var grads: [[[Float]]] = [], losses: [Double] = [], names: [String] = []
        for (name, batch, n) in [("big", 32, 1), ("small", 8, 4)] {
            let o = Self.options(batch: batch, accumulate: n, distil: distil)
            let t = try Self.trainer(folder, name, train: train, options: o, backend: bc.backend)
            losses.append(try t.accumulateStep(order: o.order(32, epoch: 2), texts: 0..<32, epoch: 2))
            grads.append(try t.grads.parameters.indices.map {
                try bc.backend.download(t.grads.gradients[$0], count: t.grads.parameters[$0].count)
            })
            names = t.grads.parameters.map { $0.names[0] }
        }
        let scale = grads[0].joined().map(abs).max() ?? 0
        let what = "\(bc.name) \(distil ? "distillation" : "fine-tuning")"
        #expect(scale > 0 && abs(losses[0] - losses[1]) <= 1e-6 * abs(losses[0]), "\(what): losses \(losses)")
        var worst: Float = 0
        for (i, name) in names.enumerated() {
            let diff = zip(grads[0][i], grads[1][i]).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff <= 1e-5 * scale, "\(what) \(name): max |diff| \(diff), largest gradient \(scale)")
            worst = max(worst, diff)
        }
        print("\(what): one step's gradient, 4 × 8 vs 32: largest difference \(worst / scale) of the largest gradient")
    }

    /// The issue's check: 8 × 4 against 32, every weight within 1e-5 after five AdamW steps
    /// (lr 5e-5: a weight moves by up to 2.5e-4), key biases aside (`isKeyBias`).
    @Test("five steps: accumulation 4 × batch 8 gives batch 32's weights, dropout on",
          arguments: [false, true], BackendCase.all)
    func fiveSteps(_ distil: Bool, _ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder, classes: distil ? 3 : 2, unlabelled: distil)
        var runs: [[String: [Float]]] = []
        for (name, batch, n) in [("big", 32, 1), ("small", 8, 4)] {
            let o = Self.options(batch: batch, accumulate: n, distil: distil)
            let t = try Self.trainer(folder, name, train: train, options: o, backend: bc.backend)
            #expect(try t.run().last?.step == 5)
            runs.append(try Self.weights(folder, name))
        }
        let what = "\(bc.name) \(distil ? "distillation" : "fine-tuning") 4 × 8 vs 32"
        let compared = runs[0].keys.filter { !Self.isKeyBias($0) }
        #expect(Set(runs[0].keys) == Set(runs[1].keys) && compared.count > 10 && compared.count < runs[0].count,
                "\(what): tensors \(runs[0].keys.sorted())")
        var worst: Float = 0, moved: Float = 0
        let start = distil ? nil : try SafeTensorsFile(url: Fixtures.model("tiny-distilbert-sst/model.safetensors"))
        for name in compared {
            let diff = zip(runs[0][name]!, runs[1][name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff <= 1e-5, "\(what) \(name): max |diff| \(diff)")
            worst = max(worst, diff)
            if let start, start.names.contains(name) {
                moved = max(moved, zip(runs[0][name]!, try start.floats(name)).map { abs($0 - $1) }.max() ?? 0)
            }
        }
        #expect(distil || moved > 1e-4, "\(what): the weights hardly moved (\(moved))")
        print("\(what): largest weight difference after 5 steps \(worst); largest move \(moved)")
    }

    /// The row table the kernels draw by: texts 8–15 packed as a micro-batch of their own get
    /// the rows they have inside the batch of 32 (example, local row), and [CLS]-only rows are
    /// each text's local row 0.
    @Test("a micro-batch's dropout rows are the big batch's rows for the same texts")
    func rowsFollowTheExample() throws {
        let lengths = (0..<32).map { 3 + $0 % 7 }
        var offsets = [0]
        for n in lengths { offsets.append(offsets.last! + n) }
        let examples = (0..<32).map { UInt64(64 + $0) }   // epoch 3 of 32 texts: draws 64…95
        let big = DropoutRows.layout(examples: examples, offsets: offsets, everyToken: true)
        let part = Array(offsets[8...16]).map { $0 - offsets[8] }
        let small = DropoutRows.layout(examples: Array(examples[8..<16]), offsets: part, everyToken: true)
        #expect(Array(big[(3 * offsets[8])..<(3 * offsets[16])]) == small)
        #expect(DropoutRows.layout(examples: examples, offsets: offsets, everyToken: false)
                    == examples.flatMap { [Int32($0), 0, 0] })
    }

    /// An epoch whose micro-batches do not divide by N: 32 texts in micro-batches of 6 (6 of
    /// them, the last of 2 texts) with N = 4 are 2 steps an epoch, the second over the 2
    /// micro-batches left (8 texts, its loss their mean), as transformers' Trainer; the same
    /// as batches of 24 (24 and 8 texts). The third step is the second epoch's first.
    @Test("an epoch's last step takes the micro-batches left over", arguments: BackendCase.primary)
    func leftover(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder)
        var parts = Self.options(batch: 6, accumulate: 4), whole = Self.options(batch: 24, accumulate: 1)
        (parts.maxSteps, whole.maxSteps) = (3, 3)
        #expect(parts.stepsPerEpoch(32) == 2 && parts.microBatchesPerEpoch(32) == 6 && parts.epochCount(32) == 2)
        #expect(whole.stepsPerEpoch(32) == 2)
        var runs: [[String: [Float]]] = []
        for (name, o) in [("whole", whole), ("parts", parts)] {
            let t = try Self.trainer(folder, name, train: train, options: o, backend: bc.backend)
            #expect(try t.run().map(\.step) == [2, 3])
            runs.append(try Self.weights(folder, name))
        }
        for (name, x) in runs[0] where !Self.isKeyBias(name) {
            let diff = zip(x, runs[1][name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff <= 1e-5, "\(bc.name) 4 × 6 vs 24 \(name): max |diff| \(diff)")
        }
    }

    /// The recipe keeps N (`--resume` compares recipes), a checkpoint written before the flag
    /// existed reads N = 1, and N < 1 is refused.
    @Test("N is part of the recipe; older checkpoints read N = 1")
    func recipe() throws {
        var o = TrainingOptions()
        o.gradientAccumulationSteps = 3
        let data = try JSONEncoder().encode(o)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: data) == o)
        var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        #expect(object.removeValue(forKey: "gradientAccumulationSteps") as? Int == 3)
        let old = try JSONDecoder().decode(TrainingOptions.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(old.gradientAccumulationSteps == 1 && old != o)
        #expect(Trainer.describe(o).contains("gradient accumulation steps 3"))
        o.gradientAccumulationSteps = 0
        #expect(throws: TrainingError.self) { try o.validate() }
    }
}
