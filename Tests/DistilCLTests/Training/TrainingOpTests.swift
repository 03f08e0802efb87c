import DistilCL
import Foundation
import Testing

/// The training ops on every backend against double-precision references, whose backward
/// formulas are themselves checked against central finite differences. Shapes are odd
/// (1, 7, 13, 33, 129 rows; 5, 13, 48, 100 columns) so no kernel's tiling hides an edge.
@Suite("Training ops")
struct TrainingOpTests {
    /// dZ = dOut·act′(z), dW += dZᵀ·x, db += Σ dZ, dX (+)= dZ·W.
    /// Tolerance: each output is a K-term float32 sum (K = rows for dW and db, out for dX) of
    /// values in about [-1.1, 1.1]: the GEMM bound `linearTolerance(k:)` (5σ random walk), doubled
    /// for dZ's own rounding (erf/exp in float32, a few ulp).
    @Test("linear backward, fused activations", arguments: BackendCase.all)
    func linearBackward(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 91)
        for (rows, n, k) in [(1, 1, 1), (7, 13, 5), (33, 100, 48), (129, 48, 100)] {
            for act in Activation.allCases {
                let x = rng.floats(rows * k), w = rng.floats(n * k), bias = rng.floats(n), dOut = rng.floats(rows * n)
                let gw0 = rng.floats(n * k), gb0 = rng.floats(n), dx0 = rng.floats(rows * k)
                let z = referenceLinear(x, w, bias, m: rows, n: n, k: k, act: .none)
                let dz = (0..<(rows * n)).map { Double(dOut[$0]) * referenceActivationDerivative(z[$0], act) }
                var gw = gw0.doubles, gb = gb0.doubles, dx = [Double](repeating: 0, count: rows * k)
                for r in 0..<rows {
                    for o in 0..<n {
                        gb[o] += dz[r * n + o]
                        for i in 0..<k {
                            gw[o * k + i] += dz[r * n + o] * Double(x[r * k + i])
                            dx[r * k + i] += dz[r * n + o] * Double(w[o * k + i])
                        }
                    }
                }
                if rows == 7 {   // the reference's act′ against central differences of Σ dOut ⊙ act(z)
                    let analytic = (0..<(rows * n)).map { dz[$0] }
                    expectMatchesFiniteDifferences(analytic, at: z, probes: [0, 5, 17, 40, 77], "act′ \(act)") { zz in
                        zip(zz, dOut).reduce(0) { $0 + referenceActivation($1.0, act) * Double($1.1) }
                    }
                }
                let layer = try b.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k, role: .general,
                                             trainable: true)
                let pre = try b.buffer(z.map(Float.init))
                for accumulate in [false, true] {
                    let (gwBuf, gbBuf) = (try b.buffer(gw0), try b.buffer(gb0))
                    let dxBuf = accumulate ? try b.buffer(dx0) : try poisoned(b, rows * k)
                    try b.linearBackward(dOut: try b.buffer(dOut), input: try b.buffer(x), layer, rows: rows,
                                         activation: act, preActivation: act == .none ? nil : pre,
                                         dInput: dxBuf, accumulateInput: accumulate, gradWeight: gwBuf, gradBias: gbBuf)
                    let what = "\(bc.name) linearBackward rows \(rows) out \(n) in \(k) \(act) accumulate \(accumulate)"
                    expectClose(try b.download(gwBuf), gw, atol: 2 * Precision.fp32.linearTolerance(k: rows, sigmas: 5),
                                rtol: 1e-5, what + " dW")
                    expectClose(try b.download(gbBuf), gb, atol: 2 * Precision.fp32.linearTolerance(k: rows, sigmas: 5),
                                rtol: 1e-5, what + " db")
                    let wantDx = accumulate ? zip(dx, dx0).map { $0 + Double($1) } : dx
                    expectClose(try b.download(dxBuf), wantDx, atol: 2 * Precision.fp32.linearTolerance(k: n, sigmas: 5),
                                rtol: 1e-5, what + " dX")
                }
            }
        }
    }

    /// LayerNorm with saved statistics, then its backward.
    /// Tolerance: every output is a cols-term float32 sum scaled by 1/σ ≈ 1.7 for inputs in
    /// [-1, 1]; the GEMM bound for K = cols (K = rows for dgamma, dbeta), times 2.
    @Test("layer norm backward", arguments: BackendCase.all)
    func layerNormBackward(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 5)
        let eps = 1e-12
        for (rows, cols) in [(1, 5), (7, 13), (33, 48), (129, 100), (13, 384)] {
            let x = rng.floats(rows * cols), res = rng.floats(rows * cols), gamma = rng.floats(cols, 0.5...1.5)
            let beta = rng.floats(cols), dOut = rng.floats(rows * cols)
            let gg0 = rng.floats(cols), gb0 = rng.floats(cols), dx0 = rng.floats(rows * cols)
            let sum = zip(x, res).map { Double($0) + Double($1) }
            let ref = referenceLayerNorm(sum, gamma.doubles, beta.doubles, rows: rows, cols: cols, eps: eps)
            let grad = referenceLayerNormBackward(dOut.doubles, sum, gamma.doubles, rows: rows, cols: cols, eps: eps)
            if rows == 7 {
                expectMatchesFiniteDifferences(grad.dx, at: sum, probes: [0, 6, 30, 90], "layerNorm dx") { s in
                    dot(referenceLayerNorm(s, gamma.doubles, beta.doubles, rows: rows, cols: cols, eps: eps).out, dOut.doubles)
                }
                expectMatchesFiniteDifferences(grad.dGamma, at: gamma.doubles, probes: [0, 7, 12], "layerNorm dgamma") { g in
                    dot(referenceLayerNorm(sum, g, beta.doubles, rows: rows, cols: cols, eps: eps).out, dOut.doubles)
                }
            }
            let (xb, rb, gbuf) = (try b.buffer(x), try b.buffer(res), try b.buffer(gamma))
            let out = try poisoned(b, rows * cols), stats = try poisoned(b, 2 * rows)
            try b.layerNorm(xb, residual: rb, gamma: gbuf, beta: try b.buffer(beta), rows: rows, cols: cols,
                            eps: Float(eps), out: out, stats: stats)
            let tol = 2 * Precision.fp32.linearTolerance(k: cols, sigmas: 5)
            expectClose(try b.download(out), ref.out, atol: tol, rtol: 1e-5, "\(bc.name) layerNorm stats out \(rows)×\(cols)")
            let wantStats = (0..<rows).flatMap { [ref.mean[$0], ref.rstd[$0]] }
            expectClose(try b.download(stats), wantStats, atol: tol, rtol: 1e-5, "\(bc.name) layerNorm stats \(rows)×\(cols)")
            for accumulate in [false, true] {
                let dx = accumulate ? try b.buffer(dx0) : try poisoned(b, rows * cols)
                let (dg, db) = (try b.buffer(gg0), try b.buffer(gb0))
                try b.layerNormBackward(dOut: try b.buffer(dOut), x: xb, residual: rb, stats: stats, gamma: gbuf,
                                        rows: rows, cols: cols, dInput: dx, accumulateInput: accumulate,
                                        gradGamma: dg, gradBeta: db)
                let what = "\(bc.name) layerNormBackward \(rows)×\(cols) accumulate \(accumulate)"
                expectClose(try b.download(dx), accumulate ? zip(grad.dx, dx0).map { $0 + Double($1) } : grad.dx,
                            atol: tol, rtol: 1e-5, what + " dx")
                let rowTol = 2 * Precision.fp32.linearTolerance(k: rows, sigmas: 5)
                expectClose(try b.download(dg), zip(grad.dGamma, gg0).map { $0 + Double($1) }, atol: rowTol, rtol: 1e-5,
                            what + " dgamma")
                expectClose(try b.download(db), zip(grad.dBeta, gb0).map { $0 + Double($1) }, atol: rowTol, rtol: 1e-5,
                            what + " dbeta")
            }
        }
    }

    /// Attention with log-sum-exp and dropout, and its backward, over packed texts of 1, 7,
    /// 13 and 129 tokens. Tolerance: two chained float32 sums (a dh-term dot product, then an
    /// n-term sum over keys) of values near 1 in magnitude: GEMM bounds for K = dh + n, times 4
    /// for exp's few ulp in the recomputed probabilities.
    @Test("attention forward with lse and backward, with and without dropout", arguments: BackendCase.all)
    func attentionBackward(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 23)
        for (lengths, heads, dh) in [([1], 1, 4), ([7, 1, 13], 2, 5), ([13, 129], 3, 16), ([5, 33, 2], 4, 32)] {
            var offsets = [0]
            for n in lengths { offsets.append(offsets.last! + n) }
            let tokens = offsets.last!, d = heads * dh
            let qkv = rng.floats(tokens * 3 * d, -2...2), dOut = rng.floats(tokens * d)
            let scale = 1 / Double(dh).squareRoot()
            let packed = try PackedSequences.upload(offsets, to: b)
            // Examples past 2³² too: the high word is part of the key.
            let examples = lengths.indices.map { UInt64($0) * 0x1_0000_0003 + 17 }
            let rows = try DropoutRows.upload(examples: examples, offsets: offsets, everyToken: true, to: b)
            for p: Float in [0, 0.3] {
                let k = DropoutKey(seed: 0x1234_5678_9ABC, site: 3, probability: p)
                let key = p > 0 ? DropoutMask(key: k, rows: rows) : nil
                // (h, i, j) of a text of n tokens is element (h·n + i)·n + j of its example's stream, i and j
                // counted from the text's first token.
                let keep: ((Int, Int, Int) -> Double)? = key.map { _ in { h, i, j in
                    let s = offsets.lastIndex { $0 <= i }!, (start, n) = (offsets[s], offsets[s + 1] - offsets[s])
                    let index = UInt64((h * n + i - start) * n + j - start)
                    return k.uniform(example: examples[s], index: index) >= p ? Double(k.keepScale) : 0
                } }
                let ref = referenceAttention(qkv.doubles, offsets: offsets, heads: heads, dh: dh, scale: scale, keep: keep)
                let grad = referenceAttentionBackward(qkv.doubles, dOut.doubles, offsets: offsets, heads: heads, dh: dh,
                                                      scale: scale, keep: keep)
                if lengths == [7, 1, 13] {
                    expectMatchesFiniteDifferences(grad, at: qkv.doubles, probes: [0, 3, 11, 14, 25, 29, 100, 250],
                                                   "attention dqkv p \(p)") { q in
                        dot(referenceAttention(q, offsets: offsets, heads: heads, dh: dh, scale: scale, keep: keep).out,
                            dOut.doubles)
                    }
                }
                let qkvBuf = try b.buffer(qkv)
                let (out, lse) = (try poisoned(b, tokens * d), try poisoned(b, tokens * heads))
                try b.attention(qkv: qkvBuf, sequences: packed, heads: heads, headDim: dh, scale: Float(scale), out: out,
                                lse: lse, dropout: key)
                let longest = lengths.max()!
                let tol = 4 * Precision.fp32.linearTolerance(k: dh + longest, sigmas: 5)
                let what = "\(bc.name) attention \(lengths) h\(heads) dh\(dh) p \(p)"
                expectClose(try b.download(out), ref.out, atol: tol, rtol: 1e-4, what + " out")
                expectClose(try b.download(lse), ref.lse, atol: tol, rtol: 1e-5, what + " lse")
                let dqkv = try poisoned(b, tokens * 3 * d)
                try b.attentionBackward(qkv: qkvBuf, out: out, lse: lse, dOut: try b.buffer(dOut), sequences: packed,
                                        heads: heads, headDim: dh, scale: Float(scale), dropout: key, dQKV: dqkv)
                expectClose(try b.download(dqkv), grad, atol: 2 * tol, rtol: 1e-4, what + " dqkv")
            }
        }
    }

    /// The mask is the Philox stream the Swift `DropoutKey.uniform` computes, on every backend:
    /// row r of a `[rows, width]` buffer draws elements local(r)·width + c of its example's
    /// stream, kept elements scale by 1/(1 − p), and about 1 − p of them are kept. Rows of every
    /// token and of the [CLS] rows alone (local row 0); widths that are and are not multiples of 4.
    @Test("dropout draws the same Philox mask everywhere", arguments: BackendCase.all)
    func dropout(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 8)
        for (lengths, width, p) in [([1], 1, Float(0.5)), ([7, 1, 13], 99, 0.1), ([129, 33, 200, 5], 301, 0.25)] {
            var offsets = [0]
            for n in lengths { offsets.append(offsets.last! + n) }
            let examples = lengths.indices.map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
            for everyToken in [true, false] {
                let rows = try DropoutRows.upload(examples: examples, offsets: offsets, everyToken: everyToken, to: b)
                let count = rows.count * width
                let x = rng.floats(count)
                let mask = DropoutMask(key: DropoutKey(seed: 0xDEAD_BEEF_0042, site: 11, probability: p), rows: rows)
                let out = try poisoned(b, count)
                try b.dropout(try b.buffer(x), width: width, mask: mask, out: out)
                let want = (0..<count).map { i in
                    mask.keeps(row: i / width, column: i % width, width: width)
                        ? Double(x[i]) * Double(mask.key.keepScale) : 0
                }
                let what = "\(bc.name) dropout \(lengths) every token \(everyToken) width \(width) p \(p)"
                expectClose(try b.download(out), want, atol: 0, rtol: 1e-6, what)
                if count > 1000 {
                    let kept = Double(want.filter { $0 != 0 }.count) / Double(count)
                    #expect(abs(kept - Double(1 - p)) < 5 * (Double(p * (1 - p)) / Double(count)).squareRoot(),
                            "\(what): kept fraction \(kept)")
                }
            }
        }
        // Another site, seed or example gives another mask.
        let a = DropoutKey(seed: 1, site: 1, probability: 0.5)
        var otherSite = a, otherSeed = a
        otherSite.site = 2
        otherSeed.seed = 2
        for (other, e) in [(otherSite, UInt64(0)), (otherSeed, 0), (a, 1), (a, 1 << 32)] {
            #expect((0..<64).contains { (a.uniform(example: 0, index: UInt64($0)) >= 0.5)
                        != (other.uniform(example: e, index: UInt64($0)) >= 0.5) })
        }
    }

    /// What makes gradient accumulation equal one large batch: an example's masks do not
    /// depend on the texts packed beside it. The same text (example 77) packed alone and after
    /// two others gives the same dropout of every token, the same attention output with
    /// dropout, and the same attention gradient, bit for bit; its [CLS]-only row draws what its
    /// first token draws.
    @Test("an example's dropout masks are the same alone and packed after others", arguments: BackendCase.all)
    func dropoutByExample(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 12)
        let (heads, dh, n) = (2, 8, 11), d = heads * dh
        let mine = (qkv: rng.floats(n * 3 * d, -2...2), dOut: rng.floats(n * d), x: rng.floats(n * d))
        let before = [5, 9]   // the texts packed first
        let extra = before.reduce(0, +)
        let key = DropoutKey(seed: 0xFEED, site: 5, probability: 0.3)
        func run(_ lengths: [Int], examples: [UInt64], qkv: [Float], dOut: [Float], x: [Float])
            throws -> (dropped: [Float], cls: [Float], out: [Float], dqkv: [Float]) {
            var offsets = [0]
            for l in lengths { offsets.append(offsets.last! + l) }
            let t = offsets.last!
            let rows = try DropoutRows.upload(examples: examples, offsets: offsets, everyToken: true, to: b)
            let texts = try DropoutRows.upload(examples: examples, offsets: offsets, everyToken: false, to: b)
            let dropped = try poisoned(b, t * d), cls = try poisoned(b, lengths.count * d)
            try b.dropout(try b.buffer(x), width: d, mask: DropoutMask(key: key, rows: rows), out: dropped)
            let firsts = offsets.dropLast().flatMap { Array(x[($0 * d)..<($0 * d + d)]) }
            try b.dropout(try b.buffer(firsts), width: d, mask: DropoutMask(key: key, rows: texts), out: cls)
            let packed = try PackedSequences.upload(offsets, to: b)
            let qkvBuf = try b.buffer(qkv), mask = DropoutMask(key: key, rows: rows)
            let (out, lse, dqkv) = (try poisoned(b, t * d), try poisoned(b, t * heads), try poisoned(b, t * 3 * d))
            try b.attention(qkv: qkvBuf, sequences: packed, heads: heads, headDim: dh, scale: 0.35, out: out, lse: lse,
                            dropout: mask)
            try b.attentionBackward(qkv: qkvBuf, out: out, lse: lse, dOut: try b.buffer(dOut), sequences: packed,
                                    heads: heads, headDim: dh, scale: 0.35, dropout: mask, dQKV: dqkv)
            return (try b.download(dropped), try b.download(cls), try b.download(out), try b.download(dqkv))
        }
        let alone = try run([n], examples: [77], qkv: mine.qkv, dOut: mine.dOut, x: mine.x)
        let other = (qkv: rng.floats(extra * 3 * d, -2...2), dOut: rng.floats(extra * d), x: rng.floats(extra * d))
        let packed = try run(before + [n], examples: [3, 4, 77], qkv: other.qkv + mine.qkv, dOut: other.dOut + mine.dOut,
                             x: other.x + mine.x)
        let what = "\(bc.name) example 77"
        #expect(Array(packed.dropped.suffix(n * d)) == alone.dropped, "\(what): dropout differs when packed after others")
        #expect(Array(packed.cls.suffix(d)) == alone.cls, "\(what): the [CLS]-only row differs when packed")
        #expect(alone.cls == Array(alone.dropped.prefix(d)), "\(what): the [CLS]-only row differs from token 0's")
        #expect(Array(packed.out.suffix(n * d)) == alone.out, "\(what): attention with dropout differs when packed")
        #expect(Array(packed.dqkv.suffix(n * 3 * d)) == alone.dqkv, "\(what): attention backward differs when packed")
        let another = try run([n], examples: [78], qkv: mine.qkv, dOut: mine.dOut, x: mine.x)
        #expect(alone.dropped.contains(0) && another.dropped != alone.dropped && another.out != alone.out,
                "\(what): the mask drops nothing, or another example draws the same")
    }

    /// Embedding, row-scatter and loss gradients: exact sums in a fixed order, so the
    /// same bits on every run; compared with double sums within float32 rounding of a few terms.
    @Test("embedding backward and scatter are deterministic sums", arguments: BackendCase.all)
    func embeddingBackward(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 77)
        let (tokens, dim, rows) = (129, 13, 40)
        let ids = (0..<tokens).map { _ in Int32(rng.int(0..<rows) / 3 * 3) }   // repeats, unused rows
        let dOut = rng.floats(tokens * dim), g0 = rng.floats(rows * dim)
        let segments = try EmbeddingSegments.upload(ids, to: b)
        var want = g0.doubles
        for t in 0..<tokens { for c in 0..<dim { want[Int(ids[t]) * dim + c] += Double(dOut[t * dim + c]) } }
        var runs: [[Float]] = []
        for _ in 0..<2 {
            let grad = try b.buffer(g0)
            try b.embeddingBackward(dOut: try b.buffer(dOut), segments: segments, dim: dim, grad: grad)
            runs.append(try b.download(grad))
        }
        expectClose(runs[0], want, atol: 1e-5, rtol: 1e-5, "\(bc.name) embeddingBackward")
        #expect(runs[0] == runs[1], "\(bc.name) embeddingBackward differs between two runs")

        let index: [Int32] = [5, 0, 17, 3]
        let src = rng.floats(4 * dim), base = rng.floats(20 * dim)
        let target = try b.buffer(base)
        try b.scatterAddRows(try b.buffer(src), index: index, indexBuffer: try b.makeBuffer(count: 4, type: .int32), dim: dim,
                             dSource: target)
        var wantScatter = base.doubles
        for r in 0..<4 { for c in 0..<dim { wantScatter[Int(index[r]) * dim + c] += Double(src[r * dim + c]) } }
        expectClose(try b.download(target), wantScatter, atol: 1e-6, rtol: 1e-6, "\(bc.name) scatterAddRows")
    }

    /// Cross-entropy losses and gradient; the squared norm and AdamW against torch.optim.AdamW's
    /// arithmetic in double (float32 rounding of a handful of operations per element).
    @Test("cross-entropy, squared norm and AdamW", arguments: BackendCase.all)
    func lossAndOptimiser(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 4)
        for (rows, classes) in [(1, 2), (7, 3), (33, 13)] {
            let logits = rng.floats(rows * classes, -8...8)
            let labels = (0..<rows).map { _ in Int32(rng.int(0..<classes)) }
            let (losses, dl) = (try poisoned(b, rows), try poisoned(b, rows * classes))
            try b.softmaxCrossEntropy(logits: try b.buffer(logits), labels: labels,
                                      labelBuffer: try b.makeBuffer(count: rows, type: .int32),
                                      classes: classes, gradScale: 1 / Float(rows), losses: losses, dLogits: dl)
            var wantLoss: [Double] = [], wantGrad: [Double] = []
            for r in 0..<rows {
                let z = Array(logits[(r * classes)..<((r + 1) * classes)]).doubles
                let lse = log(z.reduce(0) { $0 + exp($1) })
                wantLoss.append(lse - z[Int(labels[r])])
                for c in 0..<classes {
                    let onehot: Double = c == Int(labels[r]) ? 1 : 0
                    wantGrad.append((exp(z[c] - lse) - onehot) / Double(rows))
                }
            }
            expectClose(try b.download(losses), wantLoss, atol: 1e-5, rtol: 1e-5, "\(bc.name) cross-entropy loss")
            expectClose(try b.download(dl), wantGrad, atol: 1e-6, rtol: 1e-5, "\(bc.name) cross-entropy dLogits")
        }
        #expect(throws: BackendError.self) {
            try b.softmaxCrossEntropy(logits: try b.buffer([Float(0), 1]), labels: [5],
                                      labelBuffer: try b.makeBuffer(count: 1, type: .int32), classes: 2, gradScale: 1,
                                      losses: try b.makeBuffer(count: 1), dLogits: try b.makeBuffer(count: 2))
        }
        #expect(throws: BackendError.self) {   // repeated rows would race on a device
            try b.scatterAddRows(try b.buffer([Float](repeating: 1, count: 4)), index: [1, 1],
                                 indexBuffer: try b.makeBuffer(count: 2, type: .int32), dim: 2,
                                 dSource: try b.makeBuffer(count: 8))
        }

        let count = 200_003
        let g = rng.floats(count, -0.1...0.1)
        let norms = try poisoned(b, 3)
        try b.sumOfSquares(try b.buffer(g), count: count, out: norms, index: 1)
        expectClose([try b.download(norms)[1]], [g.reduce(0.0) { $0 + Double($1) * Double($1) }], atol: 0, rtol: 1e-5,
                    "\(bc.name) sumOfSquares")

        var p = rng.floats(count), m = rng.floats(count, -0.01...0.01), v = rng.floats(count, 0...0.001)
        let (pb, gb, mb, vb) = (try b.buffer(p), try b.buffer(g), try b.buffer(m), try b.buffer(v))
        for t in 1...3 {
            let step = AdamWStep(learningRate: 1e-3, weightDecay: 0.01, step: t, gradScale: 0.7)
            try b.adamW(parameter: pb, gradient: gb, m: mb, v: vb, count: count, step: step)
            let bc1 = 1 - pow(0.9, Double(t)), bc2 = (1 - pow(0.999, Double(t))).squareRoot()
            for i in 0..<count {
                let gi = Double(g[i]) * 0.7
                let mi = 0.9 * Double(m[i]) + 0.1 * gi, vi = 0.999 * Double(v[i]) + 0.001 * gi * gi
                p[i] = Float(Double(p[i]) * (1 - 1e-5) - 1e-3 / bc1 * mi / (vi.squareRoot() / bc2 + 1e-8))
                (m[i], v[i]) = (Float(mi), Float(vi))
            }
        }
        expectClose(try b.download(pb), p, atol: 1e-6, rtol: 1e-6, "\(bc.name) adamW parameters")
        expectClose(try b.download(mb), m, atol: 1e-8, rtol: 1e-5, "\(bc.name) adamW first moment")
        expectClose(try b.download(vb), v, atol: 1e-10, rtol: 1e-5, "\(bc.name) adamW second moment")
    }

    /// Distillation's soft-target term, T²·KL(softmax(t/T) ‖ softmax(s/T)), against double
    /// precision (its gradient checked by central differences), written and accumulated over a
    /// cross-entropy term. Tolerance: a handful of float32 exp/log per element, values ≤ ~T²·8.
    @Test("KL divergence to a teacher's softened logits", arguments: BackendCase.all)
    func klDivergence(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 61)
        for (rows, classes, t) in [(1, 2, Float(1)), (7, 3, 2), (33, 13, 4)] {
            let s = rng.floats(rows * classes, -6...6), q = rng.floats(rows * classes, -6...6)
            let (weight, scale) = (Float(0.5), 1 / Float(rows))
            func reference(_ sv: [Double]) -> (loss: [Double], grad: [Double]) {
                var loss: [Double] = [], grad: [Double] = []
                for r in 0..<rows {
                    let z = Array(sv[(r * classes)..<((r + 1) * classes)]).map { $0 / Double(t) }
                    let y = Array(q[(r * classes)..<((r + 1) * classes)]).map { Double($0) / Double(t) }
                    let lz = log(z.reduce(0) { $0 + exp($1) }), ly = log(y.reduce(0) { $0 + exp($1) })
                    var kl = 0.0
                    for c in 0..<classes {
                        let pt = exp(y[c] - ly)
                        kl += pt * ((y[c] - ly) - (z[c] - lz))
                        grad.append(Double(weight) * Double(scale) * Double(t) * (exp(z[c] - lz) - pt))
                    }
                    loss.append(Double(weight) * Double(t * t) * kl)
                }
                return (loss, grad)
            }
            let want = reference(s.doubles)
            if rows == 7 {   // the gradient formula against central differences of the batch-mean loss
                expectMatchesFiniteDifferences(want.grad, at: s.doubles, probes: [0, 4, 10, 20], "KL dlogits") { sv in
                    reference(sv).loss.reduce(0, +) * Double(scale)
                }
            }
            let (losses, dl) = (try poisoned(b, rows), try poisoned(b, rows * classes))
            let (sb, qb) = (try b.buffer(s), try b.buffer(q))
            try b.softmaxKLDivergence(logits: sb, teacher: qb, rows: rows, classes: classes, temperature: t,
                                      weight: weight, gradScale: scale, accumulate: false, losses: losses, dLogits: dl)
            let what = "\(bc.name) KL rows \(rows) classes \(classes) T \(t)"
            expectClose(try b.download(losses), want.loss, atol: 1e-5, rtol: 1e-4, what + " loss")
            expectClose(try b.download(dl), want.grad, atol: 1e-6, rtol: 1e-4, what + " dLogits")
            let (base, baseGrad) = (rng.floats(rows), rng.floats(rows * classes))
            let (l2, d2) = (try b.buffer(base), try b.buffer(baseGrad))
            try b.softmaxKLDivergence(logits: sb, teacher: qb, rows: rows, classes: classes, temperature: t,
                                      weight: weight, gradScale: scale, accumulate: true, losses: l2, dLogits: d2)
            expectClose(try b.download(l2), zip(want.loss, base).map { $0 + Double($1) }, atol: 1e-5, rtol: 1e-4,
                        what + " loss, accumulated")
            expectClose(try b.download(d2), zip(want.grad, baseGrad).map { $0 + Double($1) }, atol: 1e-6, rtol: 1e-4,
                        what + " dLogits, accumulated")
        }
        #expect(throws: BackendError.self) {
            try b.softmaxKLDivergence(logits: try b.buffer([Float(0), 1]), teacher: try b.buffer([Float(1), 0]), rows: 1,
                                      classes: 2, temperature: 0, weight: 1, gradScale: 1, accumulate: false,
                                      losses: try b.makeBuffer(count: 1), dLogits: try b.makeBuffer(count: 2))
        }
    }
}
