import Foundation

// The public BERT WordPiece tokenizer: special tokens, text pairs and truncation on top of the
// normalizer, pre-tokenizer and WordPiece model. Behaves like Hugging Face `BertTokenizerFast`
// (`tokenizers` 0.22) with `add_special_tokens=True`, no stride and no padding.

// MARK: - Tokenizer

/// A BERT / DistilBERT WordPiece tokenizer that reproduces `BertTokenizerFast`.
///
/// ```swift
/// let tokenizer = try BertTokenizer(modelDirectory: folder)
/// let encoding = tokenizer.encode("Hello, world!")          // [CLS] hello , world ! [SEP]
/// let pair = tokenizer.encode("Question?", pair: "Context.", maxLength: 384)
/// ```
///
/// Offsets count Unicode code points of the text passed in (Python `str` indices), whatever the
/// normalization did to it. Padding is left to the caller.
public struct BertTokenizer: Sendable {
    /// Whether text is lower-cased.
    public let doLowerCase: Bool
    /// Whether accents are stripped (NFD, then non-spacing marks removed).
    public let stripAccents: Bool
    /// Whether CJK ideographs are split into words of their own.
    public let tokenizeChineseChars: Bool
    /// `model_max_length` from `tokenizer_config.json`, `nil` when unknown or unlimited.
    public let modelMaxLength: Int?
    /// The special token strings.
    public let specialTokenNames: SpecialTokenNames

    /// Id of `[CLS]`.
    public let clsId: Int
    /// Id of `[SEP]`.
    public let sepId: Int
    /// Id of `[PAD]`.
    public let padId: Int
    /// Id of `[UNK]`.
    public let unkId: Int
    /// Id of `[MASK]`.
    public let maskId: Int

    private let vocabulary: WordPieceVocabulary
    private let normalizer: BertNormalizer
    private let wordPiece: WordPiece
    private let verbatimTokens: VerbatimTokenMatcher

    // MARK: Creating a tokenizer

    /// A tokenizer reading the WordPiece vocabulary `vocabURL` (`vocab.txt`, one token per line).
    ///
    /// - Parameters:
    ///   - doLowerCase: lower-case the text (uncased checkpoints).
    ///   - stripAccents: remove accents; `nil` follows `doLowerCase`, as in Hugging Face.
    ///   - tokenizeChineseChars: make every CJK ideograph a word of its own.
    /// - Throws: `TokenizerError` when the file is missing, unreadable, not UTF-8, empty, or lacks
    ///   one of `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`.
    public init(vocabURL: URL, doLowerCase: Bool = true, stripAccents: Bool? = nil,
                tokenizeChineseChars: Bool = true) throws {
        var configuration = TokenizerConfiguration()
        configuration.doLowerCase = doLowerCase
        configuration.stripAccents = stripAccents
        configuration.tokenizeChineseChars = tokenizeChineseChars
        try self.init(vocabulary: WordPieceVocabulary(contentsOf: vocabURL), configuration: configuration,
                      vocabularyPath: vocabURL.path)
    }

    /// A tokenizer for a Hugging Face model folder: `vocab.txt` plus, when present,
    /// `tokenizer_config.json` (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`,
    /// `model_max_length` and the special token strings). A missing configuration gives the defaults.
    ///
    /// - Throws: `TokenizerError` for a missing or malformed vocabulary or a malformed configuration.
    public init(modelDirectory: URL) throws {
        let vocabURL = modelDirectory.appendingPathComponent("vocab.txt")
        let configuration = try TokenizerConfiguration(
            contentsOf: modelDirectory.appendingPathComponent("tokenizer_config.json"))
        try self.init(vocabulary: WordPieceVocabulary(contentsOf: vocabURL), configuration: configuration,
                      vocabularyPath: vocabURL.path)
    }

    /// A tokenizer over an in-memory vocabulary (tokens in id order).
    init(tokens: [String], configuration: TokenizerConfiguration = TokenizerConfiguration()) throws {
        try self.init(vocabulary: WordPieceVocabulary(tokens: tokens), configuration: configuration,
                      vocabularyPath: "<in-memory vocabulary>")
    }

    private init(vocabulary: WordPieceVocabulary, configuration: TokenizerConfiguration, vocabularyPath: String) throws {
        let names = configuration.specialTokens
        func requireID(_ token: String) throws -> Int {
            guard let id = vocabulary.id(of: token) else {
                throw TokenizerError.missingSpecialToken(token: token, path: vocabularyPath)
            }
            return id
        }
        clsId = try requireID(names.cls)
        sepId = try requireID(names.sep)
        padId = try requireID(names.pad)
        unkId = try requireID(names.unk)
        maskId = try requireID(names.mask)

        self.vocabulary = vocabulary
        doLowerCase = configuration.doLowerCase
        stripAccents = configuration.stripAccents ?? configuration.doLowerCase
        tokenizeChineseChars = configuration.tokenizeChineseChars
        modelMaxLength = configuration.modelMaxLength
        specialTokenNames = names
        normalizer = BertNormalizer(cleanText: true, handleChineseChars: tokenizeChineseChars,
                                    stripAccents: stripAccents, lowercase: doLowerCase)
        wordPiece = WordPiece(vocabulary: vocabulary, unknownID: unkId)
        let verbatim = (names.all + configuration.extraVerbatimTokens).compactMap { token in
            vocabulary.id(of: token).map { (token, $0) }
        }
        verbatimTokens = VerbatimTokenMatcher(tokens: verbatim)
    }

    // MARK: Vocabulary

    /// Number of ids in the vocabulary (lines of `vocab.txt`).
    public var vocabSize: Int { vocabulary.count }

    /// The id of `token`, compared code point by code point (no normalization).
    public func id(of token: String) -> Int? { vocabulary.id(of: token) }

    /// The token string of `id`, `nil` when out of range.
    public func token(of id: Int) -> String? { vocabulary.token(of: id) }

    // MARK: Encoding

    /// Tokenizes `text` (and optionally a second segment `pair`) with `[CLS]`/`[SEP]` added.
    ///
    /// - Parameters:
    ///   - text: the first segment.
    ///   - pair: the second segment, for sentence-pair tasks (`[CLS] A [SEP] B [SEP]`).
    ///   - maxLength: the most tokens in the result, special tokens included. A single text is cut
    ///     at the end; a pair is cut with Hugging Face's `longest_first` rule. `nil`: no limit.
    ///     Values smaller than the number of special tokens keep only the special tokens.
    /// - Returns: ids, token strings, code point offsets (`[0, 0]` for the added `[CLS]`/`[SEP]`),
    ///   type ids, sequence ids and word ids (`nil` for the added `[CLS]`/`[SEP]`), and how many
    ///   tokens truncation removed. A special token written in the text itself (`"[MASK]"`) is kept
    ///   as that token and, as in Hugging Face, counts as a word of its segment with real offsets.
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        var first = tokenizeSegment(text)
        var second = pair.map { tokenizeSegment($0) }
        var truncatedCount = 0
        if let maxLength {
            let budget = max(0, maxLength - (second == nil ? 2 : 3))
            truncatedCount = Self.truncateLongestFirst(&first, &second, to: budget)
        }
        return assemble(first, second, truncatedCount: truncatedCount)
    }

    /// Tokenizes text that is already split into words (`is_split_into_words=True`), for token
    /// classification: `[CLS]`, each word's pieces in order, `[SEP]`.
    ///
    /// Each word goes through the whole pipeline on its own (normalization, the basic split at spaces and
    /// punctuation, WordPiece), so one word may give several pieces, or none (`""`, `" "`); every piece's
    /// `wordIds` entry is the index of its word in `words`, and its offsets count code points within that
    /// word, as `BertTokenizerFast` gives them.
    ///
    /// - Parameter maxLength: the most tokens, special tokens included; the pieces are cut at the end
    ///   (mid-word if need be). `nil`: no limit.
    public func encode(words: [String], maxLength: Int?) -> Encoding {
        var segment = SegmentTokens()
        for (index, word) in words.enumerated() {
            let pieces = tokenizeSegment(word)
            for k in 0..<pieces.count {
                segment.append(id: pieces.ids[k], token: pieces.tokens[k], offset: pieces.offsets[k], word: index)
            }
        }
        var truncatedCount = 0
        if let maxLength {
            var none: SegmentTokens?
            truncatedCount = Self.truncateLongestFirst(&segment, &none, to: max(0, maxLength - 2))
        }
        return assemble(segment, nil, truncatedCount: truncatedCount)
    }

    /// The token strings of `text` without special tokens (like `tokenizer.tokenize(text)`).
    public func tokenize(_ text: String) -> [String] {
        tokenizeSegment(text).tokens
    }

    /// Normalizes, pre-tokenizes and WordPiece-splits one segment.
    func tokenizeSegment(_ text: String) -> SegmentTokens {
        let scalars = Array(text.unicodeScalars)
        var segment = SegmentTokens()
        segment.reserveCapacity(scalars.count / 3 + 4)
        var wordIndex = 0
        var cursor = 0
        for match in verbatimTokens.matches(in: scalars) {
            if cursor < match.range.lowerBound {
                tokenizePlain(scalars[cursor..<match.range.lowerBound], into: &segment, wordIndex: &wordIndex)
            }
            segment.append(id: match.id, token: match.token,
                           offset: CodePointRange(match.range.lowerBound, match.range.upperBound), word: wordIndex)
            wordIndex += 1
            cursor = match.range.upperBound
        }
        if cursor < scalars.count {
            tokenizePlain(scalars[cursor...], into: &segment, wordIndex: &wordIndex)
        }
        return segment
    }

    /// Tokenizes text containing no verbatim (special) token.
    private func tokenizePlain(_ scalars: ArraySlice<Unicode.Scalar>, into segment: inout SegmentTokens,
                               wordIndex: inout Int) {
        let normalized = normalizer.normalize(scalars)
        var pieces: [WordPieceToken] = []
        for word in BertPreTokenizer.words(in: normalized.scalars) {
            pieces.removeAll(keepingCapacity: true)
            wordPiece.tokenize(normalized.scalars, range: word, into: &pieces)
            for piece in pieces {
                let token = vocabulary.token(of: piece.id) ?? specialTokenNames.unk
                segment.append(id: piece.id, token: token, offset: normalized.originalRange(of: piece.range),
                               word: wordIndex)
            }
            wordIndex += 1
        }
    }

    // MARK: Truncation

    /// Cuts the segments to `budget` tokens in all with the `longest_first` rule of `tokenizers`
    /// (`truncate_encodings`); returns how many tokens were removed.
    ///
    /// A single segment keeps its first `budget` tokens. For a pair, with `n1 <= n2` the two
    /// lengths: if the shorter fits beside the longer's share, only the longer is cut to
    /// `budget - n1`; otherwise the first gets `budget / 2` and the second `budget / 2 + budget % 2`.
    static func truncateLongestFirst(_ first: inout SegmentTokens, _ second: inout SegmentTokens?,
                                     to budget: Int) -> Int {
        let total = first.count + (second?.count ?? 0)
        guard total > budget else { return 0 }
        guard var other = second else {
            first.truncate(to: budget)
            return total - first.count
        }
        var short = first.count
        var long = other.count
        let swapped = short > long
        if swapped { swap(&short, &long) }
        if short > budget {
            long = short
        } else {
            long = max(short, budget - short)
        }
        if short + long > budget {
            short = budget / 2
            long = short + budget % 2
        }
        if swapped { swap(&short, &long) }
        first.truncate(to: short)
        other.truncate(to: long)
        second = other
        return total - first.count - other.count
    }

    // MARK: Special tokens

    /// `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, with type ids 0 up to the first `[SEP]`, then 1.
    private func assemble(_ first: SegmentTokens, _ second: SegmentTokens?, truncatedCount: Int) -> Encoding {
        let count = first.count + (second.map { $0.count + 1 } ?? 0) + 2
        var encoding = Encoding(ids: [], tokens: [], offsets: [], typeIds: [], sequenceIds: [], wordIds: [],
                                truncatedCount: truncatedCount)
        encoding.ids.reserveCapacity(count)
        encoding.tokens.reserveCapacity(count)
        encoding.offsets.reserveCapacity(count)
        encoding.typeIds.reserveCapacity(count)
        encoding.sequenceIds.reserveCapacity(count)
        encoding.wordIds.reserveCapacity(count)

        func appendSpecial(_ id: Int, _ token: String, typeID: Int) {
            encoding.appendSpecial(id: id, token: token, typeId: typeID)
        }
        func appendSegment(_ segment: SegmentTokens, sequence: Int) {
            encoding.ids.append(contentsOf: segment.ids)
            encoding.tokens.append(contentsOf: segment.tokens)
            encoding.offsets.append(contentsOf: segment.offsets)
            encoding.typeIds.append(contentsOf: repeatElement(sequence, count: segment.count))
            encoding.sequenceIds.append(contentsOf: repeatElement(Optional(sequence), count: segment.count))
            encoding.wordIds.append(contentsOf: segment.wordIds.map { Optional($0) })
        }

        appendSpecial(clsId, specialTokenNames.cls, typeID: 0)
        appendSegment(first, sequence: 0)
        appendSpecial(sepId, specialTokenNames.sep, typeID: 0)
        if let second {
            appendSegment(second, sequence: 1)
            appendSpecial(sepId, specialTokenNames.sep, typeID: 1)
        }
        return encoding
    }
}
