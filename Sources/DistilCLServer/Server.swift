import DistilCL
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// The version `/info` reports.
public let distilclVersion = "0.12.0"

/// Reads a checkpoint folder into a `ServedModel`: what the server serves and how it batches.
public struct ModelLoader: Sendable {
    public var directory: URL
    /// `--max-length`; nil: `ModelFolder.maxLength(for:)` (a sentence-transformers `max_seq_length`
    /// for the embedding routes and `/zero_shot`, the model's positions for the others).
    public var maxLength: Int?
    /// `--pooling`; nil: the folder's Pooling module, else mean.
    public var pooling: SentencePooling?
    /// The device the weights go to (`--device`, `--precision`).
    public var backend: any ComputeBackend

    public init(directory: URL, maxLength: Int?, pooling: SentencePooling?, backend: any ComputeBackend) {
        self.directory = directory
        self.maxLength = maxLength
        self.pooling = pooling
        self.backend = backend
    }

    /// What the folder's files say, checked before the weights go anywhere (fast: errors
    /// reach the user before the server listens): the library's `ModelFolder`, read as every
    /// CLI command reads it, and the embedding routes' pooling.
    public struct Folder: Sendable {
        public var model: ModelFolder
        public var pooling: SentencePooling
        public var normalizes: Bool

        public var checkpoint: Checkpoint { model.checkpoint }
        public var tokenizer: BertTokenizer { model.tokenizer }
    }

    /// Reads and checks the folder: config, weights, tokenizer and sentence-transformers settings.
    public func readFolder() throws -> Folder {
        let folder: ModelFolder
        do {
            folder = try ModelFolder(directory: directory, maxLength: maxLength)
        } catch let e as ModelFolderError {
            throw ServerSetupError(e.description)
        }
        let st = folder.sentenceTransformers
        if pooling == nil, let why = st?.unsupportedPooling {
            throw ServerSetupError("\(why); pass --pooling mean or cls to serve embeddings with another")
        }
        return Folder(model: folder, pooling: pooling ?? st?.pooling ?? .mean, normalizes: st?.normalize ?? false)
    }

    /// Uploads the weights and starts the engine (blocking: call off the cooperative pool).
    public func load(_ folder: Folder, configuration: ServerConfiguration, metrics: ServerMetrics?) throws -> ServedModel {
        let model = try EncoderModel(checkpoint: folder.checkpoint, backend: backend)
        let engine = InferenceEngine(runner: ModelRunner(model: model, tokenizer: folder.tokenizer),
                                     limits: configuration.batching, batchSize: configuration.batchSize,
                                     queueTimeout: configuration.queueTimeout, metrics: metrics)
        return ServedModel(name: directory.standardizedFileURL.lastPathComponent, config: folder.checkpoint.config,
                           tokenizer: folder.tokenizer, taskMaxLength: folder.model.maxLength(for: .task),
                           embeddingMaxLength: folder.model.maxLength(for: .embedding), pooling: folder.pooling,
                           folderNormalizes: folder.normalizes, device: backend.name, engine: engine)
    }
}

/// A setting that cannot work with the folder (status 64 from the CLI).
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs one input of every kind the model serves through the engine, so the first real
/// request does not pay for first-use costs (kernel builds, workspace, oneDNN primitives).
public func warmUp(_ m: ServedModel) async throws {
    let text = m.tokenizer.encode("DistilCL warms up.", maxLength: m.taskMaxLength)
    var kinds: [ForwardKind] = [.embed(m.pooling, normalize: true)]
    switch m.config.task {
    case .sequenceClassification: kinds.append(.classify)
    case .tokenClassification: kinds.append(.tokens(.tokenClassification))
    case .questionAnswering: kinds.append(.tokens(.questionAnswering))
    case .maskedLM:
        kinds.append(.maskedLM)
    case .encoder, .other: break
    }
    for kind in kinds {
        let input = kind == .maskedLM
            ? m.tokenizer.encode("DistilCL \(m.tokenizer.specialTokenNames.mask) up.", maxLength: m.taskMaxLength) : text
        _ = try await m.engine.submit(ForwardJob(kind, [input]))
    }
}

/// The model's life inside the server: loads it off the cooperative pool, warms it up, marks
/// the state ready; on SIGTERM/SIGINT marks it draining (`/ready` 503) before the HTTP server
/// stops accepting and finishes what it accepted.
struct ModelService: Service, CustomStringConvertible {
    let loader: ModelLoader
    let folder: ModelLoader.Folder
    let state: ServerState
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let logger: Logger

    var description: String { "model \(loader.directory.path)" }

    func run() async throws {
        let start = ContinuousClock.now
        let (loader, folder, configuration, metrics) = (self.loader, self.folder, self.configuration, self.metrics)
        let model = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try loader.load(folder, configuration: configuration, metrics: metrics) })
            }
        }
        try await warmUp(model)
        // A SIGTERM that came while loading: never report ready.
        guard !Task.isShuttingDownGracefully, !Task.isCancelled else {
            state.beginDraining()
            return
        }
        state.becomeReady(model)
        logger.info("ready: \(model.name) on \(model.device) in \(ContinuousClock.now - start)")
        try? await gracefulShutdown()
        state.beginDraining()
        logger.info("draining: /ready answers 503; finishing accepted requests")
    }
}

/// The HTTP server and the model service in one service group that SIGTERM and SIGINT shut
/// down gracefully within `configuration.shutdownTimeout`.
public struct Server {
    public let state = ServerState()
    public let metrics = ServerMetrics()
    public let configuration: ServerConfiguration
    let loader: ModelLoader
    let folder: ModelLoader.Folder
    let logger: Logger

    public init(loader: ModelLoader, folder: ModelLoader.Folder, configuration: ServerConfiguration,
                logger: Logger = Logger(label: "distilcl.serve")) {
        self.loader = loader
        self.folder = folder
        self.configuration = configuration
        self.logger = logger
    }

    /// Listens, loads, serves until SIGTERM or SIGINT, then drains and returns.
    /// - Parameter onListening: called with the bound port once the server listens.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = makeRouter(state: state, configuration: configuration, metrics: metrics)
        let app = Application(
            router: router, server: httpServer(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "distilcl/\(distilclVersion)"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let model = ModelService(loader: loader, folder: folder, state: state, configuration: configuration,
                                 metrics: metrics, logger: logger)
        var group = ServiceGroupConfiguration(
            // Named: the default name describes the service, which would print every weight.
            services: [.init(service: app, successTerminationBehavior: .cancelGroup, failureTerminationBehavior: .cancelGroup,
                             serviceName: "http"),
                       .init(service: model, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .cancelGroup, serviceName: "model")],
            gracefulShutdownSignals: signals, logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        // No limit after cancellation: a batch already running (or the weights' upload) cannot
        // be interrupted, and service-lifecycle would end the process with fatalError.
        group.maximumCancellationDuration = nil
        try await ServiceGroup(configuration: group).run()
    }
}
