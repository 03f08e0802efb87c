import Foundation

/// Dynamic batching, as inference servers do it (text-embeddings-inference, Triton): requests
/// that arrive one by one are queued (FIFO) and run together. A batch is cut when the next
/// request would pass `maxBatchTokens` or `maxBatchRequests`, or when `maxDelay` has passed since
/// its first request was queued. A request whose task is cancelled (its client has gone) is
/// dropped before it runs, and one that has waited longer than its `timeout` in the queue fails
/// with `BatcherError.queueTimeout`. `run` gets each batch's inputs in queue order and returns one result
/// per input, so a request that fails never fails the others of its batch; batches run one at a
/// time (one device, one model). `run` should hand the blocking forward pass to a thread of its
/// own (not Swift's cooperative pool, which the batcher's timer and the server's I/O share).
public actor DynamicBatcher<Input: Sendable, Output: Sendable> {
    /// When a batch is cut.
    public struct Limits: Sendable, Equatable {
        public var maxBatchTokens: Int
        public var maxBatchRequests: Int
        public var maxDelay: Duration

        public init(maxBatchTokens: Int = 16_384, maxBatchRequests: Int = 64, maxDelay: Duration = .milliseconds(2)) {
            self.maxBatchTokens = maxBatchTokens
            self.maxBatchRequests = maxBatchRequests
            self.maxDelay = maxDelay
        }
    }

    /// What the batcher has done, for metrics and tests.
    public struct Counters: Sendable, Equatable {
        public var batches = 0
        public var requests = 0
        /// Requests dropped because their task was cancelled before they ran.
        public var cancelled = 0
        /// Requests that waited longer than their timeout in the queue.
        public var timedOut = 0
        public var largestBatch = 0
    }

    private struct Pending {
        let id: UInt64
        let input: Input
        let tokens: Int
        let queued: ContinuousClock.Instant
        let continuation: CheckedContinuation<Output, any Error>
        /// Fails the request when it is still queued at its timeout.
        var timer: Task<Void, Never>?
    }

    public let limits: Limits
    private let cost: @Sendable (Input) -> Int
    private let run: @Sendable ([Input]) async -> [Result<Output, any Error>]
    private var queue: [Pending] = []
    private var nextID: UInt64 = 0
    private var worker: Task<Void, Never>?
    private var wake: CheckedContinuation<Void, Never>?
    public private(set) var counters = Counters()

    /// - Parameters:
    ///   - cost: a request's tokens (what `maxBatchTokens` counts).
    ///   - run: runs one batch; returns one result per input, in order.
    public init(limits: Limits = Limits(), cost: @escaping @Sendable (Input) -> Int,
                run: @escaping @Sendable ([Input]) async -> [Result<Output, any Error>]) {
        self.limits = limits
        self.cost = cost
        self.run = run
    }

    /// Queues `input` and waits for its result. Throws `CancellationError` when the calling
    /// task is cancelled before the request runs, and `BatcherError.queueTimeout` when it is
    /// still queued after `timeout` (a request already running is never interrupted).
    public func submit(_ input: Input, timeout: Duration? = nil) async throws -> Output {
        nextID += 1
        let id = nextID
        let tokens = cost(input)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    counters.cancelled += 1
                    continuation.resume(throwing: CancellationError())
                    return
                }
                var pending = Pending(id: id, input: input, tokens: tokens, queued: .now, continuation: continuation)
                if let timeout {
                    pending.timer = Task { [weak self] in
                        try? await Task.sleep(for: timeout)
                        if !Task.isCancelled { await self?.expire(id, after: timeout) }
                    }
                }
                queue.append(pending)
                startWorker()
                wake?.resume()
                wake = nil
            }
        } onCancel: {
            Task { await self.drop(id) }
        }
    }

    /// Requests queued and not yet running.
    public var queued: Int { queue.count }

    private func drop(_ id: UInt64) {
        guard let i = queue.firstIndex(where: { $0.id == id }) else { return }   // already running or done
        let pending = queue.remove(at: i)
        pending.timer?.cancel()
        counters.cancelled += 1
        pending.continuation.resume(throwing: CancellationError())
    }

    private func expire(_ id: UInt64, after timeout: Duration) {
        guard let i = queue.firstIndex(where: { $0.id == id }) else { return }   // already running or done
        let pending = queue.remove(at: i)
        counters.timedOut += 1
        pending.continuation.resume(throwing: BatcherError.queueTimeout(timeout))
    }

    private func startWorker() {
        guard worker == nil else { return }
        worker = Task { await self.loop() }
    }

    private func loop() async {
        while true {
            if queue.isEmpty {
                await withCheckedContinuation { wake = $0 }
                continue
            }
            // Wait until the batch is full or the first request has waited maxDelay.
            let deadline = queue[0].queued + limits.maxDelay
            while !batchIsFull(), ContinuousClock.now < deadline {
                try? await Task.sleep(until: min(deadline, .now + .microseconds(200)), clock: .continuous)
                if queue.isEmpty { break }
            }
            let batch = cut()
            guard !batch.isEmpty else { continue }
            for pending in batch { pending.timer?.cancel() }
            counters.batches += 1
            counters.requests += batch.count
            counters.largestBatch = max(counters.largestBatch, batch.count)
            let results = await run(batch.map(\.input))
            for (i, pending) in batch.enumerated() {
                if i < results.count {
                    pending.continuation.resume(with: results[i])
                } else {
                    pending.continuation.resume(throwing: BatcherError.missingResult(batch.count, results.count))
                }
            }
        }
    }

    /// Whether the queue already holds a full batch.
    private func batchIsFull() -> Bool {
        var tokens = 0
        for (n, p) in queue.enumerated() {
            if n + 1 > limits.maxBatchRequests || tokens + p.tokens > limits.maxBatchTokens { return true }
            tokens += p.tokens
        }
        return queue.count >= limits.maxBatchRequests
    }

    /// The longest queue prefix within the limits (at least one request, however large).
    private func cut() -> [Pending] {
        var tokens = 0, n = 0
        while n < queue.count, n < limits.maxBatchRequests,
              n == 0 || tokens + queue[n].tokens <= limits.maxBatchTokens {
            tokens += queue[n].tokens
            n += 1
        }
        let batch = Array(queue.prefix(n))
        queue.removeFirst(n)
        return batch
    }
}

/// A batch function that broke its contract.
public enum BatcherError: Error, CustomStringConvertible, Equatable {
    case missingResult(Int, Int)
    /// The request was still queued when its timeout passed.
    case queueTimeout(Duration)

    public var description: String {
        switch self {
        case .missingResult(let inputs, let results): return "a batch of \(inputs) requests returned \(results) results"
        case .queueTimeout(let timeout): return "the request waited in the queue for more than \(timeout)"
        }
    }
}
