import Foundation

// MARK: - What training adds to the backend

/// The backward passes, losses and optimiser of training, on the device. Both backends
/// conform. Like llm.c's `*_backward`, every weight gradient is *accumulated* (`+=`) into
/// its buffer, so gradients are zeroed once per step (`fill`) and a step may sum several
/// calls; input gradients are written, or accumulated where an argument says so.
///
/// Parameters are the plain float32 buffers `DeviceLinear.weight`/`.bias` and the tables
/// and norms the model uploaded; `adamW` updates them in place and `refresh` then rebuilds
/// whatever faster layout a backend keeps beside a linear layer's plain weight.
public protocol TrainingBackend: ComputeBackend {
    // MARK: Memory

    /// Sets the first `count` elements of `buffer` to `value`.
    func fill(_ buffer: any DeviceBuffer, value: Float, count: Int) throws

    /// Rebuilds the layout the forward pass reads (packed panels, oneDNN blocks) from the
    /// plain `layer.weight` and `layer.bias` after they changed.
    func refresh(_ layer: any DeviceLinear) throws

    // MARK: Forward passes that keep what their backward reads

    /// `layerNorm` that also writes `stats [rows, 2]` = (mean, 1/√(var + eps)) of each row of
    /// `x + residual`; `out` must not alias `x` or `residual`.
    func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                   beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                   stats: any DeviceBuffer) throws

    /// `attention` that also writes `lse [tokens, heads]`, each query row's log-sum-exp of
    /// `scale·q·kᵀ` (natural log), and applies `dropout` (when given) to the probabilities:
    /// element (h, i, j) of the probability matrices is element `(h·tokens + i)·tokens + j`
    /// of the key's stream (i, j packed token indices).
    func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                   out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutKey?) throws

    /// `out[i] = x[i]·keep(i)/(1 − p)`, keep(i) = `key.uniform(i) ≥ p`, over `count`
    /// elements (out may be x). Dropout is linear, so the same call on a gradient is its backward.
    func dropout(_ x: any DeviceBuffer, count: Int, key: DropoutKey, out: any DeviceBuffer) throws

    // MARK: Backward passes

    /// Backward of `out = act(x·Wᵀ + b)` over `rows` rows, x `[rows, in]`:
    /// dZ = dOut ⊙ act′(z) with z = `preActivation` `[rows, out]` (the GEMM's output before the
    /// activation; unused for `.none`), written over `dOut`;
    /// `gradWeight [out, in] += dZᵀ·x`; `gradBias [out] += Σ_rows dZ`;
    /// `dInput [rows, in] = dZ·W`, or `+=` when `accumulateInput` (skipped when nil).
    func linearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ layer: any DeviceLinear, rows: Int,
                        activation: Activation, preActivation: (any DeviceBuffer)?,
                        dInput: (any DeviceBuffer)?, accumulateInput: Bool,
                        gradWeight: any DeviceBuffer, gradBias: (any DeviceBuffer)?) throws

    /// Backward of `out = LayerNorm(x + residual)·gamma + beta` with the forward's `stats`:
    /// `dInput [rows, cols]` = ∂loss/∂(x + residual) (written, or `+=` when
    /// `accumulateInput`), `gradGamma [cols] += Σ_rows dOut ⊙ x̂`, `gradBeta [cols] += Σ_rows dOut`.
    /// The summation order over rows is fixed (deterministic on every backend).
    func layerNormBackward(dOut: any DeviceBuffer, x: any DeviceBuffer, residual: (any DeviceBuffer)?,
                           stats: any DeviceBuffer, gamma: any DeviceBuffer, rows: Int, cols: Int,
                           dInput: any DeviceBuffer, accumulateInput: Bool,
                           gradGamma: any DeviceBuffer, gradBeta: any DeviceBuffer) throws

    /// Backward of `attention` (FlashAttention-2 style: probabilities recomputed from `lse`):
    /// given qkv `[tokens, 3·heads·headDim]`, the forward's `out` and `lse`, and dOut
    /// `[tokens, heads·headDim]`, writes `dQKV [tokens, 3·heads·headDim]` (dQ, dK, dV in
    /// qkv's layout). `dropout` must be the forward's key.
    func attentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                           dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                           scale: Float, dropout: DropoutKey?, dQKV: any DeviceBuffer) throws

    /// Backward of an embedding lookup: `grad[row, :] += Σ dOut[t, :]` over the tokens `t` that
    /// read `row`, in ascending `t` (no races, the same sums on every backend). grad `[rows, dim]`.
    func embeddingBackward(dOut: any DeviceBuffer, segments: EmbeddingSegments, dim: Int,
                           grad: any DeviceBuffer) throws

    /// Backward of `gatherRows` with distinct indices: `dSource[index[r], :] += dOut[r, :]` for
    /// r < index.count. The indices come from the host, are checked there (in range, distinct)
    /// and go up into `indexBuffer` (int32, at least index.count): nothing comes back down.
    func scatterAddRows(_ dOut: any DeviceBuffer, index: [Int32], indexBuffer: any DeviceBuffer, dim: Int,
                        dSource: any DeviceBuffer) throws

    // MARK: Losses

    /// Softmax cross-entropy per row over rows = labels.count: logits `[rows, classes]`;
    /// `losses[r] = logsumexp(logits[r]) − logits[r, label]`;
    /// `dLogits = (softmax(logits) − onehot(label))·gradScale` (gradScale = 1/rows for a mean).
    /// A label of −1 marks a row without one (distillation's unlabelled text): its loss and
    /// gradient are 0. The labels come from the host, are checked there (each in −1..<classes)
    /// and go up into `labelBuffer` (int32, at least rows).
    func softmaxCrossEntropy(logits: any DeviceBuffer, labels: [Int32], labelBuffer: any DeviceBuffer, classes: Int,
                             gradScale: Float, losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws

    /// Distillation's soft-target term per row: with p_t = softmax(teacher/T) and
    /// p_s = softmax(logits/T) over `classes`, `losses[r] (+)= weight·T²·KL(p_t ‖ p_s)` and
    /// `dLogits[r] (+)= weight·gradScale·T·(p_s − p_t)` (its gradient; gradScale = 1/rows gives
    /// PyTorch's `batchmean`). Written, or added to what the buffers hold when `accumulate` (so
    /// a cross-entropy term can be written first). logits, teacher, dLogits `[rows, classes]`.
    func softmaxKLDivergence(logits: any DeviceBuffer, teacher: any DeviceBuffer, rows: Int, classes: Int,
                             temperature: Float, weight: Float, gradScale: Float, accumulate: Bool,
                             losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws

    /// Distillation's hidden-state term, row by row over x (the student's) and target (the
    /// teacher's), both `[rows, dim]`: with cos = x·y / √((x·x + ε)(y·y + ε)), ε = 1e-12 (as
    /// PyTorch's `cosine_embedding_loss`), `losses[r] = weight·(1 − cos)` `[rows]` and
    /// `dX[r] = −weight·gradScale·(y/√((x·x + ε)(y·y + ε)) − cos·x/(x·x + ε))` (written;
    /// gradScale = 1/rows for a mean over the rows).
    func cosineDistance(_ x: any DeviceBuffer, target: any DeviceBuffer, rows: Int, dim: Int, weight: Float,
                        gradScale: Float, losses: any DeviceBuffer, dX: any DeviceBuffer) throws

    // MARK: Optimiser

    /// `out[index] = Σ x[i]²` over `count` elements, summed in a fixed order (for the
    /// global gradient norm, one slot per parameter tensor).
    func sumOfSquares(_ x: any DeviceBuffer, count: Int, out: any DeviceBuffer, index: Int) throws

    /// One fused AdamW update over `count` elements, as torch.optim.AdamW:
    /// g = grad·gradScale; p ← p·(1 − lr·wd); m ← m + (1−β1)·(g − m) (torch's lerp);
    /// v ← β2·v + (1−β2)·g²;
    /// p ← p − (lr / (1 − β1ᵗ))·m / (√v / √(1 − β2ᵗ) + eps).
    func adamW(parameter: any DeviceBuffer, gradient: any DeviceBuffer, m: any DeviceBuffer, v: any DeviceBuffer,
               count: Int, step: AdamWStep) throws
}

/// The scalars of one AdamW update.
public struct AdamWStep: Sendable, Equatable {
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float
    /// The gradient-clipping factor, min(1, maxNorm / (‖g‖ + 1e-6)).
    public var gradScale: Float = 1
    /// 1 for the first update (bias correction).
    public var step: Int

    public init(learningRate: Float, weightDecay: Float, step: Int, gradScale: Float = 1,
                beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.step = step
        self.gradScale = gradScale; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    /// `lr / (1 − β1ᵗ)` and `√(1 − β2ᵗ)`, computed in double once per step as PyTorch does.
    var corrections: (stepSize: Float, rootBias2: Float) {
        let t = Double(step)
        return (Float(Double(learningRate) / (1 - pow(Double(beta1), t))),
                Float((1 - pow(Double(beta2), t)).squareRoot()))
    }
}

/// Which dropout mask: a counter-based generator (Philox4x32-10) keyed by the run's seed,
/// the optimiser step and the site (layer and place in it), so every backend draws the same
/// mask for element `i` and a run is reproducible; the backward recomputes the mask.
public struct DropoutKey: Sendable, Equatable {
    public var seed: UInt64
    public var step: UInt32
    public var site: UInt32
    /// The probability of dropping an element, in [0, 1).
    public var probability: Float

    public init(seed: UInt64, step: UInt32, site: UInt32, probability: Float) {
        self.seed = seed; self.step = step; self.site = site; self.probability = probability
    }

    /// The uniform in [0, 1) of element `index`: Philox4x32-10 with counter
    /// (index/4 low, index/4 high, site, step) and key (seed low, seed high); output word
    /// index % 4's top 24 bits · 2⁻²⁴ (one call gives four elements). The kernels compute the same.
    public func uniform(_ index: UInt64) -> Float {
        let group = index >> 2
        let words = philox4x32(counter: (UInt32(truncatingIfNeeded: group), UInt32(truncatingIfNeeded: group >> 32),
                                         site, step),
                               key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
        let r = [words.0, words.1, words.2, words.3][Int(index & 3)]
        return Float(r >> 8) * 0x1p-24
    }
}

/// Philox4x32-10 (Salmon et al., SC'11): the four output words.
func philox4x32(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
    var (c0, c1, c2, c3) = counter
    var (k0, k1) = key
    for _ in 0..<10 {
        let p0 = UInt64(0xD251_1F53) &* UInt64(c0), p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
        (c0, c1, c2, c3) = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p1),
                            UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0))
        k0 &+= 0x9E37_79B9
        k1 &+= 0xBB67_AE85
    }
    return (c0, c1, c2, c3)
}

/// The tokens of a batch grouped by the embedding row they read, for a race-free
/// `embeddingBackward`: `order [tokens]` lists token indices sorted by (row, token);
/// segment `s` covers `order[starts[s] ..< starts[s + 1]]` and reads row `rows[s]`.
public struct EmbeddingSegments: Sendable {
    public let count: Int
    public let order: any DeviceBuffer
    public let starts: any DeviceBuffer
    public let rows: any DeviceBuffer
    /// The host copies (the CPU path loops over them directly).
    public let hostOrder: [Int32], hostStarts: [Int32], hostRows: [Int32]

    /// Groups `index` (the row each token reads) and uploads the groups to `backend`.
    public static func upload(_ index: [Int32], to backend: any ComputeBackend) throws -> EmbeddingSegments {
        let order = index.indices.sorted { (index[$0], $0) < (index[$1], $1) }
        var starts: [Int32] = [], rows: [Int32] = []
        for (position, t) in order.enumerated() where position == 0 || index[order[position - 1]] != index[t] {
            starts.append(Int32(position))
            rows.append(index[t])
        }
        starts.append(Int32(order.count))
        let hostOrder = order.map { Int32($0) }
        return EmbeddingSegments(count: rows.count, order: try backend.buffer(hostOrder),
                                 starts: try backend.buffer(starts), rows: try backend.buffer(rows),
                                 hostOrder: hostOrder, hostStarts: starts, hostRows: rows)
    }
}
