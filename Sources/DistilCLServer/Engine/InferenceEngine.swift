import DistilCL
import Foundation

/// One request's work for the model: encodings of one kind.
public struct ForwardJob: Sendable {
    public var kind: ForwardKind
    public var encodings: [Encoding]
    /// Whether the client has gone (its connection closed): then the job is dropped unrun.
    public var clientGone: (@Sendable () -> Bool)?

    public init(_ kind: ForwardKind, _ encodings: [Encoding], clientGone: (@Sendable () -> Bool)? = nil) {
        self.kind = kind
        self.encodings = encodings
        self.clientGone = clientGone
    }

    /// What `--max-batch-tokens` counts: the job's tokens.
    var tokens: Int { encodings.reduce(0) { $0 + $1.count } }
}

/// The model behind a `DynamicBatcher`: requests from every route queue in one FIFO (one
/// batcher per device); a cut batch is split by kind, each kind's inputs are length-sorted
/// and packed `batchSize` at a time, as the CLI packs them, and run on a thread of their own
/// (never Swift's cooperative pool, which the server's I/O and the batcher's timer share).
public final class InferenceEngine: Sendable {
    public let batcher: DynamicBatcher<ForwardJob, [[[Float]]]>
    /// Inputs per forward pass (`--batch-size`).
    public let batchSize: Int
    /// How long a request may wait in the queue (`--queue-timeout-ms`).
    public let queueTimeout: Duration?
    private let runner: any ForwardRunner
    private let thread: DispatchQueue
    private let metrics: ServerMetrics?

    public init(runner: any ForwardRunner, limits: DynamicBatcher<ForwardJob, [[[Float]]]>.Limits, batchSize: Int,
                queueTimeout: Duration?, metrics: ServerMetrics? = nil) {
        let thread = DispatchQueue(label: "distilcl.model", qos: .userInitiated)
        let size = max(batchSize, 1)
        self.runner = runner
        self.thread = thread
        self.batchSize = size
        self.queueTimeout = queueTimeout
        self.metrics = metrics
        batcher = DynamicBatcher(limits: limits, cost: { $0.tokens }) { jobs in
            let results = await withCheckedContinuation { continuation in
                thread.async { continuation.resume(returning: Self.execute(jobs, runner: runner, batchSize: size)) }
            }
            metrics?.recordBatch(jobs, results)
            return results
        }
    }

    /// Queues `job` and waits for one output per encoding. Throws `CancellationError` when the
    /// calling task is cancelled or the job's client has gone before it runs (it is then
    /// dropped unrun), `BatcherError.queueTimeout` after `queueTimeout` in the queue.
    public func submit(_ job: ForwardJob) async throws -> [[[Float]]] {
        guard !job.encodings.isEmpty else { return [] }
        return try await batcher.submit(job, timeout: queueTimeout)
    }

    /// Runs a batch's jobs, grouped by kind. When a group's pass fails, its jobs run again one
    /// by one, so only the jobs that fail on their own fail.
    static func execute(_ jobs: [ForwardJob], runner: any ForwardRunner, batchSize: Int)
        -> [Result<[[[Float]]], any Error>] {
        var results = [Result<[[[Float]]], any Error>?](repeating: nil, count: jobs.count)
        var kinds: [ForwardKind] = []
        var members: [ForwardKind: [Int]] = [:]
        for (i, job) in jobs.enumerated() {
            if job.clientGone?() == true {
                results[i] = .failure(CancellationError())
                continue
            }
            if members[job.kind] == nil { kinds.append(job.kind) }
            members[job.kind, default: []].append(i)
        }
        for kind in kinds {
            let group = members[kind] ?? []
            do {
                let outputs = try run(kind, group.map { jobs[$0].encodings }, runner: runner, batchSize: batchSize)
                for (i, output) in zip(group, outputs) { results[i] = .success(output) }
            } catch {
                for i in group {
                    results[i] = Result { try run(kind, [jobs[i].encodings], runner: runner, batchSize: batchSize)[0] }
                }
            }
        }
        return results.map { $0 ?? .failure(BatcherError.missingResult(jobs.count, 0)) }
    }

    /// Every encoding of `requests` through `runner`, length-sorted in passes of `batchSize`;
    /// the outputs regrouped per request.
    static func run(_ kind: ForwardKind, _ requests: [[Encoding]], runner: any ForwardRunner,
                    batchSize: Int) throws -> [[[[Float]]]] {
        let flat = requests.flatMap { $0 }
        var outputs = [[[Float]]?](repeating: nil, count: flat.count)
        for pass in lengthSortedBatches(flat.map(\.count), batchSize: batchSize) {
            let rows = try runner.run(kind, pass.map { flat[$0] })
            guard rows.count == pass.count else { throw BatcherError.missingResult(pass.count, rows.count) }
            for (i, row) in zip(pass, rows) { outputs[i] = row }
        }
        var offset = 0
        return requests.map { request in
            defer { offset += request.count }
            return (offset..<offset + request.count).map { outputs[$0] ?? [] }
        }
    }
}
