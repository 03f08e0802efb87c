import DistilCL
import Foundation
import Testing

// Double-precision forward passes and their hand-derived backward passes, the references
// the training ops are tested against; each backward is itself checked against central
// finite differences of its forward (`expectMatchesFiniteDifferences`).

extension BackendCase {
    /// The backend as a `TrainingBackend` (both backends are).
    var trainer: any TrainingBackend {
        guard let t = backend as? any TrainingBackend else { preconditionFailure("\(name) cannot train") }
        return t
    }
}

/// act′(z) in double.
func referenceActivationDerivative(_ z: Double, _ act: Activation) -> Double {
    switch act {
    case .none: return 1
    case .relu: return z > 0 ? 1 : 0
    case .tanh: let t = tanh(z); return 1 - t * t
    case .gelu: return 0.5 * (1 + erf(z / 2.0.squareRoot())) + z * exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
    case .geluTanh:
        let k = (2 / Double.pi).squareRoot(), t = tanh(k * (z + 0.044715 * z * z * z))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * 0.044715 * z * z)
    }
}

/// LayerNorm of each row of `x` (+ `residual`) in double: out, mean, 1/σ.
func referenceLayerNorm(_ x: [Double], _ gamma: [Double], _ beta: [Double], rows: Int, cols: Int,
                        eps: Double) -> (out: [Double], mean: [Double], rstd: [Double]) {
    var out = [Double](repeating: 0, count: rows * cols), mean = [Double](), rstd = [Double]()
    for r in 0..<rows {
        let row = x[(r * cols)..<((r + 1) * cols)]
        let mu = row.reduce(0, +) / Double(cols)
        let variance = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(cols)
        let s = 1 / (variance + eps).squareRoot()
        for c in 0..<cols { out[r * cols + c] = (x[r * cols + c] - mu) * s * gamma[c] + beta[c] }
        mean.append(mu)
        rstd.append(s)
    }
    return (out, mean, rstd)
}

/// ∂(Σ dOut ⊙ LN(x))/∂x, ∂/∂gamma, ∂/∂beta in double.
func referenceLayerNormBackward(_ dOut: [Double], _ x: [Double], _ gamma: [Double], rows: Int, cols: Int,
                                eps: Double) -> (dx: [Double], dGamma: [Double], dBeta: [Double]) {
    let (_, mean, rstd) = referenceLayerNorm(x, gamma, [Double](repeating: 0, count: cols), rows: rows, cols: cols, eps: eps)
    var dx = [Double](repeating: 0, count: rows * cols)
    var dg = [Double](repeating: 0, count: cols), db = [Double](repeating: 0, count: cols)
    for r in 0..<rows {
        var sg = 0.0, sgx = 0.0
        for c in 0..<cols {
            let xh = (x[r * cols + c] - mean[r]) * rstd[r], g = dOut[r * cols + c] * gamma[c]
            sg += g; sgx += g * xh
            dg[c] += dOut[r * cols + c] * xh
            db[c] += dOut[r * cols + c]
        }
        for c in 0..<cols {
            let xh = (x[r * cols + c] - mean[r]) * rstd[r]
            dx[r * cols + c] = rstd[r] * (dOut[r * cols + c] * gamma[c] - sg / Double(cols) - xh * sgx / Double(cols))
        }
    }
    return (dx, dg, db)
}

/// Packed attention in double, as `attention` with its dropout: out `[tokens, heads·dh]`,
/// lse `[tokens, heads]`.
func referenceAttention(_ qkv: [Double], offsets: [Int], heads: Int, dh: Int, scale: Double,
                        keep: ((Int, Int, Int) -> Double)? = nil) -> (out: [Double], lse: [Double]) {
    let d = heads * dh, ld = 3 * d, tokens = offsets.last!
    var out = [Double](repeating: 0, count: tokens * d), lse = [Double](repeating: 0, count: tokens * heads)
    for s in 0..<(offsets.count - 1) {
        for h in 0..<heads {
            for i in offsets[s]..<offsets[s + 1] {
                var scores: [Double] = []
                for j in offsets[s]..<offsets[s + 1] {
                    var dot = 0.0
                    for e in 0..<dh { dot += qkv[i * ld + h * dh + e] * qkv[j * ld + d + h * dh + e] }
                    scores.append(scale * dot)
                }
                let m = scores.max()!
                let l = scores.reduce(0) { $0 + exp($1 - m) }
                lse[i * heads + h] = m + log(l)
                for (jj, j) in (offsets[s]..<offsets[s + 1]).enumerated() {
                    let p = exp(scores[jj] - m) / l * (keep?(h, i, j) ?? 1)
                    for e in 0..<dh { out[i * d + h * dh + e] += p * qkv[j * ld + 2 * d + h * dh + e] }
                }
            }
        }
    }
    return (out, lse)
}

/// ∂(Σ dOut ⊙ attention(qkv))/∂qkv in double, `[tokens, 3·d]`.
func referenceAttentionBackward(_ qkv: [Double], _ dOut: [Double], offsets: [Int], heads: Int, dh: Int, scale: Double,
                                keep: ((Int, Int, Int) -> Double)? = nil) -> [Double] {
    let d = heads * dh, ld = 3 * d, tokens = offsets.last!
    var g = [Double](repeating: 0, count: tokens * ld)
    for s in 0..<(offsets.count - 1) {
        let range = offsets[s]..<offsets[s + 1]
        for h in 0..<heads {
            func q(_ i: Int, _ e: Int) -> Double { qkv[i * ld + h * dh + e] }
            func k(_ j: Int, _ e: Int) -> Double { qkv[j * ld + d + h * dh + e] }
            func v(_ j: Int, _ e: Int) -> Double { qkv[j * ld + 2 * d + h * dh + e] }
            for i in range {
                let scores = range.map { j in scale * (0..<dh).reduce(0.0) { $0 + q(i, $1) * k(j, $1) } }
                let m = scores.max()!, l = scores.reduce(0) { $0 + exp($1 - m) }
                let p = scores.map { exp($0 - m) / l }
                // dP (through the dropout mask) and dV
                var dp = [Double](repeating: 0, count: range.count)
                for (jj, j) in range.enumerated() {
                    let mask = keep?(h, i, j) ?? 1
                    for e in 0..<dh {
                        let go = dOut[i * d + h * dh + e]
                        dp[jj] += go * v(j, e) * mask
                        g[j * ld + 2 * d + h * dh + e] += p[jj] * mask * go
                    }
                }
                let dsum = zip(p, dp).reduce(0) { $0 + $1.0 * $1.1 }
                for (jj, j) in range.enumerated() {
                    let ds = p[jj] * (dp[jj] - dsum) * scale
                    for e in 0..<dh {
                        g[i * ld + h * dh + e] += ds * k(j, e)
                        g[j * ld + d + h * dh + e] += ds * q(i, e)
                    }
                }
            }
        }
    }
    return g
}

/// Checks an analytic gradient against central differences of `loss` at `probes` indices.
func expectMatchesFiniteDifferences(_ analytic: [Double], at x: [Double], probes: [Int], _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation,
                                    loss: ([Double]) -> Double) {
    let h = 1e-5
    for i in probes {
        var plus = x, minus = x
        plus[i] += h
        minus[i] -= h
        let numeric = (loss(plus) - loss(minus)) / (2 * h)
        #expect(abs(numeric - analytic[i]) <= 1e-6 + 1e-5 * abs(numeric),
                "\(what)[\(i)]: analytic \(analytic[i]), central difference \(numeric)", sourceLocation: sourceLocation)
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
