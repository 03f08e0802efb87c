import Foundation

/// A labelled text of a JSON Lines training or evaluation file:
/// `{"text": …, "label": …}` with an optional `"text_pair"`; the label is a name or an
/// integer class index (or, where the reader allows it, absent or null: distillation's
/// unlabelled text).
public struct LabeledExample: Sendable, Equatable {
    public enum Label: Sendable, Equatable, Hashable {
        case name(String)
        case index(Int)
    }

    public var text: String
    public var pair: String?
    public var label: Label?
    /// The 1-based line it came from (for messages).
    public var line: Int
}

/// Why a JSON Lines file of labelled texts was refused; every message names the file and line.
public enum LabeledDataError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case empty(String)
    case badLine(String, line: Int, String)
    case unknownLabel(String, line: Int, label: String, known: [String])
    case tooFewLabels(String, [String])
    /// An entry of a file without lines to name (SQuAD JSON): `at` is its question id, or its
    /// place (`data[0].paragraphs[2]`) when it has none.
    case badEntry(String, at: String, String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .empty(let path): return "\(path) has no examples"
        case .badLine(let path, let line, let why): return "\(path):\(line): \(why)"
        case .badEntry(let path, let at, let why): return "\(path): \(at): \(why)"
        case .unknownLabel(let path, let line, let label, let known):
            return "\(path):\(line): label \"\(label)\" is not one of \(known.joined(separator: ", ")) (set them with --labels)"
        case .tooFewLabels(let path, let names):
            return "\(path) has \(names.count) label\(names.count == 1 ? "" : "s") (\(names.joined(separator: ", "))): a classifier needs at least 2 (name them with --labels)"
        }
    }
}

public enum LabeledData {
    /// Reads every non-blank line of `url`; a line without a label (none, or null) is refused
    /// unless `labelsOptional`.
    public static func read(_ url: URL, labelsOptional: Bool = false) throws -> [LabeledExample] {
        let path = url.path
        let text = try text(of: path)
        var examples: [LabeledExample] = []
        // "\r\n" is one Character in Swift: split on it too, or a CRLF file reads as one line.
        for (i, raw) in TaggedData.lines(of: text).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy(\.isWhitespace) { continue }
            let object: [String: Any]
            do {
                guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw LabeledDataError.badLine(path, line: i + 1, "not a JSON object")
                }
                object = o
            } catch let e as LabeledDataError { throw e } catch {
                throw LabeledDataError.badLine(path, line: i + 1, "not valid JSON")
            }
            guard let text = object["text"] as? String else {
                throw LabeledDataError.badLine(path, line: i + 1, "no \"text\" string")
            }
            let label: LabeledExample.Label?
            switch object["label"] {
            case let name as String: label = .name(name)
            case let number as NSNumber where !TaggedData.isJSONBool(number)
                && number.doubleValue == number.doubleValue.rounded() && number.intValue >= 0:
                label = .index(number.intValue)
            case nil, is NSNull:
                guard labelsOptional else { throw LabeledDataError.badLine(path, line: i + 1, "no \"label\"") }
                label = nil
            default: throw LabeledDataError.badLine(path, line: i + 1, "\"label\" must be a name or a class index ≥ 0")
            }
            var pair: String?
            if let p = object["text_pair"], !(p is NSNull) {
                guard let s = p as? String else {
                    throw LabeledDataError.badLine(path, line: i + 1, "\"text_pair\" must be a string")
                }
                pair = s
            }
            examples.append(LabeledExample(text: text, pair: pair, label: label, line: i + 1))
        }
        guard !examples.isEmpty else { throw LabeledDataError.empty(path) }
        return examples
    }

    /// The UTF-8 text of a data file (training, evaluation, tagged or SQuAD), refused with the
    /// reason when missing, a folder, unreadable or not UTF-8.
    static func text(of path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LabeledDataError.unreadable(path, "no such file")
        }
        guard !isDirectory.boolValue else { throw LabeledDataError.unreadable(path, "it is a folder") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LabeledDataError.unreadable(path, "permission denied or I/O error")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LabeledDataError.unreadable(path, "not valid UTF-8")
        }
        return text
    }

    /// Where the label names are the file's own (sorted), the file gives its labels as names or
    /// as class indices, never both: mixed, the indices would silently index into the sorted
    /// names. Throws at the first line of the other kind than the first labelled line's.
    static func refuseMixedLabels(_ examples: [LabeledExample], path: String) throws {
        guard let first = examples.first(where: { $0.label != nil }), let firstLabel = first.label else { return }
        func isName(_ l: LabeledExample.Label) -> Bool { if case .name = l { return true } else { return false } }
        guard let other = examples.first(where: { $0.label.map { isName($0) != isName(firstLabel) } ?? false }),
              let label = other.label else { return }
        let (this, that) = isName(label) ? ("a name", "class indices") : ("a class index", "names")
        let shown: String
        switch label {
        case .name(let n): shown = "\"\(n)\""
        case .index(let i): shown = String(i)
        }
        throw LabeledDataError.badLine(path, line: other.line, """
            label \(shown) is \(this), but line \(first.line) gives \(that): a file gives labels as names or as \
            class indices, not both
            """)
    }

    /// The label names of a run: `given` (`--labels`), else the model's `id2label` when it has
    /// one, else the sorted names in `examples` (`LABEL_i` up to the largest index when the
    /// file only has indices). With names from the file, a file that also gives class indices is
    /// refused (`path` names it): they would index into names sorted here. Under `--labels` or
    /// `id2label` an index means that table's row, so names and indices may mix.
    public static func labelNames(given: [String]?, model: [String]?, examples: [LabeledExample],
                                  path: String) throws -> [String] {
        if let given { return given }
        if let model { return model }
        var names = Set<String>(), top = -1
        for e in examples {
            switch e.label {
            case .name(let n): names.insert(n)
            case .index(let i): top = max(top, i)
            case nil: break
            }
        }
        if names.isEmpty { return top < 0 ? [] : (0...max(top, 1)).map { "LABEL_\($0)" } }
        if top >= 0 { try refuseMixedLabels(examples, path: path) }
        return names.sorted()
    }

    /// The class index of every example under `labels` (−1 for one without a label).
    public static func classes(_ examples: [LabeledExample], labels: [String], path: String) throws -> [Int32] {
        let index = Dictionary(labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return try examples.map { e in
            switch e.label {
            case .name(let n):
                guard let i = index[n] else {
                    throw LabeledDataError.unknownLabel(path, line: e.line, label: n, known: labels)
                }
                return Int32(i)
            case .index(let i):
                guard i < labels.count else {
                    throw LabeledDataError.unknownLabel(path, line: e.line, label: String(i),
                                                        known: labels.indices.map(String.init))
                }
                return Int32(i)
            case nil: return -1
            }
        }
    }
}
