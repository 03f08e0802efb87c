import CCPUKernels
import COneDNN
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

/// A linear layer on the CPU path: the weight converted to the backend's precision and
/// reordered into the blocked layout oneDNN's matmul reads fastest (so no call copies it
/// again), the float32 bias, and when trainable the plain float32 weight `[out, in]` training
/// updates, from which `refresh` rebuilds the packed one.
final class CPULinear: DeviceLinear, @unchecked Sendable {
    let outFeatures: Int
    let inFeatures: Int
    let precision: Precision
    /// int8 only: the input goes through the GEMM as two uint8 terms (`dcl_quantize_row_u8x2`).
    let twoTermInput: Bool
    let plainWeight: CPUBuffer?     // [out, in], trainable layers only
    let plainBias: CPUBuffer?       // [out]
    var weight: (any DeviceBuffer)? { plainWeight }
    var bias: (any DeviceBuffer)? { plainWeight == nil ? nil : plainBias }
    /// The packed weight (`dcl_pack_weights`), owned: freed in deinit and when `pack` replaces it.
    private(set) var packed: UnsafeMutableRawPointer
    /// int8 only: `scale[out]` per output channel (w ≈ scale·q) and `sum[out]` = Σ q per row,
    /// with which the epilogue subtracts the activations' zero point.
    private(set) var scale: [Float] = []
    private(set) var sum: [Int32] = []

    init(weight: [Float], bias: [Float]?, outFeatures n: Int, inFeatures k: Int, precision: Precision = .fp32,
         twoTermInput: Bool = false, trainable: Bool = false) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        guard weight.count == n * k else {
            throw BackendError.sizeMismatch("linear weight has \(weight.count) values, expected \(n)×\(k)")
        }
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        outFeatures = n
        inFeatures = k
        self.precision = precision
        self.twoTermInput = twoTermInput && precision == .int8
        let plain = CPUBuffer(count: n * k, type: .float32)
        weight.withUnsafeBufferPointer { plain.floats.update(from: $0.baseAddress!, count: n * k) }
        plainWeight = trainable ? plain : nil
        plainBias = bias.map { b in
            let buffer = CPUBuffer(count: n, type: .float32)
            b.withUnsafeBufferPointer { buffer.floats.update(from: $0.baseAddress!, count: n) }
            return buffer
        }
        var (scale, sum) = ([Float](), [Int32]())
        packed = try Self.pack(plain.floats, n, k, precision, &scale, &sum)
        self.scale = scale
        self.sum = sum
    }

    /// A float32 trainable layer over `plain`, which it shares (a decoder tied to the word
    /// embeddings, `TrainingBackend.tiedLinear`).
    init(sharing plain: CPUBuffer, bias: [Float]?, outFeatures n: Int, inFeatures k: Int) throws {
        try requirePositive([("outFeatures", n), ("inFeatures", k)])
        if let bias, bias.count != n {
            throw BackendError.sizeMismatch("linear bias has \(bias.count) values, expected \(n)")
        }
        (outFeatures, inFeatures, precision, twoTermInput) = (n, k, .fp32, false)
        plainWeight = plain
        plainBias = bias.map { b in
            let buffer = CPUBuffer(count: n, type: .float32)
            b.withUnsafeBufferPointer { buffer.floats.update(from: $0.baseAddress!, count: n) }
            return buffer
        }
        packed = try packWeights(.fp32, n, k, plain.floats)
    }

    /// Rebuilds the packed weight from `plainWeight` (after an optimiser step).
    func repack() throws {
        guard let plainWeight else { throw BackendError.invalidArgument("refresh of a linear layer made for inference") }
        let fresh = try Self.pack(plainWeight.floats, outFeatures, inFeatures, precision, &scale, &sum)
        free(packed)
        packed = fresh
    }

    private static func pack(_ w: UnsafePointer<Float>, _ n: Int, _ k: Int, _ precision: Precision,
                             _ scale: inout [Float], _ sum: inout [Int32]) throws -> UnsafeMutableRawPointer {
        switch precision {
        case .fp32:
            return try packWeights(precision, n, k, w)
        case .bf16:
            let plain = UnsafeMutablePointer<UInt16>.allocate(capacity: n * k)
            defer { plain.deallocate() }
            dcl_to_bf16(w, plain, n * k)
            return try packWeights(precision, n, k, plain)
        case .int8:
            let plain = UnsafeMutablePointer<Int8>.allocate(capacity: n * k)
            defer { plain.deallocate() }
            var s = [Float](repeating: 1, count: n)
            sum = (0..<n).map { r in dcl_quantize_weight_row(w + r * k, k, plain + r * k, &s[r]) }
            scale = s
            return try packWeights(precision, n, k, plain)
        }
    }

    deinit { free(packed) }
}

/// `dcl_pack_weights` for a plain `[n, k]` weight at `precision`.
private func packWeights(_ precision: Precision, _ n: Int, _ k: Int, _ plain: UnsafeRawPointer) throws -> UnsafeMutableRawPointer {
    var message = [CChar](repeating: 0, count: 512)
    var bytes = 0
    guard let packed = dcl_pack_weights(precision.matmulType, n, k, plain, &bytes, &message, 512) else {
        throw BackendError.kernelFailure(string(message))
    }
    return packed
}

/// Runs `body` over `0..<count` split into contiguous chunks on all cores, when the work is
/// big enough to pay for the threads (`cost` is a rough operation count).
func parallelChunks(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
    let threads = Int(dcl_threads())
    if threads <= 1 || cost < 1 << 16 || count < 2 {
        body(0..<count)
        return
    }
    let chunks = min(count, threads * 4)
    parallelItems(chunks, cost: cost) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

/// Runs `body` for each of `count` items, taken one at a time by every core (for items of
/// uneven cost), when the work is big enough to pay for the threads. The threads are oneDNN's
/// OpenMP team (`dcl_parallel`), so the GEMMs and these loops never compete for the cores.
func parallelItems(_ count: Int, cost: Int, _ body: (Int) -> Void) {
    if dcl_threads() <= 1 || cost < 1 << 16 || count < 2 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        // The box lives until dcl_parallel returns, after every item has run.
        let box = Unmanaged.passRetained(TaskBox(body))
        defer { box.release() }
        dcl_parallel(count, { context, index in
            Unmanaged<TaskBox>.fromOpaque(context!).takeUnretainedValue().body(index)
        }, box.toOpaque())
    }
}

/// A parallel loop's body behind the C function pointer `dcl_parallel` calls. Items are
/// disjoint by the callers' contract, hence `@unchecked Sendable`.
private final class TaskBox: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
