import Foundation

/// Reusable host memory for one operation's temporaries (the bf16 and int8 GEMMs' converted
/// inputs, scales and sums). Allocating those megabytes on every call cost page faults on every
/// call (4.5% of an int8 run's samples in the kernel); buffers here grow to the largest request
/// and are kept for the backend's life. Each call takes a buffer of its own from the pool, so
/// concurrent callers never share one.
final class ScratchPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [ScratchBuffer] = []   // guarded by lock

    /// Runs `body` with at least `bytes` of 64-byte-aligned memory, uninitialised.
    func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        let buffer = lock.withLock { idle.popLast() } ?? ScratchBuffer()
        defer { lock.withLock { idle.append(buffer) } }
        return try body(buffer.reserve(bytes))
    }
}

/// One growable block; only the caller holding it (taken from the pool) touches it.
private final class ScratchBuffer {
    private var pointer: UnsafeMutableRawPointer?
    private var capacity = 0

    func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if let pointer, bytes <= capacity { return pointer }
        pointer?.deallocate()
        capacity = max(bytes, capacity * 2, 1 << 16)
        let p = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        pointer = p
        return p
    }

    deinit { pointer?.deallocate() }
}

/// Carves typed, 64-byte-aligned arrays out of one scratch block, in order.
struct ScratchLayout {
    private(set) var bytes = 0
    private var offsets: [Int] = []

    /// Reserves `count` elements of `type`; returns its index for `pointer`.
    mutating func add<T>(_ type: T.Type, _ count: Int) -> Int {
        offsets.append(bytes)
        bytes += (max(count, 1) * MemoryLayout<T>.stride + 63) / 64 * 64
        return offsets.count - 1
    }

    /// The array `index` inside `base`.
    func pointer<T>(_ index: Int, in base: UnsafeMutableRawPointer, as type: T.Type) -> UnsafeMutablePointer<T> {
        (base + offsets[index]).bindMemory(to: T.self, capacity: 1)
    }
}
