import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every status the API answers besides 200, each with TEI's `{"error", "error_type"}` body.
@Suite struct ErrorTests {
    @Test func badRequests() async throws {
        var configuration = ServerConfiguration()
        configuration.payloadLimit = 4_096
        configuration.maxClientBatchSize = 3
        let m = try served("tiny-distilbert-sst", configuration: configuration, maxLength: 16)
        let long = Array(repeating: "word", count: 40).joined(separator: " ")
        let cases: [(String, ByteBuffer, HTTPResponse.Status, String)] = [
            ("/predict", ByteBuffer(string: "{not json"), .badRequest, "Malformed"),
            ("/predict", ByteBuffer(string: "[1, 2]"), .badRequest, "Malformed"),
            ("/predict", ByteBuffer(), .badRequest, "Empty"),
            ("/predict", body(["inputs": ""]), .badRequest, "Empty"),
            ("/embed", body(["inputs": [String]()]), .badRequest, "Empty"),
            ("/embed", body(["other": "x"]), .badRequest, "Empty"),
            ("/embed", body(["inputs": 42]), .badRequest, "Malformed"),
            ("/embed", body(["inputs": ["a", 3]]), .badRequest, "Malformed"),
            ("/embed", body(["inputs": "a", "normalize": "yes"]), .badRequest, "Malformed"),
            ("/embed", body(["inputs": ["a", "b", "c", "d"]]), .unprocessableContent, "Validation"),
            ("/embed", body(["inputs": long]), .unprocessableContent, "Validation"),
            ("/predict", body(["inputs": [long, "x"]]), .unprocessableContent, "Validation"),
            ("/v1/embeddings", body(["input": "a", "encoding_format": "hex"]), .unprocessableContent, "Validation"),
            ("/qa", body(["inputs": ["question": "q", "context": "c"]]), .unprocessableContent, "Validation"),
            ("/embed", body(["inputs": String(repeating: "long ", count: 2_000)]), .contentTooLarge, "PayloadTooLarge"),
            ("/nowhere", body(["inputs": "a"]), .notFound, "NotFound"),
        ]
        try await application(ServerState(serving: m), configuration).test(.router) { client in
            for (route, payload, status, type) in cases {
                try await client.execute(uri: route, method: .post, headers: jsonHeaders, body: payload) { r in
                    #expect(r.status == status, "\(route) \(String(buffer: payload).prefix(60))")
                    #expect(errorType(r) == type, "\(route) \(String(buffer: payload).prefix(60))")
                }
            }
            // The same long text with "truncate" (or --auto-truncate) is cut, not refused.
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": long, "truncate": true])) { #expect($0.status == .ok) }
        }
        // --auto-truncate makes truncation the default.
        configuration.autoTruncate = true
        try await application(ServerState(serving: m), configuration).test(.router) { client in
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": long])) {
                #expect($0.status == .ok)
            }
        }
    }

    /// Bodies a careless or hostile client may send: each answered with a 4xx JSON error (never
    /// a 500, a crash or a hang), and the server serves normally afterwards.
    @Test func oddBodiesNeverBreakTheServer() async throws {
        let m = try served("tiny-distilbert-sst")
        var bodies: [ByteBuffer] = [
            ByteBuffer(bytes: [0xff, 0xfe, 0x00, 0x7b]), ByteBuffer(string: "null"), ByteBuffer(string: "\"text\""),
            ByteBuffer(string: String(repeating: "[", count: 10_000)), ByteBuffer(string: #"{"inputs": 1e999}"#),
            ByteBuffer(string: #"{"inputs": {"a": 1}}"#), ByteBuffer(string: #"{"inputs": [["a"]]}"#),
            ByteBuffer(string: #"{"inputs": [["a", "b", "c"]]}"#), ByteBuffer(string: #"{"inputs": "\u0000"}"#),
            ByteBuffer(string: #"{"inputs": "a", "truncate": null, "raw_scores": 1}"#),
            ByteBuffer(string: #"{"inputs": ["", "x"]}"#), ByteBuffer(string: #"{"inputs": "\ud800"}"#),
        ]
        bodies.append(body(["inputs": [NSNull()]]))
        let payloads = bodies
        try await application(ServerState(serving: m)).test(.router) { client in
            for route in ["/predict", "/embed", "/tokenize", "/zero_shot", "/v1/embeddings"] {
                for payload in payloads {
                    try await client.execute(uri: route, method: .post, headers: jsonHeaders, body: payload) { r in
                        let code = r.status.code
                        // A lone control character is a valid text: 200 is a fair answer to it.
                        #expect((400..<500).contains(code) || code == 200, "\(route) \(String(buffer: payload).prefix(40)): \(code)")
                        if code != 200 { #expect(errorType(r) != nil) }
                    }
                }
            }
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": "fine"])) {
                #expect($0.status == .ok)
            }
        }
    }

    /// Over `--max-concurrent-requests`: 429 with Retry-After; under it again once requests finish.
    @Test func overloadIs429() async throws {
        var configuration = ServerConfiguration()
        configuration.maxConcurrentRequests = 2
        let runner = GatedRunner()
        runner.hold()
        let metrics = ServerMetrics()
        let state = ServerState(serving: try served(runner: runner, configuration: configuration))
        try await application(state, configuration, metrics: metrics).test(.router) { client in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "x"])).status
                    }
                }
                await eventually { state.inFlight == 2 }
                try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "y"])) { r in
                    #expect(r.status == .tooManyRequests)
                    #expect(r.headers[.retryAfter] == "1")
                    #expect(errorType(r) == "Overloaded")
                }
                // Another spelling of the route is the same route, limited the same.
                try await client.execute(uri: "//embed/", method: .post, headers: jsonHeaders, body: body(["inputs": "y"])) {
                    #expect($0.status == .tooManyRequests)
                }
                // Status routes are never limited.
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                await eventually { runner.isWaiting }
                runner.release()
                for try await status in group { #expect(status == .ok) }
            }
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "z"])) {
                #expect($0.status == .ok)
            }
        }
        #expect(metrics.exposition().contains(#"distilcl_dropped_requests_total{reason="overloaded"} 2"#))
    }

    /// A request still queued after `--queue-timeout-ms` is answered 503; the one running is not.
    @Test func queueTimeoutIs503() async throws {
        var configuration = ServerConfiguration()
        configuration.queueTimeout = .milliseconds(50)
        configuration.batching.maxBatchRequests = 1
        let runner = GatedRunner()
        runner.hold()
        let state = ServerState(serving: try served(runner: runner, configuration: configuration))
        try await application(state, configuration).test(.router) { client in
            async let first = client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "x"]))
            await eventually { runner.isWaiting }
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "y"])) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(errorType(r) == "Unhealthy")
            }
            runner.release()
            #expect(try await first.status == .ok)
        }
    }

    /// A request whose input fails in the forward pass fails alone: the others of its batch get
    /// their results.
    @Test func aFailedRequestLeavesItsBatchAlone() async throws {
        let runner = GatedRunner()
        let m = try served(runner: runner)
        let good = ["one", "one two three"].map { m.tokenizer.encode($0) }
        let bad = m.tokenizer.encode("one two")
        runner.failingLength = bad.count
        let jobs = [ForwardJob(.classify, [good[0]]), ForwardJob(.classify, [bad]), ForwardJob(.classify, [good[1]]),
                    ForwardJob(.embed(.mean, normalize: true), [good[1], good[0]])]
        let results = InferenceEngine.execute(jobs, runner: runner, batchSize: 32)
        #expect(try results[0].get() == [[[Float(good[0].count), 0]]])
        #expect(throws: ModelError.self) { try results[1].get() }
        #expect(try results[2].get() == [[[Float(good[1].count), 0]]])
        #expect(try results[3].get() == [[[Float(good[1].count), 0]], [[Float(good[0].count), 0]]])
        // One pass per kind, each length-sorted; the failed pass reran job by job.
        #expect(runner.passes.first == [good[0].count, bad.count, good[1].count])
        #expect(runner.passes.contains([good[1].count, good[0].count].sorted()))
    }

    /// A device that fails every pass: 500 with error_type Backend, and the server goes on.
    @Test func aBrokenDeviceIs500() async throws {
        struct DeviceLost: Error {}
        let runner = GatedRunner()
        runner.failure = DeviceLost()
        try await application(ServerState(serving: try served(runner: runner))).test(.router) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": ["a", "b"]])) { r in
                    #expect(r.status == .internalServerError)
                    #expect(errorType(r) == "Backend")
                }
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// A job whose client has gone is dropped before it runs.
    @Test func goneClientsAreDropped() async throws {
        let runner = GatedRunner()
        let e = try served(runner: runner).tokenizer.encode("x")
        let jobs = [ForwardJob(.classify, [e], clientGone: { true }), ForwardJob(.classify, [e], clientGone: { false })]
        let results = InferenceEngine.execute(jobs, runner: runner, batchSize: 32)
        #expect(throws: CancellationError.self) { try results[0].get() }
        #expect(try results[1].get().count == 1)
        #expect(runner.passes == [[e.count]])
    }
}
