import ArgumentParser
import DistilCL
import DistilCLServer
import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "An HTTP server for one model: text-embeddings-inference's API, dynamic batching, metrics.",
        discussion: """
        Routes (JSON in and out; errors are {"error", "error_type"} with status 400 malformed \
        JSON or empty input, 413 body over --payload-limit, 422 validation (too many inputs, a \
        text over the maximum length without "truncate", a route the model has no head for), \
        429 with Retry-After over --max-concurrent-requests, 503 while loading or after \
        --queue-timeout-ms in the queue; 499 in /metrics for a client that hung up first):
          POST /predict         {"inputs": text | [text, pair] | [...], "raw_scores", "truncate"} (classification head)
          POST /embed           {"inputs": text | [text, ...], "normalize" (default true), "truncate"}
          POST /v1/embeddings   OpenAI: {"input", "model", "encoding_format": "float" | "base64"}
          POST /tokenize        {"inputs", "add_special_tokens"}
          POST /zero_shot       {"inputs", "labels": ["NAME=description", ...]}
          POST /qa              {"inputs": {"question", "context"} | [...], "top_k", ...} (QA head)
          POST /ner             {"inputs", "aggregation_strategy"} (token-classification head)
          POST /fill_mask       {"inputs", "top_k"} (masked-LM head)
          GET  /health /ready /info /metrics

        Requests from every route queue in one FIFO in front of the model; a batch is cut when \
        the next request would pass --max-batch-tokens or --max-batch-requests, or \
        --max-batch-delay-ms after its first request; its texts are length-sorted and run \
        --batch-size at a time, as the batch commands run them. A request whose client has gone \
        is dropped before it runs. SIGTERM or SIGINT: /ready answers 503, no new connections, \
        every accepted request is answered (requests on open connections are still served), \
        then exit 0 (at most --shutdown-timeout; a batch already running is finished).

        Example:
          distilcl serve --model models/all-MiniLM-L6-v2 --port 8080 &
          curl -s localhost:8080/embed -H 'Content-Type: application/json' -d '{"inputs": "Hello"}'

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on (0: any free port, printed when listening).", valueName: "port"))
    var port = 8080

    @Option(help: ArgumentHelp("mean or cls: the embedding routes' pooling.",
                               discussion: "Default: a sentence-transformers folder's Pooling module, else mean."))
    var pooling: SentencePooling?

    @Option(help: ArgumentHelp("Most tokens in one batch.", valueName: "n"))
    var maxBatchTokens = 16_384

    @Option(help: ArgumentHelp("Most requests in one batch.", valueName: "n"))
    var maxBatchRequests = 64

    @Option(help: ArgumentHelp("Longest wait for a batch to fill after its first request, in milliseconds.", valueName: "ms"))
    var maxBatchDelayMs = 2.0

    @Option(help: ArgumentHelp("Largest request body in bytes (413 above).", valueName: "bytes"))
    var payloadLimit = 2_000_000

    @Option(help: ArgumentHelp("Most inputs in one request (422 above).", valueName: "n"))
    var maxClientBatchSize = 32

    @Option(help: ArgumentHelp("Most inference requests in flight (429 with Retry-After above).", valueName: "n"))
    var maxConcurrentRequests = 512

    @Option(help: ArgumentHelp("Longest wait in the batch queue, in milliseconds (503 after).", valueName: "ms"))
    var queueTimeoutMs = 30_000

    @Option(help: ArgumentHelp("Longest wait for accepted requests after SIGTERM, in seconds.", valueName: "s"))
    var shutdownTimeout = 30.0

    @Flag(help: "Cut inputs over the maximum length when a request does not say \"truncate\" (else 422).")
    var autoTruncate = false

    func validate() throws {
        for (name, value) in [("--max-batch-tokens", maxBatchTokens), ("--max-batch-requests", maxBatchRequests),
                              ("--payload-limit", payloadLimit), ("--max-client-batch-size", maxClientBatchSize),
                              ("--max-concurrent-requests", maxConcurrentRequests), ("--queue-timeout-ms", queueTimeoutMs)]
        where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        guard maxBatchDelayMs >= 0, maxBatchDelayMs <= 60_000 else {
            throw ValidationError("--max-batch-delay-ms must be from 0 to 60000, got \(maxBatchDelayMs)")
        }
        guard shutdownTimeout > 0, shutdownTimeout <= 86_400 else {
            throw ValidationError("--shutdown-timeout must be more than 0 and at most 86400, got \(shutdownTimeout)")
        }
    }

    var serverConfiguration: ServerConfiguration {
        var c = ServerConfiguration()
        c.host = host
        c.port = port
        c.batching = .init(maxBatchTokens: maxBatchTokens, maxBatchRequests: maxBatchRequests,
                           maxDelay: .microseconds(Int64((maxBatchDelayMs * 1000).rounded())))
        c.batchSize = device.batchSize
        c.payloadLimit = payloadLimit
        c.maxClientBatchSize = maxClientBatchSize
        c.maxConcurrentRequests = maxConcurrentRequests
        c.queueTimeout = .milliseconds(queueTimeoutMs)
        c.shutdownTimeout = .milliseconds(Int64((shutdownTimeout * 1000).rounded()))
        c.autoTruncate = autoTruncate
        return c
    }

    func run() async throws {
        // Folder and device are checked before the server listens (statuses 3, 5, 64); the
        // weights are uploaded and warmed up once it listens (/ready says when).
        let (loader, folder) = try await runReportingErrors { () -> (ModelLoader, ModelLoader.Folder) in
            let directory = try model.requireDirectory()
            let backend = try device.makeBackend()
            let loader = ModelLoader(directory: directory, maxLength: model.maxLength, pooling: pooling, backend: backend)
            do { return (loader, try loader.readFolder()) } catch let e as ServerSetupError { throw CLIError.usage(e.description) }
        }
        let server = Server(loader: loader, folder: folder, configuration: serverConfiguration)
        let host = self.host
        try await runReportingErrors {
            try await server.run { port in
                // The one line scripts wait for: the port (useful with --port 0).
                writeStderr("distilcl serve: listening on http://\(host):\(port) (loading the model; GET /ready)\n")
            }
        }
        // The last line: what was answered, so a drain can be checked against what clients got.
        let answered = server.state.answeredByStatus
        let total = answered.values.reduce(0, +)
        let byStatus = answered.keys.sorted().map { "\($0): \(answered[$0] ?? 0)" }.joined(separator: ", ")
        writeStderr("distilcl serve: stopped; answered \(total) inference requests\(total > 0 ? " (\(byStatus))" : "")\n")
    }
}

extension SentencePooling: ExpressibleByArgument {}
