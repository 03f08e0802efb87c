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
    /// Buckets started this step (always a prefix, so every process starts them in the same order).
    private var started = 0

    /// - Parameters:
    ///   - layers: the encoder's layer count (`readyAt` of the head's parameters).
    init(grads: GradientTable, layers: Int, group: any ProcessGroup, backend: any ComputeBackend,
         bucketBytes: Int = 25 << 20) {
        (self.grads, self.group, self.backend) = (grads, group, backend)
        let order = grads.parameters.indices.map { ($0, Self.readyAt(grads.parameters[$0].names[0], layers: layers)) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 > $1.0 }   // reverse layer order, and reverse within a layer
        var list: [Bucket] = [], current = Bucket()
        for (slot, ready) in order {
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

    deinit { for b in buckets { b.staging.deallocate() } }

    /// How many buckets the gradients fall into (each one reduction per step).
    var bucketCount: Int { buckets.count }

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
        try group.waitAll()
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
}
