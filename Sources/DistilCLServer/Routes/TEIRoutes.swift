import DistilCL
import Foundation
import Hummingbird

/// The route handlers. TEI's routes (`/predict`, `/embed`, `/v1/embeddings`, `/tokenize`) take
/// and give TEI's shapes; the status routes live here too.
struct API: Sendable {
    let state: ServerState
    let configuration: ServerConfiguration
    let metrics: ServerMetrics

    /// The request's JSON object; 413 over `--payload-limit` (by Content-Length when sent,
    /// else while reading), 400 when it is not a JSON object.
    func body(_ request: Request, _ context: ServerContext) async throws -> JSONRequest {
        let limit = configuration.payloadLimit
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, .payloadTooLarge, "The request body (\(length) bytes) is larger than the payload limit of \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, .payloadTooLarge, "The request body is larger than the payload limit of \(limit) bytes")
        }
        return try JSONRequest(buffer)
    }

    /// 422 when a request carries more than `--max-client-batch-size` inputs.
    func checkBatch(_ count: Int) throws {
        let limit = configuration.maxClientBatchSize
        guard count <= limit else {
            throw APIError.validation("batch size \(count) > maximum allowed batch size \(limit) (--max-client-batch-size)")
        }
    }

    /// `"truncate"`, else `--auto-truncate`.
    func truncate(_ body: JSONRequest) throws -> Bool { try body.bool("truncate") ?? configuration.autoTruncate }

    // MARK: - Status

    func ready() throws -> Response {
        switch state.phase {
        case .ready: return jsonResponse(["status": "ready"])
        case .starting: throw APIError.notReady("The model is still loading")
        case .draining: throw APIError.notReady("The server is shutting down")
        }
    }

    struct Info: Encodable {
        var model_id: String
        var model_type: String
        var architecture: String
        var task: String
        var labels: [String]?
        var pooling: String
        var normalize: Bool
        var device: String
        var max_input_length: Int
        var max_batch_tokens: Int
        var max_batch_requests: Int
        var max_batch_delay_ms: Double
        var batch_size: Int
        var max_client_batch_size: Int
        var max_concurrent_requests: Int
        var payload_limit: Int
        var auto_truncate: Bool
        var routes: [String]
        var version: String
    }

    func info() throws -> Response {
        let m = try state.model()
        let c = configuration
        return jsonResponse(Info(
            model_id: m.name, model_type: m.config.modelType.rawValue, architecture: m.config.architectures.first ?? "",
            task: m.config.task.headName, labels: m.config.task == .sequenceClassification
                || m.config.task == .tokenClassification ? m.config.labels : nil,
            pooling: m.pooling.rawValue, normalize: m.folderNormalizes, device: m.device, max_input_length: m.maxInputLength,
            max_batch_tokens: c.batching.maxBatchTokens, max_batch_requests: c.batching.maxBatchRequests,
            max_batch_delay_ms: c.batching.maxDelay.seconds * 1000,
            batch_size: c.batchSize, max_client_batch_size: c.maxClientBatchSize,
            max_concurrent_requests: c.maxConcurrentRequests, payload_limit: c.payloadLimit,
            auto_truncate: c.autoTruncate, routes: m.routes, version: distilclVersion))
    }

    // MARK: - TEI

    /// `POST /predict`: `{"inputs": text | [text, pair] | [text or [text, pair], …], "raw_scores",
    /// "truncate"}` → `[{label, score}]` best first (a list of those for a list input).
    func predict(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        try m.require(.sequenceClassification, for: "/predict")
        let (inputs, isBatch) = try body.texts("inputs", pairs: true)
        try checkBatch(inputs.count)
        let truncate = try truncate(body)
        let raw = try body.bool("raw_scores") ?? false
        let encodings = try inputs.map { try m.encode($0, truncate: truncate, for: .task) }
        let outputs = try await m.engine.submit(ForwardJob(.classify, encodings, clientGone: await context.clientGone()))
        let lists = outputs.map {
            TextClassification.scores(logits: $0.first ?? [], labels: m.config.labels, function: raw ? ClassificationFunction.none : .default(for: m.config))
        }
        return isBatch ? jsonResponse(lists) : jsonResponse(lists[0])
    }

    /// The pooled embeddings of `texts`, L2-normalised when `normalize`.
    func embeddings(_ texts: [TextInput], _ m: ServedModel, normalize: Bool, truncate: Bool,
                    _ context: ServerContext) async throws -> (vectors: [[Float]], tokens: Int) {
        let encodings = try texts.map { try m.encode($0, truncate: truncate, for: .embedding) }
        let outputs = try await m.engine.submit(ForwardJob(.embed(m.pooling, normalize: normalize), encodings,
                                                           clientGone: await context.clientGone()))
        return (outputs.map { $0.first ?? [] }, encodings.reduce(0) { $0 + $1.count })
    }

    /// `POST /embed`: `{"inputs": text | [text, …], "normalize" (default true, as TEI), "truncate"}`
    /// → `[[float]]`, one vector per text.
    func embed(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        let (inputs, _) = try body.texts("inputs")
        try checkBatch(inputs.count)
        let normalize = try body.bool("normalize") ?? true
        return jsonResponse(try await embeddings(inputs, m, normalize: normalize, truncate: try truncate(body), context).vectors)
    }

    struct OpenAIEmbedding: Encodable {
        var object = "embedding"
        var embedding: EmbeddingValue
        var index: Int
    }

    enum EmbeddingValue: Encodable {
        case floats([Float])
        case base64(String)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .floats(let v): try container.encode(v)
            case .base64(let s): try container.encode(s)
            }
        }
    }

    struct OpenAIResponse: Encodable {
        struct Usage: Encodable {
            var prompt_tokens: Int
            var total_tokens: Int
        }
        var object = "list"
        var data: [OpenAIEmbedding]
        var model: String
        var usage: Usage
    }

    /// `POST /v1/embeddings` (OpenAI): `{"input": text | [text, …], "model", "encoding_format":
    /// "float" | "base64"}` → `{"object": "list", "data": [{"object": "embedding", "embedding",
    /// "index"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`; vectors L2-normalised.
    func openAIEmbeddings(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        let (inputs, _) = try body.texts("input")
        try checkBatch(inputs.count)
        let format = try body.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.validation("`encoding_format` must be \"float\" or \"base64\", got \"\(format)\"")
        }
        let (vectors, tokens) = try await embeddings(inputs, m, normalize: true, truncate: try truncate(body), context)
        let data = vectors.enumerated().map { i, v in
            OpenAIEmbedding(embedding: format == "float" ? .floats(v) : .base64(Self.base64(v)), index: i)
        }
        return jsonResponse(OpenAIResponse(data: data, model: m.name,
                                           usage: .init(prompt_tokens: tokens, total_tokens: tokens)))
    }

    /// Little-endian float32 bytes in base64, as OpenAI's `encoding_format: "base64"`.
    static func base64(_ v: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(v.count * 4)
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }

    struct Token: Encodable {
        var id: Int
        var text: String
        var special: Bool
        var start: Int?
        var stop: Int?
    }

    /// `POST /tokenize`: `{"inputs": text | [text, …], "add_special_tokens" (default true)}` →
    /// one list per text of `{id, text, special, start, stop}` (start and stop in Unicode code
    /// points; null for special tokens). Not truncated.
    func tokenize(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        let (inputs, _) = try body.texts("inputs")
        try checkBatch(inputs.count)
        let special = try body.bool("add_special_tokens") ?? true
        let lists = inputs.map { input in
            let e = m.tokenizer.encode(input.text)
            return e.ids.indices.compactMap { i -> Token? in
                let isSpecial = e.sequenceIds[i] == nil
                if isSpecial && !special { return nil }
                return Token(id: e.ids[i], text: e.tokens[i], special: isSpecial,
                             start: isSpecial ? nil : e.offsets[i].start, stop: isSpecial ? nil : e.offsets[i].end)
            }
        }
        return jsonResponse(lists)
    }
}
