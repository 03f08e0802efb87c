// MARK: - Argument checks shared by every backend

/// Throws unless `buffer` holds at least `needed` elements of `type`.
func requireBuffer(_ buffer: any DeviceBuffer, _ needed: Int, _ type: ElementType = .float32,
                   _ what: @autoclosure () -> String) throws {
    if buffer.elementType != type {
        throw BackendError.invalidArgument("\(what()) must hold \(type) elements")
    }
    if buffer.count < needed {
        throw BackendError.sizeMismatch("\(what()) holds \(buffer.count) elements, needs \(needed)")
    }
}

/// Throws unless every value is positive.
func requirePositive(_ values: [(String, Int)]) throws {
    for (name, v) in values where v <= 0 {
        throw BackendError.invalidArgument("\(name) must be positive, got \(v)")
    }
}

/// The element count a batched matrix view spans: its last element's index + 1.
func extent(_ v: MatrixView, rows: Int, cols: Int, batch: (Int, Int)) -> Int {
    v.offset + (batch.0 - 1) * v.stride1 + (batch.1 - 1) * v.stride2 + (rows - 1) * v.ld + cols
}

/// Checks a `batchedMatmul` call's views against their buffers.
func checkBatchedMatmul(a: MatrixView, b: MatrixView, c: MatrixView, m: Int, n: Int, k: Int,
                        transposeA: Bool, transposeB: Bool, batch: (Int, Int)) throws {
    try requirePositive([("m", m), ("n", n), ("k", k), ("batch.0", batch.0), ("batch.1", batch.1)])
    try requireBuffer(a.buffer, transposeA ? extent(a, rows: k, cols: m, batch: batch)
                                           : extent(a, rows: m, cols: k, batch: batch), .float32, "batchedMatmul A")
    try requireBuffer(b.buffer, transposeB ? extent(b, rows: n, cols: k, batch: batch)
                                           : extent(b, rows: k, cols: n, batch: batch), .float32, "batchedMatmul B")
    try requireBuffer(c.buffer, extent(c, rows: m, cols: n, batch: batch), .float32, "batchedMatmul C")
}

// MARK: - One check per operation, shared by every backend

func checkLinear(_ x: any DeviceBuffer, _ w: any DeviceLinear, rows: Int, out: any DeviceBuffer) throws {
    try requirePositive([("rows", rows)])
    try requireBuffer(x, rows * w.inFeatures, .float32, "linear input")
    try requireBuffer(out, rows * w.outFeatures, .float32, "linear output")
    guard x !== out else { throw BackendError.invalidArgument("linear cannot write its output over its input") }
}

func checkLayerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                    beta: any DeviceBuffer, rows: Int, cols: Int, out: any DeviceBuffer) throws {
    try requirePositive([("rows", rows), ("cols", cols)])
    try requireBuffer(x, rows * cols, .float32, "layerNorm input")
    if let residual { try requireBuffer(residual, rows * cols, .float32, "layerNorm residual") }
    try requireBuffer(gamma, cols, .float32, "layerNorm gamma")
    try requireBuffer(beta, cols, .float32, "layerNorm beta")
    try requireBuffer(out, rows * cols, .float32, "layerNorm output")
}

func checkActivation(_ x: any DeviceBuffer, count: Int, out: any DeviceBuffer) throws {
    try requireBuffer(x, count, .float32, "activation input")
    try requireBuffer(out, count, .float32, "activation output")
}

func checkEmbed(ids: any DeviceBuffer, positions: any DeviceBuffer, typeIds: (any DeviceBuffer)?,
                tokenType: (any DeviceBuffer)?, tokens: Int, dim: Int, out: any DeviceBuffer) throws {
    try requirePositive([("tokens", tokens), ("dim", dim)])
    try requireBuffer(ids, tokens, .int32, "embed ids")
    try requireBuffer(positions, tokens, .int32, "embed positions")
    try requireBuffer(out, tokens * dim, .float32, "embed output")
    if (typeIds == nil) != (tokenType == nil) {
        throw BackendError.invalidArgument("embed needs both typeIds and tokenType, or neither")
    }
    if let typeIds { try requireBuffer(typeIds, tokens, .int32, "embed typeIds") }
}

/// `src` must hold at least one row; the indices themselves live on the device (the CPU path
/// checks each, OpenCL's kernel clamps them into `src`).
func checkGatherRows(_ src: any DeviceBuffer, index: any DeviceBuffer, rows: Int, dim: Int, out: any DeviceBuffer) throws {
    try requirePositive([("rows", rows), ("dim", dim)])
    try requireBuffer(src, dim, .float32, "gatherRows source")
    try requireBuffer(index, rows, .int32, "gatherRows index")
    try requireBuffer(out, rows * dim, .float32, "gatherRows output")
}

func checkPacked(_ sequences: PackedSequences, _ what: String) throws {
    let o = sequences.offsets
    guard o.count >= 2, o[0] == 0, zip(o, o.dropFirst()).allSatisfy({ $0 <= $1 }) else {
        throw BackendError.invalidArgument("\(what): offsets must start at 0 and not decrease, got \(o.prefix(8))")
    }
    try requireBuffer(sequences.ranges, 2 * sequences.tokens, .int32, "\(what) ranges")
    try requireBuffer(sequences.deviceOffsets, o.count, .int32, "\(what) offsets")
}

func checkMeanPool(_ hidden: any DeviceBuffer, sequences: PackedSequences, dim: Int, out: any DeviceBuffer) throws {
    try requirePositive([("dim", dim)])
    try checkPacked(sequences, "meanPool")
    try requireBuffer(hidden, sequences.tokens * dim, .float32, "meanPool hidden")
    try requireBuffer(out, sequences.count * dim, .float32, "meanPool output")
}

func checkAttention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                    out: any DeviceBuffer) throws {
    try requirePositive([("heads", heads), ("headDim", headDim)])
    try checkPacked(sequences, "attention")
    try requireBuffer(qkv, sequences.tokens * 3 * heads * headDim, .float32, "attention qkv")
    try requireBuffer(out, sequences.tokens * heads * headDim, .float32, "attention output")
}
