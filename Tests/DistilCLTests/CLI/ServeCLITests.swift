import DistilCL
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `distilcl serve` as users run it: a real process on a real port. Its answers equal the
/// batch commands' for the same inputs, and SIGTERM under load answers every accepted request
/// and exits 0.
@Suite(.serialized) struct ServeCLITests {
    /// A running `distilcl serve --port 0`, stopped (SIGKILL) when the value goes away.
    final class ServerProcess: @unchecked Sendable {
        let process = Process()
        let port: Int
        private let errors: Pipe

        init(_ arguments: [String]) throws {
            guard let binary = CLI.binary else { throw CLITestError.noBinary }
            process.executableURL = binary
            process.arguments = ["serve", "--port", "0"] + arguments
            var env = ProcessInfo.processInfo.environment
            env["DISTILCL_DEVICE"] = nil
            process.environment = env
            process.currentDirectoryURL = CLI.packageRoot
            errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The first stderr line names the port.
            var seen = Data()
            var port: Int?
            while port == nil {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }   // exited
                seen.append(chunk)
                let text = String(decoding: seen, as: UTF8.self)
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    port = Int(text[range.upperBound...].prefix { $0.isNumber })
                }
            }
            guard let port else { throw ServeTestError.noPort(String(decoding: seen, as: UTF8.self)) }
            self.port = port
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }

        func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

        /// Polls `/ready` until it answers 200.
        func waitUntilReady() async throws {
            while true {
                if let (_, status) = try? await get("/ready"), status == 200 { return }
                guard process.isRunning else { throw ServeTestError.exited(process.terminationStatus) }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func get(_ path: String) async throws -> (Data, Int) {
            let (data, response) = try await URLSession.shared.data(from: url(path))
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        }

        func post(_ path: String, _ object: [String: any Sendable]) async throws -> (Any, Int) {
            let (data, status) = try await postData(path, object)
            return (try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]), status)
        }

        func postData(_ path: String, _ object: [String: any Sendable]) async throws -> (Data, Int) {
            var request = URLRequest(url: url(path))
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: object)
            request.timeoutInterval = 600
            let (data, response) = try await URLSession.shared.data(for: request)
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        }

        /// A gauge or counter value from `/metrics`.
        func metric(_ name: String) async throws -> Double? {
            let (data, _) = try await get("/metrics")
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + " ") {
                return Double(line.dropFirst(name.count + 1))
            }
            return nil
        }
    }

    static let texts = [
        "a gripping, beautifully shot film", "dull", "The plot goes nowhere and the jokes fall flat.",
        "I laughed, I cried, I bought the soundtrack.", "not bad at all", "an utter waste of two hours",
        "Performances are strong throughout, especially in the quieter scenes of the second act.", "meh",
    ]

    @Test(arguments: CLI.devices)
    func predictAndEmbedEqualTheBatchCommands(device: String) async throws {
        let sst = fixturePath("tiny-distilbert-sst")
        let classify = try CLI.run(["classify", "--model", sst, "--device", device, "--top-k", "2"],
                                   stdin: Data((Self.texts.joined(separator: "\n") + "\n").utf8))
        #expect(classify.status == 0, "\(classify.stderr)")
        let expected = classify.jsonLines()
        let server = try ServerProcess(["--model", sst, "--device", device, "--max-batch-delay-ms", "20"])
        try await server.waitUntilReady()
        // Concurrent single-text requests, batched together by the server.
        let answers = try await withThrowingTaskGroup(of: (Int, Data, Int).self) { group in
            for (i, text) in Self.texts.enumerated() {
                group.addTask { let (body, status) = try await server.postData("/predict", ["inputs": text]); return (i, body, status) }
            }
            var answers = [Int: [[String: Any]]]()
            for try await (i, body, status) in group {
                #expect(status == 200)
                answers[i] = try JSONSerialization.jsonObject(with: body) as? [[String: Any]]
            }
            return answers
        }
        for (i, want) in expected.enumerated() {
            let got = try #require(answers[i])
            let wantScores = try #require(want["scores"] as? [[String: Any]])
            #expect(got.map { $0["label"] as? String } == wantScores.map { $0["label"] as? String })
            for (g, w) in zip(got, wantScores) {
                let (a, b) = ((g["score"] as? NSNumber)?.doubleValue ?? .nan, (w["score"] as? NSNumber)?.doubleValue ?? .nan)
                #expect(abs(a - b) <= 1e-6, "text \(i): \(a) vs \(b)")
            }
        }
        #expect(try await server.metric("distilcl_batch_requests_count").map { $0 >= 1 } == true)

        let embed = try CLI.run(["embed", "--model", sst, "--device", device, "--normalize"],
                                stdin: Data((Self.texts.joined(separator: "\n") + "\n").utf8))
        #expect(embed.status == 0, "\(embed.stderr)")
        let (body, status) = try await server.post("/embed", ["inputs": Self.texts])
        #expect(status == 200)
        let vectors = try #require(body as? [[Any]])
        for (got, want) in zip(vectors, embed.jsonLines()) {
            let (a, b) = (doubles(got), doubles(want["embedding"]))
            #expect(a.count == b.count)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 })
        }
    }

    /// SIGTERM while requests run: `/ready` turns 503, every request the server accepted is
    /// answered 200, the process exits 0, and the port stops accepting.
    @Test func sigtermDrainsAcceptedRequests() async throws {
        // The queue timeout far beyond the test: on a loaded machine the twelve queued requests can
        // wait longer than the default 30 s, and a 503 from the queue is not what this tests.
        let server = try ServerProcess(["--model", fixturePath("tiny-distilbert-sst"), "--device", "cpu",
                                        "--max-batch-requests", "1", "--batch-size", "4", "--queue-timeout-ms", "600000"])
        try await server.waitUntilReady()
        let long = Array(repeating: "a long and winding review of a film", count: 60).joined(separator: ", ")
        let requests = 12
        let finished = Counter()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<requests {
                group.addTask {
                    defer { finished.increment() }
                    return try await server.postData("/embed", ["inputs": Array(repeating: long, count: 32), "truncate": true]).1
                }
            }
            // Every request accepted (running, queued or done) before the signal.
            while true {
                let inFlight = Int(try await server.metric("distilcl_in_flight_requests") ?? 0)
                if inFlight + finished.value == requests { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(finished.value < requests, "the requests finished before SIGTERM: make them longer")
            kill(server.process.processIdentifier, SIGTERM)
            var statuses: [Int] = []
            for try await status in group { statuses.append(status) }
            #expect(statuses == Array(repeating: 200, count: requests))
        }
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        await #expect(throws: (any Error).self) { _ = try await server.get("/health") }
    }

    @Test func badFlagsAndFoldersAreRefusedBeforeListening() throws {
        let noFolder = try CLI.run(["serve", "--model", "/nonexistent", "--port", "0"])
        #expect(noFolder.status == 3)
        #expect(noFolder.stderr.contains("not found"))
        let badLimit = try CLI.run(["serve", "--model", fixturePath("tiny-distilbert-sst"), "--max-batch-tokens", "0"])
        #expect(badLimit.status == 64)
        let tooLong = try CLI.run(["serve", "--model", fixturePath("tiny-distilbert-sst"), "--max-length", "100000",
                                   "--port", "0"])
        #expect(tooLong.status == 64)
        #expect(tooLong.stderr.contains("positions"))
    }
}

/// A thread-safe count.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

enum ServeTestError: Error, CustomStringConvertible {
    case noPort(String)
    case exited(Int32)
    var description: String {
        switch self {
        case .noPort(let stderr): return "distilcl serve printed no port: \(stderr)"
        case .exited(let status): return "distilcl serve exited with status \(status)"
        }
    }
}
