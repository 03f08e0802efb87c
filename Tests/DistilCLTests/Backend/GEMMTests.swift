import DistilCL
import Foundation
import Testing

/// GEMM `C = act(A·Wᵀ + b)` on every backend against a double-precision reference.
///
/// Tolerance: a K-term float32 dot product of values in [-1, 1] rounds each of its K
/// additions by up to ε/2·|partial sum|, and partial sums are about 0.33·√K, so the error is
/// a random walk with σ ≈ 0.5·ε·0.33·K ≈ 2e-8·K; atol = 1e-7·K + 1e-6 is 5σ. rtol 1e-5
/// covers the activation's own float32 rounding (erf/tanh within a few ulp).
@Suite("GEMM")
struct GEMMTests {
    /// (M, N, K): 1, 7, 13, 127/128/129 and the model's 768/3072, none a multiple of every tile.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 13), (7, 13, 127), (13, 129, 128), (127, 33, 129), (129, 64, 7),
        (128, 128, 768), (7, 3072, 768), (13, 768, 3072), (33, 2304, 768),
    ]

    @Test("linear on every backend", arguments: BackendCase.all)
    func linear(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 42)
        for (m, n, k) in Self.shapes {
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
            let product = referenceLinear(a, w, nil, m: m, n: n, k: k, act: .none)
            for act in Activation.allCases {
                let useBias = act != .relu || m % 2 == 0   // also exercise the no-bias path
                let want = product.indices.map {
                    referenceActivation(product[$0] + (useBias ? Double(bias[$0 % n]) : 0), act)
                }
                let x = try bc.backend.buffer(a)
                let layer = try bc.backend.makeLinear(weight: w, bias: useBias ? bias : nil, outFeatures: n, inFeatures: k)
                let out = try poisoned(bc.backend, m * n)
                try bc.backend.linear(x, layer, rows: m, activation: act, out: out)
                let got = try bc.backend.download(out)
                expectClose(got, want, atol: Precision.fp32.linearTolerance(k: k, sigmas: 5), rtol: 1e-5,
                            "\(bc.name) linear M\(m) N\(n) K\(k) \(act)")
            }
        }
    }

    /// C = alpha·op(A)·op(B) + beta·C over a (2, 3) batch with offsets, every transpose pair and
    /// beta 0 (C poisoned with NaN: not read), 1 (accumulate) and 0.5: the GEMM a backward pass
    /// runs (dX = dY·W, dW += dYᵀ·X). Tolerance as for linear, plus float32 rounding of beta·C.
    @Test("batched GEMM with transposed operands and accumulation", arguments: BackendCase.openCL)
    func batchedTransposesAndBeta(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 17)
        let b = try #require(bc.backend as? OpenCLBackend)
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (13, 33, 129), (33, 7, 64)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    for beta: Float in [0, 1, 0.5] {
                        let (aRows, aCols) = transposeA ? (k, m) : (m, k)
                        let (bRows, bCols) = transposeB ? (n, k) : (k, n)
                        // Each operand padded (ld > cols) and offset inside its buffer.
                        let (lda, ldb, ldc) = (aCols + 3, bCols + 1, n + 2)
                        let (sa, sb, sc) = (aRows * lda + 5, bRows * ldb + 2, m * ldc + 7)
                        let (offA, offB, offC) = (4, 3, 6)
                        let a = rng.floats(offA + 6 * sa), bv = rng.floats(offB + 6 * sb)
                        let c0: [Float] = beta == 0 ? [Float](repeating: .nan, count: offC + 6 * sc) : rng.floats(offC + 6 * sc)
                        let alpha: Float = 0.75
                        let cBuffer = try b.buffer(c0)
                        try b.batchedMatmul(a: MatrixView(try b.buffer(a), offset: offA, stride1: 3 * sa, stride2: sa, ld: lda),
                                            b: MatrixView(try b.buffer(bv), offset: offB, stride1: 3 * sb, stride2: sb, ld: ldb),
                                            c: MatrixView(cBuffer, offset: offC, stride1: 3 * sc, stride2: sc, ld: ldc),
                                            m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                            alpha: alpha, beta: beta, batch: (2, 3))
                        let got = try b.download(cBuffer)
                        var want = c0.map(Double.init)
                        for e in 0..<6 {
                            for i in 0..<m {
                                for j in 0..<n {
                                    var acc = 0.0
                                    for p in 0..<k {
                                        let av = transposeA ? a[offA + e * sa + p * lda + i] : a[offA + e * sa + i * lda + p]
                                        let bw = transposeB ? bv[offB + e * sb + j * ldb + p] : bv[offB + e * sb + p * ldb + j]
                                        acc += Double(av) * Double(bw)
                                    }
                                    let at = offC + e * sc + i * ldc + j
                                    want[at] = Double(alpha) * acc + (beta == 0 ? 0 : Double(beta) * Double(c0[at]))
                                }
                            }
                        }
                        // Only C's own elements are compared; the padding must stay as it was
                        // (NaN stays NaN in `expectClose`).
                        expectClose(got, want, atol: Precision.fp32.linearTolerance(k: k, sigmas: 5), rtol: 1e-5,
                                    "\(bc.name) bmm M\(m) N\(n) K\(k) tA \(transposeA) tB \(transposeB) beta \(beta)")
                    }
                }
            }
        }
    }

    @Test("tiled GEMM built without the slab prefetch", arguments: BackendCase.noPrefetch)
    func linearWithoutPrefetch(_ bc: BackendCase) throws { try linear(bc) }

    @Test("rows past a smaller M are left untouched", arguments: BackendCase.all)
    func leavesTailAlone(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 7)
        let (m, n, k) = (5, 37, 19)
        let layer = try bc.backend.makeLinear(weight: rng.floats(n * k), bias: rng.floats(n), outFeatures: n, inFeatures: k)
        let out = try bc.backend.buffer([Float](repeating: 123, count: (m + 3) * n))
        try bc.backend.linear(try bc.backend.buffer(rng.floats((m + 3) * k)), layer, rows: m, activation: .none, out: out)
        let got = try bc.backend.download(out)
        #expect(got[(m * n)...].allSatisfy { $0 == 123 })
    }

    @Test("mismatched sizes are errors, not crashes", arguments: BackendCase.all)
    func sizeErrors(_ bc: BackendCase) throws {
        #expect(throws: BackendError.self) {
            _ = try bc.backend.makeLinear(weight: [1, 2, 3], bias: nil, outFeatures: 2, inFeatures: 2)
        }
        let layer = try bc.backend.makeLinear(weight: [1, 2, 3, 4], bias: [0, 0], outFeatures: 2, inFeatures: 2)
        #expect(throws: BackendError.self) {
            try bc.backend.linear(try bc.backend.buffer([Float](arrayLiteral: 1, 2)), layer, rows: 2, activation: .none,
                                  out: try bc.backend.makeBuffer(count: 4))
        }
        let square = try bc.backend.buffer([Float](arrayLiteral: 1, 2, 3, 4))
        #expect(throws: BackendError.self) {   // in place: the GEMM would read what it has overwritten
            try bc.backend.linear(square, layer, rows: 2, activation: .none, out: square)
        }
    }
}

/// Double-precision `act(A·Wᵀ + b)`, A `[m, k]`, W `[n, k]`.
func referenceLinear(_ a: [Float], _ w: [Float], _ bias: [Float]?, m: Int, n: Int, k: Int,
                     act: Activation) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { pa in
        w.withUnsafeBufferPointer { pw in
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(pa[i * k + p]) * Double(pw[j * k + p]) }
                    out[i * n + j] = referenceActivation(s + Double(bias?[j] ?? 0), act)
                }
            }
        }
    }
    return out
}

func referenceActivation(_ x: Double, _ act: Activation) -> Double {
    switch act {
    case .none: return x
    case .relu: return max(x, 0)
    case .gelu: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    case .tanh: return tanh(x)
    case .geluTanh: return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
}
