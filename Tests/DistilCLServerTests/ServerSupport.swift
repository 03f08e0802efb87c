import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The repository's test fixtures (copies of shared/reference) and the fetched MiniLM.
enum ServerFixtures {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static func model(_ name: String) -> URL { tests.appendingPathComponent("Fixtures").appendingPathComponent(name) }
    static let miniLM = tests.deletingLastPathComponent().appendingPathComponent("models/all-MiniLM-L6-v2")
    static let repository = tests.deletingLastPathComponent()
}

/// A served tiny model on the CPU path, with its own engine.
func served(_ fixture: String, configuration: ServerConfiguration = ServerConfiguration(),
            metrics: ServerMetrics? = nil, maxLength: Int? = nil) throws -> ServedModel {
    let directory = fixture == "minilm" ? ServerFixtures.miniLM : ServerFixtures.model(fixture)
    let loader = ModelLoader(directory: directory, maxLength: maxLength, pooling: nil, backend: CPUBackend())
    return try loader.load(try loader.readFolder(), configuration: configuration, metrics: metrics)
}

/// An application over `makeRouter`, as `distilcl serve` builds it (without the model service).
func application(_ state: ServerState, _ configuration: ServerConfiguration = ServerConfiguration(),
                 metrics: ServerMetrics = ServerMetrics()) -> some ApplicationProtocol {
    Application(router: makeRouter(state: state, configuration: configuration, metrics: metrics), server: httpServer(),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)))
}

/// The JSON of `object` as a request body.
func body(_ object: Any) -> ByteBuffer {
    ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed])) ?? Data())
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

/// The decoded JSON of a response.
func json(_ response: TestResponse) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView), options: [.fragmentsAllowed])
}

/// `error_type` of an error response whose body is `{"error": non-empty, "error_type"}`, else nil.
func errorType(_ response: TestResponse) -> String? {
    let object = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any]
    guard let message = object?["error"] as? String, !message.isEmpty else { return nil }
    return object?["error_type"] as? String
}

func floatList(_ any: Any?) -> [Float] { (any as? [Any])?.map { Float(($0 as? NSNumber)?.doubleValue ?? .nan) } ?? [] }

/// A runner for the batching and overload tests: answers each input with its token count, and
/// can be held at a gate (so requests pile up in the queue) or fail on a chosen text.
final class GatedRunner: ForwardRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let gate = DispatchSemaphore(value: 0)
    /// Batches run so far (each a list of the inputs' token counts).
    private(set) var passes: [[Int]] = []
    /// Any input with this many tokens fails its pass.
    var failingLength: Int?
    /// Every pass fails with this error (a broken device).
    var failure: (any Error)?

    func hold() { lock.withLock { held = true } }
    func release() {
        let wasHeld = lock.withLock { () -> Bool in
            defer { held = false }
            return held
        }
        if wasHeld { gate.signal() }
    }

    /// Whether a pass is waiting at the gate.
    private(set) var waiting = false

    func run(_ kind: ForwardKind, _ encodings: [Encoding]) throws -> [[[Float]]] {
        let mustWait = lock.withLock { held }
        if mustWait {
            lock.withLock { waiting = true }
            gate.wait()
            lock.withLock { waiting = false }
        }
        lock.withLock { passes.append(encodings.map(\.count)) }
        if let failure { throw failure }
        if let failing = failingLength, encodings.contains(where: { $0.count == failing }) {
            throw ModelError.malformedBatch("test failure for inputs of \(failing) tokens")
        }
        return encodings.map { [[Float($0.count), 0]] }
    }

    var isWaiting: Bool { lock.withLock { waiting } }
}

/// A served model whose engine runs `runner` (tokenizer and config from the SST fixture).
func served(runner: any ForwardRunner, configuration: ServerConfiguration = ServerConfiguration(),
            metrics: ServerMetrics? = nil) throws -> ServedModel {
    var m = try served("tiny-distilbert-sst", configuration: configuration)
    m.engine = InferenceEngine(runner: runner, limits: configuration.batching, batchSize: configuration.batchSize,
                               queueTimeout: configuration.queueTimeout, metrics: metrics)
    return m
}

/// Polls `condition` every 5 ms until it holds (no upper bound on time: a hang fails by the
/// suite's own time limit, never by a wall-clock guess).
func eventually(_ condition: @Sendable () async -> Bool) async {
    while await !condition() { try? await Task.sleep(for: .milliseconds(5)) }
}
