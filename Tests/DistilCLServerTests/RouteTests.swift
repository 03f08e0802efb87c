import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every route's answer on the tiny checkpoints (CPU path), checked against the library's
/// pipelines run directly on the same inputs.
@Suite struct RouteTests {
    let sst = try! served("tiny-distilbert-sst")
    let reference = try! EncoderModel(directory: ServerFixtures.model("tiny-distilbert-sst"), backend: CPUBackend())

    @Test func statusRoutes() async throws {
        let state = ServerState(serving: sst)
        try await application(state).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/info", method: .get) { response in
                #expect(response.status == .ok)
                let info = try #require(try json(response) as? [String: Any])
                #expect(info["model_id"] as? String == "tiny-distilbert-sst")
                #expect(info["task"] as? String == "sequence-classification")
                #expect(info["labels"] as? [String] == ["NEGATIVE", "POSITIVE"])
                #expect(info["max_input_length"] as? Int == sst.config.maxPositions)
                #expect(info["max_batch_tokens"] as? Int == 16_384)
                #expect(info["max_client_batch_size"] as? Int == 32)
                #expect((info["routes"] as? [String])?.contains("/predict") == true)
                #expect(info["version"] as? String == distilclVersion)
            }
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": "fine"])) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains(#"distilcl_requests_total{route="/predict",status="200"} 1"#))
                #expect(text.contains("distilcl_batch_requests_count"))
                #expect(text.contains("distilcl_in_flight_requests"))
            }
        }
    }

    @Test func readyIs503WhileLoadingAndDraining() async throws {
        let state = ServerState()
        try await application(state).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(errorType(response) == "Unhealthy")
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "x"])) {
                #expect($0.status == .serviceUnavailable)
            }
            state.becomeReady(sst)
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
            state.beginDraining()
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .serviceUnavailable) }
            // Accepted requests are still served while draining.
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": "x"])) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test func predictShapesAsTEI() async throws {
        let texts = ["a great film", "dull and far too long, with nothing to say"]
        let tokenizer = sst.tokenizer
        let logits = try reference.classificationLogits(TokenBatch(texts.map { tokenizer.encode($0) }))
        let pairLogits = try reference.classificationLogits(TokenBatch([tokenizer.encode(texts[0], pair: texts[1])]))
        let state = ServerState(serving: sst)
        try await application(state).test(.router) { client in
            // One text: a sorted [{label, score}] list.
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": texts[0]])) { r in
                #expect(r.status == .ok)
                let list = try #require(try json(r) as? [[String: Any]])
                let expected = TextClassification.scores(logits: logits[0], labels: sst.config.labels)
                #expect(list.map { $0["label"] as? String } == expected.map(\.label))
                for (got, want) in zip(list, expected) {
                    #expect(abs(Float((got["score"] as? NSNumber)?.doubleValue ?? .nan) - want.score) < 1e-6)
                }
            }
            // Two texts are a pair, as TEI reads them.
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": texts])) { r in
                let list = try #require(try json(r) as? [[String: Any]])
                let expected = TextClassification.scores(logits: pairLogits[0], labels: sst.config.labels)
                #expect(list.map { $0["label"] as? String } == expected.map(\.label))
                #expect(abs(Float((list[0]["score"] as? NSNumber)?.doubleValue ?? .nan) - expected[0].score) < 1e-6)
            }
            // A list of three items (texts and a pair): one list per item; raw scores are logits.
            let items: [Any] = [texts[0], texts[1], [texts[0], texts[1]]]
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": items, "raw_scores": true])) { r in
                let lists = try #require(try json(r) as? [[[String: Any]]])
                #expect(lists.count == 3)
                for (list, row) in zip(lists, [logits[0], logits[1], pairLogits[0]]) {
                    let best = try #require(list.first)
                    #expect(abs(Float((best["score"] as? NSNumber)?.doubleValue ?? .nan) - row.max()!) < 1e-5)
                }
            }
        }
    }

    @Test func embeddingsTEIAndOpenAI() async throws {
        let texts = ["the first sentence", "a second, somewhat longer sentence to embed"]
        let batch = TokenBatch(texts.map { sst.tokenizer.encode($0) })
        let plain = try reference.embeddings(batch, pooling: .mean, normalize: false)
        let normalized = try reference.embeddings(batch, pooling: .mean, normalize: true)
        let state = ServerState(serving: sst)
        try await application(state).test(.router) { client in
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders, body: body(["inputs": texts])) { r in
                let rows = try #require(try json(r) as? [Any]).map(floatList)
                #expect(rows.count == 2)
                for (got, want) in zip(rows, normalized) { #expect(maxDifference(got, want) < 1e-6) }
            }
            try await client.execute(uri: "/embed", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": texts[1], "normalize": false])) { r in
                let rows = try #require(try json(r) as? [Any]).map(floatList)
                #expect(rows.count == 1)
                #expect(maxDifference(rows[0], plain[1]) < 1e-5)
            }
            for format in ["float", "base64"] {
                try await client.execute(uri: "/v1/embeddings", method: .post, headers: jsonHeaders,
                                         body: body(["input": texts, "model": "x", "encoding_format": format])) { r in
                    #expect(r.status == .ok)
                    let object = try #require(try json(r) as? [String: Any])
                    #expect(object["object"] as? String == "list")
                    #expect(object["model"] as? String == "tiny-distilbert-sst")
                    let usage = try #require(object["usage"] as? [String: Any])
                    #expect(usage["prompt_tokens"] as? Int == batch.tokens)
                    let data = try #require(object["data"] as? [[String: Any]])
                    #expect(data.map { $0["index"] as? Int } == [0, 1])
                    for (item, want) in zip(data, normalized) {
                        let got: [Float]
                        if format == "base64" {
                            let bytes = try #require(Data(base64Encoded: item["embedding"] as? String ?? ""))
                            got = stride(from: 0, to: bytes.count, by: 4).map { i in
                                Float(bitPattern: bytes[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) })
                            }
                        } else {
                            got = floatList(item["embedding"])
                        }
                        #expect(maxDifference(got, want) < 1e-6)
                    }
                }
            }
        }
    }

    @Test func tokenizeAsTheTokenizer() async throws {
        let text = "Hello, DistilCL!"
        let encoding = sst.tokenizer.encode(text)
        try await application(ServerState(serving: sst)).test(.router) { client in
            try await client.execute(uri: "/tokenize", method: .post, headers: jsonHeaders, body: body(["inputs": text])) { r in
                let lists = try #require(try json(r) as? [[[String: Any]]])
                #expect(lists.count == 1)
                #expect(lists[0].map { $0["id"] as? Int } == encoding.ids)
                #expect(lists[0].first?["special"] as? Bool == true)
                #expect(lists[0][1]["start"] as? Int == encoding.offsets[1].start)
            }
            try await client.execute(uri: "/tokenize", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": [text, "x"], "add_special_tokens": false])) { r in
                let lists = try #require(try json(r) as? [[[String: Any]]])
                #expect(lists.count == 2)
                #expect(lists[0].map { $0["id"] as? Int } == Array(encoding.ids.dropFirst().dropLast()))
            }
        }
    }

    @Test func zeroShotAsTheClassifier() async throws {
        let texts = ["what a wonderful story", "I want my money back"]
        let labels = [ZeroShotClassifier.Label(name: "POS", description: "This is great."),
                      ZeroShotClassifier.Label(name: "NEG", description: "This is terrible.")]
        let classifier = try ZeroShotClassifier(labels: labels, model: reference, tokenizer: sst.tokenizer,
                                                maxLength: sst.embeddingMaxLength)
        let expected = try classifier.scores(TokenBatch(texts.map { sst.tokenizer.encode($0) }), model: reference)
        try await application(ServerState(serving: sst)).test(.router) { client in
            let request: [String: Any] = ["inputs": texts, "labels": ["POS=This is great.",
                                                                      ["label": "NEG", "description": "This is terrible."]]]
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders, body: body(request)) { r in
                #expect(r.status == .ok)
                let results = try #require(try json(r) as? [[String: Any]])
                for (got, want) in zip(results, expected) {
                    #expect(got["label"] as? String == want[0].label)
                    let scores = try #require(got["scores"] as? [[String: Any]])
                    #expect(scores.map { $0["label"] as? String } == want.map(\.label))
                    for (g, w) in zip(scores, want) {
                        #expect(abs(Float((g["score"] as? NSNumber)?.doubleValue ?? .nan) - w.score) < 1e-5)
                    }
                }
            }
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": "x", "labels": ["no equals sign"]])) { r in
                #expect(r.status == .unprocessableContent)
            }
        }
    }

    @Test func headRoutesAsThePipelines() async throws {
        // QA
        let qa = try served("tiny-distilbert-qa")
        let qaModel = try EncoderModel(directory: ServerFixtures.model("tiny-distilbert-qa"), backend: CPUBackend())
        let question = "Where does Ada live?", context = "Ada Lovelace lived in London with her cat."
        let windows = try QuestionAnswering.windows(question: question, context: context, tokenizer: qa.tokenizer)
        let answers = try QuestionAnswering.answers([(windows, context)], model: qaModel, batchSize: 32,
                                                    parameters: QAParameters())[0]
        try await application(ServerState(serving: qa)).test(.router) { client in
            try await client.execute(uri: "/qa", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": ["question": question, "context": context]])) { r in
                #expect(r.status == .ok)
                let got = try #require((try json(r) as? [String: Any])?["answers"] as? [[String: Any]])
                #expect(got.map { $0["answer"] as? String } == answers.map(\.answer))
                #expect(got.map { $0["start"] as? Int } == answers.map(\.start))
            }
            // A long context cut in small steps would make thousands of windows: refused before they are built.
            let long = Array(repeating: "Ada lived in London with her cat.", count: 400).joined(separator: " ")
            try await client.execute(uri: "/qa", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": ["question": question, "context": long],
                                                 "max_seq_len": 64, "doc_stride": 40])) { r in
                #expect(r.status == .unprocessableContent)
                #expect(String(buffer: r.body).contains("windows"))
            }
            // A head this model lacks: 422 naming the routes it serves.
            try await client.execute(uri: "/predict", method: .post, headers: jsonHeaders, body: body(["inputs": "x"])) { r in
                #expect(r.status == .unprocessableContent)
                #expect(errorType(r) == "Validation")
            }
        }
        // NER
        let ner = try served("tiny-distilbert-ner")
        let nerModel = try EncoderModel(directory: ServerFixtures.model("tiny-distilbert-ner"), backend: CPUBackend())
        let text = "Ada Lovelace lived in London."
        let encoding = ner.tokenizer.encode(text)
        let logits = try nerModel.tokenLogits(TokenBatch([encoding]), head: .tokenClassification)[0]
        let entities = try TokenClassification.entities(text: text, encoding: encoding, logits: logits,
                                                        labels: ner.config.labels, strategy: .simple, tokenizer: ner.tokenizer)
        try await application(ServerState(serving: ner)).test(.router) { client in
            try await client.execute(uri: "/ner", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": [text], "aggregation_strategy": "simple"])) { r in
                #expect(r.status == .ok)
                let got = try #require((try json(r) as? [[String: Any]])?.first?["entities"] as? [[String: Any]])
                #expect(got.map { $0["entity_group"] as? String } == entities.map(\.entityGroup))
                #expect(got.map { $0["start"] as? Int } == entities.map(\.start))
            }
            try await client.execute(uri: "/ner", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": text, "aggregation_strategy": "loudest"])) { r in
                #expect(r.status == .unprocessableContent)
            }
        }
        // Fill-mask
        let mlm = try served("tiny-distilbert-mlm")
        let mlmModel = try EncoderModel(directory: ServerFixtures.model("tiny-distilbert-mlm"), backend: CPUBackend())
        let masked = "The capital of France is [MASK]."
        let e = mlm.tokenizer.encode(masked)
        let position = FillMask.maskPositions(in: e, tokenizer: mlm.tokenizer)
        let maskLogits = try mlmModel.maskedLMLogits(TokenBatch([e]), at: position.map { (0, $0) })
        let predictions = try FillMask.predictions(maskLogits: maskLogits, encoding: e, topK: 3, tokenizer: mlm.tokenizer)
        try await application(ServerState(serving: mlm)).test(.router) { client in
            try await client.execute(uri: "/fill_mask", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": masked, "top_k": 3])) { r in
                #expect(r.status == .ok)
                let got = try #require((try json(r) as? [String: Any])?["predictions"] as? [[[String: Any]]])
                #expect(got.count == 1)
                #expect(got[0].map { $0["token"] as? Int } == predictions[0].map(\.token))
            }
            try await client.execute(uri: "/fill_mask", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": "no mask here"])) { r in
                #expect(r.status == .unprocessableContent)
            }
            // More predictions than one request may ask for (masks × top_k).
            try await client.execute(uri: "/fill_mask", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": Array(repeating: "[MASK] [MASK] [MASK]", count: 8), "top_k": 1000])) { r in
                #expect(r.status == .unprocessableContent)
            }
        }
    }
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
