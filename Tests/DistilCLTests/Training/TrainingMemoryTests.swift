import DistilCL
import Foundation
import Testing

/// The memory operations of `TrainingBackend` on every backend: `fill`, and `refresh` after a
/// linear layer's plain weight changed. `refresh` rebuilds the layout the forward pass reads
/// (OpenCL's packed panels and padded bias, the CPU path's oneDNN blocks) from `layer.weight`
/// and `layer.bias`, so `linear` computes with the new values.
///
/// Tolerance of the linear checks: the GEMM bound of `GEMMTests` (a K-term float32 sum, 5σ),
/// rtol 1e-5 for GELU.
@Suite("Training memory: fill and refresh")
struct TrainingMemoryTests {
    /// Exactly the first `count` elements change, in float32 and int32 buffers; count 0 is a no-op.
    @Test("fill sets the first count elements", arguments: BackendCase.all)
    func fill(_ bc: BackendCase) throws {
        let b = bc.trainer
        let floats = try poisoned(b, 1001)
        try b.fill(floats, value: -0.25, count: 997)
        try b.fill(floats, value: 3, count: 0)
        let got = try b.download(floats)
        #expect(got[..<997].allSatisfy { $0 == -0.25 }, "\(bc.name) fill float32")
        #expect(got[997...].allSatisfy { $0.isNaN }, "\(bc.name) fill wrote past count")
        let ints = try b.buffer([Int32](repeating: -1, count: 9))
        try b.fill(ints, value: 7, count: 6)
        #expect(try b.download(ints) == [7, 7, 7, 7, 7, 7, -1, -1, -1], "\(bc.name) fill int32")
        #expect(throws: BackendError.self) { try b.fill(ints, value: 0, count: 10) }
    }

    /// Outputs that are and are not panel multiples (1, 7, 32, 45, 70; PN is 8, 16 or 32), with
    /// and without a bias; the old weights are far from the new, so a stale layout fails.
    static let shapes: [(rows: Int, n: Int, k: Int, hasBias: Bool)] = [
        (1, 1, 1, true), (7, 45, 13, true), (13, 7, 100, false), (33, 70, 33, true), (5, 32, 64, true),
    ]

    @Test("linear uses new values uploaded into the plain weight and bias", arguments: BackendCase.all)
    func uploadThenRefresh(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 314)
        for (rows, n, k, hasBias) in Self.shapes {
            let x = rng.floats(rows * k)
            let old = rng.floats(n * k, 2...3), oldBias = rng.floats(n, 2...3)
            let new = rng.floats(n * k), newBias = rng.floats(n)
            let layer = try b.makeLinear(weight: old, bias: hasBias ? oldBias : nil, outFeatures: n, inFeatures: k,
                                         role: .general, trainable: true)
            let weight = try #require(layer.weight)
            try b.upload(new, to: weight)
            if let bias = layer.bias { try b.upload(newBias, to: bias) }
            try b.refresh(layer)
            let out = try poisoned(b, rows * n)
            try b.linear(try b.buffer(x), layer, rows: rows, activation: .gelu, out: out)
            expectClose(try b.download(out), referenceLinear(x, new, hasBias ? newBias : nil, m: rows, n: n, k: k, act: .gelu),
                        atol: Precision.fp32.linearTolerance(k: k, sigmas: 5), rtol: 1e-5,
                        "\(bc.name) linear after refresh rows \(rows) out \(n) in \(k) bias \(hasBias)")
            #expect(try b.download(weight) == new, "\(bc.name) refresh changed the plain weight")
        }
    }

    /// The training loop's order: AdamW updates the plain weight and bias in place, `refresh`,
    /// then the next forward pass.
    @Test("linear follows an AdamW step after refresh", arguments: BackendCase.all)
    func adamWThenRefresh(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 2718)
        let (rows, n, k) = (9, 45, 37)
        let x = rng.floats(rows * k)
        let layer = try b.makeLinear(weight: rng.floats(n * k, -0.75...0.75), bias: rng.floats(n, -0.75...0.75),
                                     outFeatures: n, inFeatures: k, role: .general, trainable: true)
        let (weight, bias) = (try #require(layer.weight), try #require(layer.bias))
        for (parameter, count) in [(weight, n * k), (bias, n)] {
            let zeros = [Float](repeating: 0, count: count)
            // The first step moves each element by lr·g/|g| = ±0.25: far beyond the tolerance, within [-1, 1].
            try b.adamW(parameter: parameter, gradient: try b.buffer(rng.floats(count)), m: try b.buffer(zeros),
                        v: try b.buffer(zeros), count: count, step: AdamWStep(learningRate: 0.25, weightDecay: 0.01, step: 1))
        }
        try b.refresh(layer)
        let (w, bv) = (try b.download(weight), try b.download(bias))
        let out = try poisoned(b, rows * n)
        try b.linear(try b.buffer(x), layer, rows: rows, activation: .none, out: out)
        expectClose(try b.download(out), referenceLinear(x, w, bv, m: rows, n: n, k: k, act: .none),
                    atol: Precision.fp32.linearTolerance(k: k, sigmas: 5), rtol: 1e-5,
                    "\(bc.name) linear after adamW and refresh")
    }

    /// A layer made for inference keeps only the packed weight: it exposes no plain weight, and
    /// training it is refused with an error, not a crash.
    @Test("an inference layer has no plain weight and refuses refresh and backward", arguments: BackendCase.all)
    func inferenceLayerRefusesTraining(_ bc: BackendCase) throws {
        let b = bc.trainer
        let layer = try b.makeLinear(weight: [Float](repeating: 0.5, count: 6), bias: [1, 2], outFeatures: 2, inFeatures: 3)
        #expect(layer.weight == nil && layer.bias == nil)
        #expect(throws: BackendError.self) { try b.refresh(layer) }
        #expect(throws: BackendError.self) {
            try b.linearBackward(dOut: try b.buffer([Float](repeating: 1, count: 2)), input: try b.buffer([Float](repeating: 1, count: 3)),
                                 layer, rows: 1, activation: .none, preActivation: nil, dInput: nil,
                                 accumulateInput: false, gradWeight: try b.makeBuffer(count: 6), gradBias: nil)
        }
    }
}
