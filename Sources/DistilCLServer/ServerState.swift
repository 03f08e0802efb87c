import Foundation

/// The server's life: `starting` until the model is loaded and warmed up, `ready`, then
/// `draining` once SIGTERM or SIGINT arrives. Also counts the inference requests in flight
/// (`--max-concurrent-requests`). Thread-safe.
public final class ServerState: @unchecked Sendable {
    public enum Phase: String, Sendable {
        case starting, ready, draining
    }

    private let lock = NSLock()
    private var _phase = Phase.starting
    private var _served: ServedModel?
    private var _inFlight = 0
    private var _answered: [Int: Int] = [:]

    public init() {}

    /// A state already serving `model` (tests, and the server once warmed up).
    public convenience init(serving model: ServedModel) {
        self.init()
        becomeReady(model)
    }

    public var phase: Phase { lock.withLock { _phase } }
    public var served: ServedModel? { lock.withLock { _served } }
    public var inFlight: Int { lock.withLock { _inFlight } }

    /// The model is loaded and warmed up (ignored once draining).
    public func becomeReady(_ model: ServedModel) {
        lock.withLock {
            _served = model
            if _phase == .starting { _phase = .ready }
        }
    }

    /// SIGTERM: `/ready` answers 503 from now on; requests still run.
    public func beginDraining() { lock.withLock { _phase = .draining } }

    /// The served model, or 503 while it loads.
    func model() throws -> ServedModel {
        guard let served else { throw APIError.notReady("The model is still loading") }
        return served
    }

    /// Counts a request in, unless `limit` are already in flight (then false).
    func enter(limit: Int) -> Bool {
        lock.withLock {
            guard _inFlight < limit else { return false }
            _inFlight += 1
            return true
        }
    }

    func leave() { lock.withLock { _inFlight -= 1 } }

    /// Counts a response written for an inference route, by status.
    func answered(status: Int) { lock.withLock { _answered[status, default: 0] += 1 } }

    /// Inference requests answered so far, by status (what `distilcl serve` prints at exit).
    public var answeredByStatus: [Int: Int] { lock.withLock { _answered } }
}
