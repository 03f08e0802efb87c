@testable import DistilCL
import Foundation
import Testing

/// Masked-LM runs through `Trainer`: gradient accumulation averages over the whole step's
/// masked tokens (N micro-batches train as one batch), and a resumed run masks, trains and
/// distils as an uninterrupted one, bit for bit.
@Suite("Masked-LM training runs")
struct MaskedLMTrainingTests {
    static func text(_ folder: TemporaryFolder) throws -> URL {
        let lines = (0..<24).map { i in
            ["the film was good and the acting was good", "the plot was bad and the ending was bad",
             "a good film with a good cast", "a bad film with a bad script, unwatchable"][i % 4] + " \(i)"
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: folder.file("text.txt"))
        return folder.file("text.txt")
    }

    static func options(batch: Int = 8, accumulation: Int = 1, distil: Bool = false) -> TrainingOptions {
        var o = TrainingOptions()
        (o.epochs, o.batchSize, o.gradientAccumulationSteps, o.learningRate, o.maxLength) = (2, batch, accumulation, 1e-3, 16)
        o.dropout = 0.1
        if distil {
            var d = DistillationOptions()
            (d.alphaKD, d.alphaCE, d.alphaCos, d.studentLayers) = (5, 2, 1, [0, 2])
            o.distillation = d
        }
        return o
    }

    static let settings = TaskSettings(task: .maskedLM, maskedLM: MaskedLMOptions(smoothing: 0.7))

    static func weights(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(url: url.appendingPathComponent("model.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    @Test("4 × 2 accumulated micro-batches train as batches of 8", arguments: BackendCase.primary)
    func accumulation(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let text = try Self.text(folder)
        for (name, batch, accumulation) in [("big", 8, 1), ("acc", 4, 2)] {
            _ = try Trainer(model: Fixtures.model("tiny-bert-mlm"), train: text, eval: nil, labels: nil,
                            output: folder.file(name), backend: bc.backend,
                            options: Self.options(batch: batch, accumulation: accumulation, distil: true), resume: false,
                            settings: Self.settings).run()
        }
        let (a, b) = (try Self.weights(folder.file("big")), try Self.weights(folder.file("acc")))
        #expect(a.keys == b.keys && a.keys.contains("vocab_projector.bias"))
        for (name, x) in a {
            let worst = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            // Key biases have no gradient in exact arithmetic: Adam turns rounding noise into steps of about lr.
            let bound: Float = name.hasSuffix("k_lin.bias") ? 2 * 6 * 1e-3 : 2e-5
            #expect(worst <= bound, "\(bc.name) \(name): max |diff| \(worst), bound \(bound)")
        }
    }

    @Test("an interrupted distillation resumes to the same weights, bit for bit")
    func resume() throws {
        let folder = try TemporaryFolder()
        let text = try Self.text(folder)
        func trainer(_ out: String, resume: Bool) throws -> Trainer {
            try Trainer(model: Fixtures.model("tiny-bert-mlm"), train: text, eval: text, labels: nil,
                        output: folder.file(out), backend: BackendCase.cpu.backend,
                        options: Self.options(batch: 4, accumulation: 2, distil: true), resume: resume,
                        settings: Self.settings)
        }
        let whole = try trainer("whole", resume: false).run()
        _ = try trainer("split", resume: false).run(stopAfterEpoch: 1)
        let rest = try trainer("split", resume: true).run()
        #expect(whole.count == 2 && whole.allSatisfy { $0.evalPerplexity != nil })
        #expect(rest.map(\.trainLoss) == whole.map(\.trainLoss) && rest.map(\.evalPerplexity) == whole.map(\.evalPerplexity))
        #expect(try Self.weights(folder.file("whole")) == (try Self.weights(folder.file("split"))))
    }
}
