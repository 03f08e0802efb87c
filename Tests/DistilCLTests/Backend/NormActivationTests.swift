import DistilCL
import Foundation
import Testing

/// LayerNorm with fused residual and the element-wise activations, on every backend against
/// double-precision references.
@Suite("LayerNorm and activations")
struct NormActivationTests {
    /// Tolerance: the mean and variance are float32 sums of n terms (n ≤ 3072), so the
    /// normalised value carries a relative error of a few ·1e-7·√n; after gamma (|g| ≤ 2)
    /// 2e-5 absolute is several σ at n = 3072.
    @Test("layerNorm with and without residual, in place", arguments: BackendCase.all)
    func layerNorm(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 5)
        for (rows, cols, offset) in [(1, 1, 0), (1, 7, 0), (13, 48, 3), (7, 768, 10), (3, 3072, 0), (129, 127, -4)] as [(Int, Int, Float)] {
            let x = rng.floats(rows * cols, (offset - 2)...(offset + 2))
            let res = rng.floats(rows * cols)
            let gamma = rng.floats(cols, -2...2), beta = rng.floats(cols)
            let eps: Float = 1e-12
            for withResidual in [false, true] {
                var want = [Double](repeating: 0, count: rows * cols)
                for r in 0..<rows {
                    let v = (0..<cols).map { Double(x[r * cols + $0]) + (withResidual ? Double(res[r * cols + $0]) : 0) }
                    let mean = v.reduce(0, +) / Double(cols)
                    let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
                    for j in 0..<cols {
                        want[r * cols + j] = (v[j] - mean) / (variance + Double(eps)).squareRoot() * Double(gamma[j]) + Double(beta[j])
                    }
                }
                let b = bc.backend
                let out = try poisoned(b, rows * cols)
                let resBuf = try b.buffer(res)
                try b.layerNorm(try b.buffer(x), residual: withResidual ? resBuf : nil, gamma: try b.buffer(gamma),
                                beta: try b.buffer(beta), rows: rows, cols: cols, eps: eps, out: out)
                expectClose(try b.download(out), want, atol: 2e-5, rtol: 0, "\(bc.name) layerNorm \(rows)×\(cols) residual \(withResidual)")
                if withResidual {
                    // out aliasing the residual, as the post-norm encoder uses it
                    try b.layerNorm(try b.buffer(x), residual: resBuf, gamma: try b.buffer(gamma), beta: try b.buffer(beta),
                                    rows: rows, cols: cols, eps: eps, out: resBuf)
                    expectClose(try b.download(resBuf), want, atol: 2e-5, rtol: 0, "\(bc.name) layerNorm in place \(rows)×\(cols)")
                }
            }
        }
    }

    /// GELU (erf and tanh forms) and ReLU, including large magnitudes where erf saturates and
    /// x³ in the tanh form is huge. rtol 2e-6 is 16 ulp (OpenCL C's bound for erf/exp). Where
    /// x << 0, 0.5·x·(1 + erf(x/√2)) turns erf's absolute error (a few ulp of 1, ≈ 1.2e-7
    /// each; this is the form transformers computes) into 0.5·|x|·that: atol 1e-7 + 2.4e-7·|x|.
    @Test("activations on large magnitudes", arguments: BackendCase.all)
    func activations(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 9)
        let count = 4099
        var x = rng.floats(count, -6...6)
        x += [0, -0.0, 1e-30, -1e-30, 10, -10, 40, -40, 1e4, -1e4, 3e38, -3e38]
        for act in Activation.allCases {
            let want = x.map { referenceActivation(Double($0), act) }
            let out = try poisoned(bc.backend, x.count)
            try bc.backend.activation(try bc.backend.buffer(x), count: x.count, act, out: out)
            let got = try bc.backend.download(out)
            let bad = x.indices.filter { i in
                let tol = 1e-7 + 2.4e-7 * Double(abs(x[i])) + 2e-6 * abs(want[i])
                return !(abs(Double(got[i]) - want[i]) <= tol)
            }
            #expect(bad.isEmpty, "\(bc.name) \(act): \(bad.count) outside tolerance, first: \(bad.prefix(5).map { "x \(x[$0]) got \(got[$0]) want \(want[$0])" })")
        }
    }
}
