import Foundation
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`), one registry per server:
///
/// - `distilcl_requests_total{route,status}`: answered requests;
/// - `distilcl_request_duration_seconds{route}`: time from the request's arrival to its response;
/// - `distilcl_in_flight_requests`: inference requests being served (what `--max-concurrent-requests` bounds);
/// - `distilcl_batch_requests`, `distilcl_batch_inputs`, `distilcl_batch_tokens`: per batch the
///   batcher cut, requests, texts and tokens (their `_sum / _count` is the mean batch size);
/// - `distilcl_dropped_requests_total{reason}`: `client_gone` (dropped unrun), `queue_timeout`
///   (503), `overloaded` (429).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let inFlight: Gauge
    private let batchRequests: ValueHistogram
    private let batchInputs: ValueHistogram
    private let batchTokens: ValueHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        inFlight = registry.makeGauge(descriptor: Self.name("in_flight", "requests", "Inference requests being served"))
        batchRequests = registry.makeValueHistogram(
            descriptor: Self.name("batch", "requests", "Requests per batch the dynamic batcher cut"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        batchInputs = registry.makeValueHistogram(
            descriptor: Self.name("batch", "inputs", "Texts per batch the dynamic batcher cut"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        batchTokens = registry.makeValueHistogram(
            descriptor: Self.name("batch", "tokens", "Tokens per batch the dynamic batcher cut"),
            buckets: [16, 64, 256, 1024, 4096, 16384, 65536])
    }

    /// Counts an answered request and its latency.
    func recordRequest(route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.name("requests", "total", "Answered HTTP requests"),
                             labels: [("route", route), ("status", "\(status)")]).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("request_duration", "seconds", "Time from a request's arrival to its response"),
            labels: [("route", route)],
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2.5), .seconds(5), .seconds(10)]).record(duration)
    }

    /// Counts a request that was not run (`client_gone`, `queue_timeout`, `overloaded`).
    func recordDropped(_ reason: String) {
        registry.makeCounter(descriptor: Self.name("dropped_requests", "total",
                                                   "Requests not run: client gone, queue timeout or overloaded"),
                             labels: [("reason", reason)]).increment()
    }

    /// Records a batch the batcher cut and counts the jobs it dropped because their client had gone.
    func recordBatch(_ jobs: [ForwardJob], _ results: [Result<[[[Float]]], any Error>]) {
        var ran: [ForwardJob] = []
        for (job, result) in zip(jobs, results) {
            if case .failure(let error) = result, error is CancellationError {
                recordDropped("client_gone")
            } else {
                ran.append(job)
            }
        }
        guard !ran.isEmpty else { return }
        batchRequests.record(Double(ran.count))
        batchInputs.record(Double(ran.reduce(0) { $0 + $1.encodings.count }))
        batchTokens.record(Double(ran.reduce(0) { $0 + $1.tokens }))
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "distilcl", metricName: metric, unitName: unit, helpText: help)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}
