import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The one rule for where inputs are cut (`ModelFolder.maxLength(for:)`), as the server applies
/// it: a sentence-transformers `max_seq_length` for the embedding routes and `/zero_shot`, the
/// model's positions for the head's routes, `--max-length` for all.
@Suite struct MaxLengthRuleTests {
    /// A copy of the fixture `name` that is also a sentence-transformers folder cutting at
    /// `maxSeqLength`, removed when the test process ends (the OS's temporary folder).
    static func sentenceTransformersCopy(of name: String, maxSeqLength: Int) throws -> URL {
        let fm = FileManager.default
        let url = fm.temporaryDirectory.appendingPathComponent("distilcl-st-\(name)-\(UUID().uuidString)")
        try fm.copyItem(at: ServerFixtures.model(name), to: url)
        try Data(#"{"max_seq_length": \#(maxSeqLength), "do_lower_case": true}"#.utf8)
            .write(to: url.appendingPathComponent("sentence_bert_config.json"))
        return url
    }

    let text = Array(repeating: "the film was good and the story was bad", count: 30).joined(separator: " ")

    @Test func sentenceTransformersLengthAppliesToEmbeddingsOnly() async throws {
        let url = try Self.sentenceTransformersCopy(of: "tiny-distilbert-sst", maxSeqLength: 128)
        defer { try? FileManager.default.removeItem(at: url) }
        let loader = ModelLoader(directory: url, maxLength: nil, pooling: nil, backend: CPUBackend())
        let m = try loader.load(try loader.readFolder(), configuration: ServerConfiguration(), metrics: nil)
        #expect(m.embeddingMaxLength == 128 && m.taskMaxLength == 512)
        #expect((129..<512).contains(m.tokenizer.encode(text).count))
        try await application(ServerState(serving: m)).test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": text])) {
                #expect($0.status == .ok)
            }
            for route in ["/embed", "/zero_shot"] {
                try await client.execute(uri: route, method: .post, headers: jsonHeaders,
                                         body: body(["inputs": text, "labels": ["A=good", "B=bad"]])) { r in
                    #expect(r.status == .unprocessableContent, "\(route)")
                    #expect(String(buffer: r.body).contains("less than 128 tokens"), "\(route)")
                }
            }
            try await client.execute(uri: "/info", method: .get) { r in
                let info = try json(r) as? [String: Any]
                #expect(info?["max_input_length"] as? Int == 512)
            }
        }
        // --max-length applies to every route.
        let capped = ModelLoader(directory: url, maxLength: 200, pooling: nil, backend: CPUBackend())
        let folder = try capped.readFolder()
        #expect(folder.model.maxLength(for: .embedding) == 200 && folder.model.maxLength(for: .task) == 200)
    }

    @Test func qaWindowsFollowTheTaskLength() async throws {
        let loader = ModelLoader(directory: ServerFixtures.model("tiny-distilbert-qa"), maxLength: 64, pooling: nil,
                                 backend: CPUBackend())
        let runner = LengthRecorder()
        var m = try loader.load(try loader.readFolder(), configuration: ServerConfiguration(), metrics: nil)
        m.engine = InferenceEngine(runner: runner, limits: .init(), batchSize: 32, queueTimeout: nil)
        try await application(ServerState(serving: m)).test(.router) { client in
            _ = try await client.execute(uri: "/qa", method: .post, headers: jsonHeaders,
                                         body: body(["inputs": ["question": "who was good?", "context": text], "doc_stride": 16]))
        }
        // Every window is cut at --max-length 64 (the default window is min(384, --max-length)).
        let windows = runner.lengths
        #expect(!windows.isEmpty && windows.allSatisfy { $0 <= 64 }, "\(windows)")
    }
}

/// A runner that records each input's length and answers zero logits for every token.
final class LengthRecorder: ForwardRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Int] = []   // only touched inside `lock`

    var lengths: [Int] { lock.withLock { recorded } }

    func run(_ kind: ForwardKind, _ encodings: [Encoding]) throws -> [[[Float]]] {
        lock.withLock { recorded += encodings.map(\.count) }
        return encodings.map { Array(repeating: [0, 0], count: $0.count) }
    }
}
