import Foundation

// Token-classification data: sentences of words with one tag each, read from JSON Lines or CoNLL text, the
// tag names of a run, and the word-to-word-piece label alignment of transformers' `run_ner.py`.

/// One sentence of a token-classification file: its words and one tag per word.
public struct TaggedSentence: Sendable, Equatable {
    /// A tag: a name (`B-PER`) or a class index, as `LabeledExample.Label`.
    public typealias Tag = LabeledExample.Label

    public var words: [String]
    /// One per word.
    public var tags: [Tag]
    /// The 1-based line it starts on (for messages).
    public var line: Int

    public init(words: [String], tags: [Tag], line: Int) {
        self.words = words; self.tags = tags; self.line = line
    }
}

public enum TaggedData {
    /// The file layouts `read` understands.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per line: `{"tokens": [...], "tags": [...]}`; the tags as names or class
        /// indices, under `"tags"` or, as Hugging Face datasets name it, `"ner_tags"`.
        case jsonl
        /// One word per line, its tag in the last column: `token<TAB>tag`, or whitespace-separated
        /// columns such as CoNLL-2003's `token POS chunk tag` (with a tab the token is everything before
        /// the first tab, so it may hold spaces; without one, the first column). A blank or whitespace-only
        /// line (a lone tab) ends a sentence, and so does a `-DOCSTART-` line, which is skipped as
        /// Hugging Face's conll2003 loader skips it. Tags are names.
        case conll
    }

    // MARK: - Reading

    /// Reads every sentence of `url`.
    ///
    /// - Throws: `LabeledDataError` naming the file (and line): missing or unreadable, not UTF-8, no
    ///   sentences, not a JSON object, a token that is not a string, tokens and tags of different
    ///   lengths, a tag that is neither a name nor a class index ≥ 0, a CoNLL word line without a tag.
    public static func read(_ url: URL, format: Format) throws -> [TaggedSentence] {
        let path = url.path
        let text = try contents(of: path)
        let sentences = format == .jsonl ? try parseJSONLines(text, path: path) : try parseCoNLL(text, path: path)
        guard !sentences.isEmpty else { throw LabeledDataError.empty(path) }
        return sentences
    }

    /// The sentences of JSON Lines `text` (blank lines skipped); `path` only names the file in errors.
    public static func parseJSONLines(_ text: String, path: String) throws -> [TaggedSentence] {
        var sentences: [TaggedSentence] = []
        for (i, line) in lines(of: text).enumerated() {
            if line.allSatisfy(\.isWhitespace) { continue }
            func bad(_ why: String) -> LabeledDataError { .badLine(path, line: i + 1, why) }
            guard let data = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else { throw bad("not valid JSON") }
            guard let object = data as? [String: Any] else { throw bad("not a JSON object") }
            guard let tokens = object["tokens"] as? [Any] else { throw bad("no \"tokens\" array") }
            let key: String
            switch (object["tags"], object["ner_tags"]) {
            case (nil, nil): throw bad("no \"tags\" (or \"ner_tags\") array")
            case (.some, .some): throw bad("both \"tags\" and \"ner_tags\": give one")
            case (.some, nil): key = "tags"
            case (nil, .some): key = "ner_tags"
            }
            guard let tags = object[key] as? [Any] else { throw bad("\"\(key)\" must be an array") }
            guard !tokens.isEmpty else { throw bad("\"tokens\" is empty") }
            guard tokens.count == tags.count else {
                throw bad("\(tokens.count) token\(tokens.count == 1 ? "" : "s") but \(tags.count) tag\(tags.count == 1 ? "" : "s")")
            }
            var words: [String] = []
            for (k, token) in tokens.enumerated() {
                guard let word = token as? String else { throw bad("token \(k) is not a string") }
                words.append(word)
            }
            let parsed = try tags.enumerated().map { k, tag -> TaggedSentence.Tag in
                switch tag {
                case let name as String where !name.isEmpty: return .name(name)
                case let number as NSNumber where !isJSONBool(number)
                    && number.doubleValue == number.doubleValue.rounded() && number.intValue >= 0:
                    return .index(number.intValue)
                default: throw bad("tag \(k) must be a name or a class index ≥ 0")
                }
            }
            sentences.append(TaggedSentence(words: words, tags: parsed, line: i + 1))
        }
        return sentences
    }

    /// Whether JSONSerialization made `number` from `true` or `false`: a boolean NSNumber (`objCType`
    /// "c"), which on Linux also prints as 1 or 0 and casts to `Bool` like any 0 or 1.
    static func isJSONBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c" || ["true", "false"].contains(number.stringValue)
    }

    /// The sentences of CoNLL `text` (see `Format.conll`); `path` only names the file in errors.
    public static func parseCoNLL(_ text: String, path: String) throws -> [TaggedSentence] {
        var sentences: [TaggedSentence] = []
        var current = TaggedSentence(words: [], tags: [], line: 0)
        func finish() {
            if !current.words.isEmpty { sentences.append(current) }
            current = TaggedSentence(words: [], tags: [], line: 0)
        }
        for (i, line) in lines(of: text).enumerated() {
            if line.allSatisfy(\.isWhitespace) || line.hasPrefix("-DOCSTART-") { finish(); continue }
            let word: Substring, rest: Substring
            if let tab = line.firstIndex(of: "\t") {
                word = line[..<tab]
                rest = line[line.index(after: tab)...]
            } else {
                let start = line.drop(while: \.isWhitespace)
                let end = start.firstIndex(where: \.isWhitespace) ?? start.endIndex
                word = start[..<end]
                rest = start[end...]
            }
            guard let tag = rest.split(whereSeparator: \.isWhitespace).last else {
                throw LabeledDataError.badLine(path, line: i + 1, "a word without a tag (expected token<TAB>tag)")
            }
            guard !word.allSatisfy(\.isWhitespace) else {
                throw LabeledDataError.badLine(path, line: i + 1, "a tag without a word (the line starts with a tab)")
            }
            if current.words.isEmpty { current.line = i + 1 }
            current.words.append(String(word))
            current.tags.append(.name(String(tag)))
        }
        finish()
        return sentences
    }

    /// The lines of `text`, split at LF and CRLF only (a JSON string may hold U+2028 or a form feed).
    /// `"\r\n"` is one `Character`, so splitting at `"\n"` alone would leave CRLF lines joined.
    static func lines(of text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    /// The text of `path`, refused when missing, a folder, unreadable or not UTF-8.
    private static func contents(of path: String) throws -> String { try LabeledData.text(of: path) }

    // MARK: - Tag names

    /// The tag names of a run: `given`, else the model's `id2label`, else, as run_ner's `get_label_list`,
    /// the sorted unique names in `sentences` (`LABEL_0`… up to the largest index when the file has
    /// only indices). With names from the file, a file that also gives indices is refused: they would
    /// index into names sorted here.
    public static func tagNames(given: [String]?, model: [String]?, sentences: [TaggedSentence],
                                path: String) throws -> [String] {
        if let given { return given }
        if let model { return model }
        var names = Set<String>(), top = -1
        var firstName: Int?, firstIndex: Int?
        for s in sentences {
            for tag in s.tags {
                switch tag {
                case .name(let n): names.insert(n); firstName = firstName ?? s.line
                case .index(let i): top = max(top, i); firstIndex = firstIndex ?? s.line
                case .value, .list: break   // the tag reader gives names and indices alone
                }
            }
        }
        if names.isEmpty { return top < 0 ? [] : (0...max(top, 1)).map { "LABEL_\($0)" } }
        if let firstName, let firstIndex {
            let (line, this, that, other) = firstName < firstIndex ? (firstIndex, "class indices", "names", firstName)
                                                                   : (firstName, "names", "class indices", firstIndex)
            throw LabeledDataError.badLine(path, line: line, """
                tags given as \(this), but line \(other) gives \(that): a file gives tags as names or as class \
                indices, not both
                """)
        }
        return names.sorted()
    }

    /// Every word's class index under `names`.
    ///
    /// - Throws: `LabeledDataError.unknownLabel` (at the sentence's line) for a name not in `names` or an
    ///   index past its end.
    public static func classes(_ sentences: [TaggedSentence], names: [String], path: String) throws -> [[Int]] {
        try sentences.map { s in try s.tags.map { try LabeledData.classIndex($0, labels: names, path: path, line: s.line) } }
    }

    // MARK: - Alignment with word pieces

    /// run_ner's `b_to_i_label`: for each tag, the index of its `I-` twin when it is a `B-` tag that has
    /// one (`B-` replaced by `I-` everywhere in the name, the first such name), else its own index.
    public static func bToILabel(_ names: [String]) -> [Int] {
        names.enumerated().map { i, name in
            guard name.hasPrefix("B-") else { return i }
            return names.firstIndex(of: name.replacingOccurrences(of: "B-", with: "I-")) ?? i
        }
    }

    /// One label per token of an encoding, as run_ner's `tokenize_and_align_labels` (−1 where it writes
    /// −100): a special token (`wordIds` nil) −1; the first piece of each word the word's class; a later
    /// piece of the same word −1, or with `labelAllTokens` (run_ner's `--label_all_tokens`, pass
    /// `bToILabel(names)`) the word's class mapped through it, so a `B-X` word's later pieces get `I-X`.
    ///
    /// - Parameters:
    ///   - wordIds: `Encoding.wordIds`, `[seq]`, the index of each token's word.
    ///   - wordTags: each word's class index; a negative one (no tag) gives −1 to all its pieces.
    /// - Returns: `[seq]` labels.
    public static func alignLabels(wordIds: [Int?], wordTags: [Int], labelAllTokens bToI: [Int]? = nil) -> [Int] {
        var labels: [Int] = []
        labels.reserveCapacity(wordIds.count)
        var previous: Int?
        for wordId in wordIds {
            defer { previous = wordId }
            guard let w = wordId, w >= 0, w < wordTags.count, wordTags[w] >= 0 else { labels.append(-1); continue }
            let tag = wordTags[w]
            if w != previous {
                labels.append(tag)
            } else if let bToI {
                labels.append(tag < bToI.count ? bToI[tag] : tag)
            } else {
                labels.append(-1)
            }
        }
        return labels
    }
}
