import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The server on a real loopback port: concurrent requests batched together, and a request
/// whose client hangs up while queued dropped before it runs.
@Suite struct LiveTests {
    /// Requests that arrive while the model is busy are cut into one batch when it frees up.
    @Test func concurrentRequestsShareABatch() async throws {
        let runner = GatedRunner()
        runner.hold()
        let metrics = ServerMetrics()
        let m = try served(runner: runner, metrics: metrics)
        try await application(ServerState(serving: m), metrics: metrics).test(.ahc(.http)) { client in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                group.addTask {
                    try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "first"])).status
                }
                await eventually { runner.isWaiting }
                for i in 0..<7 {
                    group.addTask {
                        try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders,
                                                 body: body(["inputs": ["text \(i)", "and more"]])).status
                    }
                }
                await eventually { await m.engine.batcher.queued == 7 }
                runner.release()
                for try await status in group { #expect(status == .ok) }
            }
        }
        // The first request's pass, then one pass for the seven queued ones (one kind).
        #expect(runner.passes.count == 2)
        #expect(runner.passes.last?.count == 7)
        #expect(metrics.exposition().contains("distilcl_batch_requests_sum 8.0"))
    }

    @Test func aClientThatHangsUpIsDroppedBeforeItRuns() async throws {
        let runner = GatedRunner()
        runner.hold()
        let metrics = ServerMetrics()
        let m = try served(runner: runner, metrics: metrics)
        let channels = ChannelLog()
        let router = makeRouter(state: ServerState(serving: m), configuration: ServerConfiguration(), metrics: metrics,
                                middleware: [channels])
        let app = Application(router: router, server: httpServer(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.ahc(.http)) { client in
            let port = try #require(client.port)
            async let first = client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "first"]))
            await eventually { runner.isWaiting }
            // A second client sends a request and hangs up while it waits in the queue.
            let socket = try RawClient(port: port)
            try socket.send("POST /embed HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 17\r\n\r\n{\"inputs\": \"bye\"}")
            await eventually { await m.engine.batcher.queued == 1 }
            socket.close()
            await eventually { await channels.lastGone() }
            runner.release()
            #expect(try await first.status == .ok)
            // The model is free again and serves the next request.
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "next"])) {
                #expect($0.status == .ok)
            }
        }
        // "first", then "next": the hung-up request never ran.
        #expect(runner.passes.count == 2)
        #expect(metrics.exposition().contains(#"distilcl_dropped_requests_total{reason="client_gone"} 1"#))
    }
}

/// Records each request's connection (the test's view of the server side).
final class ChannelLog: RouterMiddleware, @unchecked Sendable {
    typealias Context = ServerContext
    private let lock = NSLock()
    private var channels: [any Channel] = []

    /// Whether the second request's client has gone, as the server sees it.
    func lastGone() async -> Bool {
        guard let channel = lock.withLock({ channels.count == 2 ? channels.last : nil }),
              let detector = try? await channel.pipeline.handler(type: HangUpDetector.self).get() else { return false }
        return detector.isGone
    }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        lock.withLock { channels.append(context.channel) }
        return try await next(request, context)
    }
}

/// A bare TCP client on loopback, to hang up mid-request.
final class RawClient {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
