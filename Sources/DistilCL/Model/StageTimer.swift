import Foundation

/// Wall-clock seconds per stage of running a model (`distilcl bench model`). When a timer is
/// attached, the model synchronises the device after the layers so that compute is measured
/// apart from the head and download.
///
/// Sendable: every access to its state is under `lock`.
public final class StageTimer: @unchecked Sendable {
    private let lock = NSLock()
    private var totals: [String: Double] = [:]
    private var last = DispatchTime.now().uptimeNanoseconds

    public init() {}

    /// Seconds per stage so far.
    public var seconds: [String: Double] { lock.withLock { totals } }

    /// Starts a new interval now.
    public func start() { lock.withLock { last = DispatchTime.now().uptimeNanoseconds } }

    /// Adds the time since the last mark to `stage` and starts a new interval.
    public func mark(_ stage: String) {
        lock.withLock {
            let now = DispatchTime.now().uptimeNanoseconds
            totals[stage, default: 0] += Double(now - last) / 1e9
            last = now
        }
    }

    public func reset() { lock.withLock { totals = [:]; last = DispatchTime.now().uptimeNanoseconds } }
}

extension Duration {
    /// This duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
