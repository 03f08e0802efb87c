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
                        transposeB: Bool, batch: (Int, Int)) throws {
    try requirePositive([("m", m), ("n", n), ("k", k), ("batch.0", batch.0), ("batch.1", batch.1)])
    try requireBuffer(a.buffer, extent(a, rows: m, cols: k, batch: batch), .float32, "batchedMatmul A")
    try requireBuffer(b.buffer, transposeB ? extent(b, rows: n, cols: k, batch: batch)
                                           : extent(b, rows: k, cols: n, batch: batch), .float32, "batchedMatmul B")
    try requireBuffer(c.buffer, extent(c, rows: m, cols: n, batch: batch), .float32, "batchedMatmul C")
}
