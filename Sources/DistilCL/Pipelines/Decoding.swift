// Turning ids back into text the way `BertTokenizerFast.decode` does: the tokens of the ids
// (special ones dropped on request), the `tokenizers` WordPiece decoder (`##` pieces glued to the
// previous token, other tokens preceded by a space, and its per-token cleanup), then transformers'
// `clean_up_tokenization` over the whole string when `clean_up_tokenization_spaces` is on.

extension BertTokenizer {
    /// The continuation prefix the WordPiece decoder strips (`tokenizer.json` `decoder.prefix`).
    static let decoderPrefix = "##"

    /// Ids of the special tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`) that
    /// `skip_special_tokens=True` drops.
    public var specialTokenIDs: Set<Int> {
        Set(specialTokenNames.all.compactMap { id(of: $0) })
    }

    /// Text for `ids`, like `tokenizer.decode(ids, skip_special_tokens:, clean_up_tokenization_spaces:)`.
    ///
    /// ```swift
    /// tokenizer.decode(tokenizer.encode("Hello, world!").ids)   // "hello, world!"
    /// ```
    ///
    /// - Parameters:
    ///   - ids: token ids, `[seq]`; ids outside the vocabulary are skipped, as `tokenizers` does.
    ///   - skipSpecialTokens: drop `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`.
    ///     (transformers' own default is `false`; the pipelines pass what they need explicitly.)
    ///   - cleanUpSpaces: apply `clean_up_tokenization` (`" ."` → `"."`, `" 's"` → `"'s"`, …) to the
    ///     result, as the checkpoints' `clean_up_tokenization_spaces: true` does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true, cleanUpSpaces: Bool = true) -> String {
        let skipped = skipSpecialTokens ? specialTokenIDs : []
        let tokens = ids.compactMap { id -> String? in
            skipped.contains(id) ? nil : token(of: id)
        }
        let text = convertTokensToString(tokens)
        return cleanUpSpaces ? Self.cleanUpTokenization(text) : text
    }

    /// The WordPiece decoder alone (`convert_tokens_to_string` of a fast tokenizer): every token
    /// but the first loses a leading `##` or gains a leading space, then each token gets the
    /// decoder's cleanup. No `clean_up_tokenization` pass.
    ///
    /// ```swift
    /// tokenizer.convertTokensToString(["bar", "##a", "##ck", "obama", "."])   // "barack obama."
    /// tokenizer.convertTokensToString(["##a"])                                 // "##a"
    /// ```
    public func convertTokensToString(_ tokens: [String]) -> String {
        var output = String.UnicodeScalarView()
        let prefix = Array(Self.decoderPrefix.unicodeScalars)
        for (index, token) in tokens.enumerated() {
            var piece = Array(token.unicodeScalars)
            if index != 0 {
                if piece.starts(with: prefix) {
                    piece.removeFirst(prefix.count)
                } else {
                    piece.insert(" ", at: 0)
                }
            }
            output.append(contentsOf: Self.replacing(Self.decoderCleanupRules, in: piece))
        }
        return String(output)
    }

    /// transformers' `clean_up_tokenization` (tokenization_utils_base.py) on a whole string.
    public static func cleanUpTokenization(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: replacing(pythonCleanupRules, in: Array(text.unicodeScalars)))
        return String(scalars)
    }

    // MARK: Replacement rules

    private typealias Rule = (pattern: [Unicode.Scalar], replacement: [Unicode.Scalar])

    private static func rules(_ pairs: [(String, String)]) -> [Rule] {
        pairs.map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }
    }

    /// `cleanup` of the `tokenizers` WordPiece decoder, applied to each token.
    private static let decoderCleanupRules: [Rule] = rules([
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
        (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ])

    /// transformers' `clean_up_tokenization` (no `" do not"` rule).
    private static let pythonCleanupRules: [Rule] = rules([
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
        (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ])

    /// Applies each rule in turn as Python's `str.replace`: left to right, non-overlapping,
    /// code point by code point. Every pattern starts with a space, so text without one is returned as is.
    private static func replacing(_ rules: [Rule], in scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard scalars.contains(" ") else { return scalars }
        var text = scalars
        for rule in rules {
            text = replace(rule.pattern, with: rule.replacement, in: text)
        }
        return text
    }

    private static func replace(_ pattern: [Unicode.Scalar], with replacement: [Unicode.Scalar],
                                in text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + pattern.count <= text.count && text[i] == pattern[0]
                && text[i..<(i + pattern.count)].elementsEqual(pattern) {
                result.append(contentsOf: replacement)
                i += pattern.count
            } else {
                result.append(text[i])
                i += 1
            }
        }
        return result
    }
}
