// Special tokens written in the input text, and the per-segment token buffer.
//
// `BertTokenizerFast` registers `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` as added tokens that
// are matched verbatim (case-sensitive, before normalization) anywhere in the input: `"[MASK]"` in a
// text becomes the mask token, while `"[mask]"` is ordinary text (`[`, `mask`, `]`).

// MARK: - Verbatim token matching

/// Finds added tokens in raw text, leftmost-longest first, like the `AddedVocabulary` of `tokenizers`.
struct VerbatimTokenMatcher: Sendable {
    /// One occurrence of a token in the text.
    struct Match: Equatable, Sendable {
        /// `[start, end)` code point indices of the occurrence.
        var range: Range<Int>
        /// The vocabulary id of the token.
        var id: Int
        /// The token string.
        var token: String
    }

    private struct Pattern: Sendable {
        var scalars: [Unicode.Scalar]
        var id: Int
        var token: String
    }

    /// Patterns grouped by first scalar, longest first.
    private let patternsByFirstScalar: [UInt32: [Pattern]]

    /// A matcher for `tokens` (string and id); empty strings are ignored.
    init(tokens: [(String, Int)]) {
        var grouped: [UInt32: [Pattern]] = [:]
        for (token, id) in tokens {
            let scalars = Array(token.unicodeScalars)
            guard let first = scalars.first else { continue }
            if grouped[first.value]?.contains(where: { $0.scalars == scalars }) == true { continue }
            grouped[first.value, default: []].append(Pattern(scalars: scalars, id: id, token: token))
        }
        patternsByFirstScalar = grouped.mapValues { patterns in
            patterns.sorted { $0.scalars.count > $1.scalars.count }
        }
    }

    /// The non-overlapping occurrences in `scalars`, scanning left to right and taking, at the first
    /// position where some token starts, the longest token starting there.
    func matches(in scalars: [Unicode.Scalar]) -> [Match] {
        guard !patternsByFirstScalar.isEmpty else { return [] }
        var found: [Match] = []
        var index = 0
        while index < scalars.count {
            guard let candidates = patternsByFirstScalar[scalars[index].value],
                  let pattern = candidates.first(where: { Self.occurs($0.scalars, in: scalars, at: index) })
            else {
                index += 1
                continue
            }
            let end = index + pattern.scalars.count
            found.append(Match(range: index..<end, id: pattern.id, token: pattern.token))
            index = end
        }
        return found
    }

    @inline(__always)
    private static func occurs(_ pattern: [Unicode.Scalar], in scalars: [Unicode.Scalar], at index: Int) -> Bool {
        guard index + pattern.count <= scalars.count else { return false }
        for offset in 0..<pattern.count where scalars[index + offset] != pattern[offset] { return false }
        return true
    }
}

// MARK: - Segment tokens

/// The tokens of one segment (one text of a pair), before special tokens are added.
struct SegmentTokens: Sendable, Equatable {
    /// Vocabulary ids.
    var ids: [Int] = []
    /// Token strings.
    var tokens: [String] = []
    /// Code point offsets in the segment's text.
    var offsets: [CodePointRange] = []
    /// Index of the pre-tokenized word each token belongs to.
    var wordIds: [Int] = []

    /// Number of tokens.
    var count: Int { ids.count }

    mutating func reserveCapacity(_ capacity: Int) {
        ids.reserveCapacity(capacity)
        tokens.reserveCapacity(capacity)
        offsets.reserveCapacity(capacity)
        wordIds.reserveCapacity(capacity)
    }

    mutating func append(id: Int, token: String, offset: CodePointRange, word: Int) {
        ids.append(id)
        tokens.append(token)
        offsets.append(offset)
        wordIds.append(word)
    }

    /// Keeps the first `length` tokens.
    mutating func truncate(to length: Int) {
        guard length < count else { return }
        let keep = max(0, length)
        ids.removeSubrange(keep...)
        tokens.removeSubrange(keep...)
        offsets.removeSubrange(keep...)
        wordIds.removeSubrange(keep...)
    }
}
