import Foundation

/// The data-parallel step's gradient sum, in buckets started while the backward pass is still
/// running (PyTorch DDP's): the parameters are walked in the order their gradients become
/// final (the head's, then each layer's from the last, then the embeddings'), gathered into
/// buckets of about `bucketBytes` (25 MB), and each bucket is copied into its own contiguous
/// host buffer and summed with a non-blocking `MPI_Iallreduce` as soon as the backward pass of
/// the process's last micro-batch has finished its layers, so the sum of the late layers
/// travels while the early ones are differentiated. `finish()` starts what is left (the
/// embeddings, or everything when the process had no micro-batch), waits, and writes the sums
/// back. On OpenCL each bucket is read back and written again; a GPU-aware MPI could sum the
/// device buffers in place and save both copies.
///
/// The word-embedding table (`[vocab, hidden]`, half of MiniLM's gradient bytes) travels apart,
/// at `finish()`: a step touches only the rows of the tokens its texts hold, and every other
/// row's gradient is zero on every process. The processes first sum a mask of the rows each
/// touched, then sum only the rows of the union, packed; the rows outside it stay zero, as a
/// dense sum would leave them. Where the union is more than half the table (the masked-LM
/// decoder, tied to the table, touches every row) the whole table is summed.
final class GradientReducer {
    private struct Bucket {
        /// Slots of `grads` and where each starts in `staging`.
        var slots: [Int] = []
        var offsets: [Int] = []
        var count = 0
        /// The bucket may start once `backwardEncoder` reports layer `readyAt` done (the head:
        /// the layer count; the embeddings: −1, at `finish()`).
        var readyAt = Int.max
        var staging = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    }

    private let grads: GradientTable
    private let group: any ProcessGroup
    private let backend: any ComputeBackend
    private var buckets: [Bucket]
    private let rows: SparseRows?
    /// Buckets started this step (always a prefix, so every process starts them in the same order).
    private var started = 0

    /// - Parameters:
    ///   - layers: the encoder's layer count (`readyAt` of the head's parameters).
    init(grads: GradientTable, layers: Int, group: any ProcessGroup, backend: any ComputeBackend,
         bucketBytes: Int = 25 << 20) {
        (self.grads, self.group, self.backend) = (grads, group, backend)
        let order = grads.parameters.indices.map { ($0, Self.readyAt(grads.parameters[$0].names[0], layers: layers)) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 > $1.0 }   // reverse layer order, and reverse within a layer
        let table = grads.parameters.indices.first {
            grads.parameters[$0].names[0].hasSuffix("word_embeddings.weight") && grads.parameters[$0].shape.count == 2
        }
        rows = table.flatMap { grads.frozen[$0] ? nil : SparseRows(slot: $0, shape: grads.parameters[$0].shape) }
        var list: [Bucket] = [], current = Bucket()
        // A frozen encoder's gradients (`--freeze-encoder`) are never used: they are not summed.
        for (slot, ready) in order where slot != table && !grads.frozen[slot] {
            current.slots.append(slot)
            current.offsets.append(current.count)
            current.count += grads.parameters[slot].count
            current.readyAt = min(current.readyAt, ready)
            if current.count * MemoryLayout<Float>.stride >= bucketBytes {
                list.append(current)
                current = Bucket()
            }
        }
        if !current.slots.isEmpty { list.append(current) }
        for i in list.indices { list[i].staging = .allocate(capacity: list[i].count) }
        buckets = list
    }

    deinit {
        for b in buckets { b.staging.deallocate() }
        rows?.deallocate()
    }

    /// How many buckets the gradients fall into (each one reduction per step), the word
    /// embeddings' rows aside.
    var bucketCount: Int { buckets.count }
    /// The word-embedding rows the last step summed (nil: no such table, or a frozen one; the
    /// table's row count: all of it).
    private(set) var rowsSummed: Int?

    /// When a parameter's gradient is final, from its transformers name: layer `N`'s after that
    /// layer's backward, the embeddings' (`…embeddings.…`) at the very end, the head's (pooler,
    /// classifier, QA outputs, masked-LM transform) before the encoder's backward starts.
    static func readyAt(_ name: String, layers: Int) -> Int {
        let parts = name.split(separator: ".")
        if let k = parts.firstIndex(of: "layer"), k > 0, parts[k - 1] == "encoder" || parts[k - 1] == "transformer",
           k + 1 < parts.count, let n = Int(parts[k + 1]) { return n }
        return parts.contains("embeddings") ? -1 : layers
    }

    /// `backwardEncoder`'s report: the gradients of the head and of layers `layer…` are final.
    /// Starts every bucket that is now complete, in order, and lets the earlier ones progress.
    func layerDone(_ layer: Int) throws {
        while started < buckets.count, buckets[started].readyAt >= layer { try start(started) }
        try group.poll()
    }

    /// Starts what is left, waits for every sum and writes the sums back into the gradients.
    func finish() throws {
        while started < buckets.count { try start(started) }
        var union: [Int] = [], host: [Float]?
        if let rows { (union, host) = try startRows(rows) }
        try group.waitAll()
        if let rows { try finishRows(rows, union: union, host: &host) }
        for b in buckets {
            for (slot, offset) in zip(b.slots, b.offsets) {
                let g = grads.gradients[slot], n = grads.parameters[slot].count
                if let cpu = g as? CPUBuffer {
                    cpu.floats.update(from: b.staging.baseAddress! + offset, count: n)
                } else {
                    try backend.upload(Array(b.staging[offset..<(offset + n)]), to: g)
                }
            }
        }
        started = 0
    }

    private func start(_ i: Int) throws {
        let b = buckets[i]
        for (slot, offset) in zip(b.slots, b.offsets) {
            let g = grads.gradients[slot], n = grads.parameters[slot].count
            if let cpu = g as? CPUBuffer {
                (b.staging.baseAddress! + offset).update(from: cpu.floats, count: n)
            } else {
                let host = try backend.download(g, count: n)
                _ = UnsafeMutableBufferPointer(rebasing: b.staging[offset..<(offset + n)]).initialize(from: host)
            }
        }
        try group.startAllReduceSum(b.staging)
        started = i + 1
    }

    /// Sums the mask of the table rows this process touched, then starts the sum of the
    /// union's rows, packed in `rows.staging`. Returns the union and, on a device, the host
    /// copy of the table's gradient.
    private func startRows(_ rows: SparseRows) throws -> ([Int], [Float]?) {
        let g = grads.gradients[rows.slot], count = rows.count * rows.width
        var host: [Float]? = nil
        if !(g is CPUBuffer) { host = try backend.download(g, count: count) }
        let union: [Int] = try withTable(g, host: &host) { table in
            for r in 0..<rows.count { rows.mask[r] = Self.isZero(table + r * rows.width, rows.width) ? 0 : 1 }
            try group.allReduceSum(rows.mask)
            var union = (0..<rows.count).filter { rows.mask[$0] > 0 }
            if union.count * 2 > rows.count { union = Array(0..<rows.count) }
            for (k, r) in union.enumerated() {
                (rows.staging.baseAddress! + k * rows.width).update(from: table + r * rows.width, count: rows.width)
            }
            return union
        }
        rowsSummed = union.count
        try group.startAllReduceSum(UnsafeMutableBufferPointer(rebasing: rows.staging[0..<(union.count * rows.width)]))
        return (union, host)
    }

    /// Writes the summed rows back into the table's gradient (the rest stay zero).
    private func finishRows(_ rows: SparseRows, union: [Int], host: inout [Float]?) throws {
        let g = grads.gradients[rows.slot]
        try withTable(g, host: &host) { table in
            for (k, r) in union.enumerated() {
                (table + r * rows.width).update(from: rows.staging.baseAddress! + k * rows.width, count: rows.width)
            }
        }
        if let host { try backend.upload(host, to: g) }
    }

    /// Runs `body` on the table's gradient in host memory: the CPU buffer itself, or `host`.
    private func withTable<T>(_ g: any DeviceBuffer, host: inout [Float]?,
                              _ body: (UnsafeMutablePointer<Float>) throws -> T) throws -> T {
        if let cpu = g as? CPUBuffer { return try body(cpu.floats) }
        return try host!.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }

    /// Whether `n` floats are all zero (either sign): a row no token of the step touched.
    private static func isZero(_ p: UnsafePointer<Float>, _ n: Int) -> Bool {
        var bits: UInt32 = 0
        p.withMemoryRebound(to: UInt32.self, capacity: n) { u in
            for i in 0..<n { bits |= u[i] << 1 }   // the sign bit shifted out
        }
        return bits == 0
    }
}

/// The word-embedding table's reduction buffers: a mask of `[rows]` and room for every row.
private struct SparseRows {
    let slot: Int
    let count: Int
    let width: Int
    let mask: UnsafeMutableBufferPointer<Float>
    let staging: UnsafeMutableBufferPointer<Float>

    init(slot: Int, shape: [Int]) {
        (self.slot, count, width) = (slot, shape[0], shape[1])
        mask = .allocate(capacity: count)
        staging = .allocate(capacity: count * width)
    }

    func deallocate() {
        mask.deallocate()
        staging.deallocate()
    }
}
