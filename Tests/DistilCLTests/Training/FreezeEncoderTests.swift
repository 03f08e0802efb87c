@testable import DistilCL
import Foundation
import Testing

/// `--freeze-encoder`: the head trains alone, as PyTorch with `base_model.requires_grad_(False)`.
/// The head's gradient is the full model's (the same forward, the same dropout masks), the
/// clipping norm runs over the head's gradients only, and AdamW leaves every encoder weight as
/// it was, bit for bit.
@Suite("Frozen encoder: the head trains alone")
struct FreezeEncoderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let model: String
        let masked: Bool
        let backend: BackendCase
        var testDescription: String { "\(model) \(backend.name)" }
    }

    static let cases: [Case] = BackendCase.all.flatMap { b in
        [Case(model: "tiny-distilbert-sst", masked: false, backend: b), Case(model: "tiny-bert-mlm", masked: true, backend: b)]
    }

    static func isEncoder(_ name: String) -> Bool { name.hasPrefix("bert.") || name.hasPrefix("distilbert.") }

    @Test("one step: the head's gradient as unfrozen, the norm over the head, the encoder untouched", arguments: cases)
    func headAlone(_ c: Case) throws {
        let folder = try TemporaryFolder()
        let data = c.masked ? try MaskedLMTrainingTests.text(folder) : try GradientAccumulationTests.data(folder)
        var options = c.masked ? MaskedLMTrainingTests.options(batch: 8) : GradientAccumulationTests.options(batch: 8, accumulate: 1)
        options.maxGradNorm = 1e-3   // clipping on, so the norm's scope shows in the step
        options.warmup = 0           // a first step with a learning rate
        let settings = c.masked ? MaskedLMTrainingTests.settings : TaskSettings()
        let b = c.backend.backend
        func trainer(_ frozen: Bool) throws -> Trainer {
            var o = options
            o.freezeEncoder = frozen
            return try Trainer(model: Fixtures.model(c.model), train: data, eval: nil, labels: nil,
                               output: folder.file(frozen ? "frozen" : "full"), backend: b, options: o, resume: false,
                               settings: settings)
        }
        func download(_ t: Trainer, _ buffers: [any DeviceBuffer]) throws -> [[Float]] {
            try zip(buffers, t.grads.parameters).map { try b.download($0, count: $1.count) }
        }
        let (full, frozen) = (try trainer(false), try trainer(true))
        let names = frozen.grads.parameters.map { $0.names[0] }
        #expect(names.contains { !Self.isEncoder($0) } && names.contains { Self.isEncoder($0) })
        let order = options.order(frozen.trainCount, epoch: 1)
        for t in [full, frozen] { _ = try t.accumulateStep(order: order, texts: 0..<8, epoch: 1) }
        let (gFull, gFrozen) = (try download(full, full.grads.gradients), try download(frozen, frozen.grads.gradients))
        for (i, name) in names.enumerated() where !Self.isEncoder(name) {
            #expect(gFrozen[i] == gFull[i], "\(c) \(name): the head's gradient")
        }
        for (i, name) in names.enumerated() where name.contains(".layer.") {
            #expect(gFrozen[i].allSatisfy { $0 == 0 }, "\(c) \(name): no backward through the encoder")
        }
        let headNorm = names.indices.filter { !Self.isEncoder(names[$0]) }
            .reduce(0.0) { s, i in gFrozen[i].reduce(s) { $0 + Double($1) * Double($1) } }.squareRoot()
        let before = try download(frozen, frozen.grads.parameters.map(\.value))
        let (norm, _) = try frozen.optimizer.update(on: frozen.backend)
        #expect(abs(Double(norm) - headNorm) <= 1e-5 * headNorm, "\(c): norm \(norm), the head's \(headNorm)")
        let (fullNorm, _) = try full.optimizer.update(on: full.backend)
        #expect(fullNorm > norm * 1.01, "\(c): the whole model's norm \(fullNorm) is the larger")
        let after = try download(frozen, frozen.grads.parameters.map(\.value))
        for (i, name) in names.enumerated() {
            if Self.isEncoder(name) {
                #expect(after[i] == before[i], "\(c) \(name): frozen")
            } else if gFrozen[i].contains(where: { $0 != 0 }) {
                #expect(after[i] != before[i], "\(c) \(name): trained")
            }
        }
    }
}
