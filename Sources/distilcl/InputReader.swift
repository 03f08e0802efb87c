import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One text input (with an optional second segment) and the input line it came from.
struct TextInput: Sendable {
    var line: Int
    var text: String
    var pair: String?
}

/// One question-answering input.
struct QAInput: Sendable {
    var line: Int
    var question: String
    var context: String
}

/// Reads the input (`--input FILE` or stdin) as bytes, splits it into lines, decodes each line
/// with UTF-8 validation and, with `--jsonl`, parses each as a JSON object.
///
/// A bad line is an error with its 1-based line number (`CLIError.input`, exit status 4), or,
/// with `--skip-invalid`, is counted in `skipped` and left out.
struct InputReader {
    let io: IOOptions
    /// Lines left out under `--skip-invalid`: line number and why.
    private(set) var skipped: [(line: Int, reason: String)] = []

    init(_ io: IOOptions) { self.io = io }

    /// `stdin` or the file name, for messages.
    var sourceName: String { io.input ?? "stdin" }

    // MARK: Lines

    /// Every line of the input, decoded, with its line number; invalid UTF-8 handled as above.
    mutating func lines() throws -> [(line: Int, text: String)] {
        let shard = try io.shard.map { try Shard(parsing: $0) }
        let bytes = try readAll()
        var result: [(line: Int, text: String)] = []
        var start = bytes.startIndex
        var number = 0
        while start < bytes.endIndex {
            let newline = bytes[start...].firstIndex(of: 0x0A)
            var end = newline ?? bytes.endIndex
            number += 1
            let next = newline.map { $0 + 1 } ?? bytes.endIndex
            if let shard, !shard.contains(line: number) {   // another shard's line: not even decoded
                start = next
                continue
            }
            if end > start, bytes[end - 1] == 0x0D { end -= 1 }
            var lineStart = start
            // A UTF-8 byte order mark at the very start of the input is not text.
            if number == 1, end - lineStart >= 3, bytes[lineStart] == 0xEF, bytes[lineStart + 1] == 0xBB,
               bytes[lineStart + 2] == 0xBF {
                lineStart += 3
            }
            let slice = bytes[lineStart..<end]
            switch decodeUTF8(slice) {
            case .success(let text): result.append((number, text))
            case .failure(let offset):
                try reject(line: number, "invalid UTF-8 at byte \(offset + 1) of the line")
            }
            start = next
        }
        return result
    }

    /// Plain texts, or with `--jsonl` objects with `text` and, when `allowPair`, `text_pair`.
    mutating func texts(allowPair: Bool, command: String) throws -> [TextInput] {
        let all = try lines()
        guard io.jsonl else { return all.map { TextInput(line: $0.line, text: $0.text, pair: nil) } }
        var inputs: [TextInput] = []
        inputs.reserveCapacity(all.count)
        for (line, text) in all {
            guard let object = try jsonObject(text, line: line) else { continue }
            let text: String
            switch object["text"] ?? .null {
            case .string(let s): text = s
            case .null: try reject(line: line, "missing field \"text\""); continue
            case .other: try reject(line: line, "field \"text\" must be a string"); continue
            }
            var pair: String?
            switch object["text_pair"] ?? .null {
            case .null: break
            case .string(let p):
                guard allowPair else {
                    try reject(line: line, "\(command) does not take \"text_pair\""); continue
                }
                pair = p
            case .other: try reject(line: line, "field \"text_pair\" must be a string"); continue
            }
            inputs.append(TextInput(line: line, text: text, pair: pair))
        }
        return inputs
    }

    /// JSON objects with string fields `question` and `context` (always JSON Lines).
    mutating func questions() throws -> [QAInput] {
        var inputs: [QAInput] = []
        for (line, text) in try lines() {
            guard let object = try jsonObject(text, line: line) else { continue }
            var fields: [String] = []
            var bad = false
            for key in ["question", "context"] {
                switch object[key] ?? .null {
                case .string(let s): fields.append(s)
                case .null: try reject(line: line, "missing field \"\(key)\""); bad = true
                case .other: try reject(line: line, "field \"\(key)\" must be a string"); bad = true
                }
                if bad { break }
            }
            if !bad { inputs.append(QAInput(line: line, question: fields[0], context: fields[1])) }
        }
        return inputs
    }

    /// Keeps the inputs `problem` finds nothing wrong with; the others are bad input lines
    /// (status 4, or skipped and counted under `--skip-invalid`).
    mutating func checked<T>(_ inputs: [T], line: (T) -> Int, problem: (T) -> String?) throws -> [T] {
        var kept: [T] = []
        kept.reserveCapacity(inputs.count)
        for input in inputs {
            if let reason = problem(input) { try reject(line: line(input), reason) } else { kept.append(input) }
        }
        if skipped.count > 1 { skipped.sort { $0.line < $1.line } }
        return kept
    }

    /// Prints the `--skip-invalid` summary on stderr, if any line was skipped.
    func reportSkipped() {
        guard !skipped.isEmpty else { return }
        let shown = skipped.prefix(5).map { "line \($0.line): \($0.reason)" }.joined(separator: "; ")
        let more = skipped.count > 5 ? "; …" : ""
        warn("skipped \(skipped.count) invalid input line\(skipped.count == 1 ? "" : "s") of \(sourceName) (\(shown)\(more))")
    }

    // MARK: Helpers

    /// The parsed object of a JSON line, or nil when the line was rejected (and skipped).
    /// (JSONDecoder, not JSONSerialization: the latter drops a U+FEFF that starts a string.)
    private mutating func jsonObject(_ text: String, line: Int) throws -> [String: JSONField]? {
        if text.allSatisfy({ $0 == " " || $0 == "\t" }) {
            try reject(line: line, "empty line (--jsonl expects one JSON object a line)")
            return nil
        }
        do {
            return try JSONDecoder().decode(JSONLineObject.self, from: Data(text.utf8)).fields
        } catch DecodingError.typeMismatch {
            try reject(line: line, "expected a JSON object")
        } catch {
            try reject(line: line, "not valid JSON")
        }
        return nil
    }

    private mutating func reject(line: Int, _ reason: String) throws {
        guard io.skipInvalid else {
            throw CLIError.input("\(sourceName) line \(line): \(reason) (--skip-invalid skips such lines)")
        }
        skipped.append((line, reason))
    }

    private func readAll() throws -> [UInt8] {
        guard let path = io.input else {
            if isatty(0) == 1 {
                writeStderr("reading inputs from the terminal, one a line; end with Ctrl-D (or pass --input FILE)\n")
            }
            return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError.input("input file '\(path)' not found")
        }
        guard !isDirectory.boolValue else { throw CLIError.input("input '\(path)' is a folder, not a file") }
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw CLIError.input("cannot read input file '\(path)': \(error.localizedDescription)")
        }
    }
}

enum UTF8Result {
    case success(String)
    /// Offset of the first byte that is not part of valid UTF-8.
    case failure(Int)
}

/// Decodes `bytes` as strict UTF-8 (no overlong forms, surrogates or truncated sequences).
func decodeUTF8(_ bytes: ArraySlice<UInt8>) -> UTF8Result {
    if let text = String(validating: bytes, as: UTF8.self) { return .success(text) }
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar): offset += UTF8.width(scalar)
        case .emptyInput: return .failure(offset)
        case .error: return .failure(offset)
        }
    }
}

/// A JSON value as the input reader needs it: a string, null (or absent), or anything else.
enum JSONField: Decodable {
    case string(String)
    case null
    case other

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else { self = .other }
    }
}

/// One JSON Lines object: its fields, whatever their names.
struct JSONLineObject: Decodable {
    var fields: [String: JSONField] = [:]

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            fields[key.stringValue] = try container.decode(JSONField.self, forKey: key)
        }
    }
}
