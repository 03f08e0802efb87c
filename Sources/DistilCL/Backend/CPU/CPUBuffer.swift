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

/// A linear layer on the CPU path: the weight kept in Hugging Face's `[out, in]` layout,
/// which OpenBLAS reads transposed directly. The arrays are shared with the caller's (Swift
/// arrays are copy-on-write and neither side writes), so loading does not copy the weights again.
final class CPULinear: DeviceLinear, @unchecked Sendable {
    let outFeatures: Int
    let inFeatures: Int
    let weight: [Float]   // [out, in]
    let bias: [Float]?    // [out]

    init(weight: [Float], bias: [Float]?, outFeatures n: Int, inFeatures k: Int) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        guard weight.count == n * k else {
            throw BackendError.sizeMismatch("linear weight has \(weight.count) values, expected \(n)×\(k)")
        }
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        outFeatures = n
        inFeatures = k
        self.weight = weight
        self.bias = bias
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
