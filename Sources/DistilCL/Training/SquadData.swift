import Foundation

// Extractive question-answering data: SQuAD JSON (v1.1, and v2.0 with `is_impossible`) or JSON
// Lines in the Hugging Face datasets layout. Positions count Python `str` characters (Unicode
// code points), as both formats do.

/// One reference answer: its text and where it starts in the context, in code points.
public struct SquadAnswer: Sendable, Equatable {
    public var text: String
    /// First code point of the answer in the context (`answer_start`).
    public var start: Int

    public init(text: String, start: Int) {
        self.text = text
        self.start = start
    }

    /// One past the answer's last code point: `start + len(text)` in Python.
    public var end: Int { start + text.unicodeScalars.count }
}

/// One question on one context.
public struct SquadExample: Sendable, Equatable {
    public var id: String
    public var question: String
    public var context: String
    /// Every reference answer, in the file's order: training labels the first (as `run_qa.py`),
    /// metrics take the best. Empty for an unanswerable question (v2.0).
    public var answers: [SquadAnswer]
    /// The 1-based line of a JSON Lines file; nil in SQuAD JSON, whose messages name the id.
    public var line: Int?

    public init(id: String, question: String, context: String, answers: [SquadAnswer], line: Int? = nil) {
        self.id = id
        self.question = question
        self.context = context
        self.answers = answers
        self.line = line
    }

    public var isAnswerable: Bool { !answers.isEmpty }

    /// A data error about this example in `path`: by line (JSON Lines) or by question id.
    public func error(_ path: String, _ why: String) -> LabeledDataError {
        if let line { return .badLine(path, line: line, why) }
        return .badEntry(path, at: "question \"\(id)\"", why)
    }
}

public enum SquadData {
    /// The two layouts `read` accepts.
    public enum Format: Sendable {
        /// `{"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text",
        /// "answer_start"}], "is_impossible"?}]}]}]}`.
        case squadJSON
        /// One `{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}`
        /// a line; empty lists: unanswerable.
        case jsonLines
    }

    /// Reads every question of `url`, in file order. The format is SQuAD JSON when the whole
    /// file is one JSON object with `data`, JSON Lines otherwise (unless `format` says).
    ///
    /// - Throws: `LabeledDataError` naming the file and the question id (SQuAD JSON) or the line
    ///   (JSON Lines): a missing or mistyped field, an empty question or context, an answer that
    ///   does not lie inside its context, `is_impossible` contradicting the answers, a repeated id.
    public static func read(_ url: URL, format: Format? = nil) throws -> [SquadExample] {
        let path = url.path
        let text = try contents(of: url)
        let whole = try? JSONSerialization.jsonObject(with: Data(text.utf8))
        let examples: [SquadExample]
        switch format {
        case .squadJSON?:
            guard let object = whole as? [String: Any] else {
                throw LabeledDataError.unreadable(path, "not a SQuAD JSON file (one JSON object with \"data\")")
            }
            examples = try squadJSON(object, path: path)
        case .jsonLines?: examples = try jsonLines(text, path: path)
        case nil:
            if let object = whole as? [String: Any], object["data"] != nil {
                examples = try squadJSON(object, path: path)
            } else {
                examples = try jsonLines(text, path: path)
            }
        }
        guard !examples.isEmpty else { throw LabeledDataError.empty(path) }
        var seen: [String: SquadExample] = [:]
        for e in examples {
            if let first = seen[e.id] {
                let there = first.line.map { "line \($0)" } ?? "an earlier question"
                throw e.error(path, "question id \"\(e.id)\" is used again (\(there) has it)")
            }
            seen[e.id] = e
        }
        return examples
    }

    // MARK: - SQuAD JSON

    private static func squadJSON(_ root: [String: Any], path: String) throws -> [SquadExample] {
        func bad(_ at: String, _ why: String) -> LabeledDataError { .badEntry(path, at: at, why) }
        guard let data = root["data"] as? [Any] else { throw bad("data", "must be a list of articles") }
        var examples: [SquadExample] = []
        for (a, article) in data.enumerated() {
            guard let paragraphs = (article as? [String: Any])?["paragraphs"] as? [Any] else {
                throw bad("data[\(a)]", "no \"paragraphs\" list")
            }
            for (p, paragraph) in paragraphs.enumerated() {
                let place = "data[\(a)].paragraphs[\(p)]"
                guard let paragraph = paragraph as? [String: Any] else { throw bad(place, "not a JSON object") }
                guard let context = paragraph["context"] as? String else { throw bad(place, "no \"context\" string") }
                guard let qas = paragraph["qas"] as? [Any] else { throw bad(place, "no \"qas\" list") }
                for (q, qa) in qas.enumerated() {
                    guard let qa = qa as? [String: Any] else { throw bad("\(place).qas[\(q)]", "not a JSON object") }
                    guard let id = qa["id"] as? String else { throw bad("\(place).qas[\(q)]", "no \"id\" string") }
                    let at = "question \"\(id)\""
                    guard let question = qa["question"] as? String else { throw bad(at, "no \"question\" string") }
                    guard let list = qa["answers"] as? [Any] else { throw bad(at, "no \"answers\" list") }
                    let answers = try list.enumerated().map { i, item -> SquadAnswer in
                        guard let item = item as? [String: Any], let text = item["text"] as? String else {
                            throw bad(at, "answers[\(i)] has no \"text\" string")
                        }
                        guard let start = integer(item["answer_start"]) else {
                            throw bad(at, "answers[\(i)].answer_start must be an integer ≥ 0")
                        }
                        return SquadAnswer(text: text, start: start)
                    }
                    var impossible = false
                    if let flag = qa["is_impossible"], !(flag is NSNull) {
                        guard let b = boolean(flag) else { throw bad(at, "\"is_impossible\" must be true or false") }
                        impossible = b
                    }
                    if impossible, !answers.isEmpty {
                        throw bad(at, "\"is_impossible\" is true but it has \(answers.count) answer(s)")
                    }
                    if qa["is_impossible"] != nil, !impossible, answers.isEmpty {
                        throw bad(at, "\"is_impossible\" is false but it has no answer")
                    }
                    let example = SquadExample(id: id, question: question, context: context, answers: answers)
                    try check(example, path: path)
                    examples.append(example)
                }
            }
        }
        return examples
    }

    // MARK: - JSON Lines

    private static func jsonLines(_ text: String, path: String) throws -> [SquadExample] {
        var examples: [SquadExample] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy(\.isWhitespace) { continue }
            let n = i + 1
            func bad(_ why: String) -> LabeledDataError { .badLine(path, line: n, why) }
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else {
                throw bad("not valid JSON (neither a SQuAD JSON file nor JSON Lines)")
            }
            guard let object = parsed as? [String: Any] else { throw bad("not a JSON object") }
            var id = String(n)
            if let given = object["id"], !(given is NSNull) {
                guard let s = given as? String else { throw bad("\"id\" must be a string") }
                id = s
            }
            guard let question = object["question"] as? String else { throw bad("no \"question\" string") }
            guard let context = object["context"] as? String else { throw bad("no \"context\" string") }
            guard let answers = object["answers"] as? [String: Any],
                  let texts = answers["text"] as? [Any], let starts = answers["answer_start"] as? [Any] else {
                throw bad("\"answers\" must be {\"text\": [...], \"answer_start\": [...]}")
            }
            guard texts.count == starts.count else {
                throw bad("\"answers\" has \(texts.count) texts but \(starts.count) answer_start values")
            }
            let list = try zip(texts, starts).enumerated().map { k, pair -> SquadAnswer in
                guard let text = pair.0 as? String else { throw bad("answers.text[\(k)] must be a string") }
                guard let start = integer(pair.1) else { throw bad("answers.answer_start[\(k)] must be an integer ≥ 0") }
                return SquadAnswer(text: text, start: start)
            }
            let example = SquadExample(id: id, question: question, context: context, answers: list, line: n)
            try check(example, path: path)
            examples.append(example)
        }
        return examples
    }

    // MARK: - Checks

    /// What features and metrics rely on: a question with more than whitespace, a context, and
    /// every answer a non-empty span inside the context (its text is not compared with the
    /// context: the official files hold a few answers that differ from their span).
    static func check(_ e: SquadExample, path: String) throws {
        guard e.question.unicodeScalars.contains(where: { !isPythonSpace($0) }) else {
            throw e.error(path, "the question is empty")
        }
        guard !e.context.isEmpty else { throw e.error(path, "the context is empty") }
        let length = e.context.unicodeScalars.count
        for (i, a) in e.answers.enumerated() {
            guard !a.text.isEmpty else { throw e.error(path, "answer \(i) has an empty text") }
            guard a.end <= length else {
                throw e.error(path, "answer \(i) (\"\(a.text)\" at \(a.start)) ends at character \(a.end), "
                              + "past the context's \(length)")
            }
        }
    }

    /// A JSON integer ≥ 0 (not a boolean, not a fraction).
    private static func integer(_ value: Any?) -> Int? {
        guard let n = value as? NSNumber, !isBoolean(n), n.doubleValue == n.doubleValue.rounded(),
              n.doubleValue >= 0, n.doubleValue < 1e15 else { return nil }
        return n.intValue
    }

    private static func boolean(_ value: Any) -> Bool? {
        guard let n = value as? NSNumber, isBoolean(n) else { return nil }
        return n.boolValue
    }

    /// JSON's `true`/`false` (`TaggedData.isJSONBool`).
    private static func isBoolean(_ n: NSNumber) -> Bool { TaggedData.isJSONBool(n) }

    /// The file as UTF-8 text.
    private static func contents(of url: URL) throws -> String { try LabeledData.text(of: url.path) }
}

/// Python's `str.isspace` for one code point: Unicode White_Space plus the information
/// separators U+001C…U+001F, which Python also counts (what `str.lstrip()` removes).
func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
    s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
}
