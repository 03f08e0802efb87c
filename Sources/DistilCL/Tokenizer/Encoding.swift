/// The output of the tokenizer for one text (or one text pair), before padding.
///
/// Mirrors what `BertTokenizerFast` returns: ids with `[CLS]`/`[SEP]`, token strings,
/// character offsets counted in Unicode code points (Python `str` indices, `[0, 0]` for
/// special tokens), token type ids (0 for the first segment, 1 for the second) and, for each
/// token, the index of the word it came from (`nil` for special tokens).
public struct Encoding: Sendable, Equatable {
    /// Token ids, `[seq]`.
    public var ids: [Int]
    /// Token strings, `[seq]`.
    public var tokens: [String]
    /// `[start, end)` in Unicode code points of the text the token came from, `[seq]`.
    public var offsets: [CodePointRange]
    /// 0 for `[CLS]`, the first text and its `[SEP]`; 1 for the second text and its `[SEP]`. `[seq]`.
    public var typeIds: [Int]
    /// Which segment each token came from: 0 first text, 1 second text, `nil` special token. `[seq]`.
    public var sequenceIds: [Int?]
    /// Index of the pre-tokenized word a token belongs to within its segment; `nil` for special tokens. `[seq]`.
    public var wordIds: [Int?]
    /// How many tokens truncation removed (0 when nothing was cut).
    public var truncatedCount: Int

    public init(ids: [Int], tokens: [String], offsets: [CodePointRange], typeIds: [Int],
                sequenceIds: [Int?], wordIds: [Int?], truncatedCount: Int = 0) {
        self.ids = ids; self.tokens = tokens; self.offsets = offsets; self.typeIds = typeIds
        self.sequenceIds = sequenceIds; self.wordIds = wordIds; self.truncatedCount = truncatedCount
    }

    public var count: Int { ids.count }

    /// Appends a special token (`[CLS]`, `[SEP]`): offsets `[0, 0]`, no sequence or word.
    mutating func appendSpecial(id: Int, token: String, typeId: Int) {
        ids.append(id)
        tokens.append(token)
        offsets.append(CodePointRange(0, 0))
        typeIds.append(typeId)
        sequenceIds.append(nil)
        wordIds.append(nil)
    }
}

/// A half-open range of Unicode code point indices, `[start, end)`.
public struct CodePointRange: Sendable, Equatable, Hashable {
    public var start: Int
    public var end: Int
    public init(_ start: Int, _ end: Int) { self.start = start; self.end = end }
}
