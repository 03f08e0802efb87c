import DistilCL
import Foundation
import Testing

/// Distillation's two new op behaviours on every backend: the cosine hidden-state term against
/// a double-precision reference (itself checked against central differences), and
/// cross-entropy's unlabelled rows (label −1). Shapes are odd (1, 7, 33, 129 rows; 1, 13, 48,
/// 100 columns) so no kernel's tiling hides an edge.
@Suite("Distillation ops")
struct DistillationOpTests {
    /// cosineDistance's loss and gradient in double: with a = x·x + ε, b = y·y + ε (ε = 1e-12),
    /// cos = x·y/√(ab), loss[r] = w·(1 − cos), dX[r] = −w·s·(y/√(ab) − cos·x/a).
    static func reference(_ x: [Double], _ y: [Double], rows: Int, dim: Int, weight w: Double,
                          gradScale s: Double) -> (loss: [Double], grad: [Double], norm: [Double]) {
        var loss: [Double] = [], grad: [Double] = [], norm: [Double] = []
        for r in 0..<rows {
            let xr = Array(x[(r * dim)..<((r + 1) * dim)]), yr = Array(y[(r * dim)..<((r + 1) * dim)])
            let a = dot(xr, xr) + 1e-12, b = dot(yr, yr) + 1e-12
            let cos = dot(xr, yr) / (a * b).squareRoot()
            loss.append(w * (1 - cos))
            for j in 0..<dim { grad.append(-w * s * (yr[j] / (a * b).squareRoot() - cos * xr[j] / a)) }
            norm.append(a.squareRoot())
        }
        return (loss, grad, norm)
    }

    /// Rows 0, 1, 3 and 4 are special where the shape allows: row 0 of x zero (a = ε: the loss
    /// is w, the gradient w·s·y/√(εb), about 10⁶ times the others), row 1 tiny (x·x ≈ 1e-13 to
    /// 1e-12, the size of ε), targets parallel (y = 2.5·x: loss 0, gradient 0) and antiparallel
    /// (y = −x: loss 2w, gradient 0) in rows 3 and 4; the rest random in [-1, 1].
    /// Tolerance: the three dot products are dim-term float32 sums, so cos is off by about
    /// the fp32 GEMM bound for K = dim (1e-7·dim + 1e-6, with |x·y| ≤ |x||y|); the loss scales that
    /// by w, and each gradient element by 2·w·s/√a of its row (both terms are at most that:
    /// the parallel rows' exact 0 is a difference of two such values), plus 1e-5 relative for
    /// the last few roundings.
    @Test("cosine distance: losses and gradient against double precision", arguments: BackendCase.all)
    func cosineDistance(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 131)
        for (rows, dim) in [(1, 1), (7, 13), (33, 48), (129, 100)] {
            var x = rng.floats(rows * dim), y = rng.floats(rows * dim)
            if rows >= 7 {
                for j in 0..<dim {
                    x[j] = 0
                    x[dim + j] *= 2e-7
                    y[3 * dim + j] = 2.5 * x[3 * dim + j]
                    y[4 * dim + j] = -x[4 * dim + j]
                }
            }
            let (weight, scale) = (Float(0.2), 1 / Float(rows))
            let want = Self.reference(x.doubles, y.doubles, rows: rows, dim: dim, weight: Double(weight),
                                      gradScale: Double(scale))
            if rows == 7 {   // dX = ∂(s·Σ losses)/∂x; probes in the ordinary rows (h = 1e-5 ≫ the tiny row)
                expectMatchesFiniteDifferences(want.grad, at: x.doubles, probes: [3 * 13 + 2, 4 * 13 + 7, 5 * 13, 90],
                                               "cosine dX") { xv in
                    Self.reference(xv, y.doubles, rows: rows, dim: dim, weight: Double(weight),
                                   gradScale: Double(scale)).loss.reduce(0, +) * Double(scale)
                }
            }
            let (losses, dx) = (try poisoned(b, rows), try poisoned(b, rows * dim))
            try b.cosineDistance(try b.buffer(x), target: try b.buffer(y), rows: rows, dim: dim, weight: weight,
                                 gradScale: scale, losses: losses, dX: dx)
            let what = "\(bc.name) cosineDistance rows \(rows) dim \(dim)"
            let bound = Precision.fp32.linearTolerance(k: dim, sigmas: 5)
            expectClose(try b.download(losses), want.loss, atol: Double(weight) * bound, rtol: 1e-5, what + " loss")
            let got = try b.download(dx)
            for r in 0..<rows {
                let range = (r * dim)..<((r + 1) * dim)
                expectClose(Array(got[range]), Array(want.grad[range]),
                            atol: 2 * Double(weight * scale) / want.norm[r] * bound, rtol: 1e-5, what + " dX row \(r)")
            }
        }
        #expect(throws: BackendError.self) {   // a target shorter than rows·dim
            try b.cosineDistance(try b.buffer([Float](repeating: 1, count: 6)), target: try b.buffer([Float(1), 2]),
                                 rows: 2, dim: 3, weight: 1, gradScale: 1, losses: try b.makeBuffer(count: 2),
                                 dX: try b.makeBuffer(count: 6))
        }
    }

    /// Label −1 (an unlabelled text): that row's loss and gradient are exactly 0, and every
    /// labelled row is bit for bit what it is in a run where all rows have labels (the rows
    /// are independent; the same gradScale is passed). All rows unlabelled gives all zeros;
    /// −2 is refused.
    @Test("cross-entropy: unlabelled rows give exactly 0, labelled rows are unchanged", arguments: BackendCase.all)
    func unlabelledRows(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 17)
        for (rows, classes) in [(1, 2), (7, 3), (33, 13)] {
            let logits = try b.buffer(rng.floats(rows * classes, -8...8))
            let full = (0..<rows).map { _ in Int32(rng.int(0..<classes)) }
            func run(_ labels: [Int32]) throws -> (loss: [Float], grad: [Float]) {
                let (losses, dl) = (try poisoned(b, rows), try poisoned(b, rows * classes))
                try b.softmaxCrossEntropy(logits: logits, labels: labels,
                                          labelBuffer: try b.makeBuffer(count: rows, type: .int32), classes: classes,
                                          gradScale: 0.3 / Float(rows), losses: losses, dLogits: dl)
                return (try b.download(losses), try b.download(dl))
            }
            let all = try run(full)
            let patterns: [(Int) -> Bool] = [{ $0 % 3 == 1 }, { _ in true }]
            for pattern in patterns {
                let labels = full.enumerated().map { pattern($0.offset) ? -1 : $0.element }
                let some = try run(labels)
                for r in 0..<rows {
                    let range = (r * classes)..<((r + 1) * classes)
                    let (wantLoss, wantGrad) = labels[r] < 0
                        ? (Float(0), [Float](repeating: 0, count: classes)) : (all.loss[r], Array(all.grad[range]))
                    let gotGrad = Array(some.grad[range])
                    #expect(some.loss[r] == wantLoss && gotGrad == wantGrad,
                            "\(bc.name) cross-entropy rows \(rows) row \(r) label \(labels[r]): loss \(some.loss[r]), want \(wantLoss); gradient \(gotGrad), want \(wantGrad)")
                }
            }
            #expect(throws: BackendError.self) { _ = try run([-2] + full.dropFirst()) }
        }
    }
}
