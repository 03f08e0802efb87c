import Foundation

// The WordPiece vocabulary (`vocab.txt`) and the tokenizer's error type.

// MARK: - Errors

/// Why a tokenizer could not be created.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// There is no file at `path` (the vocabulary, usually `vocab.txt`).
    case vocabularyNotFound(path: String)
    /// The file at `path` exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// Line `line` (1-based) of the vocabulary at `path` is not valid UTF-8.
    case invalidUTF8(path: String, line: Int)
    /// The vocabulary at `path` has no tokens.
    case emptyVocabulary(path: String)
    /// A special token the tokenizer needs (such as `[UNK]`) is not in the vocabulary at `path`.
    case missingSpecialToken(token: String, path: String)
    /// `tokenizer_config.json` at `path` is not a JSON object or has a field of the wrong type.
    case invalidConfiguration(path: String, reason: String)

    public var description: String {
        switch self {
        case .vocabularyNotFound(let path):
            return "WordPiece vocabulary not found: no file at \(path)"
        case .unreadableFile(let path, let reason):
            return "Could not read \(path): \(reason)"
        case .invalidUTF8(let path, let line):
            return "WordPiece vocabulary \(path) is not valid UTF-8 (line \(line))"
        case .emptyVocabulary(let path):
            return "WordPiece vocabulary \(path) contains no tokens"
        case .missingSpecialToken(let token, let path):
            return "Special token \(token) is missing from the WordPiece vocabulary \(path)"
        case .invalidConfiguration(let path, let reason):
            return "Invalid tokenizer configuration \(path): \(reason)"
        }
    }
}

// MARK: - Vocabulary

/// A WordPiece vocabulary: token strings and their ids, with a prefix trie for longest matches.
///
/// Tokens are compared scalar by scalar, as the reference compares bytes: Swift's `String`
/// equality would treat canonically equivalent spellings (precomposed `é` and `e` + U+0301) as the
/// same token, which the reference does not.
struct WordPieceVocabulary: Sendable {
    /// The trie holding every token.
    private(set) var trie = VocabularyTrie()
    /// Token string for each id; `nil` for an id whose line was overridden by a later duplicate.
    private(set) var tokensByID: [String?] = []

    /// Number of ids (lines of `vocab.txt`), i.e. one more than the largest id.
    var count: Int { tokensByID.count }

    /// Builds a vocabulary from tokens in id order (a later duplicate takes over the token).
    init<S: Sequence>(tokens: S) where S.Element == String {
        for token in tokens { append(token) }
    }

    /// Reads `vocab.txt`: one token per line, the id being the 0-based line number.
    ///
    /// Like `WordPiece::read_file` of `tokenizers`: lines are split on `\n`, trailing whitespace
    /// (including `\r`) is removed, and a final newline does not start an extra token.
    init(contentsOf url: URL) throws {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw TokenizerError.vocabularyNotFound(path: path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        try self.init(data: data, path: path)
    }

    /// Parses the bytes of a `vocab.txt`; `path` only names the file in errors.
    init(data: Data, path: String) throws {
        let bytes = [UInt8](data)
        tokensByID.reserveCapacity(bytes.count / 7)
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            guard let line = String(validating: bytes[lineStart..<lineEnd], as: UTF8.self) else {
                throw TokenizerError.invalidUTF8(path: path, line: lineNumber)
            }
            append(Self.trimmingTrailingWhitespace(line))
            lineStart = lineEnd + 1
        }
        guard !tokensByID.isEmpty else { throw TokenizerError.emptyVocabulary(path: path) }
    }

    // MARK: Lookup

    /// The id of `token`, compared scalar by scalar.
    func id(of token: String) -> Int? {
        trie.id(of: token.unicodeScalars)
    }

    /// The token string of `id`, or `nil` when out of range.
    func token(of id: Int) -> String? {
        guard id >= 0 && id < tokensByID.count else { return nil }
        return tokensByID[id]
    }

    // MARK: Building

    private mutating func append(_ token: String) {
        let id = tokensByID.count
        if let previous = trie.insert(token.unicodeScalars, id: id) {
            tokensByID[previous] = nil
        }
        tokensByID.append(token)
    }

    /// Rust's `str::trim_end`: removes trailing `White_Space` characters.
    private static func trimmingTrailingWhitespace(_ line: String) -> String {
        let scalars = line.unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex {
            let previous = scalars.index(before: end)
            guard scalars[previous].properties.isWhitespace else { break }
            end = previous
        }
        return end == scalars.endIndex ? line : String(scalars[scalars.startIndex..<end])
    }
}

// MARK: - Trie

/// A prefix trie over Unicode scalars mapping token strings to ids.
///
/// Nodes are integers; the edges of all nodes live in one dictionary keyed by
/// `(node << 32) | scalar`, which keeps the structure compact and `Sendable`.
struct VocabularyTrie: Sendable {
    /// The root node (the empty string).
    static let root: Int32 = 0

    private var edges: [UInt64: Int32] = [:]
    private var ids: [Int32] = [-1]

    /// Inserts `scalars` with `id`; returns the id it replaces, if the token was already present.
    @discardableResult
    mutating func insert<S: Sequence>(_ scalars: S, id: Int) -> Int? where S.Element == Unicode.Scalar {
        var node = Self.root
        for scalar in scalars {
            let key = Self.key(node, scalar)
            if let next = edges[key] {
                node = next
            } else {
                let next = Int32(ids.count)
                ids.append(-1)
                edges[key] = next
                node = next
            }
        }
        let previous = ids[Int(node)]
        ids[Int(node)] = Int32(id)
        return previous >= 0 ? Int(previous) : nil
    }

    /// The node reached from `node` by `scalar`, if any.
    @inline(__always)
    func child(of node: Int32, _ scalar: Unicode.Scalar) -> Int32? {
        edges[Self.key(node, scalar)]
    }

    /// The id of the token ending at `node`, if a token ends there.
    @inline(__always)
    func id(at node: Int32) -> Int? {
        let id = ids[Int(node)]
        return id >= 0 ? Int(id) : nil
    }

    /// The node reached from `node` by following `scalars`, if the whole path exists.
    func node<S: Sequence>(after scalars: S, from node: Int32 = root) -> Int32? where S.Element == Unicode.Scalar {
        var current = node
        for scalar in scalars {
            guard let next = child(of: current, scalar) else { return nil }
            current = next
        }
        return current
    }

    /// The id of the token spelled by `scalars`.
    func id<S: Sequence>(of scalars: S) -> Int? where S.Element == Unicode.Scalar {
        node(after: scalars).flatMap { id(at: $0) }
    }

    @inline(__always)
    private static func key(_ node: Int32, _ scalar: Unicode.Scalar) -> UInt64 {
        (UInt64(UInt32(bitPattern: node)) << 32) | UInt64(scalar.value)
    }
}
