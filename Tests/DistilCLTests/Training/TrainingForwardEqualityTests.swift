import DistilCL
import Foundation
import Testing

/// Training's forwards are the inference kernels' bodies with what the backward reads saved
/// (attention's lse, layernorm's stats) and dropout switched on: with dropout 0 they must give
/// the inference output bit for bit, on every backend, whatever the shape. Odd shapes: texts
/// of 1, 7, 129 and 2 tokens; head sizes 5, 4, 16 and 64 (each of the vector widths 1, 4 and
/// 16 of the OpenCL kernels); layernorm rows of 5 to 384 values.
@Suite("Training forward equals inference")
struct TrainingForwardEqualityTests {
    /// `attention(…, lse:, dropout:)` with no dropout and with a mask of probability 0 against
    /// `attention(…)`; lse must be written (the buffer starts as NaN).
    @Test("attention with lse and dropout 0 equals inference attention bit for bit", arguments: BackendCase.all)
    func attention(_ bc: BackendCase) throws {
        try expectAttentionEqual(bc.trainer, name: bc.name)
    }

    /// OpenCL with a tuned key block and vector width (`ATT_KB=5`, width 4 where the heuristic
    /// takes 16 or 1): training's forward is built with both, as the inference kernel is.
    @Test("attention with lse follows the tuned key block and vector width", arguments: BackendCase.openCLDevices)
    func tunedAttention(_ device: CLDeviceInfo) throws {
        var tuning = KernelTuning.default(for: device)
        tuning.attentionKeyBlock = 5
        tuning.attentionVectorWidth = 4
        let backend = try OpenCLBackend(device: device, tuning: tuning)
        #expect(try backend.attentionWidth(headDim: 16) == 4)
        try expectAttentionEqual(backend, name: "opencl:\(device.index)/ATT_KB=5/v4")
    }

    /// `layerNorm(…, stats:)` against `layerNorm(…)`, with and without a residual.
    @Test("layer norm with stats equals inference layer norm bit for bit", arguments: BackendCase.all)
    func layerNorm(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 77)
        for (rows, cols) in [(1, 5), (7, 13), (129, 48), (3, 100), (13, 384)] {
            // A common offset, as residual streams have, so the two-pass variance matters.
            let x = rng.floats(rows * cols, 2...4), res = rng.floats(rows * cols)
            let (gamma, beta) = (rng.floats(cols, 0.5...1.5), rng.floats(cols))
            let (xb, gb, bb) = (try b.buffer(x), try b.buffer(gamma), try b.buffer(beta))
            for residual in [nil, try b.buffer(res)] as [(any DeviceBuffer)?] {
                let inference = try poisoned(b, rows * cols), training = try poisoned(b, rows * cols)
                let stats = try poisoned(b, 2 * rows)
                try b.layerNorm(xb, residual: residual, gamma: gb, beta: bb, rows: rows, cols: cols, eps: 1e-12,
                                out: inference)
                try b.layerNorm(xb, residual: residual, gamma: gb, beta: bb, rows: rows, cols: cols, eps: 1e-12,
                                out: training, stats: stats)
                let what = "\(bc.name) layerNorm \(rows)×\(cols) residual \(residual != nil)"
                expectBitEqual(try b.download(training), try b.download(inference), what)
                #expect(try b.download(stats).allSatisfy(\.isFinite), "\(what): stats not all written")
            }
        }
    }
}

/// Runs both attention forwards on `b` over packed texts and expects equal bits.
private func expectAttentionEqual(_ b: any TrainingBackend, name: String,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
    var rng = SeededRandom(seed: 41)
    let lengths = [1, 7, 129, 2]
    var offsets = [0]
    for n in lengths { offsets.append(offsets.last! + n) }
    let tokens = offsets.last!
    let packed = try PackedSequences.upload(offsets, to: b)
    for (heads, dh) in [(2, 5), (3, 4), (2, 16), (2, 64)] {
        let d = heads * dh
        let qkv = try b.buffer(rng.floats(tokens * 3 * d, -2...2))
        let scale = 1 / Float(dh).squareRoot()
        let inference = try poisoned(b, tokens * d)
        try b.attention(qkv: qkv, sequences: packed, heads: heads, headDim: dh, scale: scale, out: inference)
        let want = try b.download(inference)
        let zero = DropoutMask(key: DropoutKey(seed: 0x5EED, site: 2, probability: 0),
                               rows: try DropoutRows.upload(examples: [5, 9, 2, 7], offsets: offsets, everyToken: true,
                                                            to: b))
        for key in [nil, zero] as [DropoutMask?] {
            let (out, lse) = (try poisoned(b, tokens * d), try poisoned(b, tokens * heads))
            try b.attention(qkv: qkv, sequences: packed, heads: heads, headDim: dh, scale: scale, out: out, lse: lse,
                            dropout: key)
            let what = "\(name) attention \(lengths) h\(heads) dh\(dh) key \(key == nil ? "nil" : "p 0")"
            expectBitEqual(try b.download(out), want, what, sourceLocation: sourceLocation)
            #expect(try b.download(lse).allSatisfy(\.isFinite), "\(what): lse not all written",
                    sourceLocation: sourceLocation)
        }
    }
}

/// Expects the same bit patterns, NaNs included; prints the first ten differences.
private func expectBitEqual(_ got: [Float], _ want: [Float], _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)",
            sourceLocation: sourceLocation)
    let differ = zip(got, want).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
    let first = differ.prefix(10).map { "[\($0.offset)] \($0.element.0) vs \($0.element.1)" }
    #expect(differ.isEmpty, "\(what): \(differ.count) values differ: \(first.joined(separator: "; "))",
            sourceLocation: sourceLocation)
    #expect(!want.contains { $0.isNaN }, "\(what): the inference output has NaNs (unwritten)",
            sourceLocation: sourceLocation)
}
