// MARK: - Argument checks of the training operations, shared by every backend

func checkDropout(_ key: DropoutKey) throws {
    guard key.probability >= 0, key.probability < 1 else {
        throw BackendError.invalidArgument("dropout probability \(key.probability) outside [0, 1)")
    }
}

/// Checks a dropout `mask` over `[rows, width]` values of `x` and `out`: its row table on
/// the device, every local row at least 0, and every index within one example's stream.
func checkDropout(_ x: any DeviceBuffer, width: Int, mask: DropoutMask, out: any DeviceBuffer) throws {
    try checkDropout(mask.key)
    try requirePositive([("dropout width", width)])
    let rows = mask.rows
    try checkActivation(x, count: rows.count * width, out: out)
    try requireBuffer(rows.buffer, 3 * rows.count, .int32, "dropout rows")
    let top = (0..<rows.count).map(rows.localRow).max() ?? 0
    guard (0..<rows.count).allSatisfy({ rows.localRow($0) >= 0 }),
          UInt64(top + 1) * UInt64(width) <= DropoutKey.indexLimit else {
        throw BackendError.invalidArgument("dropout local rows outside 0...\(DropoutKey.indexLimit / UInt64(width) - 1)")
    }
}

/// Checks attention's dropout: one row a packed token, and heads·n² within an example's stream.
func checkAttentionDropout(_ mask: DropoutMask, sequences: PackedSequences, heads: Int) throws {
    try checkDropout(mask.key)
    guard mask.rows.count == sequences.tokens else {
        throw BackendError.invalidArgument("attention dropout over \(mask.rows.count) rows for \(sequences.tokens) tokens")
    }
    try requireBuffer(mask.rows.buffer, 3 * sequences.tokens, .int32, "attention dropout rows")
    let longest = (0..<sequences.count).map { sequences.offsets[$0 + 1] - sequences.offsets[$0] }.max() ?? 0
    guard UInt64(heads) * UInt64(longest) * UInt64(longest) <= DropoutKey.indexLimit else {
        throw BackendError.invalidArgument("attention dropout of \(heads) heads over \(longest) tokens passes one example's stream")
    }
}

/// Checks a `linearBackward` call; returns the layer's plain weight (a layer made for
/// inference has none, and cannot be trained).
func checkLinearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ w: any DeviceLinear, rows: Int,
                         activation: Activation, preActivation: (any DeviceBuffer)?, dInput: (any DeviceBuffer)?,
                         gradWeight: any DeviceBuffer, gradBias: (any DeviceBuffer)?) throws -> any DeviceBuffer {
    guard let weight = w.weight else {
        throw BackendError.invalidArgument("linearBackward of a linear layer made for inference (not trainable)")
    }
    let (n, k) = (w.outFeatures, w.inFeatures)
    try requirePositive([("rows", rows)])
    try requireBuffer(dOut, rows * n, .float32, "linearBackward dOut")
    try requireBuffer(x, rows * k, .float32, "linearBackward input")
    try requireBuffer(gradWeight, n * k, .float32, "linearBackward gradWeight")
    if let gradBias { try requireBuffer(gradBias, n, .float32, "linearBackward gradBias") }
    if let dInput {
        try requireBuffer(dInput, rows * k, .float32, "linearBackward dInput")
        guard dInput !== dOut, dInput !== x else {
            throw BackendError.invalidArgument("linearBackward cannot write dInput over dOut or the input")
        }
    }
    if activation != .none {
        guard let z = preActivation else {
            throw BackendError.invalidArgument("linearBackward through \(activation) needs the pre-activation")
        }
        try requireBuffer(z, rows * n, .float32, "linearBackward preActivation")
    }
    return weight
}

func checkLayerNormBackward(dOut: any DeviceBuffer, x: any DeviceBuffer, residual: (any DeviceBuffer)?,
                            stats: any DeviceBuffer, gamma: any DeviceBuffer, rows: Int, cols: Int,
                            dInput: any DeviceBuffer, gradGamma: any DeviceBuffer, gradBeta: any DeviceBuffer) throws {
    try requirePositive([("rows", rows), ("cols", cols)])
    for (buffer, count, what) in [(dOut, rows * cols, "dOut"), (x, rows * cols, "input"), (stats, 2 * rows, "stats"),
                                  (gamma, cols, "gamma"), (dInput, rows * cols, "dInput"),
                                  (gradGamma, cols, "gradGamma"), (gradBeta, cols, "gradBeta")] {
        try requireBuffer(buffer, count, .float32, "layerNormBackward \(what)")
    }
    if let residual { try requireBuffer(residual, rows * cols, .float32, "layerNormBackward residual") }
    guard dInput !== dOut, dInput !== x, dInput !== residual else {
        throw BackendError.invalidArgument("layerNormBackward cannot write dInput over its inputs")
    }
}

/// Checks a `layerNorm` call that keeps its statistics (`out` must not alias an input).
func checkLayerNormStats(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                         beta: any DeviceBuffer, rows: Int, cols: Int, out: any DeviceBuffer,
                         stats: any DeviceBuffer) throws {
    try checkLayerNorm(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, out: out)
    try requireBuffer(stats, 2 * rows, .float32, "layerNorm stats")
    guard out !== x, out !== residual else {
        throw BackendError.invalidArgument("layerNorm with stats cannot write over its input")
    }
}

/// Checks an `attention` call that keeps the log-sum-exp and may drop probabilities.
func checkAttentionForward(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                           out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutMask?) throws {
    try checkAttention(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out)
    try requireBuffer(lse, sequences.tokens * heads, .float32, "attention lse")
    if let dropout { try checkAttentionDropout(dropout, sequences: sequences, heads: heads) }
}

func checkAttentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                            dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                            dropout: DropoutMask?, dQKV: any DeviceBuffer) throws {
    try checkAttention(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out)
    if let dropout { try checkAttentionDropout(dropout, sequences: sequences, heads: heads) }
    let (t, d) = (sequences.tokens, heads * headDim)
    try requireBuffer(lse, t * heads, .float32, "attentionBackward lse")
    try requireBuffer(dOut, t * d, .float32, "attentionBackward dOut")
    try requireBuffer(dQKV, t * 3 * d, .float32, "attentionBackward dQKV")
    guard dQKV !== qkv, dQKV !== dOut, dQKV !== out else {
        throw BackendError.invalidArgument("attentionBackward cannot write dQKV over its inputs")
    }
}

func checkEmbeddingBackward(dOut: any DeviceBuffer, segments: EmbeddingSegments, dim: Int,
                            grad: any DeviceBuffer) throws {
    try requirePositive([("dim", dim)])
    let tokens = segments.hostOrder.count
    try requireBuffer(dOut, tokens * dim, .float32, "embeddingBackward dOut")
    if let top = segments.hostRows.last {   // rows ascend
        guard segments.hostRows.first! >= 0 else {
            throw BackendError.invalidArgument("embeddingBackward row \(segments.hostRows.first!) is negative")
        }
        try requireBuffer(grad, (Int(top) + 1) * dim, .float32, "embeddingBackward grad")
    }
}

/// Checks a `softmaxCrossEntropy` call and its host labels.
func checkCrossEntropy(logits: any DeviceBuffer, labels: [Int32], labelBuffer: any DeviceBuffer, classes: Int,
                       losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws {
    let rows = labels.count
    try requirePositive([("rows", rows), ("classes", classes)])
    try requireBuffer(logits, rows * classes, .float32, "softmaxCrossEntropy logits")
    try requireBuffer(labelBuffer, rows, .int32, "softmaxCrossEntropy labels")
    try requireBuffer(losses, rows, .float32, "softmaxCrossEntropy losses")
    try requireBuffer(dLogits, rows * classes, .float32, "softmaxCrossEntropy dLogits")
    for (r, label) in labels.enumerated() where !(-1..<Int32(classes)).contains(label) {
        throw BackendError.invalidArgument("label \(label) of row \(r) outside 0..<\(classes) (or -1: none)")
    }
}

/// Checks a `cosineDistance` call.
func checkCosineDistance(_ x: any DeviceBuffer, target: any DeviceBuffer, rows: Int, dim: Int, losses: any DeviceBuffer,
                         dX: any DeviceBuffer) throws {
    try requirePositive([("rows", rows), ("dim", dim)])
    for (buffer, count, what) in [(x, rows * dim, "input"), (target, rows * dim, "target"), (losses, rows, "losses"),
                                  (dX, rows * dim, "dX")] {
        try requireBuffer(buffer, count, .float32, "cosineDistance \(what)")
    }
}

/// Checks a `scatterAddRows` call and its host indices (in range, distinct).
func checkScatterAddRows(_ dOut: any DeviceBuffer, index: [Int32], indexBuffer: any DeviceBuffer, dim: Int,
                         dSource: any DeviceBuffer) throws {
    try requirePositive([("rows", index.count), ("dim", dim)])
    try requireBuffer(indexBuffer, index.count, .int32, "scatterAddRows index")
    try requireBuffer(dOut, index.count * dim, .float32, "scatterAddRows dOut")
    let sourceRows = dSource.count / dim
    var seen = Set<Int32>()
    for i in index {
        guard i >= 0, Int(i) < sourceRows else {
            throw BackendError.invalidArgument("scatterAddRows index \(i) outside 0..<\(sourceRows)")
        }
        guard seen.insert(i).inserted else {
            throw BackendError.invalidArgument("scatterAddRows index \(i) repeats (indices must be distinct)")
        }
    }
}

/// Checks a `softmaxKLDivergence` call.
func checkKLDivergence(logits: any DeviceBuffer, teacher: any DeviceBuffer, rows: Int, classes: Int, temperature: Float,
                       losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws {
    try requirePositive([("rows", rows), ("classes", classes)])
    guard temperature.isFinite, temperature > 0 else {
        throw BackendError.invalidArgument("softmaxKLDivergence temperature \(temperature) must be positive")
    }
    for (buffer, count, what) in [(logits, rows * classes, "logits"), (teacher, rows * classes, "teacher logits"),
                                  (losses, rows, "losses"), (dLogits, rows * classes, "dLogits")] {
        try requireBuffer(buffer, count, .float32, "softmaxKLDivergence \(what)")
    }
}
