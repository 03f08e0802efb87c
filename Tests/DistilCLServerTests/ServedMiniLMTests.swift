import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The real all-MiniLM-L6-v2 (scripts/fetch-models.sh) served as sentence-transformers serves
/// it: inputs cut at its max_seq_length 256, mean pooling, normalised; equal to
/// `SentenceTransformer.encode` on texts of 52 to 713 tokens (minilm-long-golden.json).
@Suite struct ServedMiniLMTests {
    @Test func embedEqualsSentenceTransformersAtEveryLength() async throws {
        guard FileManager.default.fileExists(atPath: ServerFixtures.miniLM.appendingPathComponent("model.safetensors").path) else {
            Issue.record("models/all-MiniLM-L6-v2 is missing: run scripts/fetch-models.sh (scripts/test.sh does)")
            return
        }
        let data = try Data(contentsOf: ServerFixtures.model("minilm-long-golden.json"))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let texts = try #require(golden["texts"] as? [String])
        let want = try #require(golden["embeddings"] as? [Any]).map(floatList)
        let m = try served("minilm")
        #expect(m.embeddingMaxLength == 256 && m.taskMaxLength == 512)
        try await application(ServerState(serving: m)).test(.router) { client in
            // Without "truncate" the texts over 256 tokens are refused, as TEI refuses them.
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": texts])) { r in
                #expect(r.status == .unprocessableContent)
                #expect(String(buffer: r.body).contains("256"))
            }
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": texts, "truncate": true])) { r in
                #expect(r.status == .ok)
                let rows = try #require(try json(r) as? [Any]).map(floatList)
                #expect(rows.count == want.count)
                for (i, (got, expected)) in zip(rows, want).enumerated() {
                    #expect(maxDifference(got, expected) < 1e-5, "text \(i)")
                }
            }
            try await client.execute(uri: "/info", method: .get) { r in
                let info = try #require(try json(r) as? [String: Any])
                #expect(info["max_input_length"] as? Int == 256)
                #expect(info["pooling"] as? String == "mean")
                #expect(info["normalize"] as? Bool == true)
            }
        }
    }
}
