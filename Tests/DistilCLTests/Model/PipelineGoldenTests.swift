import DistilCL
import Foundation
import Testing

/// Tokenizer + model + pipeline post-processing against the transformers pipelines' outputs
/// in the golden files: labels, answer spans and offsets, entity groups, fill-mask tokens
/// exactly; scores within 1e-4 (logits carry ≤ 1e-4 of float32 noise, and a softmax
/// probability moves by at most that much).
@Suite("Pipelines end to end against transformers")
struct PipelineGoldenTests {
    @Test("text classification (sst): labels and scores", arguments: BackendCase.primary)
    func textClassification(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-sst")
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let (tokenizer, model) = (try BertTokenizer(modelDirectory: dir), try EncoderModel(directory: dir, backend: bc.backend))
        let texts = golden["texts"] as? [String] ?? []
        let want = golden["pipeline"] as? [[[String: Any]]] ?? []
        #expect(texts.count == 24 && want.count == 24)
        for (i, text) in texts.enumerated() {
            // The golden pipeline ran with truncation at max_length 64 (golden.json's max_length).
            let logits = try model.classificationLogits(TokenBatch([tokenizer.encode(text, maxLength: 64)]))[0]
            let got = TextClassification.scores(logits: logits, labels: model.config.labels)
            #expect(got.map(\.label) == want[i].map { $0["label"] as? String ?? "" }, "\(bc.name) text \(i)")
            expectClose(got.map(\.score), want[i].map { Float(($0["score"] as? NSNumber)?.doubleValue ?? .nan) },
                        atol: 1e-4, rtol: 0, "\(bc.name) scores text \(i)")
        }
    }

    @Test("question answering (float16 qa): answers over several windows", arguments: BackendCase.primary)
    func questionAnswering(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-qa")
        let golden = try Fixtures.json("tiny-distilbert-qa/golden.json")
        let (tokenizer, model) = (try BertTokenizer(modelDirectory: dir), try EncoderModel(directory: dir, backend: bc.backend))
        let params = QAParameters(maxSeqLen: 64, docStride: 24, maxQuestionLen: 16, maxAnswerLen: 15, topK: 3)
        let inputs = golden["inputs"] as? [[String: String]] ?? []
        let want = golden["pipeline"] as? [[[String: Any]]] ?? []
        #expect(inputs.count == 4)
        for (i, input) in inputs.enumerated() {
            let context = input["context"] ?? ""
            let windows = try QuestionAnswering.windows(question: input["question"] ?? "", context: context,
                                                        tokenizer: tokenizer, parameters: params)
            let logits = try model.tokenLogits(TokenBatch(windows.map(\.encoding)), head: .questionAnswering)
            let answers = try QuestionAnswering.answers(
                windows: windows, startLogits: logits.map { $0.map { $0[0] } }, endLogits: logits.map { $0.map { $0[1] } },
                context: context, parameters: params)
            #expect(answers.map(\.answer) == want[i].map { $0["answer"] as? String ?? "" }, "\(bc.name) input \(i)")
            #expect(answers.map(\.start) == want[i].map { ($0["start"] as? Int) ?? -1 }, "\(bc.name) input \(i)")
            #expect(answers.map(\.end) == want[i].map { ($0["end"] as? Int) ?? -1 }, "\(bc.name) input \(i)")
            expectClose(answers.map(\.score), want[i].map { Float(($0["score"] as? NSNumber)?.doubleValue ?? .nan) },
                        atol: 1e-5, rtol: 1e-3, "\(bc.name) QA scores \(i)")
        }
    }

    @Test("token classification (bfloat16 ner): every aggregation strategy", arguments: BackendCase.primary)
    func tokenClassification(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-ner")
        let golden = try Fixtures.json("tiny-distilbert-ner/golden.json")
        let (tokenizer, model) = (try BertTokenizer(modelDirectory: dir), try EncoderModel(directory: dir, backend: bc.backend))
        let texts = golden["texts"] as? [String] ?? []
        let pipeline = golden["pipeline"] as? [String: [[[String: Any]]]] ?? [:]
        for (i, text) in texts.enumerated() {
            let encoding = tokenizer.encode(text)
            let logits = try model.tokenLogits(TokenBatch([encoding]), head: .tokenClassification)[0]
            for strategy in AggregationStrategy.allCases {
                let got = try TokenClassification.entities(text: text, encoding: encoding, logits: logits,
                                                           labels: model.config.labels, strategy: strategy, tokenizer: tokenizer)
                let want = pipeline[strategy.rawValue]?[i] ?? []
                let what = "\(bc.name) text \(i) \(strategy)"
                #expect(got.map { $0.entity ?? $0.entityGroup ?? "" } == want.map { ($0["entity"] ?? $0["entity_group"]) as? String ?? "" }, "\(what)")
                #expect(got.map(\.word) == want.map { $0["word"] as? String ?? "" }, "\(what)")
                #expect(got.map(\.start) == want.map { $0["start"] as? Int ?? -1 }, "\(what)")
                #expect(got.map(\.end) == want.map { $0["end"] as? Int ?? -1 }, "\(what)")
                expectClose(got.map(\.score), want.map { Float(($0["score"] as? NSNumber)?.doubleValue ?? .nan) },
                            atol: 1e-4, rtol: 0, what)
            }
        }
    }

    @Test("fill-mask (tied projector): top-5 tokens, strings and sequences", arguments: BackendCase.primary)
    func fillMask(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-mlm")
        let golden = try Fixtures.json("tiny-distilbert-mlm/golden.json")
        let (tokenizer, model) = (try BertTokenizer(modelDirectory: dir), try EncoderModel(directory: dir, backend: bc.backend))
        let texts = golden["texts"] as? [String] ?? []
        let pipeline = golden["pipeline"] as? [[[[String: Any]]]] ?? []
        for (i, text) in texts.enumerated() {
            let encoding = tokenizer.encode(text)
            let positions = FillMask.maskPositions(in: encoding, tokenizer: tokenizer)
            let logits = try model.maskedLMLogits(TokenBatch([encoding]),
                                                  at: positions.map { (row: 0, position: $0) })
            let got = try FillMask.predictions(maskLogits: logits, encoding: encoding, topK: 5, tokenizer: tokenizer)
            let want = pipeline[i]
            #expect(got.count == want.count, "\(bc.name) text \(i)")
            for (g, w) in zip(got, want) {
                #expect(g.map(\.token) == w.map { $0["token"] as? Int ?? -1 }, "\(bc.name) text \(i)")
                #expect(g.map(\.tokenStr) == w.map { $0["token_str"] as? String ?? "" }, "\(bc.name) text \(i)")
                #expect(g.map(\.sequence) == w.map { $0["sequence"] as? String ?? "" }, "\(bc.name) text \(i)")
                expectClose(g.map(\.score), w.map { Float(($0["score"] as? NSNumber)?.doubleValue ?? .nan) },
                            atol: 1e-4, rtol: 0, "\(bc.name) fill-mask scores \(i)")
            }
        }
    }
}
