import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `/predict`'s `inputs` in every form text-embeddings-inference takes: a string; `[a]` (one
/// text); `[a, b]` (one pair); a batch whose items are `[a]`, `[a, b]` or a bare text. Anything
/// else is 400 with TEI's `{"error", "error_type"}`; the batch limits (413, 422) hold for the
/// `[[a], [b]]` form too.
@Suite struct PredictInputTests {
    let sst = try! served("tiny-distilbert-sst")
    let reference = try! EncoderModel(directory: ServerFixtures.model("tiny-distilbert-sst"), backend: CPUBackend())
    let a = "a great film"
    let b = "dull and far too long"

    /// The best label's raw score (the largest logit) of each answer list.
    func bestScores(_ any: Any) -> [Float] {
        ((any as? [[[String: Any]]]) ?? []).map { Float(($0.first?["score"] as? NSNumber)?.doubleValue ?? .nan) }
    }

    @Test func everyFormTEIAccepts() async throws {
        let tokenizer = sst.tokenizer
        let rows = try reference.classificationLogits(TokenBatch([tokenizer.encode(a), tokenizer.encode(b),
                                                                  tokenizer.encode(a, pair: b)]))
        let (single, second, pair) = (rows[0].max()!, rows[1].max()!, rows[2].max()!)
        // (inputs, is the answer a batch, the best raw score of each answer)
        let cases: [(Any, Bool, [Float])] = [
            (a, false, [single]),
            ([a], false, [single]),              // a one-string list is one text
            ([a, b], false, [pair]),             // two strings are a pair
            ([[a], [b]], true, [single, second]), // a batch of two texts
            ([[a, b]], true, [pair]),            // a batch of one pair
            ([[a], [a, b], [b]], true, [single, pair, second]),
            ([a, [a, b], b], true, [single, pair, second]), // bare texts among the items, as before
            ([a, b, a], true, [single, second, single]),
        ]
        // Bodies and labels made here: `Any` cannot cross into the test client's closure.
        let requests = cases.map { (body(["inputs": $0.0, "raw_scores": true]), $0.1, $0.2, "\($0.0)") }
        try await application(ServerState(serving: sst)).test(.router) { client in
            for (payload, isBatch, want, label) in requests {
                try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: payload) { r in
                    #expect(r.status == .ok, "\(label)")
                    let answer = try json(r)
                    let got = isBatch ? bestScores(answer) : bestScores([answer])
                    #expect(got.count == want.count, "\(label)")
                    for (g, w) in zip(got, want) { #expect(abs(g - w) < 1e-5, "\(label): \(g) vs \(w)") }
                    if !isBatch { #expect((answer as? [[String: Any]]) != nil, "\(label) is one answer") }
                }
            }
        }
    }

    @Test func otherShapesAreRefusedAsTEIRefusesThem() async throws {
        let refused: [(Any, String)] = [
            ([[a, b, a]], "Malformed"), ([[String]()], "Malformed"), ([[a, 1]], "Malformed"), ([[a], 3], "Malformed"),
            ([[[a]]], "Malformed"), (42, "Malformed"), (["text": a], "Malformed"), ([Any](), "Empty"),
            ([[""]], "Empty"), ([[a, ""]], "Empty"),
        ]
        let requests = refused.map { (body(["inputs": $0.0]), $0.1, "\($0.0)") }
        try await application(ServerState(serving: sst)).test(.router) { client in
            for (payload, type, label) in requests {
                try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: payload) { r in
                    #expect(r.status == .badRequest, "\(label)")
                    #expect(errorType(r) == type, "\(label)")
                }
            }
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": [[a, b, a]]])) { r in
                #expect(String(buffer: r.body).contains("a batch of mixed strings and pairs"))
            }
        }
    }

    @Test func batchLimitsHoldForTheListForm() async throws {
        var configuration = ServerConfiguration()
        configuration.maxClientBatchSize = 3
        configuration.payloadLimit = 4_096
        let m = try served("tiny-distilbert-sst", configuration: configuration, maxLength: 16)
        let long = Array(repeating: "word", count: 40).joined(separator: " ")
        let cases: [(Any, HTTPResponse.Status, String?)] = [
            ([[a], [b], [a]], .ok, nil),
            ([[a], [b], [a], [b]], .unprocessableContent, "Validation"),        // more than --max-client-batch-size
            ([[a, b], [a, b], [a, b], [a, b]], .unprocessableContent, "Validation"),
            ([[a], [long]], .unprocessableContent, "Validation"),               // over --max-length without truncate
            ([[String(repeating: "long ", count: 1_000)], [a]], .contentTooLarge, "PayloadTooLarge"),
        ]
        let requests = cases.map { (body(["inputs": $0.0]), $0.1, $0.2, "\($0.0)".prefix(60)) }
        try await application(ServerState(serving: m), configuration).test(.router) { client in
            for (payload, status, type, label) in requests {
                try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: payload) { r in
                    #expect(r.status == status, "\(label)")
                    #expect(errorType(r) == type, "\(label)")
                }
            }
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": [[a], [long]], "truncate": true])) { r in
                #expect(r.status == .ok)
                let answer = try json(r)
                #expect(bestScores(answer).count == 2)
            }
        }
    }
}
