import DistilCL
import Foundation

/// Finds the fastest key block (`ATT_KB`: keys scored before the running softmax is rescaled)
/// and vector width over the head dimension (1, 4, 16) of the fused attention kernel on the
/// device at hand, the way `GEMMTuner` picks GEMMs: each candidate is built, checked against
/// the CPU path and timed (device time, median of `repeats`) on packed sequences as the model
/// runs them; the backend's current choice goes first, so the winner is never slower than it in
/// the same run.
public struct AttentionTuner {
    /// The result.
    public struct Outcome: Sendable, Encodable {
        /// "B32 S128 H12 dh64".
        public var shape: String
        public var defaultKeyBlock: Int
        public var defaultVectorWidth: Int
        public var defaultGFLOPS: Double
        public var bestKeyBlock: Int
        public var bestVectorWidth: Int
        public var bestGFLOPS: Double
        /// Candidates timed, that gave wrong results or failed to build, and not started (budget).
        public var timed = 0, invalid = 0, skipped = 0
        public var seconds = 0.0

        public var speedup: Double { bestGFLOPS / max(defaultGFLOPS, 1e-9) }
    }

    public let backend: OpenCLBackend
    public var repeats = 5
    /// The key blocks and vector widths tried after the backend's own (widths that divide the head size).
    public static let keyBlocks = [4, 8, 16, 32, 64]
    public static let vectorWidths = [1, 4, 16]

    /// The candidates for `headDim`, the backend's current choice first.
    public func candidates(headDim: Int) throws -> [(keyBlock: Int, vectorWidth: Int)] {
        let current = (backend.tuning.attentionKeyBlock, try backend.attentionWidth(headDim: headDim))
        var list = [current]
        for kb in Self.keyBlocks {
            for w in Self.vectorWidths where headDim % w == 0 && (kb, w) != current { list.append((kb, w)) }
        }
        return list
    }

    public init(backend: OpenCLBackend) { self.backend = backend }

    /// Tunes attention over `sequences` texts of `length` tokens, `heads` heads of `headDim`;
    /// no candidate after the first starts past `deadline`.
    public func tune(sequences: Int, length: Int, heads: Int, headDim: Int,
                     deadline: ContinuousClock.Instant) throws -> Outcome {
        let start = ContinuousClock.now
        let offsets = (0...sequences).map { $0 * length }
        let tokens = offsets.last!, dim = heads * headDim
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        let qkvValues = (0..<tokens * 3 * dim).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let scale = 1 / Float(headDim).squareRoot()
        let reference = CPUBackend()
        let cpuOut = try reference.makeBuffer(count: tokens * dim)
        try reference.attention(qkv: try reference.buffer(qkvValues), sequences: try PackedSequences.upload(offsets, to: reference),
                                heads: heads, headDim: headDim, scale: scale, out: cpuOut)
        let expected = try reference.download(cpuOut, count: tokens * dim)

        let qkv = try backend.buffer(qkvValues), out = try backend.makeBuffer(count: tokens * dim)
        let packed = try PackedSequences.upload(offsets, to: backend)
        let flops = 4 * Double(sequences) * Double(length * length) * Double(dim)
        let all = try candidates(headDim: headDim)
        let current = all[0]
        var outcome = Outcome(shape: "B\(sequences) S\(length) H\(heads) dh\(headDim)", defaultKeyBlock: current.keyBlock,
                              defaultVectorWidth: current.vectorWidth, defaultGFLOPS: 0, bestKeyBlock: current.keyBlock,
                              bestVectorWidth: current.vectorWidth, bestGFLOPS: 0)
        for (i, (keyBlock, width)) in all.enumerated() {
            if i > 0, ContinuousClock.now > deadline { outcome.skipped += 1; continue }
            do {
                let kernel = try backend.attentionKernel(keyBlock: keyBlock, headDim: headDim, vectorWidth: width)
                try backend.attention(qkv: qkv, sequences: packed, heads: heads, scale: scale, out: out, using: kernel)
                let got = try backend.download(out, count: tokens * dim)
                // Softmax-weighted means of values in [-1, 1]: 1e-5 absolute is float32 noise.
                guard zip(got, expected).allSatisfy({ abs($0 - $1) <= 1e-5 }) else {
                    throw TunerError.wrongResult("attention ATT_KB=\(keyBlock) v\(width)")
                }
                let times = try backend.profile {
                    for _ in 0..<repeats {
                        try backend.attention(qkv: qkv, sequences: packed, heads: heads, scale: scale, out: out, using: kernel)
                    }
                }.map { Double($0.nanoseconds) }.sorted()
                let gflops = flops / times[times.count / 2]
                outcome.timed += 1
                if i == 0 { outcome.defaultGFLOPS = gflops }
                if gflops > outcome.bestGFLOPS {
                    (outcome.bestKeyBlock, outcome.bestVectorWidth, outcome.bestGFLOPS) = (keyBlock, width, gflops)
                }
            } catch {
                if i == 0 { throw error }   // the default must work
                outcome.invalid += 1
            }
        }
        outcome.seconds = (ContinuousClock.now - start).seconds
        return outcome
    }
}
