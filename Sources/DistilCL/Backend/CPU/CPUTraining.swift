import CCPUKernels
import COneDNN
import Foundation

/// The CPU path's training operations (`TrainingBackend`): oneDNN GEMMs for the linear
/// backward, the C loops of `cpu_training.h` for the rest, split over the cores where the
/// split cannot change a sum's order.
extension CPUBackend: TrainingBackend {
    // MARK: - Memory

    public func fill(_ buffer: any DeviceBuffer, value: Float, count: Int) throws {
        try requireBuffer(buffer, count, buffer.elementType, "fill target")
        let b = cpu(buffer)
        if buffer.elementType == .int32 {
            b.ints.update(repeating: Int32(value), count: count)
        } else {
            b.floats.update(repeating: value, count: count)
        }
    }

    public func refresh(_ layer: any DeviceLinear) throws {
        guard let w = layer as? CPULinear else { preconditionFailure("foreign DeviceLinear") }
        try w.repack()
    }

    public func tiedLinear(weight: any DeviceBuffer, bias: [Float]?, outFeatures: Int, inFeatures: Int) throws
        -> any DeviceLinear {
        try requireBuffer(weight, outFeatures * inFeatures, .float32, "tied weight")
        return try CPULinear(sharing: cpu(weight), bias: bias, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    // MARK: - Forward passes that keep what their backward reads

    public func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                          beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                          stats: any DeviceBuffer) throws {
        try checkLayerNormStats(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, out: out,
                                stats: stats)
        let (px, pr, pg, pb, py, ps) = (cpu(x).floats, residual.map { cpu($0).floats }, cpu(gamma).floats,
                                        cpu(beta).floats, cpu(out).floats, cpu(stats).floats)
        parallelChunks(rows, cost: rows * cols * 8) { range in
            for r in range {
                dcl_layernorm_row_stats(px + r * cols, pr.map { $0 + r * cols }, pg, pb, eps, py + r * cols, cols,
                                        ps + 2 * r)
            }
        }
    }

    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                          out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutMask?) throws {
        try checkAttentionForward(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out, lse: lse,
                                  dropout: dropout)
        let (pq, po, pl) = (cpu(qkv).floats, cpu(out).floats, cpu(lse).floats)
        let dim = heads * headDim, ld = 3 * dim
        try forEachHead(sequences, heads: heads, headDim: headDim) { s, h, start, n in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dcl_attention_train_scratch(n, headDim))
            defer { scratch.deallocate() }
            let q = pq + start * ld + h * headDim
            dcl_attention_head_forward(q, q + dim, q + 2 * dim, ld, n, headDim, scale, po + start * dim + h * headDim,
                                       dim, pl + start * heads + h, heads, h, Self.key(dropout, token: start), scratch)
        }
    }

    public func dropout(_ x: any DeviceBuffer, width: Int, mask: DropoutMask, out: any DeviceBuffer) throws {
        try checkDropout(x, width: width, mask: mask, out: out)
        let (px, py, info, k) = (cpu(x).floats, cpu(out).floats, cpu(mask.rows.buffer).ints, mask.key.c)
        let rows = mask.rows.count, step = max(1, 4096 / width)
        parallelChunks((rows + step - 1) / step, cost: rows * width * 64) { range in
            let lo = range.lowerBound * step, hi = min(rows, range.upperBound * step)
            dcl_dropout_rows(px + lo * width, py + lo * width, hi - lo, width, info + 3 * lo, k)
        }
    }

    // MARK: - Backward passes

    public func linearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ layer: any DeviceLinear, rows: Int,
                               activation: Activation, preActivation: (any DeviceBuffer)?,
                               dInput: (any DeviceBuffer)?, accumulateInput: Bool,
                               gradWeight: any DeviceBuffer, gradBias: (any DeviceBuffer)?) throws {
        guard let w = layer as? CPULinear else { preconditionFailure("foreign DeviceLinear") }
        let plainWeight = cpu(try checkLinearBackward(dOut: dOut, input: x, layer, rows: rows, activation: activation,
                                                      preActivation: preActivation, dInput: dInput,
                                                      gradWeight: gradWeight, gradBias: gradBias))
        let (n, k) = (w.outFeatures, w.inFeatures)
        let dz = cpu(dOut).floats
        if activation != .none, let z = preActivation.map({ cpu($0).floats }) {
            parallelChunks((rows * n + 4095) / 4096, cost: rows * n * 16) { range in
                let lo = range.lowerBound * 4096, hi = min(rows * n, range.upperBound * 4096)
                dcl_activation_backward(dz + lo, z + lo, hi - lo, Int32(activation.rawValue))
            }
        }
        // gradWeight [n, k] += dZᵀ [n, rows] · x [rows, k]
        var dw = dcl_matmul_desc(m: n, n: k, k: rows, lda: n, ldb: k, ldc: k, trans_a: 1, trans_b: 0,
                                 type: Int32(DCL_MM_F32), has_bias: 0, act: 0, beta: 1, alpha: 1, packed_b: 0)
        try matmul(&dw, dz, cpu(x).floats, nil, cpu(gradWeight).floats)
        if let gradBias {
            let gb = cpu(gradBias).floats
            parallelChunks((n + 63) / 64, cost: rows * n) { range in
                dcl_column_sums(dz, rows, n, range.lowerBound * 64, min(n, range.upperBound * 64), gb)
            }
        }
        if let dInput {
            // dInput [rows, k] (+)= dZ [rows, n] · W [n, k]
            var dx = dcl_matmul_desc(m: rows, n: k, k: n, lda: n, ldb: k, ldc: k, trans_a: 0, trans_b: 0,
                                     type: Int32(DCL_MM_F32), has_bias: 0, act: 0, beta: accumulateInput ? 1 : 0,
                                     alpha: 1, packed_b: 0)
            try matmul(&dx, dz, plainWeight.floats, nil, cpu(dInput).floats)
        }
    }

    public func layerNormBackward(dOut: any DeviceBuffer, x: any DeviceBuffer, residual: (any DeviceBuffer)?,
                                  stats: any DeviceBuffer, gamma: any DeviceBuffer, rows: Int, cols: Int,
                                  dInput: any DeviceBuffer, accumulateInput: Bool,
                                  gradGamma: any DeviceBuffer, gradBeta: any DeviceBuffer) throws {
        try checkLayerNormBackward(dOut: dOut, x: x, residual: residual, stats: stats, gamma: gamma, rows: rows,
                                   cols: cols, dInput: dInput, gradGamma: gradGamma, gradBeta: gradBeta)
        let (pdy, px, pr, ps, pg) = (cpu(dOut).floats, cpu(x).floats, residual.map { cpu($0).floats },
                                     cpu(stats).floats, cpu(gamma).floats)
        let (pdx, pdg, pdb) = (cpu(dInput).floats, cpu(gradGamma).floats, cpu(gradBeta).floats)
        parallelChunks((cols + 63) / 64, cost: rows * cols * 4) { range in
            dcl_layernorm_param_grads(pdy, px, pr, ps, rows, cols, range.lowerBound * 64,
                                      min(cols, range.upperBound * 64), pdg, pdb)
        }
        parallelChunks(rows, cost: rows * cols * 10) { range in
            for r in range {
                dcl_layernorm_backward_row(pdy + r * cols, px + r * cols, pr.map { $0 + r * cols }, ps + 2 * r, pg,
                                           cols, pdx + r * cols, accumulateInput ? 1 : 0)
            }
        }
    }

    public func attentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                                  dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                                  scale: Float, dropout: DropoutMask?, dQKV: any DeviceBuffer) throws {
        try checkAttentionBackward(qkv: qkv, out: out, lse: lse, dOut: dOut, sequences: sequences, heads: heads,
                                   headDim: headDim, dropout: dropout, dQKV: dQKV)
        let (pq, po, pl, pdo, pd) = (cpu(qkv).floats, cpu(out).floats, cpu(lse).floats, cpu(dOut).floats,
                                     cpu(dQKV).floats)
        let dim = heads * headDim, ld = 3 * dim
        try forEachHead(sequences, heads: heads, headDim: headDim) { s, h, start, n in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dcl_attention_train_scratch(n, headDim))
            defer { scratch.deallocate() }
            let (q, dq) = (pq + start * ld + h * headDim, pd + start * ld + h * headDim)
            let (o, dO) = (po + start * dim + h * headDim, pdo + start * dim + h * headDim)
            dcl_attention_head_backward(q, q + dim, q + 2 * dim, ld, n, headDim, scale, o, dO, dim,
                                        pl + start * heads + h, heads, h, Self.key(dropout, token: start),
                                        dq, dq + dim, dq + 2 * dim, scratch)
        }
    }

    public func embeddingBackward(dOut: any DeviceBuffer, segments: EmbeddingSegments, dim: Int,
                                  grad: any DeviceBuffer) throws {
        try checkEmbeddingBackward(dOut: dOut, segments: segments, dim: dim, grad: grad)
        let (pdo, pg) = (cpu(dOut).floats, cpu(grad).floats)
        let (order, starts, rows) = (segments.hostOrder, segments.hostStarts, segments.hostRows)
        // Segments read distinct rows: they run in parallel without races.
        parallelChunks(segments.count, cost: order.count * dim) { range in
            for s in range {
                let row = pg + Int(rows[s]) * dim
                for i in Int(starts[s])..<Int(starts[s + 1]) { addInPlace(row, pdo + Int(order[i]) * dim, dim) }
            }
        }
    }

    public func scatterAddRows(_ dOut: any DeviceBuffer, index: [Int32], indexBuffer: any DeviceBuffer, dim: Int,
                               dSource: any DeviceBuffer) throws {
        try checkScatterAddRows(dOut, index: index, indexBuffer: indexBuffer, dim: dim, dSource: dSource)
        try upload(index, to: indexBuffer)
        let (pdo, ps) = (cpu(dOut).floats, cpu(dSource).floats)
        for (r, i) in index.enumerated() { addInPlace(ps + Int(i) * dim, pdo + r * dim, dim) }
    }

    // MARK: - Losses

    public func softmaxCrossEntropy(logits: any DeviceBuffer, labels: [Int32], labelBuffer: any DeviceBuffer,
                                    classes: Int, gradScale: Float, losses: any DeviceBuffer,
                                    dLogits: any DeviceBuffer) throws {
        try checkCrossEntropy(logits: logits, labels: labels, labelBuffer: labelBuffer, classes: classes, losses: losses,
                              dLogits: dLogits)
        try upload(labels, to: labelBuffer)
        let (pz, pl, pd) = (cpu(logits).floats, cpu(losses).floats, cpu(dLogits).floats)
        for r in labels.indices {
            let label = Int(labels[r])
            let z = pz + r * classes, d = pd + r * classes
            guard label >= 0 else {   // no label: no loss, no gradient
                pl[r] = 0
                for c in 0..<classes { d[c] = 0 }
                continue
            }
            var m = -Float.infinity
            for c in 0..<classes { m = max(m, z[c]) }
            var sum: Float = 0
            for c in 0..<classes { sum += expf(z[c] - m) }
            let lse = m + logf(sum)
            pl[r] = lse - z[label]
            for c in 0..<classes { d[c] = (expf(z[c] - lse) - (c == label ? 1 : 0)) * gradScale }
        }
    }

    public func cosineDistance(_ x: any DeviceBuffer, target: any DeviceBuffer, rows: Int, dim: Int, weight: Float,
                               gradScale: Float, losses: any DeviceBuffer, dX: any DeviceBuffer) throws {
        try checkCosineDistance(x, target: target, rows: rows, dim: dim, losses: losses, dX: dX)
        let (px, py, pl, pd) = (cpu(x).floats, cpu(target).floats, cpu(losses).floats, cpu(dX).floats)
        for r in 0..<rows {
            let (a, b, g) = (px + r * dim, py + r * dim, pd + r * dim)
            var (xy, xx, yy): (Float, Float, Float) = (0, 0, 0)
            for j in 0..<dim { xy += a[j] * b[j]; xx += a[j] * a[j]; yy += b[j] * b[j] }
            xx += 1e-12
            yy += 1e-12
            let inv = 1 / (xx * yy).squareRoot()
            let cos = xy * inv
            pl[r] = weight * (1 - cos)
            let (cy, cx) = (-weight * gradScale * inv, weight * gradScale * cos / xx)
            for j in 0..<dim { g[j] = cy * b[j] + cx * a[j] }
        }
    }

    public func softmaxKLDivergence(logits: any DeviceBuffer, teacher: any DeviceBuffer, rows: Int, classes: Int,
                                    temperature: Float, weight: Float, gradScale: Float, accumulate: Bool,
                                    losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws {
        try checkKLDivergence(logits: logits, teacher: teacher, rows: rows, classes: classes, temperature: temperature,
                              losses: losses, dLogits: dLogits)
        let (ps, pt, pl, pd) = (cpu(logits).floats, cpu(teacher).floats, cpu(losses).floats, cpu(dLogits).floats)
        let t = temperature
        for r in 0..<rows {
            let (s, q, d) = (ps + r * classes, pt + r * classes, pd + r * classes)
            // log-softmax of both at temperature T, each from its own maximum
            var (ms, mt) = (-Float.infinity, -Float.infinity)
            for c in 0..<classes { ms = max(ms, s[c] / t); mt = max(mt, q[c] / t) }
            var (zs, zt): (Float, Float) = (0, 0)
            for c in 0..<classes { zs += expf(s[c] / t - ms); zt += expf(q[c] / t - mt) }
            let (ls, lt) = (ms + logf(zs), mt + logf(zt))
            var kl: Float = 0
            for c in 0..<classes {
                let (logPs, logPt) = (s[c] / t - ls, q[c] / t - lt)
                let pTeacher = expf(logPt)
                kl += pTeacher * (logPt - logPs)
                let g = weight * gradScale * t * (expf(logPs) - pTeacher)
                d[c] = accumulate ? d[c] + g : g
            }
            let loss = weight * t * t * kl
            pl[r] = accumulate ? pl[r] + loss : loss
        }
    }

    // MARK: - Optimiser

    public func sumOfSquares(_ x: any DeviceBuffer, count: Int, out: any DeviceBuffer, index: Int) throws {
        try requireBuffer(x, count, .float32, "sumOfSquares input")
        guard index >= 0 else { throw BackendError.invalidArgument("sumOfSquares index \(index) is negative") }
        try requireBuffer(out, index + 1, .float32, "sumOfSquares output")
        let px = cpu(x).floats
        // Fixed chunks summed in order: the same total whatever the thread count.
        let chunk = 1 << 16, chunks = (count + chunk - 1) / chunk
        var partial = [Double](repeating: 0, count: max(chunks, 1))
        partial.withUnsafeMutableBufferPointer { p in
            let p = p.baseAddress!
            parallelItems(chunks, cost: count * 2) { c in
                p[c] = dcl_sum_squares(px + c * chunk, min(chunk, count - c * chunk))
            }
        }
        cpu(out).floats[index] = Float(partial.reduce(0, +))
    }

    public func adamW(parameter: any DeviceBuffer, gradient: any DeviceBuffer, m: any DeviceBuffer, v: any DeviceBuffer,
                      count: Int, step: AdamWStep) throws {
        for (buffer, what) in [(parameter, "parameter"), (gradient, "gradient"), (m, "first moment"), (v, "second moment")] {
            try requireBuffer(buffer, count, .float32, "adamW \(what)")
        }
        let (pp, pg, pm, pv) = (cpu(parameter).floats, cpu(gradient).floats, cpu(m).floats, cpu(v).floats)
        let (stepSize, bc2Sqrt) = step.corrections
        parallelChunks((count + 4095) / 4096, cost: count * 16) { range in
            let lo = range.lowerBound * 4096, hi = min(count, range.upperBound * 4096)
            dcl_adamw(pp + lo, pg + lo, pm + lo, pv + lo, hi - lo, step.learningRate, step.beta1, step.beta2, step.eps,
                      step.weightDecay, step.gradScale, stepSize, bc2Sqrt)
        }
    }

    // MARK: - Helpers

    /// The C key of `mask` for the example of packed token `token` (p = 0 without a mask).
    private static func key(_ mask: DropoutMask?, token: Int) -> dcl_dropout_key {
        guard let mask else { return dcl_dropout_key(seed: 0, example: 0, site: 0, p: 0) }
        var k = mask.key.c
        k.example = mask.rows.example(token)
        return k
    }

    /// Runs `body(sequence, head, start, length)` for every (text, head) with tokens, longest
    /// text first, on every core.
    private func forEachHead(_ sequences: PackedSequences, heads: Int, headDim: Int,
                             _ body: @escaping (Int, Int, Int, Int) -> Void) throws {
        let offsets = sequences.offsets
        let length: (Int) -> Int = { offsets[$0 + 1] - offsets[$0] }
        let texts = (0..<sequences.count).filter { length($0) > 0 }.sorted { length($0) > length($1) }
        let work: [(Int, Int)] = texts.flatMap { s in (0..<heads).map { (s, $0) } }
        let cost = texts.reduce(0) { $0 + 8 * heads * headDim * length($1) * length($1) }
        parallelItems(work.count, cost: cost) { item in
            let (s, h) = work[item]
            body(s, h, offsets[s], length(s))
        }
    }
}

extension DropoutKey {
    /// The C kernels' form (the example is set per row or per text).
    var c: dcl_dropout_key { dcl_dropout_key(seed: seed, example: 0, site: site, p: probability) }
}
