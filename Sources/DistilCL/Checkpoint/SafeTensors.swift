import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - DType

/// The element types a safetensors file may hold that this loader keeps.
///
/// Floating-point tensors are widened to `Float` by `SafeTensorsFile.floats(_:)`; the integer
/// types are only kept for buffers such as `embeddings.position_ids` (I64, `[1, maxPos]`).
/// Any other safetensors dtype (F64, F8_E4M3, U8, BOOL, …) is reported as `unsupportedDType`.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i64 = "I64"
    case i32 = "I32"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        }
    }

    /// Whether `floats(_:)` can read it.
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16: return true
        case .i64, .i32: return false
        }
    }
}

// MARK: - Entry

/// One tensor of a safetensors header, validated against the file it came from.
public struct SafeTensorsEntry: Sendable, Equatable {
    /// The key exactly as spelled in the file.
    public let name: String
    public let dtype: SafeTensorsDType
    /// Row-major shape; `[]` is a scalar.
    public let shape: [Int]
    /// Byte range inside the data section (the bytes after the header), as in `data_offsets`.
    public let dataRange: Range<Int>

    /// Number of elements, `product(shape)`.
    public var elementCount: Int { shape.reduce(1, *) }
}

// MARK: - File

/// A read-only, memory-mapped safetensors file.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping tensor names
/// to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an ignored `__metadata__`), then the
/// data section that the offsets index. Every entry is checked when the file is opened (offsets in
/// bounds, byte size equal to `product(shape) × dtype size`, no overlaps, known dtype), so the
/// accessors never read outside the mapping.
///
/// `@unchecked Sendable` invariant: the mapping is created once with `PROT_READ`/`MAP_PRIVATE`,
/// never written, and unmapped only in `deinit`, when no reference (and so no `SafeTensorView`) is
/// left; all other stored properties are immutable. Concurrent reads are therefore safe. (As with any
/// `mmap`, truncating the file on disk while it is mapped makes later reads fault.)
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest header accepted, as in the reference implementation (100 MB).
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// The path the file was opened with; every error names it.
    public let path: String
    /// Tensors by name as spelled in the file.
    public let entries: [String: SafeTensorsEntry]
    /// `__metadata__` string values (informational only).
    public let metadata: [String: String]
    /// Size of the whole file in bytes.
    public let fileSize: Int

    private let base: UnsafeRawPointer
    private let dataStart: Int

    /// Opens and validates `url`. Throws `CheckpointError` naming the file (and the tensor) at fault.
    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Opens and validates the file at `path`. Throws `CheckpointError` naming the file (and the tensor) at fault.
    public init(path: String) throws {
        let (pointer, size) = try Self.map(path: path)
        let header: ParsedHeader
        do {
            header = try Self.parse(UnsafeRawBufferPointer(start: pointer, count: size), path: path)
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: pointer), size)
            throw error
        }
        self.path = path
        self.base = pointer
        self.fileSize = size
        self.dataStart = header.dataStart
        self.entries = header.entries
        self.metadata = header.metadata
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), fileSize)
    }

    // MARK: - Lookup

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Whether the file holds a tensor named `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The validated header entry for `name`; throws `tensorNotFound`.
    public func entry(_ name: String) throws -> SafeTensorsEntry {
        guard let entry = entries[name] else { throw CheckpointError.tensorNotFound(file: path, tensor: name) }
        return entry
    }

    /// The shape of `name`; throws `tensorNotFound`.
    public func shape(_ name: String) throws -> [Int] { try entry(name).shape }

    /// A zero-copy view of `name` that keeps this file mapped while it lives.
    public func view(_ name: String) throws -> SafeTensorView {
        SafeTensorView(file: self, entry: try entry(name))
    }

    // MARK: - Reading

    /// Calls `body` with the raw little-endian bytes of `name` (valid only inside `body`).
    public func withUnsafeBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try body(bytes(of: try entry(name)))
    }

    /// The elements of `name` as `Float`, row-major: F32 copied, F16 and BF16 widened exactly.
    /// Throws `tensorNotFound`, or `wrongDType` for integer tensors.
    public func floats(_ name: String) throws -> [Float] {
        try floats(of: try entry(name))
    }

    /// The elements of an I64 or I32 tensor as `Int64`, row-major. Throws `wrongDType` for float tensors.
    public func int64s(_ name: String) throws -> [Int64] {
        let entry = try entry(name)
        let raw = bytes(of: entry)
        let count = entry.elementCount
        switch entry.dtype {
        case .i64:
            return (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32:
            return (0..<count).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        case .f32, .f16, .bf16:
            throw CheckpointError.wrongDType(file: path, tensor: name, dtype: entry.dtype.rawValue, expected: "I64 or I32")
        }
    }

    func floats(of entry: SafeTensorsEntry) throws -> [Float] {
        let raw = bytes(of: entry)
        let count = entry.elementCount
        switch entry.dtype {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                #else
                for i in 0..<count {
                    buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                }
                #endif
                initialized = count
            }
        case .f16:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = Self.widenFloat16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
                initialized = count
            }
        case .bf16:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = Self.widenBFloat16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
                initialized = count
            }
        case .i64, .i32:
            throw CheckpointError.wrongDType(file: path, tensor: entry.name, dtype: entry.dtype.rawValue, expected: "F32, F16 or BF16")
        }
    }

    /// The bytes of a validated entry; in bounds by construction.
    func bytes(of entry: SafeTensorsEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataStart + entry.dataRange.lowerBound, count: entry.dataRange.count)
    }

    /// IEEE half → float, exact (every F16 value is a float32 value).
    @inline(__always)
    public static func widenFloat16(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// bfloat16 → float, exact: bfloat16 is the top 16 bits of a float32.
    @inline(__always)
    public static func widenBFloat16(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    // MARK: - Opening

    private static func map(path: String) throws -> (UnsafeRawPointer, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw CheckpointError.fileNotFound(file: path) }
            throw CheckpointError.unreadable(file: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size >= 8 else { throw CheckpointError.truncatedFile(file: path, size: size) }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              pointer != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw CheckpointError.unreadable(file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        return (UnsafeRawPointer(pointer), size)
    }

    // MARK: - Header validation

    private struct ParsedHeader {
        var dataStart: Int
        var entries: [String: SafeTensorsEntry]
        var metadata: [String: String]
    }

    private static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(file.count - 8), headerLength <= maxHeaderLength else {
            throw CheckpointError.headerTooLarge(file: path, headerLength: headerLength, fileSize: file.count)
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.count - dataStart
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(file[8..<dataStart]), options: [])
        } catch {
            throw CheckpointError.invalidHeader(file: path, reason: "not valid JSON (\(headerLength) bytes)")
        }
        guard let object = json as? [String: Any] else {
            throw CheckpointError.invalidHeader(file: path, reason: "not a JSON object")
        }

        var entries: [String: SafeTensorsEntry] = [:]
        var metadata: [String: String] = [:]
        for name in object.keys.sorted() {
            guard let value = object[name] else { continue }
            if name == "__metadata__" {
                for (key, item) in value as? [String: Any] ?? [:] {
                    if let text = item as? String { metadata[key] = text }
                }
                continue
            }
            entries[name] = try parseEntry(name: name, value: value, dataSize: dataSize, path: path)
        }
        try checkOverlaps(entries.values, path: path)
        return ParsedHeader(dataStart: dataStart, entries: entries, metadata: metadata)
    }

    private static func parseEntry(name: String, value: Any, dataSize: Int, path: String) throws -> SafeTensorsEntry {
        func invalid(_ reason: String) -> CheckpointError {
            .invalidTensorEntry(file: path, tensor: name, reason: reason)
        }
        guard let fields = value as? [String: Any] else { throw invalid("not a JSON object") }
        guard let dtypeName = fields["dtype"] as? String else { throw invalid("missing or non-string 'dtype'") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw CheckpointError.unsupportedDType(file: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValues = fields["shape"] as? [Any] else { throw invalid("missing or non-array 'shape'") }
        var shape: [Int] = []
        for item in shapeValues {
            guard let dim = item as? Int, dim >= 0 else { throw invalid("shape \(shapeValues) has a dimension that is not a non-negative integer") }
            shape.append(dim)
        }
        guard let offsets = fields["data_offsets"] as? [Any], offsets.count == 2 else {
            throw invalid("missing 'data_offsets' or not a [begin, end] pair")
        }
        guard let begin = offsets[0] as? Int, let end = offsets[1] as? Int else {
            throw invalid("data_offsets \(offsets) are not integers")
        }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw CheckpointError.offsetsOutOfBounds(file: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        var expected = dtype.byteSize
        for dim in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw invalid("shape \(shape) is too large") }
            expected = product
        }
        guard expected == end - begin else {
            throw CheckpointError.byteSizeMismatch(file: path, tensor: name, shape: shape, dtype: dtypeName,
                                                   expected: expected, actual: end - begin)
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    /// Sorted by start, each non-empty range must begin at or after the furthest end seen so far.
    private static func checkOverlaps(_ entries: some Collection<SafeTensorsEntry>, path: String) throws {
        let ranges = entries.filter { !$0.dataRange.isEmpty }.sorted {
            ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name)
        }
        var furthest: SafeTensorsEntry?
        for entry in ranges {
            if let previous = furthest, entry.dataRange.lowerBound < previous.dataRange.upperBound {
                throw CheckpointError.overlappingTensors(file: path, first: previous.name, second: entry.name)
            }
            if furthest.map({ entry.dataRange.upperBound > $0.dataRange.upperBound }) ?? true { furthest = entry }
        }
    }
}

// MARK: - View

/// A tensor inside a mapped `SafeTensorsFile`, read without copying. Holding a view keeps the file mapped.
public struct SafeTensorView: Sendable {
    public let file: SafeTensorsFile
    public let entry: SafeTensorsEntry

    public var name: String { entry.name }
    public var dtype: SafeTensorsDType { entry.dtype }
    public var shape: [Int] { entry.shape }
    public var byteCount: Int { entry.dataRange.count }

    /// Calls `body` with the raw little-endian bytes (valid only inside `body`).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(file.bytes(of: entry))
    }

    /// The elements widened to `Float` (see `SafeTensorsFile.floats(_:)`).
    public func floats() throws -> [Float] { try file.floats(of: entry) }
}
