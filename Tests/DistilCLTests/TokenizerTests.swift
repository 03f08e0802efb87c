import Foundation
import Testing
@testable import DistilCL

// Tests of the BERT WordPiece tokenizer against Hugging Face `BertTokenizerFast` reference output
// (`tokenizer_cases.jsonl`, the tiny model folders' golden files) and hand-checked unit cases.

// MARK: - Fixtures

/// Paths and shared tokenizers for the tokenizer tests.
enum TokenizerFixtures {
    /// `Tests/Fixtures`.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// The bert-base-uncased vocabulary (that of all-MiniLM-L6-v2).
    static let bertVocab = directory.appendingPathComponent("bert-base-uncased-vocab.txt")
    /// The reference cases.
    static let casesFile = directory.appendingPathComponent("tokenizer_cases.jsonl")
    /// The tiny checkpoints, each with `vocab.txt`, `tokenizer_config.json` and `golden.json`.
    static let tinyModels = ["tiny-distilbert-sst", "tiny-bert-pairs", "tiny-distilbert-qa",
                             "tiny-distilbert-ner", "tiny-distilbert-mlm"]

    /// bert-base-uncased settings (lower-case, strip accents).
    static func uncased() throws -> BertTokenizer { try BertTokenizer(vocabURL: bertVocab) }
    /// The same vocabulary with `do_lower_case=False` (and so no accent stripping).
    static func cased() throws -> BertTokenizer { try BertTokenizer(vocabURL: bertVocab, doLowerCase: false) }

    /// Reads a JSON object file.
    static func jsonObject(at url: URL) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any], "\(url.path) is not a JSON object")
    }

    /// A fresh empty temporary folder.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("distilcl-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// One line of `tokenizer_cases.jsonl`.
///
/// Decoded with `JSONDecoder`: Foundation's `JSONSerialization` drops a raw U+FEFF at the start of a
/// string value on Linux, which would shift the offsets of the "\u{FEFF}bom at start" case.
struct TokenizerReferenceCase: Decodable {
    var line = 0
    var text: String
    var ids: [Int]?
    var tokens: [String]?
    var offsets: [[Int]]?
    var idsMax16: [Int]?
    var idsNoLowercase: [Int]?
    var pairText: String?
    var pairIdsMax48: [Int]?
    var pairTokenTypeIdsMax48: [Int]?

    enum CodingKeys: String, CodingKey {
        case text, ids, tokens, offsets, idsMax16 = "ids_max16", idsNoLowercase = "ids_no_lowercase"
        case pairText = "pair_text", pairIdsMax48 = "pair_ids_max48", pairTokenTypeIdsMax48 = "pair_token_type_ids_max48"
    }

    /// The reference offsets as ranges.
    var offsetRanges: [CodePointRange]? {
        offsets?.map { $0.count == 2 ? CodePointRange($0[0], $0[1]) : CodePointRange(-1, -1) }
    }

    /// All lines of the reference file.
    static func loadAll() throws -> [TokenizerReferenceCase] {
        let contents = try String(contentsOf: TokenizerFixtures.casesFile, encoding: .utf8)
        let decoder = JSONDecoder()
        var cases: [TokenizerReferenceCase] = []
        for (index, line) in contents.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do {
                var item = try decoder.decode(TokenizerReferenceCase.self, from: Data(line.utf8))
                item.line = index + 1
                cases.append(item)
            } catch {
                Issue.record("line \(index + 1) of tokenizer_cases.jsonl could not be decoded: \(error)")
            }
        }
        return cases
    }
}

/// Collects mismatches so that a test reports how many lines failed and the first few of them.
struct TokenizerMismatchReport {
    var field: String
    var checked = 0
    var failures: [String] = []

    mutating func check<T: Equatable>(line: Int, text: String, expected: T?, actual: T) {
        checked += 1
        guard let expected else {
            failures.append("line \(line): field \(field) missing from the fixture")
            return
        }
        if expected != actual {
            failures.append("line \(line) \(text.debugDescription.prefix(80)): expected \(expected), got \(actual)")
        }
    }

    /// Records one test issue summarising the failures (nothing when all passed).
    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        let summary = "\(field): \(checked - failures.count)/\(checked) checks match"
        print(summary)
        if failures.isEmpty { return }
        let firstFailures = Array(failures.prefix(8)).joined(separator: "\n")
        Issue.record("\(summary); first mismatches:\n\(firstFailures)", sourceLocation: sourceLocation)
    }
}

// MARK: - Reference cases

@Suite("Tokenizer reference cases (tokenizer_cases.jsonl)")
struct TokenizerReferenceTests {
    /// The fields of `tokenizer_cases.jsonl`.
    enum Field: String, CaseIterable, Sendable {
        case ids, tokens, offsets, idsMax16 = "ids_max16", idsNoLowercase = "ids_no_lowercase"
        case pairIdsMax48 = "pair_ids_max48", pairTypeIdsMax48 = "pair_token_type_ids_max48"
    }

    @Test("The fixture has every line and field")
    func fixtureShape() throws {
        let cases = try TokenizerReferenceCase.loadAll()
        #expect(cases.count == 1_248)
        #expect(cases.filter { $0.pairText != nil }.count == 250)
    }

    @Test("Every line matches BertTokenizerFast", arguments: Field.allCases)
    func everyLineMatches(field: Field) throws {
        let cases = try TokenizerReferenceCase.loadAll()
        let uncased = try TokenizerFixtures.uncased()
        let cased = try TokenizerFixtures.cased()
        var report = TokenizerMismatchReport(field: field.rawValue)
        for item in cases {
            switch field {
            case .ids:
                report.check(line: item.line, text: item.text, expected: item.ids, actual: uncased.encode(item.text).ids)
            case .tokens:
                report.check(line: item.line, text: item.text, expected: item.tokens,
                             actual: uncased.encode(item.text).tokens)
            case .offsets:
                report.check(line: item.line, text: item.text, expected: item.offsetRanges,
                             actual: uncased.encode(item.text).offsets)
            case .idsMax16:
                report.check(line: item.line, text: item.text, expected: item.idsMax16,
                             actual: uncased.encode(item.text, maxLength: 16).ids)
            case .idsNoLowercase:
                report.check(line: item.line, text: item.text, expected: item.idsNoLowercase,
                             actual: cased.encode(item.text).ids)
            case .pairIdsMax48, .pairTypeIdsMax48:
                guard let pair = item.pairText else { continue }
                let encoding = uncased.encode(item.text, pair: pair, maxLength: 48)
                if field == .pairIdsMax48 {
                    report.check(line: item.line, text: item.text, expected: item.pairIdsMax48, actual: encoding.ids)
                } else {
                    report.check(line: item.line, text: item.text, expected: item.pairTokenTypeIdsMax48,
                                 actual: encoding.typeIds)
                }
            }
        }
        #expect(report.checked == (field == .pairIdsMax48 || field == .pairTypeIdsMax48 ? 250 : 1_248))
        report.finish()
    }

    @Test("Encodings are internally consistent on every line")
    func encodingsAreConsistent() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        var report = TokenizerMismatchReport(field: "consistency")
        for item in try TokenizerReferenceCase.loadAll() {
            let encoding = tokenizer.encode(item.text, pair: item.pairText)
            let counts = [encoding.tokens.count, encoding.offsets.count, encoding.typeIds.count,
                          encoding.sequenceIds.count, encoding.wordIds.count]
            report.check(line: item.line, text: item.text, expected: Array(repeating: encoding.ids.count, count: 5),
                         actual: counts)
            let tokensFromIds = encoding.ids.map { tokenizer.token(of: $0) ?? "?" }
            report.check(line: item.line, text: item.text, expected: encoding.tokens, actual: tokensFromIds)
            let specials = encoding.sequenceIds.enumerated().filter { $0.element == nil }.map(\.offset)
            let firstSep = 1 + encoding.sequenceIds.filter { $0 == 0 }.count
            let expectedSpecials = item.pairText == nil ? [0, encoding.count - 1] : [0, firstSep, encoding.count - 1]
            report.check(line: item.line, text: item.text, expected: expectedSpecials, actual: specials)
            for segment in [0, 1] {
                let words = zip(encoding.wordIds, encoding.sequenceIds).compactMap { $1 == segment ? $0 : nil }
                report.check(line: item.line, text: item.text, expected: true,
                             actual: zip(words, words.dropFirst()).allSatisfy { $0 <= $1 })
            }
        }
        report.finish()
    }
}

// MARK: - Model folders

@Suite("Tokenizer model folders")
struct TokenizerModelFolderTests {
    @Test("Tiny model folders load through init(modelDirectory:)", arguments: TokenizerFixtures.tinyModels)
    func loadsModelFolder(name: String) throws {
        let folder = TokenizerFixtures.directory.appendingPathComponent(name)
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        #expect(tokenizer.vocabSize == 6_961)
        #expect(tokenizer.padId == 0 && tokenizer.unkId == 100 && tokenizer.clsId == 101)
        #expect(tokenizer.sepId == 102 && tokenizer.maskId == 103)
        #expect(tokenizer.doLowerCase && tokenizer.stripAccents && tokenizer.tokenizeChineseChars)
        #expect(tokenizer.modelMaxLength == nil, "the 1e30 sentinel means no limit")
        #expect(tokenizer.token(of: 101) == "[CLS]")
        #expect(tokenizer.id(of: "[MASK]") == 103)
    }

    @Test("Single texts match the golden input ids", arguments: ["tiny-distilbert-sst", "tiny-distilbert-ner", "tiny-distilbert-mlm"])
    func singleTextsMatchGolden(name: String) throws {
        let folder = TokenizerFixtures.directory.appendingPathComponent(name)
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        let golden = try TokenizerFixtures.jsonObject(at: folder.appendingPathComponent("golden.json"))
        let texts = try #require(golden["texts"] as? [String])
        let expected = try #require(golden["input_ids"] as? [[Int]])
        let maxLength = golden["max_length"] as? Int
        #expect(texts.count == expected.count)
        for (index, (text, row)) in zip(texts, expected).enumerated() {
            let ids = tokenizer.encode(text, maxLength: maxLength).ids
            let padded = ids + Array(repeating: tokenizer.padId, count: max(0, row.count - ids.count))
            #expect(padded == row, "\(name) text \(index): \(text)")
        }
    }

    @Test("Text pairs match the golden input and token type ids")
    func pairsMatchGolden() throws {
        let folder = TokenizerFixtures.directory.appendingPathComponent("tiny-bert-pairs")
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        let golden = try TokenizerFixtures.jsonObject(at: folder.appendingPathComponent("golden.json"))
        let pairs = try #require(golden["pairs"] as? [[String]])
        let ids = try #require(golden["input_ids"] as? [[Int]])
        let typeIds = try #require(golden["token_type_ids"] as? [[Int]])
        let maxLength = try #require(golden["max_length"] as? Int)
        for (index, pair) in pairs.enumerated() where pair.count == 2 {
            let encoding = tokenizer.encode(pair[0], pair: pair[1], maxLength: maxLength)
            let padding = max(0, ids[index].count - encoding.count)
            #expect(encoding.ids + Array(repeating: tokenizer.padId, count: padding) == ids[index], "pair \(index)")
            #expect(encoding.typeIds + Array(repeating: 0, count: padding) == typeIds[index], "pair \(index)")
        }
    }

    @Test("A question/context pair matches the QA golden first window")
    func questionContextMatchesGolden() throws {
        let folder = TokenizerFixtures.directory.appendingPathComponent("tiny-distilbert-qa")
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        let golden = try TokenizerFixtures.jsonObject(at: folder.appendingPathComponent("golden.json"))
        let inputs = try #require(golden["inputs"] as? [[String: String]])
        let window = try #require(golden["first_window"] as? [String: Any])
        let expected = try #require((window["input_ids"] as? [[Int]])?.first)
        let question = try #require(inputs.first?["question"])
        let context = try #require(inputs.first?["context"])
        #expect(tokenizer.encode(question, pair: context).ids == expected)
    }

    @Test("A folder without tokenizer_config.json uses the defaults")
    func missingConfigurationGivesDefaults() throws {
        let folder = try TokenizerFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: TokenizerFixtures.directory.appendingPathComponent("tiny-distilbert-sst/vocab.txt"),
            to: folder.appendingPathComponent("vocab.txt"))
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        #expect(tokenizer.doLowerCase && tokenizer.stripAccents && tokenizer.tokenizeChineseChars)
        #expect(tokenizer.modelMaxLength == nil)
        #expect(tokenizer.encode("The MOVIE").tokens == ["[CLS]", "the", "movie", "[SEP]"])
    }

    @Test("tokenizer_config.json settings are applied")
    func configurationIsApplied() throws {
        let folder = try TokenizerFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: TokenizerFixtures.bertVocab, to: folder.appendingPathComponent("vocab.txt"))
        let config = #"{"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": false, "#
            + #""model_max_length": 512, "cls_token": {"content": "[CLS]", "special": true}}"#
        try Data(config.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try BertTokenizer(modelDirectory: folder)
        #expect(!tokenizer.doLowerCase && !tokenizer.stripAccents && !tokenizer.tokenizeChineseChars)
        #expect(tokenizer.modelMaxLength == 512)
        #expect(tokenizer.encode("Hello").ids == [101, 100, 102], "cased: Hello is not in the uncased vocabulary")
    }
}

// MARK: - Behaviour

@Suite("Tokenizer behaviour")
struct TokenizerBehaviourTests {
    @Test("Offsets point into the original text after accent stripping")
    func offsetsSurviveNormalization() throws {
        let encoding = try TokenizerFixtures.uncased().encode("naïve café")
        #expect(encoding.tokens == ["[CLS]", "naive", "cafe", "[SEP]"])
        #expect(encoding.offsets == [CodePointRange(0, 0), CodePointRange(0, 5), CodePointRange(6, 10), CodePointRange(0, 0)])
        #expect(encoding.wordIds == [nil, 0, 1, nil])
        #expect(encoding.sequenceIds == [nil, 0, 0, nil])
        #expect(encoding.typeIds == [0, 0, 0, 0])
        #expect(encoding.truncatedCount == 0)
    }

    @Test("Length-changing lower-casing keeps offsets on the original characters")
    func lowercasingThatGrowsTheText() throws {
        let uncased = try TokenizerFixtures.uncased()
        #expect(uncased.encode("İstanbul").tokens == ["[CLS]", "istanbul", "[SEP]"])
        let noStrip = try BertTokenizer(vocabURL: TokenizerFixtures.bertVocab, doLowerCase: true, stripAccents: false)
        // İ lower-cases to i + U+0307, which stays when accents are kept: the word is unknown.
        let encoding = noStrip.encode("Xİ")
        #expect(encoding.ids == [101, 100, 102])
        #expect(encoding.offsets[1] == CodePointRange(0, 2))
    }

    @Test("Special tokens written in the text are matched verbatim")
    func specialTokensInText() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let encoding = tokenizer.encode("[CLS] hello, world[MASK]!")
        #expect(encoding.ids == [101, 101, 7592, 1010, 2088, 103, 999, 102])
        #expect(encoding.offsets.map { [$0.start, $0.end] } == [[0, 0], [0, 5], [6, 11], [11, 12], [13, 18], [18, 24], [24, 25], [0, 0]])
        #expect(encoding.wordIds == [nil, 0, 1, 2, 3, 4, 5, nil])
        #expect(tokenizer.encode("[mask]").tokens == ["[CLS]", "[", "mask", "]", "[SEP]"])
    }

    @Test("Words over 100 code points and unmatchable words become one [UNK]")
    func unknownWords() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let long = tokenizer.encode(String(repeating: "a", count: 101))
        #expect(long.ids == [101, 100, 102])
        #expect(long.offsets[1] == CodePointRange(0, 101))
        let limit = tokenizer.encode(String(repeating: "a", count: 100))
        #expect(limit.count == 52 && limit.tokens[1] == "aaa" && limit.tokens[50] == "##a")
        let emoji = tokenizer.encode("😀x hello")
        #expect(emoji.tokens == ["[CLS]", "[UNK]", "hello", "[SEP]"])
        #expect(emoji.offsets[1] == CodePointRange(0, 2), "offsets count code points, not UTF-16 units")
        #expect(tokenizer.encode("unaffable").tokens == ["[CLS]", "una", "##ffa", "##ble", "[SEP]"])
    }

    @Test("Cleaning, CJK splitting and continuation offsets")
    func cleaningAndChinese() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let chinese = tokenizer.encode("中文abc")
        #expect(chinese.tokens == ["[CLS]", "中", "文", "abc", "[SEP]"])
        #expect(chinese.wordIds == [nil, 0, 1, 2, nil])
        let controls = tokenizer.encode("control\u{0}\u{1}\u{7F}chars")
        #expect(controls.tokens == ["[CLS]", "control", "##cha", "##rs", "[SEP]"])
        #expect(controls.offsets.map { [$0.start, $0.end] } == [[0, 0], [0, 7], [10, 13], [13, 15], [0, 0]])
        #expect(tokenizer.encode("line\nbreak\r\nwindows\u{2028}x").tokens.count == 6)
        #expect(tokenizer.encode("e\u{301} ﬁ").ids == [101, 1041, 1984, 102])
    }

    @Test("The vocabulary compares code points, not canonically equivalent strings")
    func vocabularyIsNotCanonicalEquivalence() throws {
        var configuration = TokenizerConfiguration()
        configuration.doLowerCase = false
        let tokenizer = try BertTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u{E9}"],
                                          configuration: configuration)
        #expect(tokenizer.encode("\u{E9}").ids == [2, 5, 3])
        #expect(tokenizer.encode("e\u{301}").ids == [2, 1, 3])
        #expect(tokenizer.id(of: "e\u{301}") == nil)
        #expect(tokenizer.id(of: "\u{E9}") == 5)
        #expect(tokenizer.token(of: 6) == nil && tokenizer.token(of: -1) == nil)
        #expect(tokenizer.vocabSize == 6)
    }

    @Test("Pairs get type ids 1 and longest_first truncation splits the budget")
    func pairTruncation() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let pair = tokenizer.encode("don't", pair: "won't")
        #expect(pair.typeIds == [0, 0, 0, 0, 0, 1, 1, 1, 1])
        #expect(pair.sequenceIds == [nil, 0, 0, 0, nil, 1, 1, 1, nil])
        #expect(pair.wordIds == [nil, 0, 1, 2, nil, 0, 1, 2, nil])
        // 10 + 10 tokens into 18 - 3 = 15: the first keeps 7, the second 8.
        let even = tokenizer.encode("one two three four five six seven eight nine ten",
                                    pair: "a b c d e f g h i j", maxLength: 18)
        #expect(even.tokens == ["[CLS]", "one", "two", "three", "four", "five", "six", "seven", "[SEP]",
                                "a", "b", "c", "d", "e", "f", "g", "h", "[SEP]"])
        #expect(even.truncatedCount == 5)
        // 3 + 11 tokens into 5: both are cut, to 2 and 3.
        let uneven = tokenizer.encode("one two three", pair: "a b c d e f g h i j k", maxLength: 8)
        #expect(uneven.ids == [101, 2028, 2048, 102, 1037, 1038, 1039, 102])
        #expect(uneven.truncatedCount == 9)
    }

    @Test("Single texts are cut at the end and tiny limits keep only the special tokens")
    func singleTruncation() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let cut = tokenizer.encode("one two three four", maxLength: 4)
        #expect(cut.tokens == ["[CLS]", "one", "two", "[SEP]"])
        #expect(cut.truncatedCount == 2)
        let tiny = tokenizer.encode("one two", maxLength: 1)
        #expect(tiny.ids == [101, 102] && tiny.truncatedCount == 2)
        #expect(tokenizer.encode("one two", maxLength: 100).truncatedCount == 0)
        #expect(tokenizer.encode("").ids == [101, 102])
        #expect(tokenizer.encode("", pair: " ").ids == [101, 102, 102])
    }

    @Test("Encoding a few thousand sentences is fast")
    func throughput() throws {
        let tokenizer = try TokenizerFixtures.uncased()
        let texts = try TokenizerReferenceCase.loadAll().map(\.text)
        let clock = ContinuousClock()
        var total = 0
        let elapsed = clock.measure {
            for _ in 0..<3 { for text in texts { total += tokenizer.encode(text).count } }
        }
        #expect(total > 3 * texts.count * 2)
        // Generous bound: the release build does this in well under 0.2 s; debug builds are slower.
        #expect(elapsed < .seconds(20), "encoding \(3 * texts.count) texts took \(elapsed)")
    }
}

// MARK: - Errors

@Suite("Tokenizer errors")
struct TokenizerErrorTests {
    @Test("A missing vocabulary names the path")
    func missingVocabulary() throws {
        let url = URL(fileURLWithPath: "/nonexistent/distilcl/vocab.txt")
        let error = #expect(throws: TokenizerError.self) { try BertTokenizer(vocabURL: url) }
        #expect(error == .vocabularyNotFound(path: url.path))
        #expect(error?.description.contains("/nonexistent/distilcl/vocab.txt") == true)
    }

    @Test("A model folder without vocab.txt names the missing file")
    func missingVocabularyInFolder() throws {
        let folder = try TokenizerFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = #expect(throws: TokenizerError.self) { try BertTokenizer(modelDirectory: folder) }
        #expect(error == .vocabularyNotFound(path: folder.appendingPathComponent("vocab.txt").path))
    }

    @Test("Malformed vocabularies are rejected with the line or token at fault")
    func malformedVocabularies() throws {
        let folder = try TokenizerFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let invalid = folder.appendingPathComponent("invalid.txt")
        try Data(Array("[PAD]\n[UNK]\nok\n".utf8) + [0x66, 0xFF, 0x0A]).write(to: invalid)
        #expect(throws: TokenizerError.invalidUTF8(path: invalid.path, line: 4)) { try BertTokenizer(vocabURL: invalid) }

        let empty = folder.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        #expect(throws: TokenizerError.emptyVocabulary(path: empty.path)) { try BertTokenizer(vocabURL: empty) }

        let noMask = folder.appendingPathComponent("nomask.txt")
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n".utf8).write(to: noMask)
        let error = #expect(throws: TokenizerError.self) { try BertTokenizer(vocabURL: noMask) }
        #expect(error == .missingSpecialToken(token: "[MASK]", path: noMask.path))
        #expect(error?.description.contains("[MASK]") == true)

        let directory = folder.appendingPathComponent("subfolder")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(throws: TokenizerError.vocabularyNotFound(path: directory.path)) { try BertTokenizer(vocabURL: directory) }
    }

    @Test("A malformed tokenizer_config.json is reported with the file and field")
    func malformedConfiguration() throws {
        let folder = try TokenizerFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".utf8).write(to: folder.appendingPathComponent("vocab.txt"))
        let config = folder.appendingPathComponent("tokenizer_config.json")

        try Data(#"{"do_lower_case": "yes"}"#.utf8).write(to: config)
        let wrongType = #expect(throws: TokenizerError.self) { try BertTokenizer(modelDirectory: folder) }
        guard case .invalidConfiguration(let path, let reason)? = wrongType else {
            Issue.record("expected invalidConfiguration, got \(String(describing: wrongType))")
            return
        }
        #expect(path == config.path)
        #expect(reason.contains("do_lower_case"))

        try Data("{not json".utf8).write(to: config)
        let notJSON = #expect(throws: TokenizerError.self) { try BertTokenizer(modelDirectory: folder) }
        #expect(notJSON?.description.contains("tokenizer_config.json") == true)
    }

    @Test("Vocabulary lines follow tokenizers' read_file rules")
    func vocabularyLineRules() throws {
        let data = Data("[PAD]\r\n[UNK]  \n[CLS]\n[SEP]\n[MASK]\ndup\nx\ndup".utf8)
        let vocabulary = try WordPieceVocabulary(data: data, path: "memory")
        #expect(vocabulary.count == 8)
        #expect(vocabulary.id(of: "[PAD]") == 0 && vocabulary.id(of: "[UNK]") == 1)
        #expect(vocabulary.id(of: "dup") == 7, "a later duplicate takes over the token")
        #expect(vocabulary.token(of: 5) == nil && vocabulary.token(of: 7) == "dup")
    }
}
