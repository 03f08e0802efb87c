// The BERT normalizer (cleaning, CJK spacing, accent stripping, lower-casing) and pre-tokenizer
// (whitespace and punctuation splitting), with the alignment back to the original text.
//
// Mirrors `BertNormalizer` and `BertPreTokenizer` of Hugging Face `tokenizers` 0.22, including how
// its `NormalizedString` keeps every normalized character aligned to one original character, so that
// token offsets are positions (Unicode code points) in the text the caller passed in.

// MARK: - Normalized text

/// Text after normalization; each scalar remembers which original code point it came from.
struct NormalizedText: Sendable, Equatable {
    /// The normalized scalars.
    var scalars: [Unicode.Scalar] = []
    /// For each normalized scalar, the index (in code points) of the original character it came from.
    var alignments: [Int] = []

    init() {}

    init(scalars: [Unicode.Scalar], alignments: [Int]) {
        self.scalars = scalars
        self.alignments = alignments
    }

    /// The normalized text as a Swift string (for tests and diagnostics).
    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// The `[start, end)` original code point range covered by the normalized scalars `range`.
    ///
    /// Like `NormalizedString::convert_offsets`: the start of the first scalar's alignment and the
    /// end of the last one's; an empty range stays empty.
    func originalRange(of range: Range<Int>) -> CodePointRange {
        guard let first = range.first, let last = range.last else {
            return CodePointRange(range.lowerBound, range.lowerBound)
        }
        return CodePointRange(alignments[first], alignments[last] + 1)
    }
}

// MARK: - Normalizer

/// The `BertNormalizer` steps, in the reference's order: clean text, pad CJK ideographs with spaces,
/// strip accents (NFD, then drop `Mn`), lower-case.
struct BertNormalizer: Sendable, Equatable {
    /// Remove controls, U+0000 and U+FFFD; turn every whitespace character into a space.
    var cleanText = true
    /// Put spaces around CJK ideographs so that each becomes its own word.
    var handleChineseChars = true
    /// Decompose (NFD) and remove non-spacing marks.
    var stripAccents = true
    /// Apply the full lower-case mapping.
    var lowercase = true

    /// Normalizes `input`, whose indices are the code point positions in the original text.
    func normalize(_ input: ArraySlice<Unicode.Scalar>) -> NormalizedText {
        var text = NormalizedText()
        text.scalars.reserveCapacity(input.count)
        text.alignments.reserveCapacity(input.count)
        for index in input.indices {
            var scalar = input[index]
            if cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || BertCharacters.isControl(scalar) { continue }
                if BertCharacters.isWhitespace(scalar) { scalar = " " }
            }
            if handleChineseChars && BertCharacters.isChineseCharacter(scalar) {
                text.scalars.append(contentsOf: [" ", scalar, " "])
                text.alignments.append(contentsOf: [index, index, index])
            } else {
                text.scalars.append(scalar)
                text.alignments.append(index)
            }
        }
        if stripAccents { text = Self.strippingAccents(text) }
        if lowercase { text = Self.lowercasing(text) }
        return text
    }

    // MARK: Accent stripping

    /// NFD followed by removal of non-spacing marks, with the reference's alignment rules.
    ///
    /// Each character is replaced by its full canonical decomposition, then runs of non-starters are
    /// stably sorted by combining class. Like `NormalizedString::transform`, the first piece of a
    /// decomposition "replaces" the next original position (and takes its alignment) and further
    /// pieces are "inserted" (and take the alignment of the previous original position); these
    /// roles travel with the pieces when reordering moves them.
    static func strippingAccents(_ text: NormalizedText) -> NormalizedText {
        // Fast path: nothing decomposes and nothing can be a mark.
        if !text.scalars.contains(where: { $0.value >= 0xC0 }) { return text }

        var pieces: [Unicode.Scalar] = []
        var inserted: [Bool] = []
        var classes: [UInt8] = []
        pieces.reserveCapacity(text.scalars.count + 8)
        inserted.reserveCapacity(text.scalars.count + 8)
        classes.reserveCapacity(text.scalars.count + 8)
        for scalar in text.scalars {
            if let decomposition = CanonicalDecomposition.decompose(scalar) {
                for (position, piece) in decomposition.enumerated() {
                    pieces.append(piece)
                    inserted.append(position > 0)
                    classes.append(BertCharacters.combiningClass(piece))
                }
            } else {
                pieces.append(scalar)
                inserted.append(false)
                classes.append(BertCharacters.combiningClass(scalar))
            }
        }
        reorderCanonically(&pieces, inserted: &inserted, classes: classes)

        var result = NormalizedText()
        result.scalars.reserveCapacity(pieces.count)
        result.alignments.reserveCapacity(pieces.count)
        var position = 0
        for (piece, isInserted) in zip(pieces, inserted) {
            let alignment: Int
            if isInserted {
                alignment = text.alignments[max(position - 1, 0)]
            } else {
                alignment = text.alignments[min(position, text.alignments.count - 1)]
                position += 1
            }
            if BertCharacters.isNonspacingMark(piece) { continue }
            result.scalars.append(piece)
            result.alignments.append(alignment)
        }
        return result
    }

    /// Stable-sorts every run of non-starters (combining class > 0) by combining class.
    private static func reorderCanonically(_ pieces: inout [Unicode.Scalar], inserted: inout [Bool],
                                           classes: [UInt8]) {
        var start = 0
        while start < pieces.count {
            guard classes[start] != 0 else { start += 1; continue }
            var end = start + 1
            while end < pieces.count && classes[end] != 0 { end += 1 }
            if end - start > 1 {
                let order = (start..<end).sorted { (classes[$0], $0) < (classes[$1], $1) }
                let sortedPieces = order.map { pieces[$0] }
                let sortedInserted = order.map { inserted[$0] }
                pieces.replaceSubrange(start..<end, with: sortedPieces)
                inserted.replaceSubrange(start..<end, with: sortedInserted)
            }
            start = end
        }
    }

    // MARK: Lower-casing

    /// Applies the full lower-case mapping; extra scalars (as in `İ` → `i̇`) share the alignment of
    /// the character they came from.
    static func lowercasing(_ text: NormalizedText) -> NormalizedText {
        var result = NormalizedText()
        result.scalars.reserveCapacity(text.scalars.count)
        result.alignments.reserveCapacity(text.scalars.count)
        for (scalar, alignment) in zip(text.scalars, text.alignments) {
            let before = result.scalars.count
            BertCharacters.appendLowercase(scalar, to: &result.scalars)
            for _ in before..<result.scalars.count { result.alignments.append(alignment) }
        }
        return result
    }
}

// MARK: - Pre-tokenizer

/// `BertPreTokenizer`: splits normalized text into words on whitespace (removed) and punctuation
/// (each punctuation character is a word of its own).
enum BertPreTokenizer {
    /// The `[start, end)` ranges of the words of `scalars`, in order; never empty.
    static func words(in scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var wordStart: Int? = nil
        for (index, scalar) in scalars.enumerated() {
            if BertCharacters.isWhitespace(scalar) {
                if let start = wordStart { words.append(start..<index); wordStart = nil }
            } else if BertCharacters.isPunctuation(scalar) {
                if let start = wordStart { words.append(start..<index); wordStart = nil }
                words.append(index..<(index + 1))
            } else if wordStart == nil {
                wordStart = index
            }
        }
        if let start = wordStart { words.append(start..<scalars.count) }
        return words
    }
}
