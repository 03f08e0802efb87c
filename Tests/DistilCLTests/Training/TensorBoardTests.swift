@testable import DistilCL
import Foundation
import Testing

/// `--report-to tensorboard`: event files read back by a reader written here from the
/// TFRecord and protobuf specifications, checking both CRCs of every record.
@Suite("TensorBoard event files")
struct TensorBoardTests {
    /// CRC-32C bit by bit (Castagnoli, reflected 0x82F63B78), masked as TFRecord masks it.
    static func maskedCRC(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (c & 1 == 1 ? 0x82F6_3B78 : 0) }
        }
        c ^= 0xFFFF_FFFF
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }

    struct Event {
        var wallTime = 0.0
        var step: Int64 = 0
        var fileVersion: String?
        var scalars: [String: Float] = [:]
    }

    /// Every record of `data`, its CRCs checked, decoded as an Event.
    static func read(_ data: [UInt8]) -> [Event] {
        var events: [Event] = [], i = 0
        func le<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            data[at..<(at + MemoryLayout<T>.size)].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        while i < data.count {
            let length = Int(le(i, UInt64.self))
            #expect(le(i + 8, UInt32.self) == maskedCRC(data[i..<(i + 8)]), "length CRC at \(i)")
            let body = Array(data[(i + 12)..<(i + 12 + length)])
            #expect(le(i + 12 + length, UInt32.self) == maskedCRC(body), "data CRC at \(i)")
            events.append(decode(body))
            i += 12 + length + 4
        }
        #expect(i == data.count)
        return events
    }

    /// (field, wire type, varint or fixed value, bytes) of each field of a message.
    static func fields(_ m: [UInt8]) -> [(Int, Int, UInt64, [UInt8])] {
        var out: [(Int, Int, UInt64, [UInt8])] = [], i = 0
        func varint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = m[i]; i += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        while i < m.count {
            let key = varint(), field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: out.append((field, 0, varint(), []))
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                out.append((field, wire, m[i..<(i + n)].reversed().reduce(0) { $0 << 8 | UInt64($1) }, []))
                i += n
            default:
                let n = Int(varint())
                out.append((field, 2, 0, Array(m[i..<(i + n)])))
                i += n
            }
        }
        return out
    }

    static func decode(_ body: [UInt8]) -> Event {
        var e = Event()
        for (field, _, value, bytes) in fields(body) {
            switch field {
            case 1: e.wallTime = Double(bitPattern: value)
            case 2: e.step = Int64(bitPattern: value)
            case 3: e.fileVersion = String(decoding: bytes, as: UTF8.self)
            case 5:
                for (_, _, _, v) in fields(bytes) {
                    var tag = "", x = Float.nan
                    for (f, _, value, bytes) in fields(v) {
                        if f == 1 { tag = String(decoding: bytes, as: UTF8.self) }
                        if f == 2 { x = Float(bitPattern: UInt32(value)) }
                    }
                    e.scalars[tag] = x
                }
            default: break
            }
        }
        return e
    }

    @Test("two writers started in the same second in one folder write two files")
    func namesNeverCollide() throws {
        let folder = try TemporaryFolder()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let a = try TensorBoardWriter(folder: folder.url, now: now), b = try TensorBoardWriter(folder: folder.url, now: now)
        #expect(a.file != b.file)
        #expect(a.file.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."), "\(a.file.lastPathComponent)")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(names.count == 2 && names.allSatisfy { (try? Data(contentsOf: folder.url.appendingPathComponent($0)))?.isEmpty == false })
    }

    @Test("CRC-32C of the standard check string")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.masked(Array("123456789".utf8)) == Self.maskedCRC(Array("123456789".utf8)))
    }

    @Test("a run writes the version event, then the logged scalars and evaluations, under OUT/runs")
    func run() throws {
        let folder = try TemporaryFolder()
        let train = try TrainerTests.data(folder)
        var o = TrainerTests.options
        (o.epochs, o.loggingSteps, o.reportTo) = (2, 2, .tensorboard)
        let t = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: train, eval: train, labels: nil,
                            output: folder.file("out"), backend: CPUBackend(), options: o, resume: false)
        let reports = try t.run()
        let runs = folder.file("out/runs")
        let files = try FileManager.default.contentsOfDirectory(atPath: runs.path)
        #expect(files.count == 1 && files[0].hasPrefix("events.out.tfevents."), "\(files)")
        let events = Self.read(Array(try Data(contentsOf: runs.appendingPathComponent(files[0]))))
        #expect(events.first?.fileVersion == "brain.Event:2")
        let lines = TrainingLoopTests.stepLines(t)
        let train_ = events.filter { $0.scalars["train/loss"] != nil }
        #expect(train_.map(\.step) == lines.map { Int64($0.step) } && train_.map(\.step) == [2, 4, 6, 8, 10])
        for (e, l) in zip(train_, lines) {
            #expect(e.scalars["train/loss"] == Float(l.loss) && e.scalars["train/grad_norm"] == Float(l.gradNorm))
            #expect(e.scalars["train/learning_rate"] == Float(l.learningRate) && e.scalars["train/epoch"] == Float(l.epoch))
            #expect(e.wallTime > 1_000_000_000)
        }
        let evals = events.filter { $0.scalars["eval/accuracy"] != nil }
        #expect(evals.map(\.step) == [5, 10])
        #expect(evals.map { $0.scalars["eval/accuracy"]! } == reports.map { Float($0.evalAccuracy!) })
        #expect(evals.map { $0.scalars["eval/loss"]! } == reports.map { Float($0.evalLoss!) })
    }
}
