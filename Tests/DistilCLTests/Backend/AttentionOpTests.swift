import DistilCL
import Foundation
import Testing

/// The attention ops on every backend against double-precision references: strided batched
/// GEMM reading heads straight out of a fused QKV buffer, and the fused attention.
@Suite("Attention ops")
struct AttentionOpTests {
    /// (batch, heads, seq, headDim): seq 1, 7, 13, 127, 129 and head sizes that are not tile multiples.
    static let shapes: [(Int, Int, Int, Int)] = [(1, 1, 1, 1), (2, 3, 7, 5), (1, 2, 13, 12), (2, 2, 129, 64), (1, 4, 127, 13)]

    /// Q·Kᵀ then P·V for every head in one call each, as the encoder runs them.
    /// Tolerance as for GEMM (random-walk rounding over the K terms, 5σ ≈ 1e-7·K).
    @Test("Q·Kᵀ and P·V from fused QKV (OpenCL's batched GEMM)", arguments: BackendCase.openCL)
    func headsFromFusedQKV(_ bc: BackendCase) throws {
        let backend = try #require(bc.backend as? OpenCLBackend)
        var rng = SeededRandom(seed: 3)
        for (b, h, s, dh) in Self.shapes {
            let d = h * dh
            let qkv = rng.floats(b * s * 3 * d)
            let probs = rng.floats(b * h * s * s, 0...1)
            let alpha = 1 / Float(dh).squareRoot()
            let qkvBuf = try backend.buffer(qkv)

            // scores[b, h, i, j] = alpha · Σ_d Q[b, i, h, d]·K[b, j, h, d]
            let scores = try poisoned(backend, b * h * s * s)
            try backend.batchedMatmul(
                a: MatrixView(qkvBuf, offset: 0, stride1: s * 3 * d, stride2: dh, ld: 3 * d),
                b: MatrixView(qkvBuf, offset: d, stride1: s * 3 * d, stride2: dh, ld: 3 * d),
                c: MatrixView(scores, stride1: h * s * s, stride2: s * s, ld: s),
                m: s, n: s, k: dh, transposeA: false, transposeB: true, alpha: alpha, beta: 0, batch: (b, h))
            var want = [Double](repeating: 0, count: b * h * s * s)
            for bi in 0..<b { for hi in 0..<h { for i in 0..<s { for j in 0..<s {
                var acc = 0.0
                for e in 0..<dh {
                    acc += Double(qkv[(bi * s + i) * 3 * d + hi * dh + e]) * Double(qkv[(bi * s + j) * 3 * d + d + hi * dh + e])
                }
                want[((bi * h + hi) * s + i) * s + j] = Double(alpha) * acc
            } } } }
            expectClose(try backend.download(scores), want, atol: 1e-7 * Double(dh) + 1e-6, rtol: 1e-5,
                        "\(bc.name) Q·Kᵀ b\(b) h\(h) s\(s) dh\(dh)")

            // context[b, i, h, :] = Σ_j P[b, h, i, j]·V[b, j, h, :]
            let context = try poisoned(backend, b * s * d)
            try backend.batchedMatmul(
                a: MatrixView(try backend.buffer(probs), stride1: h * s * s, stride2: s * s, ld: s),
                b: MatrixView(qkvBuf, offset: 2 * d, stride1: s * 3 * d, stride2: dh, ld: 3 * d),
                c: MatrixView(context, stride1: s * d, stride2: dh, ld: d),
                m: s, n: dh, k: s, transposeA: false, transposeB: false, alpha: 1, beta: 0, batch: (b, h))
            var wantCtx = [Double](repeating: 0, count: b * s * d)
            for bi in 0..<b { for hi in 0..<h { for i in 0..<s { for e in 0..<dh {
                var acc = 0.0
                for j in 0..<s {
                    acc += Double(probs[((bi * h + hi) * s + i) * s + j]) * Double(qkv[(bi * s + j) * 3 * d + 2 * d + hi * dh + e])
                }
                wantCtx[(bi * s + i) * d + hi * dh + e] = acc
            } } } }
            expectClose(try backend.download(context), wantCtx, atol: 1e-7 * Double(s) + 1e-6, rtol: 1e-5,
                        "\(bc.name) P·V b\(b) h\(h) s\(s) dh\(dh)")
        }
    }

    /// The fused attention over packed sequences against a double-precision softmax(QKᵀ)V per
    /// sequence and head: lengths 1, 7, 0, 13, 129 and 128; head sizes that take the float16,
    /// float4 and scalar kernels. Each output is a convex combination of V rows (|v| ≤ 1) whose
    /// weights carry the exp's few-ulp error: atol 2e-6.
    @Test("fused attention over packed sequences", arguments: BackendCase.all)
    func packedAttention(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 23)
        for (heads, dh) in [(1, 1), (2, 12), (3, 16), (2, 64), (1, 6), (2, 32), (1, 80)] {
            let lengths = [1, 7, 0, 13, 129, 128]
            var offsets = [0]
            for n in lengths { offsets.append(offsets.last! + n) }
            let tokens = offsets.last!, d = heads * dh
            let qkv = rng.floats(tokens * 3 * d, -2...2)
            let scale = 1 / Float(dh).squareRoot()
            var want = [Double](repeating: 0, count: tokens * d)
            for s in 0..<lengths.count where lengths[s] > 0 {
                for h in 0..<heads {
                    for i in offsets[s]..<offsets[s + 1] {
                        let scores = (offsets[s]..<offsets[s + 1]).map { j in
                            Double(scale) * (0..<dh).reduce(0.0) { $0 + Double(qkv[i * 3 * d + h * dh + $1]) * Double(qkv[j * 3 * d + d + h * dh + $1]) }
                        }
                        let mx = scores.max()!
                        let e = scores.map { exp($0 - mx) }
                        let sum = e.reduce(0, +)
                        for c in 0..<dh {
                            want[i * d + h * dh + c] = zip(offsets[s]..<offsets[s + 1], e).reduce(0.0) {
                                $0 + $1.1 / sum * Double(qkv[$1.0 * 3 * d + 2 * d + h * dh + c])
                            }
                        }
                    }
                }
            }
            let b = bc.backend
            let out = try poisoned(b, tokens * d)
            try b.attention(qkv: try b.buffer(qkv), sequences: try PackedSequences.upload(offsets, to: b), heads: heads,
                            headDim: dh, scale: scale, out: out)
            expectClose(try b.download(out), want, atol: 2e-6, rtol: 0, "\(bc.name) attention heads \(heads) dh \(dh)")
        }
    }
}
