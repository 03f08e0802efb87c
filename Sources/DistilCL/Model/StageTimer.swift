import Foundation

/// Wall-clock seconds per stage of running a model (`distilcl bench model`). When a timer is
/// attached, the model synchronises the device after the layers so that compute is measured
/// apart from the head and download.
public final class StageTimer: @unchecked Sendable {
    public private(set) var seconds: [String: Double] = [:]
    private var last = DispatchTime.now().uptimeNanoseconds

    public init() {}

    /// Starts a new interval now.
    public func start() { last = DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since the last mark to `stage` and starts a new interval.
    public func mark(_ stage: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[stage, default: 0] += Double(now - last) / 1e9
        last = now
    }

    public func reset() { seconds = [:]; start() }
}
