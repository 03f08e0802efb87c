// The WordPiece model: splits one pre-tokenized word into vocabulary pieces.
//
// Mirrors `WordPiece::tokenize` of Hugging Face `tokenizers` 0.22: greedy longest match from the
// left, continuation pieces spelled with the `##` prefix, and the whole word becoming a single
// unknown token when it is too long or some part of it cannot be matched.

// MARK: - Word pieces

/// One piece of a word: its vocabulary id and the normalized scalars it covers.
struct WordPieceToken: Sendable, Equatable {
    /// Vocabulary id of the piece (the unknown token's id for an unmatched word).
    var id: Int
    /// `[start, end)` indices, in the normalized scalars, of the text the piece covers.
    var range: Range<Int>
}

// MARK: - Model

/// Greedy longest-match-first WordPiece tokenization over a `WordPieceVocabulary`.
struct WordPiece: Sendable {
    /// The default prefix marking a piece that continues a word.
    static let defaultContinuingSubwordPrefix = "##"
    /// The default longest word (in code points) that is split rather than mapped to unknown.
    static let defaultMaxInputCharsPerWord = 100

    /// The vocabulary pieces are looked up in.
    let vocabulary: WordPieceVocabulary
    /// Id of the unknown token (`[UNK]`).
    let unknownID: Int
    /// Words with more code points than this become a single unknown token.
    let maxInputCharsPerWord: Int
    /// Trie node reached by the continuation prefix, `nil` when no vocabulary token starts with it.
    private let continuationNode: Int32?

    /// A WordPiece model over `vocabulary`; `unknownID` must be an id of the vocabulary.
    init(vocabulary: WordPieceVocabulary, unknownID: Int,
         continuingSubwordPrefix: String = WordPiece.defaultContinuingSubwordPrefix,
         maxInputCharsPerWord: Int = WordPiece.defaultMaxInputCharsPerWord) {
        self.vocabulary = vocabulary
        self.unknownID = unknownID
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.continuationNode = vocabulary.trie.node(after: continuingSubwordPrefix.unicodeScalars)
    }

    // MARK: Tokenization

    /// Splits the word `scalars[range]` into pieces, appending them to `output`.
    ///
    /// The first piece is the longest vocabulary token that is a prefix of the word; each following
    /// piece the longest `##`-prefixed token matching the rest. A word longer than
    /// `maxInputCharsPerWord`, or one whose remainder matches no token, becomes one unknown token
    /// covering the whole word.
    func tokenize(_ scalars: [Unicode.Scalar], range: Range<Int>, into output: inout [WordPieceToken]) {
        if range.isEmpty { return }
        if range.count > maxInputCharsPerWord {
            output.append(WordPieceToken(id: unknownID, range: range))
            return
        }
        let trie = vocabulary.trie
        let firstOutput = output.count
        var start = range.lowerBound
        while start < range.upperBound {
            let matchRoot = start == range.lowerBound ? VocabularyTrie.root : continuationNode
            guard let root = matchRoot,
                  let match = longestMatch(in: scalars, from: start, to: range.upperBound, root: root, trie: trie)
            else {
                output.removeSubrange(firstOutput...)
                output.append(WordPieceToken(id: unknownID, range: range))
                return
            }
            output.append(WordPieceToken(id: match.id, range: start..<match.end))
            start = match.end
        }
    }

    /// Convenience for tests: the pieces of a whole word.
    func tokenize(_ word: String) -> [WordPieceToken] {
        let scalars = Array(word.unicodeScalars)
        var output: [WordPieceToken] = []
        tokenize(scalars, range: 0..<scalars.count, into: &output)
        return output
    }

    /// The longest token spelled by `scalars[start..<end']` (for some `end' <= end`) below `root`.
    @inline(__always)
    private func longestMatch(in scalars: [Unicode.Scalar], from start: Int, to end: Int, root: Int32,
                              trie: VocabularyTrie) -> (id: Int, end: Int)? {
        var node = root
        var best: (id: Int, end: Int)? = nil
        var index = start
        while index < end, let next = trie.child(of: node, scalars[index]) {
            node = next
            index += 1
            if let id = trie.id(at: node) { best = (id, index) }
        }
        return best
    }
}
