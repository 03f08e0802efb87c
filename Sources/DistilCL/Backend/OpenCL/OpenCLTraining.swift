import Foundation

/// The OpenCL backend's training operations (`TrainingBackend`): the kernels of
/// `Kernels/training.cl`, `kernel_bmm` for the linear backward's GEMMs and `kernel_layernorm`
/// (norm.cl) for the forward that keeps its statistics. Every sum runs in a fixed order without
/// atomics, so a step gives the same bits on every run.
extension OpenCLBackend: TrainingBackend {
    /// Work-items per group and elements per work-item of `kernel_sum_squares_*` (`SSQ_WG`,
    /// `SSQ_ITEMS` in training.cl): fixed, so the sum's order is the same on every device.
    static let sumOfSquaresGroup = 64, sumOfSquaresItems = 64

    // MARK: - Memory

    public func fill(_ buffer: any DeviceBuffer, value: Float, count: Int) throws {
        try requireBuffer(buffer, count, buffer.elementType, "fill target")
        let bits = buffer.elementType == .int32 ? UInt32(bitPattern: Int32(value)) : value.bitPattern
        try fill(buffer, pattern: bits, count: count)
    }

    /// Repacks the panels `[⌈N/PN⌉][K][PN]` and the padded bias from the plain weight `[N, K]`
    /// and bias `[N]` on the device.
    public func refresh(_ layer: any DeviceLinear) throws {
        guard let w = layer as? CLLinear else { preconditionFailure("foreign DeviceLinear") }
        guard let weight = w.weight else {
            throw BackendError.invalidArgument("refresh of a linear layer made for inference (not trainable)")
        }
        let (n, k, pn) = (w.outFeatures, w.inFeatures, tuning.panelWidth)
        try launch("kernel_pack_panels", [.i(n), .i(k), .i(pn), .b(weight), .b(w.bias ?? weight),
                                          .i(w.bias == nil ? 0 : 1), .b(w.packed), .b(w.paddedBias)],
                   global: [k, (n + pn - 1) / pn * pn])
    }

    public func tiedLinear(weight: any DeviceBuffer, bias: [Float]?, outFeatures: Int, inFeatures: Int) throws
        -> any DeviceLinear {
        try requireBuffer(weight, outFeatures * inFeatures, .float32, "tied weight")
        let layer = try CLLinear(backend: self, sharing: weight, bias: bias, outFeatures: outFeatures,
                                 inFeatures: inFeatures)
        try refresh(layer)
        return layer
    }

    // MARK: - Forward passes that keep what their backward reads

    /// `kernel_layernorm` with its statistics: stats `[rows, 2]` = (mean, 1/σ).
    public func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                          beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                          stats: any DeviceBuffer) throws {
        try checkLayerNormStats(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, out: out,
                                stats: stats)
        try launchLayerNorm(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, eps: eps,
                            out: out, stats: stats)
    }

    /// `kernel_attention_lse_v*`, one work-item per (token, head): out `[tokens, heads·headDim]`,
    /// lse `[tokens, heads]`.
    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                          out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutMask?) throws {
        try checkAttentionForward(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out, lse: lse,
                                  dropout: dropout)
        try launch(try attentionKernel("kernel_attention_lse", headDim: headDim),
                   [.i(sequences.tokens), .i(heads * headDim), .i(headDim), .f(scale), .b(qkv), .b(sequences.ranges),
                    .b(out), .b(lse)] + dropoutArgs(dropout, placeholder: sequences.ranges),
                   global: [sequences.tokens, heads])
    }

    public func dropout(_ x: any DeviceBuffer, width: Int, mask: DropoutMask, out: any DeviceBuffer) throws {
        try checkDropout(x, width: width, mask: mask, out: out)
        let rows = mask.rows.count
        try launch("kernel_dropout", [.i(rows), .i(width), .b(x), .b(out)]
                   + dropoutArgs(mask, placeholder: mask.rows.buffer), global: [rows * width])
    }

    // MARK: - Backward passes

    /// dZ = dOut ⊙ act′(z) in place (`kernel_activation_backward`), then `kernel_bmm` for
    /// dW `[out, in]` += dZᵀ·x and dX `[rows, in]` (+)= dZ·W, and `kernel_column_sums` for db.
    public func linearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ layer: any DeviceLinear, rows: Int,
                               activation: Activation, preActivation: (any DeviceBuffer)?,
                               dInput: (any DeviceBuffer)?, accumulateInput: Bool,
                               gradWeight: any DeviceBuffer, gradBias: (any DeviceBuffer)?) throws {
        guard let w = layer as? CLLinear else { preconditionFailure("foreign DeviceLinear") }
        let weight = try checkLinearBackward(dOut: dOut, input: x, layer, rows: rows, activation: activation,
                                             preActivation: preActivation, dInput: dInput, gradWeight: gradWeight,
                                             gradBias: gradBias)
        let (n, k) = (w.outFeatures, w.inFeatures)
        if activation != .none, let z = preActivation {
            try launch("kernel_activation_backward", [.i(rows * n), .b(dOut), .b(z), .i(Int(activation.rawValue))],
                       global: [rows * n])
        }
        // gradWeight [n, k] += dZᵀ [n, rows] · x [rows, k]
        try batchedMatmul(a: MatrixView(dOut, stride1: 0, stride2: 0, ld: n),
                          b: MatrixView(x, stride1: 0, stride2: 0, ld: k),
                          c: MatrixView(gradWeight, stride1: 0, stride2: 0, ld: k), m: n, n: k, k: rows,
                          transposeA: true, transposeB: false, alpha: 1, beta: 1, batch: (1, 1))
        if let gradBias {
            try launch("kernel_column_sums", [.i(rows), .i(n), .b(dOut), .b(gradBias)], global: [n])
        }
        if let dInput {
            // dInput [rows, k] (+)= dZ [rows, n] · W [n, k]
            try batchedMatmul(a: MatrixView(dOut, stride1: 0, stride2: 0, ld: n),
                              b: MatrixView(weight, stride1: 0, stride2: 0, ld: k),
                              c: MatrixView(dInput, stride1: 0, stride2: 0, ld: k), m: rows, n: k, k: n,
                              transposeA: false, transposeB: false, alpha: 1, beta: accumulateInput ? 1 : 0,
                              batch: (1, 1))
        }
    }

    /// `kernel_layernorm_param_grads` (one work-item a column, rows in order) for dgamma and
    /// dbeta `[cols]`, then `kernel_layernorm_backward` (a work-group a row) for dInput `[rows, cols]`.
    public func layerNormBackward(dOut: any DeviceBuffer, x: any DeviceBuffer, residual: (any DeviceBuffer)?,
                                  stats: any DeviceBuffer, gamma: any DeviceBuffer, rows: Int, cols: Int,
                                  dInput: any DeviceBuffer, accumulateInput: Bool,
                                  gradGamma: any DeviceBuffer, gradBeta: any DeviceBuffer) throws {
        try checkLayerNormBackward(dOut: dOut, x: x, residual: residual, stats: stats, gamma: gamma, rows: rows,
                                   cols: cols, dInput: dInput, gradGamma: gradGamma, gradBeta: gradBeta)
        let (r, hasResidual) = (residual ?? x, residual == nil ? 0 : 1)
        try launch("kernel_layernorm_param_grads", [.i(rows), .i(cols), .b(dOut), .b(x), .b(r), .i(hasResidual),
                                                    .b(stats), .b(gradGamma), .b(gradBeta)], global: [cols])
        let g = tuning.rowGroup
        try launch("kernel_layernorm_backward", [.i(cols), .b(dOut), .b(x), .b(r), .i(hasResidual), .b(stats),
                                                 .b(gamma), .b(dInput), .i(accumulateInput ? 1 : 0)],
                   global: [rows * g], local: [g])
    }

    /// FlashAttention-2's backward without atomics: `kernel_attention_dq_v*` per query row
    /// (writes delta `[tokens, heads]` = Σ dOut ⊙ out and dQ), then `kernel_attention_dkv_v*`
    /// per key row, summing over the queries of its sequence in order (dK, dV).
    public func attentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                                  dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                                  scale: Float, dropout: DropoutMask?, dQKV: any DeviceBuffer) throws {
        try checkAttentionBackward(qkv: qkv, out: out, lse: lse, dOut: dOut, sequences: sequences, heads: heads,
                                   headDim: headDim, dropout: dropout, dQKV: dQKV)
        let tokens = sequences.tokens
        guard tokens > 0 else { return }
        let delta = try makeBuffer(count: tokens * heads, type: .float32)   // freed once the queue is done with it
        let shape: [Arg] = [.i(tokens), .i(heads * headDim), .i(headDim), .f(scale), .b(qkv), .b(sequences.ranges)]
        let drop = dropoutArgs(dropout, placeholder: sequences.ranges)
        try launch(try attentionKernel("kernel_attention_dq", headDim: headDim),
                   shape + [.b(out), .b(lse), .b(dOut), .b(delta), .b(dQKV)] + drop, global: [tokens, heads])
        try launch(try attentionKernel("kernel_attention_dkv", headDim: headDim),
                   shape + [.b(lse), .b(dOut), .b(delta), .b(dQKV)] + drop, global: [tokens, heads])
    }

    // MARK: - Gradients of lookups

    /// `kernel_embedding_backward`: work-item (column, segment) adds the segment's tokens in
    /// ascending order into its row of grad `[rows, dim]`; segments read distinct rows.
    public func embeddingBackward(dOut: any DeviceBuffer, segments: EmbeddingSegments, dim: Int,
                                  grad: any DeviceBuffer) throws {
        try checkEmbeddingBackward(dOut: dOut, segments: segments, dim: dim, grad: grad)
        try launch("kernel_embedding_backward", [.i(dim), .b(dOut), .b(segments.order), .b(segments.starts),
                                                 .b(segments.rows), .b(grad)], global: [dim, segments.count])
    }

    /// `kernel_scatter_add_rows`, a work-item per (column, row): rows are distinct (checked on
    /// the host), so there are no races.
    public func scatterAddRows(_ dOut: any DeviceBuffer, index: [Int32], indexBuffer: any DeviceBuffer, dim: Int,
                               dSource: any DeviceBuffer) throws {
        try checkScatterAddRows(dOut, index: index, indexBuffer: indexBuffer, dim: dim, dSource: dSource)
        try upload(index, to: indexBuffer)
        try launch("kernel_scatter_add_rows", [.i(dim), .b(dOut), .b(indexBuffer), .b(dSource)],
                   global: [dim, index.count])
    }

    // MARK: - Losses

    /// `kernel_cross_entropy`, a work-item a row: losses `[rows]`, dLogits `[rows, classes]`.
    public func softmaxCrossEntropy(logits: any DeviceBuffer, labels: [Int32], labelBuffer: any DeviceBuffer,
                                    classes: Int, gradScale: Float, losses: any DeviceBuffer,
                                    dLogits: any DeviceBuffer) throws {
        try checkCrossEntropy(logits: logits, labels: labels, labelBuffer: labelBuffer, classes: classes, losses: losses,
                              dLogits: dLogits)
        try upload(labels, to: labelBuffer)
        try launch("kernel_cross_entropy", [.i(labels.count), .i(classes), .b(logits), .b(labelBuffer), .f(gradScale),
                                            .b(losses), .b(dLogits)], global: [labels.count])
    }

    /// `kernel_kl_divergence`, a work-item a row.
    public func softmaxKLDivergence(logits: any DeviceBuffer, teacher: any DeviceBuffer, rows: Int, classes: Int,
                                    temperature: Float, weight: Float, gradScale: Float, accumulate: Bool,
                                    losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws {
        try checkKLDivergence(logits: logits, teacher: teacher, rows: rows, classes: classes, temperature: temperature,
                              losses: losses, dLogits: dLogits)
        try launch("kernel_kl_divergence", [.i(rows), .i(classes), .b(logits), .b(teacher), .f(temperature), .f(weight),
                                            .f(gradScale), .i(accumulate ? 1 : 0), .b(losses), .b(dLogits)],
                   global: [rows])
    }

    /// `kernel_cosine_distance`, a work-item a row.
    public func cosineDistance(_ x: any DeviceBuffer, target: any DeviceBuffer, rows: Int, dim: Int, weight: Float,
                               gradScale: Float, losses: any DeviceBuffer, dX: any DeviceBuffer) throws {
        try checkCosineDistance(x, target: target, rows: rows, dim: dim, losses: losses, dX: dX)
        try launch("kernel_cosine_distance", [.i(rows), .i(dim), .b(x), .b(target), .f(weight), .f(gradScale),
                                              .b(losses), .b(dX)], global: [rows])
    }

    // MARK: - Optimiser

    /// Σ x² in two fixed-shape passes: `kernel_sum_squares_partial` (one partial per block of
    /// 64·64 elements, a tree inside each), then `kernel_sum_squares_final` into `out[index]`.
    public func sumOfSquares(_ x: any DeviceBuffer, count: Int, out: any DeviceBuffer, index: Int) throws {
        try requireBuffer(x, count, .float32, "sumOfSquares input")
        try requireBuffer(out, index + 1, .float32, "sumOfSquares output")
        guard index >= 0 else { throw BackendError.invalidArgument("sumOfSquares index \(index) is negative") }
        let group = Self.sumOfSquaresGroup, block = group * Self.sumOfSquaresItems
        let blocks = max(1, (count + block - 1) / block)
        let partial = try makeBuffer(count: blocks, type: .float32)   // freed once the queue is done with it
        try launch("kernel_sum_squares_partial", [.i(count), .b(x), .b(partial)], global: [blocks * group],
                   local: [group])
        try launch("kernel_sum_squares_final", [.i(blocks), .b(partial), .b(out), .i(index)], global: [group],
                   local: [group])
    }

    /// `kernel_adamw`: one fused update of parameter, m and v over `count` elements, the bias
    /// corrections computed here in double.
    public func adamW(parameter: any DeviceBuffer, gradient: any DeviceBuffer, m: any DeviceBuffer, v: any DeviceBuffer,
                      count: Int, step: AdamWStep) throws {
        for (buffer, what) in [(parameter, "parameter"), (gradient, "gradient"), (m, "first moment"), (v, "second moment")] {
            try requireBuffer(buffer, count, .float32, "adamW \(what)")
        }
        let (stepSize, bc2Sqrt) = step.corrections
        try launch("kernel_adamw", [.i(count), .b(parameter), .b(gradient), .b(m), .b(v), .f(step.learningRate),
                                    .f(step.beta1), .f(step.beta2), .f(step.eps), .f(step.weightDecay),
                                    .f(step.gradScale), .f(stepSize), .f(bc2Sqrt)], global: [count])
    }

    // MARK: - Helpers

    /// A dropout mask as the kernels' `DROPOUT_ARGS` (rows, seed lo, seed hi, site, p); without
    /// one, p = 0 (nothing dropped, the generator never runs, the rows never read) and
    /// `placeholder` in the rows' place.
    func dropoutArgs(_ mask: DropoutMask?, placeholder: any DeviceBuffer) -> [Arg] {
        let k = mask?.key ?? DropoutKey(seed: 0, site: 0, probability: 0)
        return [.b(mask?.rows.buffer ?? placeholder), .u(UInt32(truncatingIfNeeded: k.seed)),
                .u(UInt32(truncatingIfNeeded: k.seed >> 32)), .u(k.site), .f(k.probability)]
    }
}
