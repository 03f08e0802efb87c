import Foundation

/// A labelled text of a JSON Lines training or evaluation file:
/// `{"text": …, "label": …}` with an optional `"text_pair"`; the label is a name or an
/// integer class index, a number (regression), or a list of names or indices (multi-label);
/// or, where the reader allows it, absent or null: distillation's unlabelled text.
public struct LabeledExample: Sendable, Equatable {
    public enum Label: Sendable, Equatable, Hashable {
        case name(String)
        case index(Int)
        /// A number that is no class index (negative or fractional): regression's target.
        case value(Double)
        /// Multi-label classification's set, each a `.name` or an `.index`.
        case list([Label])
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
            case nil, is NSNull:
                guard labelsOptional else { throw LabeledDataError.badLine(path, line: i + 1, "no \"label\"") }
                label = nil
            case let items as [Any]:
                label = .list(try items.map {
                    guard let one = scalarLabel($0), one.isClass else {
                        throw LabeledDataError.badLine(path, line: i + 1, "a \"label\" list holds names or class indices ≥ 0")
                    }
                    return one
                })
            case let raw?:
                guard let one = scalarLabel(raw) else {
                    throw LabeledDataError.badLine(path, line: i + 1, "\"label\" must be a name, a class index ≥ 0, a number (regression) or a list (multi-label)")
                }
                label = one
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

    /// A name, a class index (a whole number ≥ 0) or another number; nil for anything else
    /// (JSON booleans included: Foundation reads them as numbers).
    private static func scalarLabel(_ raw: Any) -> LabeledExample.Label? {
        switch raw {
        case let name as String: return .name(name)
        case let number as NSNumber where !TaggedData.isJSONBool(number) && number.doubleValue.isFinite:
            let d = number.doubleValue
            return d == d.rounded() && d >= 0 && d < 1e9 ? .index(Int(d)) : .value(d)
        default: return nil
        }
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
        let all = examples.flatMap { e in e.classLabels.map { (e.line, $0) } }
        guard let (firstLine, firstLabel) = all.first else { return }
        guard let (line, label) = all.first(where: { $0.1.isName != firstLabel.isName }) else { return }
        let (this, that) = label.isName ? ("a name", "class indices") : ("a class index", "names")
        throw LabeledDataError.badLine(path, line: line, """
            label \(label.shown) is \(this), but line \(firstLine) gives \(that): a file gives labels as names or as \
            class indices, not both
            """)
    }

    /// The label names of a run: `given` (`--labels`), else the model's `id2label` when it has
    /// one, else the sorted names in `examples` (`LABEL_i` up to the largest index when the
    /// file only has indices; a multi-label file's names are those of every list). With names
    /// from the file, a file that also gives class indices is refused (`path` names it): they
    /// would index into names sorted here. Under `--labels` or `id2label` an index means that
    /// table's row, so names and indices may mix. Regression has one label: `LABEL_0` unless
    /// named.
    public static func labelNames(given: [String]?, model: [String]?, examples: [LabeledExample],
                                  path: String, problem: ProblemType = .singleLabel) throws -> [String] {
        if let given { return given }
        if let model { return model }
        if problem == .regression { return ["LABEL_0"] }
        var names = Set<String>(), top = -1
        for label in examples.flatMap(\.classLabels) {
            switch label {
            case .name(let n): names.insert(n)
            case .index(let i): top = max(top, i)
            case .value, .list: break
            }
        }
        if names.isEmpty { return top < 0 ? [] : (0...max(top, 1)).map { "LABEL_\($0)" } }
        if top >= 0 { try refuseMixedLabels(examples, path: path) }
        return names.sorted()
    }

    /// The class index of every example under `labels` (−1 for one without a label).
    public static func classes(_ examples: [LabeledExample], labels: [String], path: String) throws -> [Int32] {
        try examples.map { e in
            switch e.label {
            case .name, .index: return Int32(try classIndex(e.label!, labels: labels, path: path, line: e.line))
            case .value(let d):
                throw LabeledDataError.badLine(path, line: e.line, "label \(d) is a number, not a class: a regression model trains with --regression")
            case .list:
                throw LabeledDataError.badLine(path, line: e.line, "\"label\" is a list: a multi-label model trains with --multi-label")
            case nil: return -1
            }
        }
    }

    /// Regression's target of every example (nil for one without a label): its number.
    public static func regressionTargets(_ examples: [LabeledExample], path: String) throws -> [Float?] {
        try examples.map { e in
            switch e.label {
            case .index(let i): return Float(i)
            case .value(let d): return Float(d)
            case .name(let n):
                throw LabeledDataError.badLine(path, line: e.line, "label \"\(n)\" is a name: regression's labels are numbers")
            case .list:
                throw LabeledDataError.badLine(path, line: e.line, "\"label\" is a list: regression's labels are numbers (a list is for --multi-label)")
            case nil: return nil
            }
        }
    }

    /// Multi-label classification's target of every example (nil for one without a label):
    /// `[labels]`, 1 for each label of its list (a single name or index is a list of one), 0 for
    /// the others.
    public static func multiLabelTargets(_ examples: [LabeledExample], labels: [String],
                                         path: String) throws -> [[Float]?] {
        try examples.map { e in
            guard let label = e.label else { return nil }
            if case .value(let d) = label {
                throw LabeledDataError.badLine(path, line: e.line, "label \(d) is a number: multi-label labels are names or class indices")
            }
            var row = [Float](repeating: 0, count: labels.count)
            for one in e.classLabels { row[try classIndex(one, labels: labels, path: path, line: e.line)] = 1 }
            return row
        }
    }

    /// The row of `labels` a name or class index means (`unknownLabel` at `line` for a name
    /// not in `labels` or an index past its end).
    static func classIndex(_ label: LabeledExample.Label, labels: [String], path: String, line: Int) throws -> Int {
        switch label {
        case .name(let n):
            guard let i = labels.firstIndex(of: n) else {
                throw LabeledDataError.unknownLabel(path, line: line, label: n, known: labels)
            }
            return i
        case .index(let i):
            guard i < labels.count else {
                throw LabeledDataError.unknownLabel(path, line: line, label: String(i), known: labels.indices.map(String.init))
            }
            return i
        case .value, .list: preconditionFailure("classIndex of \(label)")
        }
    }
}

extension LabeledExample {
    /// The names and class indices its label gives: one, a list's, or none (no label, or a number).
    var classLabels: [Label] {
        switch label {
        case .name, .index: [label!]
        case .list(let items): items
        case .value, nil: []
        }
    }
}

extension LabeledExample.Label {
    var isClass: Bool { isName || { if case .index = self { true } else { false } }() }
    var isName: Bool { if case .name = self { true } else { false } }
    /// As a message shows it.
    var shown: String {
        switch self {
        case .name(let n): "\"\(n)\""
        case .index(let i): String(i)
        case .value(let d): String(d)
        case .list(let items): "[" + items.map(\.shown).joined(separator: ", ") + "]"
        }
    }
}
