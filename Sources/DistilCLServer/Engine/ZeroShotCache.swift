import DistilCL
import Foundation

/// `/zero_shot`'s label descriptions, embedded once per label set: a request whose labels were
/// seen before embeds only its texts. Bounded: at most `capacity` label sets, the least recently
/// used dropped first. The key is the labels in order (names and descriptions); the pooling and
/// the maximum length are the served model's, fixed for the server's life. Thread-safe
/// (`@unchecked Sendable`: `state` is only touched inside `lock`).
public final class ZeroShotCache: @unchecked Sendable {
    /// The most label sets kept.
    public let capacity: Int
    private let lock = NSLock()
    private var state = State()

    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
    }

    /// The classifier for `labels`, if cached (it becomes the most recently used).
    public func classifier(for labels: [ZeroShotClassifier.Label]) -> ZeroShotClassifier? {
        let key = Key(labels)
        return lock.withLock {
            guard let found = state.entries[key] else { return nil }
            state.tick += 1
            let now = state.tick   // read apart: `entries[key]?.used = tick` would overlap two accesses
            state.entries[key] = (found.classifier, now)
            return found.classifier
        }
    }

    /// Keeps `classifier`, dropping the least recently used set when `capacity` are kept.
    public func insert(_ classifier: ZeroShotClassifier) {
        let key = Key(classifier.labels)
        lock.withLock {
            if state.entries[key] == nil, state.entries.count >= capacity,
               let oldest = state.entries.min(by: { $0.value.used < $1.value.used })?.key {
                state.entries[oldest] = nil
            }
            state.tick += 1
            let now = state.tick
            state.entries[key] = (classifier, now)
        }
    }

    /// Label sets kept now.
    public var count: Int { lock.withLock { state.entries.count } }

    /// Whether `labels` are kept (without touching their recency).
    public func contains(_ labels: [ZeroShotClassifier.Label]) -> Bool { lock.withLock { state.entries[Key(labels)] != nil } }

    /// A label set as a dictionary key.
    struct Key: Hashable {
        var names: [String]
        var descriptions: [String]
        init(_ labels: [ZeroShotClassifier.Label]) {
            names = labels.map(\.name)
            descriptions = labels.map(\.description)
        }
    }

    struct State {
        /// Each set's classifier and when it was last used (a counter, not a clock).
        var entries: [Key: (classifier: ZeroShotClassifier, used: UInt64)] = [:]
        var tick: UInt64 = 0
    }
}
