import Foundation

/// A linear layer on the device in the layout `kernel_gemm_*` reads: the weight in
/// `[⌈N/PN⌉][K][PN]` panels (zero-padded) and the bias padded to whole panels; a trainable
/// layer also keeps the plain weight `[N, K]` and bias `[N]` training updates, from which
/// `refresh` rebuilds the panels on the device.
final class CLLinear: DeviceLinear, @unchecked Sendable {
    let outFeatures: Int
    let inFeatures: Int
    let weight: (any DeviceBuffer)?
    let bias: (any DeviceBuffer)?
    let packed: any DeviceBuffer
    let paddedBias: any DeviceBuffer

    init(backend: OpenCLBackend, weight: [Float], bias: [Float]?, outFeatures n: Int, inFeatures k: Int,
         trainable: Bool = false) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        guard weight.count == n * k else {
            throw BackendError.sizeMismatch("linear weight has \(weight.count) values, expected \(n)×\(k)")
        }
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        let pn = backend.tuning.panelWidth
        let panels = (n + pn - 1) / pn
        var packedValues = [Float](repeating: 0, count: panels * k * pn)
        weight.withUnsafeBufferPointer { w in
            packedValues.withUnsafeMutableBufferPointer { p in
                for row in 0..<n {
                    let panel = row / pn, lane = row % pn
                    let base = panel * k * pn + lane
                    for col in 0..<k { p[base + col * pn] = w[row * k + col] }
                }
            }
        }
        var paddedBias = [Float](repeating: 0, count: panels * pn)
        if let bias { paddedBias.replaceSubrange(0..<n, with: bias) }
        outFeatures = n
        inFeatures = k
        packed = try backend.buffer(packedValues)
        self.paddedBias = try backend.buffer(paddedBias)
        self.weight = trainable ? try backend.buffer(weight) : nil
        self.bias = trainable ? try bias.map { try backend.buffer($0) } : nil
    }

    init(outFeatures: Int, inFeatures: Int, weight: any DeviceBuffer, bias: (any DeviceBuffer)?,
         packed: any DeviceBuffer, paddedBias: any DeviceBuffer) throws {
        (self.outFeatures, self.inFeatures, self.weight, self.bias) = (outFeatures, inFeatures, weight, bias)
        (self.packed, self.paddedBias) = (packed, paddedBias)
    }
}

extension CLLinear {
    /// A trainable layer over `weight` `[N, K]`, shared (`TrainingBackend.tiedLinear`); its
    /// panels are empty until the backend's `refresh` packs them.
    convenience init(backend: OpenCLBackend, sharing weight: any DeviceBuffer, bias: [Float]?, outFeatures n: Int,
                     inFeatures k: Int) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        let pn = backend.tuning.panelWidth, panels = (n + pn - 1) / pn
        try self.init(outFeatures: n, inFeatures: k, weight: weight, bias: try bias.map { try backend.buffer($0) },
                      packed: try backend.makeBuffer(count: panels * k * pn),
                      paddedBias: try backend.makeBuffer(count: panels * pn))
    }
}

// MARK: - Operations

extension OpenCLBackend {
    public func linear(_ x: any DeviceBuffer, _ weights: any DeviceLinear, rows: Int,
                       activation: Activation, out: any DeviceBuffer) throws {
        guard let w = weights as? CLLinear else { preconditionFailure("foreign DeviceLinear") }
        if let tuned = tunedKernels[GEMMShape(rows: rows, n: w.outFeatures, k: w.inFeatures)] {
            try linear(x, w, rows: rows, activation: activation, out: out, using: tuned)
            return
        }
        let (n, k) = (w.outFeatures, w.inFeatures)
        try checkLinear(x, w, rows: rows, out: out)
        let args: [Arg] = [.i(rows), .i(n), .i(k), .b(x), .i(k), .b(w.packed), .b(w.paddedBias), .b(out), .i(n),
                           .i(Int(activation.rawValue))]
        switch tuning.gemm {
        case .panel:
            let panels = (n + tuning.panelWidth - 1) / tuning.panelWidth
            try launch("kernel_gemm_panel", args, global: [(rows + tuning.panelRows - 1) / tuning.panelRows, panels])
        case .tiled:
            let large = tuning.tile
            let tilesLarge = ((n + large.n - 1) / large.n) * ((rows + large.m - 1) / large.m)
            let small = tilesLarge < tuning.smallTileBelow
            let t = small ? tuning.smallTile : large
            guard let kernel = kernels[small ? "kernel_gemm_tiled_small" : "kernel_gemm_tiled"] else {
                throw CLError.missingKernel("kernel_gemm_tiled")
            }
            try launchTiled(kernel, tile: (t.m, t.n, t.wm, t.wn), splitK: small ? 1 : tuning.gemmSplitK, x, w,
                            rows: rows, activation: activation, out: out)
        }
    }

    /// `linear` with a given GEMM variant (the tuner's candidates; tuned shapes): its grid
    /// comes from the same tile it was built with.
    public func linear(_ x: any DeviceBuffer, _ weights: any DeviceLinear, rows: Int, activation: Activation,
                       out: any DeviceBuffer, using g: GEMMKernel) throws {
        guard let w = weights as? CLLinear else { preconditionFailure("foreign DeviceLinear") }
        let (n, k) = (w.outFeatures, w.inFeatures)
        try checkLinear(x, w, rows: rows, out: out)
        let v = g.variant
        switch v.kernel {
        case .panel:
            let args: [Arg] = [.i(rows), .i(n), .i(k), .b(x), .i(k), .b(w.packed), .b(w.paddedBias), .b(out), .i(n),
                               .i(Int(activation.rawValue))]
            let panels = (n + tuning.panelWidth - 1) / tuning.panelWidth
            try launch(g.kernel, args, global: [(rows + v.rows - 1) / v.rows, panels])
        case .tiled:
            try launchTiled(g.kernel, tile: (v.tile[0], v.tile[1], v.tile[3], v.tile[4]), splitK: v.splitK, x, w,
                            rows: rows, activation: activation, out: out)
        }
    }

    /// Launches a `kernel_gemm_tiled*` built with the tile `t` (and `GEMM_SPLITK` = `splitK`):
    /// one launch, or with split-K the slices into the workspace `[splitK, rows, N]` and
    /// `kernel_gemm_splitk_reduce`, enqueued together so no other GEMM's slices come between.
    private func launchTiled(_ kernel: CLKernel, tile t: (m: Int, n: Int, wm: Int, wn: Int), splitK: Int,
                             _ x: any DeviceBuffer, _ w: CLLinear, rows: Int, activation: Activation,
                             out: any DeviceBuffer) throws {
        let (n, k) = (w.outFeatures, w.inFeatures)
        let local = [t.n / t.wn, t.m / t.wm]
        let grid = [(n + t.n - 1) / t.n * local[0], (rows + t.m - 1) / t.m * local[1]]
        let act = Arg.i(Int(activation.rawValue))
        guard splitK > 1 else {
            try launch(kernel, [.i(rows), .i(n), .i(k), .b(x), .i(k), .b(w.packed), .b(w.paddedBias), .b(out), .i(n), act],
                       global: grid, local: local)
            return
        }
        try splitKLock.withLock {
            let ws = try splitKWorkspace(count: splitK * rows * n)
            try launch(kernel, [.i(rows), .i(n), .i(k), .b(x), .i(k), .b(w.packed), .b(w.paddedBias), .b(ws), .i(n), act],
                       global: grid + [splitK], local: local + [1])
            try launch("kernel_gemm_splitk_reduce", [.i(rows), .i(n), .i(splitK), .b(ws), .b(w.paddedBias), .b(out), .i(n), act],
                       global: [n, rows], local: nil)
        }
    }

    /// Strided batched GEMM over `batch.0 × batch.1` matrices in one call:
    /// `C[i, j] = alpha·Σ_p A'[i, p]·B'[p, j] + beta·C[i, j]` with `A' = Aᵀ` (A stored `[k, m]`)
    /// when `transposeA`, else A stored `[m, k]`; `B' = Bᵀ` (B stored `[n, k]`) when `transposeB`,
    /// else B stored `[k, n]`; C `[m, n]` per batch element. With beta = 0, C is only written
    /// (what it held, NaN included, does not matter); beta = 1 accumulates, as a backward pass's
    /// weight gradients need. OpenCL training's backward GEMMs (the CPU path calls oneDNN): with
    /// the tiled GEMM (GPUs) a single product with B `[k, n]` runs the GEMM family's
    /// `kernel_gemm_nn`/`kernel_gemm_tn` (the tile and options of `tuning`), anything else `kernel_bmm`.
    public func batchedMatmul(a: MatrixView, b: MatrixView, c: MatrixView, m: Int, n: Int, k: Int,
                              transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float, batch: (Int, Int)) throws {
        try checkBatchedMatmul(a: a, b: b, c: c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                               batch: batch)
        if tuning.gemm == .tiled, batch == (1, 1), !transposeB {
            let t = tuning.tile
            let local = [t.n / t.wn, t.m / t.wm]
            try launch(transposeA ? "kernel_gemm_tn" : "kernel_gemm_nn", [
                .i(m), .i(n), .i(k), .b(a.buffer), .i(a.offset), .i(a.ld), .b(b.buffer), .i(b.offset), .i(b.ld),
                .b(c.buffer), .i(c.offset), .i(c.ld), .f(alpha), .f(beta),
            ], global: [(n + t.n - 1) / t.n * local[0], (m + t.m - 1) / t.m * local[1]], local: local)
            return
        }
        let t = tuning.bmmTile
        try launch("kernel_bmm", [
            .i(m), .i(n), .i(k), .i(batch.1),
            .b(a.buffer), .i(a.offset), .i(a.stride1), .i(a.stride2), .i(a.ld),
            .b(b.buffer), .i(b.offset), .i(b.stride1), .i(b.stride2), .i(b.ld),
            .b(c.buffer), .i(c.offset), .i(c.stride1), .i(c.stride2), .i(c.ld),
            .i(transposeA ? 1 : 0), .i(transposeB ? 1 : 0), .f(alpha), .f(beta),
        ], global: [(n + t.n - 1) / t.n, (m + t.m - 1) / t.m, batch.0 * batch.1])
    }

    public func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                          beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer) throws {
        try checkLayerNorm(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, out: out)
        try launchLayerNorm(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, eps: eps,
                            out: out, stats: nil)
    }

    /// `kernel_layernorm` over checked arguments, writing `stats [rows, 2]` when given.
    func launchLayerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                         beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                         stats: (any DeviceBuffer)?) throws {
        let g = tuning.rowGroup
        try launch("kernel_layernorm", [.i(cols), .b(x), .b(residual ?? x), .i(residual == nil ? 0 : 1),
                                        .b(gamma), .b(beta), .f(eps), .b(out),
                                        .b(stats ?? out), .i(stats == nil ? 0 : 1)], global: [rows * g], local: [g])
    }

    public func activation(_ x: any DeviceBuffer, count: Int, _ kind: Activation, out: any DeviceBuffer) throws {
        try checkActivation(x, count: count, out: out)
        if kind == .none {
            if x !== out { try copy(x, to: out, count: count) }
            return
        }
        try launch("kernel_activation", [.i(count), .b(x), .b(out), .i(Int(kind.rawValue))], global: [(count + 15) / 16])
    }

    public func embed(ids: any DeviceBuffer, positions: any DeviceBuffer, typeIds: (any DeviceBuffer)?,
                      word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
                      tokens: Int, dim: Int, out: any DeviceBuffer) throws {
        try checkEmbed(ids: ids, positions: positions, typeIds: typeIds, tokenType: tokenType, tokens: tokens, dim: dim, out: out)
        try launch("kernel_embed", [
            .i(dim), .i(word.count / dim), .i(position.count / dim), .i((tokenType?.count ?? dim) / dim),
            .b(ids), .b(positions), .b(typeIds ?? ids), .i(typeIds == nil ? 0 : 1),
            .b(word), .b(position), .b(tokenType ?? word), .b(out),
        ], global: [dim, tokens])
    }

    public func gatherRows(_ src: any DeviceBuffer, index: any DeviceBuffer, rows: Int, dim: Int,
                           out: any DeviceBuffer) throws {
        try checkGatherRows(src, index: index, rows: rows, dim: dim, out: out)
        try launch("kernel_gather_rows", [.i(dim), .i(src.count / dim), .b(src), .b(index), .b(out)], global: [dim, rows])
    }

    public func meanPool(_ hidden: any DeviceBuffer, sequences: PackedSequences, dim: Int, out: any DeviceBuffer) throws {
        try checkMeanPool(hidden, sequences: sequences, dim: dim, out: out)
        try launch("kernel_mean_pool", [.i(dim), .b(hidden), .b(sequences.deviceOffsets), .b(out)],
                   global: [dim, sequences.count])
    }

    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                          out: any DeviceBuffer) throws {
        try checkAttention(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out)
        try launch(try attentionKernel("kernel_attention", headDim: headDim),
                   [.i(sequences.tokens), .i(heads * headDim), .i(headDim), .f(scale), .b(qkv), .b(sequences.ranges),
                    .b(out)], global: [sequences.tokens, heads])
    }

    /// `attention` with a kernel built apart (the tuner's candidates).
    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, scale: Float,
                          out: any DeviceBuffer, using a: AttentionKernel) throws {
        try checkAttention(qkv: qkv, sequences: sequences, heads: heads, headDim: a.headDim, out: out)
        try launch(a.kernel, [.i(sequences.tokens), .i(heads * a.headDim), .i(a.headDim), .f(scale), .b(qkv),
                              .b(sequences.ranges), .b(out)], global: [sequences.tokens, heads])
    }

    /// The variant of an attention kernel (`<base>_v1`, `_v4`, `_v16`) for a head size, at
    /// `attentionWidth`'s vector width.
    func attentionKernel(_ base: String, headDim: Int, width: Int? = nil) throws -> String {
        "\(base)_v\(try attentionWidth(headDim: headDim, width: width))"
    }

    /// The vector width over the head dimension the attention kernels run at: `width` when
    /// given, else the tuned width (`tuning.attentionVectorWidth`) when the head size allows it,
    /// else float16 only on CPU devices (where it maps onto AVX-512), then float4, then scalars.
    /// The same for every kernel of the family (inference, training's forward and its backward),
    /// so training's forward computes what inference does and the backward recomputes the
    /// forward's scores in the forward's order.
    public func attentionWidth(headDim: Int, width: Int? = nil) throws -> Int {
        guard headDim <= tuning.attentionHeadMax else {
            throw BackendError.invalidArgument("head size \(headDim) above the kernels' \(tuning.attentionHeadMax) (ATT_DH_MAX)")
        }
        let tuned = tuning.attentionVectorWidth
        let heuristic = headDim % 16 == 0 && !device.isGPU ? 16 : (headDim % 4 == 0 ? 4 : 1)
        let w = width ?? (tuned > 0 && headDim % tuned == 0 ? tuned : heuristic)
        guard [1, 4, 16].contains(w), headDim % w == 0 else {
            throw BackendError.invalidArgument("attention vector width \(w) does not divide the head size \(headDim)")
        }
        return w
    }
}
