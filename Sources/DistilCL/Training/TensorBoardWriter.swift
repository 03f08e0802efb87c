import Foundation

/// Writes TensorBoard event files (`--report-to tensorboard`) with no dependency: the few
/// protobuf fields of `tensorflow.Event` and `Summary` encoded by hand, framed as TFRecords.
///
///     record:  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
///     Event:   1 wall_time (double)  2 step (int64)  3 file_version (string)  5 summary (Summary)
///     Summary: 1 value (repeated Value);  Value: 1 tag (string)  2 simple_value (float)
///
/// The first event names the format (`brain.Event:2`); each later one holds scalars under
/// tags such as `train/loss` or `eval/accuracy`, as transformers' TensorBoardCallback writes
/// them. The file is `folder/events.out.tfevents.<seconds>.<host>.<pid>.<n>` (TensorFlow's
/// names; n is the first number not taken, so two writers never share a file), opened for each write, so
/// that `RunFolder`'s swaps (which move `runs/` into the new `--out`) never strand it.
final class TensorBoardWriter {
    let file: URL

    /// Creates `folder` and a new event file in it with the version event.
    init(folder: URL, now: Date = Date()) throws {
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        let stem = "events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(host).\(getpid())"
        var n = 0
        while FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(stem).\(n)").path) { n += 1 }
        file = folder.appendingPathComponent("\(stem).\(n)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw TrainingError.outputWrite("cannot create \(file.path)")
            }
        } catch let e as TrainingError { throw e } catch {
            throw TrainingError.outputWrite("cannot write TensorBoard events in \(folder.path): \(error.localizedDescription)")
        }
        var event = Protobuf()
        event.double(1, now.timeIntervalSince1970)
        event.string(3, "brain.Event:2")
        try append(Self.record(event.bytes))
    }

    /// Appends one event at `step` holding `scalars` (tag, value) as float `simple_value`s.
    func write(step: Int, scalars: [(String, Double)], now: Date = Date()) throws {
        var summary = Protobuf()
        for (tag, value) in scalars {
            var v = Protobuf()
            v.string(1, tag)
            v.float(2, Float(value))
            summary.message(1, v)
        }
        var event = Protobuf()
        event.double(1, now.timeIntervalSince1970)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, summary)
        try append(Self.record(event.bytes))
    }

    private func append(_ data: [UInt8]) throws {
        do {
            let handle = try FileHandle(forWritingTo: file)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(data))
        } catch {
            throw TrainingError.outputWrite("cannot append to \(file.path): \(error.localizedDescription)")
        }
    }

    /// `data` framed as a TFRecord.
    static func record(_ data: [UInt8]) -> [UInt8] {
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        return length + le32(CRC32C.masked(length)) + data + le32(CRC32C.masked(data))
    }

    private static func le32(_ x: UInt32) -> [UInt8] { withUnsafeBytes(of: x.littleEndian, Array.init) }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord checks its frames.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked form: rotated right by 15 bits plus a constant.
    static func masked(_ bytes: [UInt8]) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

/// The protobuf wire format, the four field kinds an event needs.
struct Protobuf {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, wire: 0)
        raw(value)
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, wire: 1)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, wire: 5)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    mutating func string(_ field: Int, _ value: String) { delimited(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ value: Protobuf) { delimited(field, value.bytes) }

    private mutating func delimited(_ field: Int, _ data: [UInt8]) {
        key(field, wire: 2)
        raw(UInt64(data.count))
        bytes += data
    }

    private mutating func key(_ field: Int, wire: UInt64) { raw(UInt64(field) << 3 | wire) }

    private mutating func raw(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}
