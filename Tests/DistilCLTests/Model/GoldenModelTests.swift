import DistilCL
import Foundation
import Testing

/// The tiny reference checkpoints on every backend against transformers' own outputs, on the
/// real tokens (the engine packs texts and computes nothing for padding).
/// Tolerance 1e-4 absolute on hidden states and logits: what float32 on any device supports
/// (shared/reference/README.md); widening float16/bfloat16 checkpoints is exact.
@Suite("Golden outputs of the tiny checkpoints")
struct GoldenModelTests {
    static let atol = 1e-4

    static func model(_ name: String, _ bc: BackendCase) throws -> EncoderModel {
        try EncoderModel(directory: Fixtures.model(name), backend: bc.backend)
    }

    @Test("DistilBERT SST: every hidden state and the logits", arguments: BackendCase.all)
    func distilbertClassifier(_ bc: BackendCase) throws {
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let model = try Self.model("tiny-distilbert-sst", bc)
        let ids = intRows(golden["input_ids"]), mask = intRows(golden["attention_mask"])
        let batch = TokenBatch(paddedIds: ids, attentionMask: mask)

        let logits = try model.classificationLogits(batch)
        expectClose(logits.flatMap { $0 }, floatRows(golden["logits"]).flatMap { $0 }, atol: Self.atol, rtol: 0,
                    "\(bc.name) sst logits")

        let first8 = TokenBatch(paddedIds: Array(ids.prefix(8)), attentionMask: Array(mask.prefix(8)))
        let states = try model.allHiddenStates(first8)
        let want = (golden["hidden_states_first8"] as? [Any]) ?? []
        #expect(states.count == want.count && states.count == 4)
        for (i, state) in states.enumerated() where i < want.count {
            expectClose(state, realRows(want[i], first8.lengths), atol: Self.atol, rtol: 0, "\(bc.name) sst hidden state \(i)")
        }
    }

    @Test("BERT sentence pairs: hidden states, pooler output, logits", arguments: BackendCase.all)
    func bertPairs(_ bc: BackendCase) throws {
        let golden = try Fixtures.json("tiny-bert-pairs/golden.json")
        let model = try Self.model("tiny-bert-pairs", bc)
        let batch = TokenBatch(paddedIds: intRows(golden["input_ids"]), attentionMask: intRows(golden["attention_mask"]),
                               typeIds: intRows(golden["token_type_ids"]))
        expectClose(try model.classificationLogits(batch).flatMap { $0 }, floatRows(golden["logits"]).flatMap { $0 },
                    atol: Self.atol, rtol: 0, "\(bc.name) pairs logits")
        expectClose(try model.poolerOutput(batch).flatMap { $0 }, floatRows(golden["pooler_output"]).flatMap { $0 },
                    atol: Self.atol, rtol: 0, "\(bc.name) pairs pooler")
        let states = try model.allHiddenStates(batch)
        let want = (golden["hidden_states"] as? [Any]) ?? []
        #expect(states.count == want.count)
        for (i, state) in states.enumerated() where i < want.count {
            expectClose(state, realRows(want[i], batch.lengths), atol: Self.atol, rtol: 0, "\(bc.name) pairs hidden state \(i)")
        }
    }

    @Test("DistilBERT QA (float16 checkpoint): first window's start and end logits", arguments: BackendCase.all)
    func questionAnswering(_ bc: BackendCase) throws {
        let golden = try Fixtures.json("tiny-distilbert-qa/golden.json")
        let window = golden["first_window"] as? [String: Any] ?? [:]
        let ids = intRows(window["input_ids"])
        let model = try Self.model("tiny-distilbert-qa", bc)
        let batch = TokenBatch(paddedIds: ids, attentionMask: ids.map { $0.map { _ in 1 } })
        let logits = try model.tokenLogits(batch, head: .questionAnswering)[0]
        expectClose(logits.map { $0[0] }, floatRows(window["start_logits"])[0], atol: Self.atol, rtol: 0, "\(bc.name) QA start")
        expectClose(logits.map { $0[1] }, floatRows(window["end_logits"])[0], atol: Self.atol, rtol: 0, "\(bc.name) QA end")
    }

    @Test("DistilBERT NER (bfloat16 checkpoint): per-token logits", arguments: BackendCase.all)
    func tokenClassification(_ bc: BackendCase) throws {
        let golden = try Fixtures.json("tiny-distilbert-ner/golden.json")
        let model = try Self.model("tiny-distilbert-ner", bc)
        let ids = intRows(golden["input_ids"])
        let want = (golden["logits"] as? [Any] ?? []).map(floatRows)
        // The golden rows are padded with id 0; compare the real tokens.
        let batch = TokenBatch(paddedIds: ids, attentionMask: ids.map { $0.map { $0 == 0 ? 0 : 1 } })
        let got = try model.tokenLogits(batch, head: .tokenClassification)
        for i in ids.indices {
            #expect(got[i].count == batch.lengths[i])
            expectClose(got[i].flatMap { $0 }, want[i].prefix(batch.lengths[i]).flatMap { $0 }, atol: Self.atol, rtol: 0,
                        "\(bc.name) NER text \(i)")
        }
    }

    @Test("DistilBERT MLM with tied projector: top-20 logits at every mask", arguments: BackendCase.all)
    func maskedLM(_ bc: BackendCase) throws {
        let golden = try Fixtures.json("tiny-distilbert-mlm/golden.json")
        let model = try Self.model("tiny-distilbert-mlm", bc)
        let ids = intRows(golden["input_ids"])
        let batch = TokenBatch(paddedIds: ids, attentionMask: ids.map { $0.map { $0 == 0 ? 0 : 1 } })
        let masks = golden["mask_logits"] as? [[String: Any]] ?? []
        let positions = masks.map { (row: ints([$0["batch"]!])[0], position: ints([$0["position"]!])[0]) }
        let logits = try model.maskedLMLogits(batch, at: positions)
        for (i, m) in masks.enumerated() {
            let top = ints(m["top20_ids"])
            let got = top.map { logits[i][$0] }
            expectClose(got, floats(m["top20_logits"]), atol: Self.atol, rtol: 0, "\(bc.name) MLM mask \(i)")
            // The top-20 order is the model's too (ties aside).
            let order = logits[i].indices.sorted { logits[i][$0] > logits[i][$1] }.prefix(20)
            #expect(Array(order.prefix(5)) == Array(top.prefix(5)), "\(bc.name) MLM mask \(i) top ids")
        }
    }
}

/// The real-token rows of a golden `[batch][seq][dim]` array, packed like the engine's output.
func realRows(_ golden: Any, _ lengths: [Int]) -> [Float] {
    let rowsOfTexts = golden as? [Any] ?? []
    return zip(rowsOfTexts, lengths).flatMap { text, n in ((text as? [Any]) ?? []).prefix(n).flatMap(floats) }
}
