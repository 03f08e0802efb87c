import Foundation

// Reading the settings of a Hugging Face model folder's `tokenizer_config.json`.

// MARK: - Configuration

/// The parts of `tokenizer_config.json` a BERT WordPiece tokenizer uses.
///
/// Every field is optional in the file; missing ones take `BertTokenizerFast`'s defaults.
struct TokenizerConfiguration: Sendable, Equatable {
    /// `do_lower_case` (default `true`).
    var doLowerCase = true
    /// `strip_accents` (`nil`: follow `doLowerCase`).
    var stripAccents: Bool? = nil
    /// `tokenize_chinese_chars` (default `true`).
    var tokenizeChineseChars = true
    /// `model_max_length`, `nil` when absent or when it is Hugging Face's "no limit" sentinel (1e30).
    var modelMaxLength: Int? = nil
    /// The special token strings (`cls_token`, `sep_token`, `pad_token`, `unk_token`, `mask_token`).
    var specialTokens = SpecialTokenNames()
    /// Extra tokens from `added_tokens_decoder` matched verbatim in the input text (their
    /// `normalized` flag is false), beside the five special tokens.
    var extraVerbatimTokens: [String] = []

    /// Values of `model_max_length` at or above this are "unlimited" sentinels.
    static let unlimitedLengthThreshold = 1.0e18

    init() {}

    /// Reads `url`; a missing file gives the defaults, a malformed one throws.
    init(contentsOf url: URL) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            self.init()
            return
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        let raw: RawConfiguration
        do {
            raw = try JSONDecoder().decode(RawConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw TokenizerError.invalidConfiguration(path: path, reason: Self.describe(error))
        } catch {
            throw TokenizerError.invalidConfiguration(path: path, reason: "\(error)")
        }
        self.init(raw)
    }

    /// Takes the decoded fields, applying the defaults.
    private init(_ raw: RawConfiguration) {
        doLowerCase = raw.doLowerCase ?? true
        stripAccents = raw.stripAccents
        tokenizeChineseChars = raw.tokenizeChineseChars ?? true
        if let length = raw.modelMaxLength, length >= 1, length < Self.unlimitedLengthThreshold {
            modelMaxLength = Int(length)
        }
        if let cls = raw.clsToken?.content { specialTokens.cls = cls }
        if let sep = raw.sepToken?.content { specialTokens.sep = sep }
        if let pad = raw.padToken?.content { specialTokens.pad = pad }
        if let unk = raw.unkToken?.content { specialTokens.unk = unk }
        if let mask = raw.maskToken?.content { specialTokens.mask = mask }
        let verbatim = (raw.addedTokensDecoder ?? [:]).compactMap { key, entry -> (Int, String)? in
            guard let id = Int(key), entry.normalized != true else { return nil }
            return (id, entry.content)
        }
        let specials = specialTokens.all
        extraVerbatimTokens = verbatim.sorted { $0.0 < $1.0 }.map(\.1).filter { !specials.contains($0) }
    }

    /// A one-line account of a decoding error: what was wrong and at which key.
    private static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(at(context.codingPath)) should be of type \(type)"
        case .valueNotFound(let type, let context):
            return "\(at(context.codingPath)) is missing a value of type \(type)"
        case .keyNotFound(let key, let context):
            return "\(at(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            return "not valid JSON at \(at(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

// MARK: - Raw JSON

/// `tokenizer_config.json` as decoded, before defaults.
private struct RawConfiguration: Decodable {
    var doLowerCase: Bool?
    var stripAccents: Bool?
    var tokenizeChineseChars: Bool?
    var modelMaxLength: Double?
    var clsToken: TokenValue?
    var sepToken: TokenValue?
    var padToken: TokenValue?
    var unkToken: TokenValue?
    var maskToken: TokenValue?
    var addedTokensDecoder: [String: AddedTokenEntry]?

    enum CodingKeys: String, CodingKey {
        case doLowerCase = "do_lower_case", stripAccents = "strip_accents"
        case tokenizeChineseChars = "tokenize_chinese_chars", modelMaxLength = "model_max_length"
        case clsToken = "cls_token", sepToken = "sep_token", padToken = "pad_token"
        case unkToken = "unk_token", maskToken = "mask_token"
        case addedTokensDecoder = "added_tokens_decoder"
    }
}

/// A special token given either as a plain string or as an `AddedToken` object.
private struct TokenValue: Decodable {
    var content: String

    private enum CodingKeys: String, CodingKey { case content }

    init(from decoder: Decoder) throws {
        if let string = try? decoder.singleValueContainer().decode(String.self) {
            content = string
        } else {
            content = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .content)
        }
    }
}

/// One entry of `added_tokens_decoder`.
private struct AddedTokenEntry: Decodable {
    var content: String
    var normalized: Bool?
}

// MARK: - Special token names

/// The strings of the special tokens of a BERT vocabulary.
public struct SpecialTokenNames: Sendable, Equatable {
    /// Classification token starting every sequence.
    public var cls = "[CLS]"
    /// Separator ending each segment.
    public var sep = "[SEP]"
    /// Padding token.
    public var pad = "[PAD]"
    /// Unknown-word token.
    public var unk = "[UNK]"
    /// Masked-language-model mask token.
    public var mask = "[MASK]"

    public init() {}

    /// All five, in the order `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`.
    public var all: [String] { [pad, unk, cls, sep, mask] }
}
