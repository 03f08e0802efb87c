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

    /// A trainable linear layer whose plain weight is `weight` itself, `[out, in]` float32,
    /// shared and not copied (a masked-LM decoder tied to the word embeddings: the optimiser's
    /// update of the table is the decoder's), with its own bias `[out]`. Its fast layout is
    /// built now and rebuilt by `refresh` after the table changes.
    func tiedLinear(weight: any DeviceBuffer, bias: [Float]?, outFeatures: Int, inFeatures: Int) throws
        -> any DeviceLinear

    // MARK: Forward passes that keep what their backward reads

    /// `layerNorm` that also writes `stats [rows, 2]` = (mean, 1/√(var + eps)) of each row of
    /// `x + residual`; `out` must not alias `x` or `residual`.
    func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                   beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                   stats: any DeviceBuffer) throws

    /// `attention` that also writes `lse [tokens, heads]`, each query row's log-sum-exp of
    /// `scale·q·kᵀ` (natural log), and applies `dropout` (when given; its rows are the
    /// `tokens` packed rows) to the probabilities: element (h, i, j) of a text of n tokens is
    /// element `(h·n + i)·n + j` of its example's stream (i, j counted from the text's first token).
    func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                   out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutMask?) throws

    /// `out[r, c] = x[r, c]·keep/(1 − p)` over `[mask.rows.count, width]` (out may be x),
    /// keep = `key.uniform(example: e, index: l·width + c) ≥ p` for row r's example e and local
    /// row l. Dropout is linear, so the same call on a gradient is its backward.
    func dropout(_ x: any DeviceBuffer, width: Int, mask: DropoutMask, out: any DeviceBuffer) throws

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
    /// qkv's layout). `dropout` must be the forward's mask.
    func attentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                           dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                           scale: Float, dropout: DropoutMask?, dQKV: any DeviceBuffer) throws

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
/// the site (layer and place in it) and the example, so every backend draws the same mask,
/// a run is reproducible, and an example's mask does not depend on the texts packed beside
/// it (gradient accumulation's micro-batches draw what one large batch draws); the backward
/// recomputes the mask. Element indices count within one example (`DropoutRows`).
public struct DropoutKey: Sendable, Equatable {
    public var seed: UInt64
    public var site: UInt32
    /// The probability of dropping an element, in [0, 1).
    public var probability: Float

    public init(seed: UInt64, site: UInt32, probability: Float) {
        self.seed = seed; self.site = site; self.probability = probability
    }

    /// Elements one example's stream may index: counters hold index/4 in one 32-bit word.
    public static let indexLimit: UInt64 = 1 << 34

    /// The uniform in [0, 1) of element `index` (< `indexLimit`) of `example`'s stream:
    /// Philox4x32-10 with counter (index/4, example low, example high, site) and key (seed low,
    /// seed high); output word index % 4's top 24 bits · 2⁻²⁴ (one call gives four elements).
    /// The kernels compute the same.
    public func uniform(example: UInt64, index: UInt64) -> Float {
        let words = philox4x32(counter: (UInt32(truncatingIfNeeded: index >> 2), UInt32(truncatingIfNeeded: example),
                                         UInt32(truncatingIfNeeded: example >> 32), site),
                               key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
        let r = [words.0, words.1, words.2, words.3][Int(index & 3)]
        return Float(r >> 8) * 0x1p-24
    }
}

/// Which example each row of an activation belongs to, and which of its rows it is, so that
/// dropout draws by example: `[count, 3]` int32 (example low word, example high word, local
/// row), on the device and on the host. A packed `[tokens, …]` activation's row t is token
/// t − offset of its text; a `[texts, …]` activation of [CLS] rows alone (the last layer's
/// projection and FFN, the classifier head) gives each text local row 0, so it draws what the
/// every-token path draws for that text's first token.
public struct DropoutRows: Sendable {
    public let count: Int
    /// `[count, 3]` int32.
    public let buffer: any DeviceBuffer
    public let host: [Int32]

    public init(host: [Int32], buffer: any DeviceBuffer) {
        precondition(host.count % 3 == 0, "dropout rows hold three int32 a row")
        self.count = host.count / 3; self.host = host; self.buffer = buffer
    }

    /// The example of row `r`.
    public func example(_ r: Int) -> UInt64 {
        UInt64(UInt32(bitPattern: host[3 * r])) | UInt64(UInt32(bitPattern: host[3 * r + 1])) << 32
    }

    /// Row `r`'s row within its example.
    public func localRow(_ r: Int) -> Int { Int(host[3 * r + 2]) }

    /// The rows of texts `offsets` (`[texts + 1]`, packed token offsets) whose examples are
    /// `examples` (`[texts]`): every token (`[tokens, 3]`), or each text's first alone (`[texts, 3]`).
    public static func layout(examples: [UInt64], offsets: [Int], everyToken: Bool) -> [Int32] {
        var rows: [Int32] = []
        rows.reserveCapacity(3 * (everyToken ? offsets.last ?? 0 : examples.count))
        for (s, e) in examples.enumerated() {
            let (lo, hi) = (Int32(bitPattern: UInt32(truncatingIfNeeded: e)), Int32(bitPattern: UInt32(truncatingIfNeeded: e >> 32)))
            for l in 0..<(everyToken ? offsets[s + 1] - offsets[s] : 1) { rows += [lo, hi, Int32(l)] }
        }
        return rows
    }

    /// `layout` uploaded into a new buffer of `backend`.
    public static func upload(examples: [UInt64], offsets: [Int], everyToken: Bool,
                              to backend: any ComputeBackend) throws -> DropoutRows {
        let host = layout(examples: examples, offsets: offsets, everyToken: everyToken)
        return DropoutRows(host: host, buffer: try backend.buffer(host))
    }
}

/// One dropout site over one activation: its key and the rows' examples.
public struct DropoutMask: Sendable {
    public var key: DropoutKey
    public var rows: DropoutRows

    public init(key: DropoutKey, rows: DropoutRows) { self.key = key; self.rows = rows }

    /// Whether element (row, column) of a `[rows.count, width]` activation is kept.
    public func keeps(row: Int, column: Int, width: Int) -> Bool {
        key.uniform(example: rows.example(row), index: UInt64(rows.localRow(row) * width + column)) >= key.probability
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
