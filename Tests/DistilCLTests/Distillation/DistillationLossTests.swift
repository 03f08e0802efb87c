@testable import DistilCL
import Foundation
import Testing

/// `DistillationLoss` as `classificationStep` uses it: `evaluate` writes per-text terms and
/// ∂(batch loss)/∂logits on the device, `batchLoss` sums the terms on the host. Both are held
/// to a double-precision reference of α_kd·T²·KL (batch mean) + α_ce·CE (mean over the
/// labelled texts), and the gradient to central differences of `batchLoss` itself, so the
/// scaling `evaluate` writes and the one `batchLoss` reads cannot drift apart.
@Suite("Distillation: the loss over logits")
struct DistillationLossTests {
    /// The loss in double and its gradient: every row in the KL term (÷ rows), the labelled
    /// rows alone in the CE term (÷ their number), teacher nil leaving the KL term out; with
    /// each text's cross-entropy (0 unlabelled) and α_kd·T²·KL, what `evaluate`'s terms hold.
    static func reference(_ s: [Double], teacher: [Double]?, labels: [Int32], classes: Int, _ o: DistillationOptions)
        -> (loss: Double, grad: [Double], ce: [Double], kl: [Double]) {
        let rows = labels.count, n = labels.filter { $0 >= 0 }.count, t = Double(o.temperature)
        var ce = [Double](repeating: 0, count: rows), kl = ce, grad = [Double](repeating: 0, count: s.count)
        func logSoftmax(_ z: [Double]) -> [Double] {
            let m = z.max()!, lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
            return z.map { $0 - lse }
        }
        for r in 0..<rows {
            let range = (r * classes)..<((r + 1) * classes)
            if labels[r] >= 0 {
                let ls = logSoftmax(Array(s[range])), label = Int(labels[r]), k = Double(o.alphaCE) / Double(n)
                ce[r] = -ls[label]
                for c in 0..<classes { grad[range.lowerBound + c] += k * (exp(ls[c]) - (c == label ? 1 : 0)) }
            }
            if let teacher, o.alphaKD > 0 {
                let ls = logSoftmax(s[range].map { $0 / t }), lt = logSoftmax(teacher[range].map { $0 / t })
                for c in 0..<classes {
                    kl[r] += Double(o.alphaKD) * t * t * exp(lt[c]) * (lt[c] - ls[c])
                    grad[range.lowerBound + c] += Double(o.alphaKD) / Double(rows) * t * (exp(ls[c]) - exp(lt[c]))
                }
            }
        }
        let loss = (n > 0 ? Double(o.alphaCE) * ce.reduce(0, +) / Double(n) : 0) + kl.reduce(0, +) / Double(rows)
        return (loss, grad, ce, kl)
    }

    /// 5 texts, 3 classes, logits in [-4, 4], T 2, α_kd .5, α_ce .3 (the golden file's), in
    /// three cases: some labels −1; every label −1 (KL alone); α_kd = 0 without a teacher (CE
    /// alone). Tolerances: the terms are a handful of float32 exp/log per element of values up
    /// to ~T²·8, so 1e-5 relative for the loss (and 1e-5 absolute per term) and 1e-6 absolute
    /// + 1e-4 relative for the gradient (as the KL op test). The device's central differences
    /// use h = 1e-2 on float32 logits: the batch loss (~3) carries about 1e-6 of rounding, so
    /// the quotient is good to 2·1e-6/(2h) = 1e-4, and the truncation error h²/6·|f‴| (|f‴| ≲ 1
    /// for these softmaxes) is below 2e-5: 3e-4 absolute.
    @Test("evaluate and batchLoss against double precision and central differences",
          arguments: BackendCase.all, ["mixed", "unlabelled", "no teacher"])
    func lossAndGradient(_ bc: BackendCase, _ which: String) throws {
        let b = bc.trainer
        let (rows, classes) = (5, 3)
        var rng = SeededRandom(seed: 29)
        let s = rng.floats(rows * classes, -4...4), q = rng.floats(rows * classes, -4...4)
        var o = DistillationOptions()
        (o.temperature, o.alphaKD, o.alphaCE) = (2, 0.5, 0.3)
        var labels: [Int32] = [2, -1, 0, 1, -1]
        if which == "unlabelled" { labels = [-1, -1, -1, -1, -1] }
        if which == "no teacher" { o.alphaKD = 0 }
        let teacher = which == "no teacher" ? nil : try b.buffer(q)
        let loss = DistillationLoss(labels: labels, teacher: teacher, options: o)
        #expect(loss.rows == rows && loss.terms == 2 && loss.labelled == labels.filter { $0 >= 0 }.count)

        let scratch = try b.makeBuffer(count: rows, type: .int32)
        func evaluate(_ logits: [Float]) throws -> (loss: Double, terms: [[Float]], grad: [Float]) {
            let losses = [try poisoned(b, rows), try poisoned(b, rows)], dl = try poisoned(b, rows * classes)
            try loss.evaluate(logits: try b.buffer(logits), classes: classes, backend: b, scratch: scratch,
                              losses: losses, dLogits: dl)
            let terms = try losses.map { try b.download($0) }
            return (loss.batchLoss(terms), terms, try b.download(dl))
        }
        let want = Self.reference(s.doubles, teacher: teacher == nil ? nil : q.doubles, labels: labels,
                                  classes: classes, o)
        expectMatchesFiniteDifferences(want.grad, at: s.doubles, probes: Array(0..<(rows * classes)),
                                       "\(which) reference gradient") { sv in
            Self.reference(sv, teacher: teacher == nil ? nil : q.doubles, labels: labels, classes: classes, o).loss
        }

        let got = try evaluate(s)
        let what = "\(bc.name) \(which)"
        #expect(abs(got.loss - want.loss) <= 1e-5 * max(1, abs(want.loss)),
                "\(what): batchLoss \(got.loss), double reference \(want.loss)")
        // Term 0 is each text's unweighted cross-entropy (0 unlabelled); term 1 is α_kd·T²·KL.
        expectClose(got.terms[0], want.ce, atol: 1e-5, rtol: 1e-5, what + " term 0 (cross-entropy)")
        expectClose(got.terms[1], want.kl, atol: 1e-5, rtol: 1e-5, what + " term 1 (α_kd·T²·KL)")
        expectClose(got.grad, want.grad, atol: 1e-6, rtol: 1e-4, what + " dLogits")
        if which == "unlabelled" { #expect(got.terms[0].allSatisfy { $0 == 0 }, "\(what): CE terms \(got.terms[0])") }
        if which == "no teacher" { #expect(got.terms[1].allSatisfy { $0 == 0 }, "\(what): KL terms \(got.terms[1])") }

        // The device's own gradient against central differences of its own batchLoss.
        let h: Float = 1e-2
        for i in 0..<(rows * classes) {
            var (up, down) = (s, s)
            up[i] += h
            down[i] -= h
            let numeric = (try evaluate(up).loss - evaluate(down).loss) / Double(up[i] - down[i])
            #expect(abs(numeric - Double(got.grad[i])) <= 3e-4,
                    "\(what) dLogits[\(i)]: \(got.grad[i]), central difference of batchLoss \(numeric)")
        }
    }
}
