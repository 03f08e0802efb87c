import CCPUKernels
import Foundation

/// Host memory standing in for a device buffer: 64-byte aligned, `count` 4-byte elements.
///
/// Sendable: the pointer is fixed for the buffer's life; callers do not run two operations
/// on one buffer at once (the same contract as a device queue), hence `@unchecked`.
final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    let count: Int
    let elementType: ElementType
    let raw: UnsafeMutableRawPointer

    init(count: Int, type: ElementType) {
        self.count = count
        elementType = type
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: UInt32.self, repeating: 0, count: max(count, 1))
    }

    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    var ints: UnsafeMutablePointer<Int32> { raw.assumingMemoryBound(to: Int32.self) }

    deinit { raw.deallocate() }
}

/// A linear layer on the CPU path, its weight in Hugging Face's `[out, in]` layout (which the
/// matmul reads transposed) at the backend's precision. At fp32 the array is shared with the
/// caller's (Swift arrays are copy-on-write and neither side writes), so loading does not copy
/// the weights again.
final class CPULinear: DeviceLinear, @unchecked Sendable {
    /// The weight at one precision.
    enum Weight {
        /// `[out, in]` float32.
        case fp32([Float])
        /// `[out, in]` bfloat16 bit patterns.
        case bf16([UInt16])
        /// `[out, in]` int8, `scale[out]` per output channel (w ≈ scale·q) and `sum[out]` = Σ q
        /// per row, which the epilogue subtracts the activations' zero point with.
        case int8(q: [Int8], scale: [Float], sum: [Int32])
    }

    let outFeatures: Int
    let inFeatures: Int
    let weight: Weight
    let bias: [Float]?    // [out]

    init(weight: [Float], bias: [Float]?, outFeatures n: Int, inFeatures k: Int, precision: Precision = .fp32) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        guard weight.count == n * k else {
            throw BackendError.sizeMismatch("linear weight has \(weight.count) values, expected \(n)×\(k)")
        }
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        outFeatures = n
        inFeatures = k
        self.bias = bias
        switch precision {
        case .fp32:
            self.weight = .fp32(weight)
        case .bf16:
            self.weight = .bf16(weight.withUnsafeBufferPointer { w in
                [UInt16](unsafeUninitializedCapacity: n * k) { out, count in
                    dcl_to_bf16(w.baseAddress!, out.baseAddress!, n * k)
                    count = n * k
                }
            })
        case .int8:
            var scale = [Float](repeating: 1, count: n), sum = [Int32](repeating: 0, count: n)
            let q = weight.withUnsafeBufferPointer { w in
                [Int8](unsafeUninitializedCapacity: n * k) { out, count in
                    for r in 0..<n {
                        sum[r] = dcl_quantize_weight_row(w.baseAddress! + r * k, k, out.baseAddress! + r * k, &scale[r])
                    }
                    count = n * k
                }
            }
            self.weight = .int8(q: q, scale: scale, sum: sum)
        }
    }
}

/// Runs `body` over `0..<count` split into contiguous chunks on all cores, when the work is
/// big enough to pay for the threads (`cost` is a rough operation count).
func parallelChunks(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    if cores <= 1 || cost < 1 << 16 || count < 2 {
        body(0..<count)
        return
    }
    let chunks = min(count, cores * 4)
    withoutActuallyEscaping(body) { body in
        // The chunks are disjoint and concurrentPerform returns only when all are done.
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { work(lo..<hi) }
        }
    }
}

/// Runs `body` for each of `count` items, taken one at a time by every core (for items of
/// uneven cost), when the work is big enough to pay for the threads.
func parallelItems(_ count: Int, cost: Int, _ body: (Int) -> Void) {
    if ProcessInfo.processInfo.activeProcessorCount <= 1 || cost < 1 << 16 || count < 2 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let work = body
        DispatchQueue.concurrentPerform(iterations: count) { work($0) }
    }
}
