@testable import DistilCL
import Foundation
import Testing

/// Token-classification data: JSON Lines and CoNLL reading, its refusals, tag names, run_ner's label
/// alignment, and `encode(words:)` against `BertTokenizerFast(is_split_into_words=True)` (words-golden.json).
@Suite("Tagged data (token classification)")
struct TaggedDataTests {
    /// Writes `text` to a fresh temporary file named `name` and returns its URL.
    static func file(_ text: String, _ name: String = "data.jsonl") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distilcl-tagged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    static func refusal(_ text: String, _ format: TaggedData.Format) throws -> String {
        let url = try file(text)
        do {
            _ = try TaggedData.read(url, format: format)
        } catch let e as LabeledDataError {
            return e.description.replacingOccurrences(of: url.path, with: "F")
        }
        Issue.record("accepted: \(text.debugDescription)")
        return ""
    }

    // MARK: Reading

    @Test("JSON Lines: names, ids, ner_tags, blank and CRLF lines")
    func jsonLines() throws {
        let url = try Self.file("""
            {"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}\r

            {"tokens": ["x\u{2028}y"], "ner_tags": [3]}
            """)
        let s = try TaggedData.read(url, format: .jsonl)
        #expect(s == [TaggedSentence(words: ["John", "lives", "in", "Paris"],
                                     tags: [.name("B-PER"), .name("O"), .name("O"), .name("B-LOC")], line: 1),
                      TaggedSentence(words: ["x\u{2028}y"], tags: [.index(3)], line: 3)])
    }

    @Test("CoNLL: tab and whitespace columns (the last is the tag), tab-only and blank separators, -DOCSTART-")
    func conll() throws {
        let url = try Self.file("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\t\n"
                                + "New York\tB-LOC\n@user\tO\r\n\n\n", "data.conll")
        let s = try TaggedData.read(url, format: .conll)
        #expect(s == [TaggedSentence(words: ["EU", "rejects"], tags: [.name("B-ORG"), .name("O")], line: 3),
                      TaggedSentence(words: ["New York", "@user"], tags: [.name("B-LOC"), .name("O")], line: 6)])
    }

    @Test("refusals name the file and line")
    func refusals() throws {
        let cases: [(String, TaggedData.Format, String)] = [
            ("{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}", .jsonl, "F:1: 2 tokens but 1 tag"),
            ("\n{\"tokens\": [\"a\", 3], \"tags\": [\"O\", \"O\"]}", .jsonl, "F:2: token 1 is not a string"),
            ("{\"tokens\": [\"a\"], \"tags\": [true]}", .jsonl, "F:1: tag 0 must be a name or a class index ≥ 0"),
            ("{\"tokens\": [\"a\"], \"tags\": [-1]}", .jsonl, "F:1: tag 0 must be a name or a class index ≥ 0"),
            ("{\"tokens\": [\"a\"]}", .jsonl, "F:1: no \"tags\" (or \"ner_tags\") array"),
            ("{\"tokens\": [\"a\"], \"tags\": [\"O\"], \"ner_tags\": [0]}", .jsonl, "F:1: both \"tags\" and \"ner_tags\": give one"),
            ("{\"tokens\": [], \"tags\": []}", .jsonl, "F:1: \"tokens\" is empty"),
            ("[1]", .jsonl, "F:1: not a JSON object"),
            ("{oops", .jsonl, "F:1: not valid JSON"),
            ("\n  \n", .jsonl, "F has no examples"),
            ("", .conll, "F has no examples"),
            ("a\tO\nlonely\n", .conll, "F:2: a word without a tag (expected token<TAB>tag)"),
            ("a\tO\n\tB-PER\n", .conll, "F:2: a tag without a word (the line starts with a tab)"),
        ]
        for (text, format, want) in cases {
            #expect(try Self.refusal(text, format) == want, "\(text.debugDescription)")
        }
        let url = try Self.file("")
        try Data([0x7B, 0xFF, 0xFE]).write(to: url)
        #expect(throws: LabeledDataError.unreadable(url.path, "not valid UTF-8")) { try TaggedData.read(url, format: .jsonl) }
        let missing = url.deletingLastPathComponent().appendingPathComponent("none.jsonl")
        #expect(throws: LabeledDataError.unreadable(missing.path, "no such file")) { try TaggedData.read(missing, format: .conll) }
    }

    // MARK: Tag names and classes

    @Test("tag names: sorted as run_ner's get_label_list, given or the model's first, mixed refused")
    func tagNames() throws {
        let named = [TaggedSentence(words: ["a", "b"], tags: [.name("O"), .name("B-PER")], line: 1),
                     TaggedSentence(words: ["c"], tags: [.name("I-PER")], line: 2)]
        #expect(try TaggedData.tagNames(given: nil, model: nil, sentences: named, path: "F") == ["B-PER", "I-PER", "O"])
        #expect(try TaggedData.tagNames(given: ["O", "B-PER", "I-PER"], model: ["x"], sentences: named, path: "F")
                == ["O", "B-PER", "I-PER"])
        #expect(try TaggedData.tagNames(given: nil, model: ["O", "B-PER", "I-PER"], sentences: named, path: "F")
                == ["O", "B-PER", "I-PER"])
        let ids = [TaggedSentence(words: ["a"], tags: [.index(2)], line: 1)]
        #expect(try TaggedData.tagNames(given: nil, model: nil, sentences: ids, path: "F") == ["LABEL_0", "LABEL_1", "LABEL_2"])
        let mixed = named + [TaggedSentence(words: ["d"], tags: [.index(0)], line: 5)]
        #expect(throws: LabeledDataError.badLine("F", line: 5, "tags given as class indices, but line 1 gives names: "
                                                  + "a file gives tags as names or as class indices, not both")) {
            try TaggedData.tagNames(given: nil, model: nil, sentences: mixed, path: "F")
        }
        #expect(try TaggedData.classes(named, names: ["B-PER", "I-PER", "O"], path: "F") == [[2, 0], [1]])
        #expect(throws: LabeledDataError.unknownLabel("F", line: 2, label: "I-PER", known: ["B-PER", "O"])) {
            try TaggedData.classes(named, names: ["B-PER", "O"], path: "F")
        }
        #expect(throws: LabeledDataError.unknownLabel("F", line: 1, label: "2", known: ["0", "1"])) {
            try TaggedData.classes(ids, names: ["O", "B-PER"], path: "F")
        }
    }

    // MARK: Word pieces

    struct WordsGolden: Decodable {
        struct Case: Decodable {
            var words, tags, tokens: [String]
            var ids, ids_max8, labels, labels_all: [Int]
            var offsets: [[Int]]
            var word_ids, word_ids_max8: [Int?]
        }
        var tag_names: [String]
        var b_to_i: [Int]
        var cases: [Case]
    }

    static func wordsGolden() throws -> WordsGolden {
        try JSONDecoder().decode(WordsGolden.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("words-golden.json")))
    }

    @Test("encode(words:) equals BertTokenizerFast(is_split_into_words=True): ids, tokens, offsets, word ids, max 8")
    func encodeWords() throws {
        let golden = try Self.wordsGolden()
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-distilbert-ner"))
        for c in golden.cases {
            let e = tokenizer.encode(words: c.words, maxLength: nil)
            #expect(e.ids == c.ids && e.tokens == c.tokens, "\(c.words): \(e.tokens)")
            #expect(e.offsets.map { [$0.start, $0.end] } == c.offsets, "\(c.words): offsets")
            #expect(e.wordIds == c.word_ids, "\(c.words): word ids \(e.wordIds)")
            #expect(e.typeIds.allSatisfy { $0 == 0 })
            let cut = tokenizer.encode(words: c.words, maxLength: 8)
            #expect(cut.ids == c.ids_max8 && cut.wordIds == c.word_ids_max8, "\(c.words): max 8")
            #expect(cut.truncatedCount == c.ids.count - c.ids_max8.count)
        }
    }

    @Test("run_ner alignment: first piece, -100 as -1, label_all_tokens with b_to_i_label")
    func alignment() throws {
        let golden = try Self.wordsGolden()
        #expect(TaggedData.bToILabel(golden.tag_names) == golden.b_to_i)
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-distilbert-ner"))
        for c in golden.cases {
            let sentence = TaggedSentence(words: c.words, tags: c.tags.map { .name($0) }, line: 1)
            let tags = try TaggedData.classes([sentence], names: golden.tag_names, path: "F")[0]
            let wordIds = tokenizer.encode(words: c.words, maxLength: nil).wordIds
            #expect(TaggedData.alignLabels(wordIds: wordIds, wordTags: tags) == c.labels, "\(c.words)")
            #expect(TaggedData.alignLabels(wordIds: wordIds, wordTags: tags, labelAllTokens: golden.b_to_i)
                    == c.labels_all, "\(c.words) (all tokens)")
        }
        // A word without a tag (-1) gives -1 to every piece.
        #expect(TaggedData.alignLabels(wordIds: [nil, 0, 0, 1, nil], wordTags: [-1, 2], labelAllTokens: [0, 1, 2])
                == [-1, -1, -1, 2, -1])
    }

    /// Needs scripts/fetch-models.sh (scripts/test.sh runs it): a missing download fails, never skips.
    @Test("the NER tweets: 2,394 sentences split 1,077 / 120 / 1,197, 46,469 words, 21 tags")
    func nerTweets() throws {
        let dir = Fixtures.data.appendingPathComponent("ner")
        for split in ["train", "dev", "test"] where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(split).jsonl").path) {
            throw Fixtures.MissingFixture(path: dir.appendingPathComponent("\(split).jsonl").path)
        }
        let splits = try ["train", "dev", "test"].map {
            try TaggedData.read(dir.appendingPathComponent("\($0).jsonl"), format: .jsonl)
        }
        #expect(splits.map(\.count) == [1077, 120, 1197])
        #expect(splits.map { $0.reduce(0) { $0 + $1.words.count } }.reduce(0, +) == 46469)
        let names = try TaggedData.tagNames(given: nil, model: nil, sentences: splits.flatMap { $0 }, path: "ner")
        #expect(names.count == 21 && names.last == "O")
    }
}
