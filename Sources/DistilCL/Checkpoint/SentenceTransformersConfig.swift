import Foundation

/// How a sentence-transformers folder says its embeddings are made, read as sentence-transformers
/// and text-embeddings-inference read it: `sentence_bert_config.json`'s `max_seq_length` (inputs
/// are cut there, not at `max_position_embeddings`), the pooling mode of the `Pooling` module's
/// `config.json` (`1_Pooling/` as `modules.json` names it), and whether `modules.json` ends in a
/// `Normalize` module. A plain Hugging Face folder has none of these files.
public struct SentenceTransformersConfig: Sendable, Equatable {
    /// Tokens per input, [CLS] and [SEP] included; nil when not set.
    public var maxSeqLength: Int?
    /// The pooling the Pooling module sets (`mean` or `cls`); nil when there is none.
    public var pooling: SentencePooling?
    /// A `Normalize` module follows the pooling: embeddings are L2-normalised.
    public var normalize = false
    /// Why the Pooling module's mode cannot be used (a mode DistilCL does not compute), when
    /// so; `pooling` is then nil, and the folder works only with a pooling given explicitly.
    public var unsupportedPooling: String?

    public init(maxSeqLength: Int? = nil, pooling: SentencePooling? = nil, normalize: Bool = false,
                unsupportedPooling: String? = nil) {
        self.maxSeqLength = maxSeqLength
        self.pooling = pooling
        self.normalize = normalize
        self.unsupportedPooling = unsupportedPooling
    }

    /// The folder's sentence-transformers settings, or nil when it has neither `modules.json`
    /// nor `sentence_bert_config.json`. A file that is there but malformed throws
    /// `CheckpointError`; a pooling mode DistilCL does not compute (max, mean-sqrt-len,
    /// weighted mean, last token) is recorded in `unsupportedPooling`.
    public static func read(directory: URL) throws -> SentenceTransformersConfig? {
        let fm = FileManager.default
        let modulesURL = directory.appendingPathComponent("modules.json")
        let bertURL = directory.appendingPathComponent("sentence_bert_config.json")
        guard fm.fileExists(atPath: modulesURL.path) || fm.fileExists(atPath: bertURL.path) else { return nil }
        var config = SentenceTransformersConfig()

        if fm.fileExists(atPath: bertURL.path) {
            let json = try object(bertURL)
            if let value = json["max_seq_length"], !(value is NSNull) {
                guard let n = (value as? NSNumber)?.intValue, n >= 3 else {
                    throw CheckpointError.invalidConfigValue(file: bertURL.path, key: "max_seq_length",
                                                             reason: "expected an integer of at least 3, got \(value)")
                }
                config.maxSeqLength = n
            }
        }
        guard fm.fileExists(atPath: modulesURL.path) else { return config }
        guard let modules = (try? JSONSerialization.jsonObject(with: data(modulesURL))) as? [[String: Any]] else {
            throw CheckpointError.configNotJSON(file: modulesURL.path, reason: "expected a JSON array of modules")
        }
        for module in modules {
            let type = module["type"] as? String ?? ""
            if type.hasSuffix(".Normalize") { config.normalize = true }
            if type.hasSuffix(".Pooling") {
                let poolingURL = directory.appendingPathComponent(module["path"] as? String ?? "")
                    .appendingPathComponent("config.json")
                do {
                    config.pooling = try pooling(poolingURL)
                } catch CheckpointError.invalidConfigValue(let file, _, let reason) {
                    config.unsupportedPooling = "\(file): \(reason)"
                }
            }
        }
        return config
    }

    /// The one mode a Pooling module's `config.json` turns on.
    private static func pooling(_ url: URL) throws -> SentencePooling {
        let json = try object(url)
        let on = json.filter { $0.key.hasPrefix("pooling_mode") && ($0.value as? Bool ?? false) }.map(\.key).sorted()
        if let mode = json["pooling_mode"] as? String, on.isEmpty {   // newer files name the mode
            switch mode {
            case "mean": return .mean
            case "cls": return .cls
            default: break
            }
            throw CheckpointError.invalidConfigValue(file: url.path, key: "pooling_mode",
                                                     reason: "'\(mode)' pooling is not supported (mean and cls are)")
        }
        switch on {
        case ["pooling_mode_mean_tokens"]: return .mean
        case ["pooling_mode_cls_token"]: return .cls
        default:
            throw CheckpointError.invalidConfigValue(
                file: url.path, key: on.first ?? "pooling_mode_*",
                reason: "pooling \(on.isEmpty ? "none" : on.joined(separator: " + ")) is not supported (one of mean or cls tokens is)")
        }
    }

    private static func data(_ url: URL) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError.fileNotFound(file: url.path)
        }
        return data
    }

    private static func object(_ url: URL) throws -> [String: Any] {
        let raw = try data(url)
        guard let json = (try? JSONSerialization.jsonObject(with: raw)) as? [String: Any] else {
            throw CheckpointError.configNotJSON(file: url.path, reason: "not a JSON object")
        }
        return json
    }
}
