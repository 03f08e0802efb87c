import DistilCL
import Foundation

/// What `distilcl serve` is told: where to listen, how to batch, and the limits that shed load.
/// The defaults are text-embeddings-inference's where it has the setting.
public struct ServerConfiguration: Sendable {
    /// `--host`: loopback unless told otherwise.
    public var host = "127.0.0.1"
    /// `--port`; 0 picks a free port (tests).
    public var port = 8080
    /// `--max-batch-tokens`, `--max-batch-requests`, `--max-batch-delay-ms`.
    public var batching = DynamicBatcher<ForwardJob, [[[Float]]]>.Limits()
    /// `--batch-size`: inputs per forward pass within a batch (as the CLI's).
    public var batchSize = 32
    /// `--payload-limit`: the largest request body, in bytes (413 above).
    public var payloadLimit = 2_000_000
    /// `--max-client-batch-size`: the most inputs one request may carry (422 above).
    public var maxClientBatchSize = 32
    /// `--max-concurrent-requests`: inference requests in flight at once (429 above).
    public var maxConcurrentRequests = 512
    /// `--queue-timeout-ms`: the longest a request waits in the batcher's queue (503 after).
    public var queueTimeout: Duration = .seconds(30)
    /// `--shutdown-timeout`: how long SIGTERM waits for accepted requests before it gives up.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `--auto-truncate`: cut inputs over the maximum length when a request does not say
    /// `"truncate"`, instead of answering 422.
    public var autoTruncate = false

    public init() {}
}

/// The model a server serves, ready to run: its folder's settings, its tokenizer, and the
/// engine (batcher and model thread) in front of it.
public struct ServedModel: Sendable {
    /// The model's name in `/info` and `/v1/embeddings` (the folder's name).
    public var name: String
    public var config: ModelConfig
    public var tokenizer: BertTokenizer
    /// Tokens per input ([CLS] and [SEP] included) for the head's routes (`/predict`, `/ner`,
    /// `/fill_mask`, `/qa`'s default window cap): `ModelFolder.maxLength(for: .task)`.
    public var taskMaxLength: Int
    /// Tokens per input for the embedding routes and `/zero_shot`: `ModelFolder.maxLength(for:
    /// .embedding)` (a sentence-transformers `max_seq_length` applies here only).
    public var embeddingMaxLength: Int
    /// The embedding routes' pooling (`--pooling`, else the folder's Pooling module, else mean).
    public var pooling: SentencePooling
    /// Whether the folder ends in a sentence-transformers Normalize module (shown in `/info`).
    public var folderNormalizes: Bool
    /// The backend, in words (`/info`).
    public var device: String
    public var engine: InferenceEngine
    /// `/zero_shot`'s label descriptions, embedded once per label set.
    public let zeroShotCache: ZeroShotCache

    public init(name: String, config: ModelConfig, tokenizer: BertTokenizer, taskMaxLength: Int, embeddingMaxLength: Int,
                pooling: SentencePooling, folderNormalizes: Bool, device: String, engine: InferenceEngine,
                zeroShotCache: ZeroShotCache = ZeroShotCache()) {
        self.name = name
        self.config = config
        self.tokenizer = tokenizer
        self.taskMaxLength = taskMaxLength
        self.embeddingMaxLength = embeddingMaxLength
        self.pooling = pooling
        self.folderNormalizes = folderNormalizes
        self.device = device
        self.engine = engine
        self.zeroShotCache = zeroShotCache
    }

    /// Where inputs read for `use` are cut.
    public func maxLength(for use: ModelFolder.Use) -> Int {
        use == .embedding ? embeddingMaxLength : taskMaxLength
    }

    /// What `/info` reports as `max_input_length`: the head's maximum, or for a model without
    /// a head (a sentence-transformers model) the embeddings'.
    var maxInputLength: Int { headRoutes.isEmpty ? embeddingMaxLength : taskMaxLength }

    /// Tokenizes one input read for `use`, cut at its maximum length; over it, 422 unless `truncate`.
    func encode(_ input: TextInput, truncate: Bool, for use: ModelFolder.Use) throws -> Encoding {
        let maxLength = maxLength(for: use)
        let encoding = tokenizer.encode(input.text, pair: input.pair, maxLength: maxLength)
        if encoding.truncatedCount > 0, !truncate {
            throw APIError.validation("Input validation error: `inputs` must have less than \(maxLength) tokens. "
                                      + "Given: \(encoding.count + encoding.truncatedCount) (send \"truncate\": true to cut it)")
        }
        return encoding
    }

    /// The routes this model's head serves beside the ones every model serves.
    var headRoutes: [String] {
        switch config.task {
        case .sequenceClassification: return ["/predict"]
        case .tokenClassification: return ["/ner"]
        case .questionAnswering: return ["/qa"]
        case .maskedLM: return ["/fill_mask"]
        case .encoder, .other: return []
        }
    }

    /// Every inference route this model serves.
    var routes: [String] { headRoutes + ["/embed", "/v1/embeddings", "/zero_shot", "/tokenize"] }

    /// 422 unless the model has the head `route` needs.
    func require(_ task: ModelConfig.Task, for route: String) throws {
        guard config.task != task else { return }
        let what = config.architectures.first ?? "an encoder with no head"
        throw APIError.validation("\(route) needs a model with a \(task.headName) head; this server's model "
                                  + "(\(name)) is \(what) and serves \(routes.joined(separator: ", "))")
    }
}
