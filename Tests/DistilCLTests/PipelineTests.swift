import Foundation
import Testing
@testable import DistilCL

// Tests of the pipelines' post-processing against transformers 4.57 pipeline output stored in the
// tiny checkpoints' `golden.json` files. Everything here runs on the golden logits: no model.

// MARK: - Fixtures

/// Paths, tokenizers and golden files for the pipeline tests.
enum PipelineFixtures {
    /// `Tests/Fixtures`.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func model(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func tokenizer(_ name: String) throws -> BertTokenizer {
        try BertTokenizer(modelDirectory: model(name))
    }

    static func labels(_ name: String) throws -> [String] {
        try ModelConfig(contentsOf: model(name).appendingPathComponent("config.json")).labels
    }

    static func golden<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: model(name).appendingPathComponent("golden.json"))
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// The keys of the JSON object `value` encodes to.
    static func jsonKeys<T: Encodable>(_ value: T) throws -> Set<String> {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
        return Set(try #require(object as? [String: Any]).keys)
    }
}

struct SSTGolden: Decodable {
    var texts: [String]
    var logits: [[Float]]
    var pipeline: [[LabelScore]]
}

struct NERGolden: Decodable {
    var texts: [String]
    var inputIds: [[Int]]
    var logits: [[[Float]]]
    var pipeline: [String: [[Entity]]]

    enum CodingKeys: String, CodingKey { case texts, inputIds = "input_ids", logits, pipeline }
}

struct QAGolden: Decodable {
    struct Input: Decodable { var question: String; var context: String }
    struct Parameters: Decodable {
        var maxSeqLen: Int, docStride: Int, maxQuestionLen: Int, maxAnswerLen: Int, topK: Int
        enum CodingKeys: String, CodingKey {
            case maxSeqLen = "max_seq_len", docStride = "doc_stride", maxQuestionLen = "max_question_len"
            case maxAnswerLen = "max_answer_len", topK = "top_k"
        }
    }
    struct Window: Decodable {
        var inputIds: [[Int]], startLogits: [[Float]], endLogits: [[Float]]
        enum CodingKeys: String, CodingKey {
            case inputIds = "input_ids", startLogits = "start_logits", endLogits = "end_logits"
        }
    }
    var inputs: [Input]
    var pipelineParams: Parameters
    var pipeline: [[QAAnswer]]
    var firstWindow: Window

    enum CodingKeys: String, CodingKey {
        case inputs, pipelineParams = "pipeline_params", pipeline, firstWindow = "first_window"
    }

    var parameters: QAParameters {
        QAParameters(maxSeqLen: pipelineParams.maxSeqLen, docStride: pipelineParams.docStride,
                     maxQuestionLen: pipelineParams.maxQuestionLen, maxAnswerLen: pipelineParams.maxAnswerLen,
                     topK: pipelineParams.topK)
    }
}

struct MLMGolden: Decodable {
    struct MaskLogits: Decodable {
        var batch: Int, position: Int, top20Ids: [Int], top20Logits: [Float]
        enum CodingKeys: String, CodingKey {
            case batch, position, top20Ids = "top20_ids", top20Logits = "top20_logits"
        }
    }
    var texts: [String]
    var inputIds: [[Int]]
    var maskLogits: [MaskLogits]
    /// `[text][mask][5]`.
    var pipeline: [[[FillMaskPrediction]]]

    enum CodingKeys: String, CodingKey {
        case texts, inputIds = "input_ids", maskLogits = "mask_logits", pipeline
    }
}

struct MiniLMGolden: Decodable {
    struct Hidden: Decodable { var inputIds: [[Int]]; var values: [[[Float]]]
        enum CodingKeys: String, CodingKey { case inputIds = "input_ids", values }
    }
    var embeddings: [[Float]]
    var lastHiddenStateFirst2: Hidden
    enum CodingKeys: String, CodingKey { case embeddings, lastHiddenStateFirst2 = "last_hidden_state_first2" }
}

// MARK: - Decoding

@Suite("Decoding")
struct DecodingTests {
    let tokenizer: BertTokenizer

    init() throws {
        tokenizer = try BertTokenizer(vocabURL: PipelineFixtures.directory.appendingPathComponent("bert-base-uncased-vocab.txt"))
    }

    func ids(_ tokens: [String]) throws -> [Int] {
        try tokens.map { try #require(tokenizer.id(of: $0), "\($0) not in the vocabulary") }
    }

    @Test func specialTokensAndPunctuation() throws {
        let ids = try ids(["[CLS]", "hello", ",", "world", "!", "[SEP]"])
        #expect(tokenizer.encode("Hello, world!").ids == ids)
        #expect(tokenizer.decode(ids) == "hello, world!")
        #expect(tokenizer.decode(ids, skipSpecialTokens: false) == "[CLS] hello, world! [SEP]")
        // The WordPiece decoder's own cleanup still glues "," and "!" without the Python pass.
        #expect(tokenizer.decode(ids, skipSpecialTokens: false, cleanUpSpaces: false) == "[CLS] hello, world! [SEP]")
    }

    @Test func continuationPiecesJoin() throws {
        #expect(tokenizer.decode(try ids(["una", "##ffa", "##ble"])) == "unaffable")
        #expect(tokenizer.convertTokensToString(["bar", "##a", "##ck", "obama", "."]) == "barack obama.")
        // A leading "##" piece keeps its prefix (transformers' token_str for such tokens).
        #expect(tokenizer.convertTokensToString(["##a"]) == "##a")
        #expect(tokenizer.decode(try ids(["[CLS]", "##a", "b"]), skipSpecialTokens: false) == "[CLS]a b")
    }

    @Test func contractionsNeedThePythonCleanup() throws {
        let dont = try ids(["don", "'", "t"])
        #expect(tokenizer.decode(dont) == "don't")
        #expect(tokenizer.decode(dont, cleanUpSpaces: false) == "don ' t")
        #expect(tokenizer.decode(tokenizer.encode("It's fine, isn't it?").ids) == "it's fine, isn't it?")
        #expect(BertTokenizer.cleanUpTokenization("a . b ? c ! d , e 's f 've g 're h 'm i n't") == "a. b? c! d, e's f've g're h'm in't")
    }

    @Test func skippedIds() throws {
        #expect(tokenizer.decode([tokenizer.unkId, try ids(["cat"])[0]]) == "cat")
        #expect(tokenizer.decode([tokenizer.unkId], skipSpecialTokens: false) == "[UNK]")
        #expect(tokenizer.decode([-1, 10_000_000]) == "")
        #expect(tokenizer.decode([]) == "")
        #expect(tokenizer.specialTokenIDs == [tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId, tokenizer.maskId])
    }
}

// MARK: - Text classification

@Suite("Text classification")
struct TextClassificationPipelineTests {
    /// The golden logits come from a padded batch, the golden pipeline scores from unpadded
    /// single-text runs, whose logits differ by ~1e-5: softmax of the golden logits lands within
    /// 1.8e-6 of the pipeline's scores (numpy gives the same 1.8e-6), so 1e-6 is out of reach here.
    @Test func goldenScoresFromGoldenLogits() throws {
        let golden = try PipelineFixtures.golden("tiny-distilbert-sst", as: SSTGolden.self)
        let labels = try PipelineFixtures.labels("tiny-distilbert-sst")
        #expect(labels == ["NEGATIVE", "POSITIVE"])
        #expect(golden.logits.count == golden.texts.count && golden.pipeline.count == golden.texts.count)
        for (logits, expected) in zip(golden.logits, golden.pipeline) {
            let got = TextClassification.scores(logits: logits, labels: labels)
            #expect(got.map(\.label) == expected.map(\.label))
            for (g, e) in zip(got, expected) {
                #expect(abs(g.score - e.score) <= 2.5e-6, "\(g) vs \(e)")
            }
        }
    }

    @Test func functionsAndTopK() throws {
        let scores = TextClassification.scores(logits: [0, 2, 1], labels: ["a", "b"], topK: 2)
        #expect(scores.map(\.label) == ["b", "LABEL_2"])
        let single = TextClassification.scores(logits: [0], labels: ["score"])
        #expect(single == [LabelScore(label: "score", score: 0.5)])
        let raw = TextClassification.scores(logits: [1, 3], labels: ["x", "y"], function: ClassificationFunction.none)
        #expect(raw == [LabelScore(label: "y", score: 3), LabelScore(label: "x", score: 1)])
        // Ties keep label order, as Python's stable sort.
        #expect(TextClassification.scores(logits: [1, 1], labels: ["p", "q"]).map(\.label) == ["p", "q"])
        #expect(try PipelineFixtures.jsonKeys(single[0]) == ["label", "score"])
    }

    @Test func softmaxIsStable() {
        let p = PipelineMath.softmax([1000, 1000, -1000])
        #expect(p == [0.5, 0.5, 0])
        #expect(PipelineMath.softmax([]).isEmpty)
        #expect(PipelineMath.sum((0..<1000).map { Float($0) }) == 499_500)
        // Largest first, equal values in index order, with the one-pass and the sorting path.
        let values: [Float] = [1, 3, 3, 2, .nan, 3]
        #expect(PipelineMath.topK(values, 3) == [1, 2, 5])
        #expect(PipelineMath.topK(values, 40).prefix(5) == [1, 2, 5, 3, 0])
        #expect(PipelineMath.topK(values, 1) == [1] && PipelineMath.topK([], 3).isEmpty)
    }
}

// MARK: - Token classification

@Suite("Token classification")
struct TokenClassificationPipelineTests {
    @Test(arguments: AggregationStrategy.allCases)
    func goldenEntitiesFromGoldenLogits(strategy: AggregationStrategy) throws {
        let golden = try PipelineFixtures.golden("tiny-distilbert-ner", as: NERGolden.self)
        let tokenizer = try PipelineFixtures.tokenizer("tiny-distilbert-ner")
        let labels = try PipelineFixtures.labels("tiny-distilbert-ner")
        let expectedAll = try #require(golden.pipeline[strategy.rawValue])
        for (i, text) in golden.texts.enumerated() {
            let encoding = tokenizer.encode(text)
            #expect(encoding.ids == golden.inputIds[i].filter { $0 != tokenizer.padId })
            let got = try TokenClassification.entities(text: text, encoding: encoding, logits: golden.logits[i],
                                                        labels: labels, strategy: strategy, tokenizer: tokenizer)
            let expected = expectedAll[i]
            #expect(got.count == expected.count, "text \(i)")
            for (g, e) in zip(got, expected) {
                #expect(g.entity == e.entity && g.entityGroup == e.entityGroup, "text \(i): \(g) vs \(e)")
                #expect(g.word == e.word && g.start == e.start && g.end == e.end && g.index == e.index,
                        "text \(i): \(g) vs \(e)")
                #expect(abs(g.score - e.score) <= 1e-5, "text \(i): \(g) vs \(e)")
            }
        }
    }

    @Test func jsonHasThePipelinesKeys() throws {
        let token = Entity(entity: "B-PER", score: 0.5, index: 1, word: "bar", start: 0, end: 3)
        #expect(try PipelineFixtures.jsonKeys(token) == ["entity", "score", "index", "word", "start", "end"])
        let group = Entity(entityGroup: "PER", score: 0.5, word: "barack", start: 0, end: 6)
        #expect(try PipelineFixtures.jsonKeys(group) == ["entity_group", "score", "word", "start", "end"])
        #expect(try JSONDecoder().decode(Entity.self, from: JSONEncoder().encode(group)) == group)
    }

    @Test func groupingRules() throws {
        let tokenizer = try PipelineFixtures.tokenizer("tiny-distilbert-ner")
        func entity(_ label: String, _ word: String, _ start: Int) -> Entity {
            Entity(entity: label, score: 0.5, word: word, start: start, end: start + word.count)
        }
        // B- starts a group, I- of the same type continues it, another type or B- closes it.
        let groups = TokenClassification.groupEntities(
            [entity("B-PER", "new", 0), entity("I-PER", "york", 4), entity("B-PER", "city", 9),
             entity("I-LOC", "is", 14), entity("O", "big", 17), entity("O", ".", 20)], tokenizer: tokenizer)
        #expect(groups.map(\.label) == ["PER", "PER", "LOC", "O"])
        #expect(groups.map(\.word) == ["new york", "city", "is", "big."])
        #expect(groups.map(\.start) == [0, 9, 14, 17] && groups.map(\.end) == [8, 13, 16, 21])
    }

    @Test func mismatchedLogitsThrow() throws {
        let tokenizer = try PipelineFixtures.tokenizer("tiny-distilbert-ner")
        let encoding = tokenizer.encode("Paris")
        #expect(throws: PipelineError.self) {
            try TokenClassification.entities(text: "Paris", encoding: encoding, logits: [[0, 1]], labels: ["O", "B-LOC"],
                                             strategy: .simple, tokenizer: tokenizer)
        }
    }
}

// MARK: - Question answering

/// What can be checked without the model: only input 0's logits are stored (`first_window`), and
/// input 0 fits in one window, so its whole pipeline output is reproduced from them. For inputs 1–3
/// the windows are checked for HF's overflow rule (ids of window 1 are not stored for them) and
/// for containing the golden answers; their answers depend on logits of windows we do not have,
/// so their spans and scores are left to the end-to-end tests with the model.
@Suite("Question answering")
struct QuestionAnsweringPipelineTests {
    let golden: QAGolden
    let tokenizer: BertTokenizer

    init() throws {
        golden = try PipelineFixtures.golden("tiny-distilbert-qa", as: QAGolden.self)
        tokenizer = try PipelineFixtures.tokenizer("tiny-distilbert-qa")
    }

    @Test func firstWindowMatchesGoldenIds() throws {
        let input = golden.inputs[0]
        let windows = try QuestionAnswering.windows(question: input.question, context: input.context,
                                                    tokenizer: tokenizer, parameters: golden.parameters)
        #expect(windows.count == 1)
        let first = try #require(windows.first)
        #expect(first.ids == golden.firstWindow.inputIds[0])
        let questionEnd = try #require(first.ids.firstIndex(of: tokenizer.sepId))
        #expect(first.typeIds == first.ids.indices.map { $0 > questionEnd ? 1 : 0 })
        // p_mask: only context tokens and [CLS] can be answers.
        #expect(first.pMask.indices.allSatisfy { first.pMask[$0] == ($0 != 0 && first.encoding.sequenceIds[$0] != 1) })
    }

    @Test(arguments: 0..<4)
    func windowsFollowTheOverflowRule(input index: Int) throws {
        let input = golden.inputs[index]
        let parameters = golden.parameters
        let windows = try QuestionAnswering.windows(question: input.question, context: input.context,
                                                    tokenizer: tokenizer, parameters: parameters)
        let full = tokenizer.encode(input.question, pair: input.context)
        let question = full.ids.indices.filter { full.sequenceIds[$0] == 0 }.map { full.ids[$0] }
        let context = full.ids.indices.filter { full.sequenceIds[$0] == 1 }.map { full.ids[$0] }
        let room = parameters.maxSeqLen - question.count - 3
        #expect(windows.count >= 1)
        for (k, window) in windows.enumerated() {
            #expect(window.count <= parameters.maxSeqLen)
            #expect(Array(window.ids.prefix(question.count + 2)) == [tokenizer.clsId] + question + [tokenizer.sepId])
            #expect(window.ids.last == tokenizer.sepId)
            let part = Array(window.ids[(question.count + 2)..<(window.count - 1)])
            let start = k * (room - parameters.docStride)
            #expect(window.contextTokenStart == start)
            #expect(part == Array(context[window.contextTokenStart..<(window.contextTokenStart + part.count)]))
            #expect(k == windows.count - 1 ? window.contextTokenStart + part.count == context.count : part.count == room)
        }
        // Every golden answer lies inside one window's context.
        for answer in golden.pipeline[index] {
            let inside = windows.contains { window in
                let offsets = window.encoding.offsets.indices.filter { window.encoding.sequenceIds[$0] == 1 }
                    .map { window.encoding.offsets[$0] }
                return (offsets.first?.start ?? .max) <= answer.start && answer.end <= (offsets.last?.end ?? .min)
            }
            #expect(inside, "input \(index): \(answer)")
            #expect(input.context.codePoints(answer.start, answer.end) == answer.answer)
        }
    }

    @Test func answersFromFirstWindowLogits() throws {
        let input = golden.inputs[0]
        let windows = try QuestionAnswering.windows(question: input.question, context: input.context,
                                                    tokenizer: tokenizer, parameters: golden.parameters)
        let answers = try QuestionAnswering.answers(windows: windows, startLogits: golden.firstWindow.startLogits,
                                                    endLogits: golden.firstWindow.endLogits, context: input.context,
                                                    parameters: golden.parameters)
        let expected = golden.pipeline[0]
        #expect(answers.count == expected.count)
        for (g, e) in zip(answers, expected) {
            #expect(g.answer == e.answer && g.start == e.start && g.end == e.end, "\(g) vs \(e)")
            #expect(abs(g.score - e.score) <= 1e-5, "\(g) vs \(e)")
        }
        var single = golden.parameters
        single.topK = 1
        let best = try QuestionAnswering.answers(windows: windows, startLogits: golden.firstWindow.startLogits,
                                                 endLogits: golden.firstWindow.endLogits, context: input.context,
                                                 parameters: single)
        #expect(best.map(\.answer) == [expected[0].answer])
        // transformers merges the spans widened to the same words among top_k * 2 + 10 candidates:
        // the best answer's score is the sum of three spans ending inside "resurgence".
        #expect(abs(best[0].score - expected[0].score) <= 1e-5)
        // Without word alignment, only top_k spans per window, cut at token boundaries.
        var raw = golden.parameters
        raw.alignToWords = false
        let unaligned = try QuestionAnswering.answers(windows: windows, startLogits: golden.firstWindow.startLogits,
                                                      endLogits: golden.firstWindow.endLogits, context: input.context,
                                                      parameters: raw)
        #expect(unaligned.map(\.answer) == ["allay the concern that some people feel",
                                            "allay the concern that some people feel about Germany's resur",
                                            "'s resurgence and unification."])
        #expect(try PipelineFixtures.jsonKeys(best[0]) == ["score", "start", "end", "answer"])
    }

    @Test func impossibleAnswerAndErrors() throws {
        let input = golden.inputs[0]
        var parameters = golden.parameters
        let windows = try QuestionAnswering.windows(question: input.question, context: input.context,
                                                    tokenizer: tokenizer, parameters: parameters)
        // A [CLS] far more likely than anything else: the empty answer wins.
        var start = golden.firstWindow.startLogits[0]
        var end = golden.firstWindow.endLogits[0]
        start[0] = 50
        end[0] = 50
        parameters.handleImpossibleAnswer = true
        parameters.topK = 1
        let answers = try QuestionAnswering.answers(windows: windows, startLogits: [start], endLogits: [end],
                                                    context: input.context, parameters: parameters)
        #expect(answers.map(\.answer) == [""] && answers.first?.start == 0 && answers.first?.end == 0)
        #expect(throws: PipelineError.self) {
            try QuestionAnswering.answers(windows: windows, startLogits: [[0]], endLogits: [[0]],
                                          context: input.context, parameters: parameters)
        }
        #expect(throws: PipelineError.emptyInput(what: "context")) {
            try QuestionAnswering.windows(question: "Why?", context: "", tokenizer: tokenizer)
        }
        let long = String(repeating: "word ", count: 80)
        #expect(throws: PipelineError.questionTooLong(questionTokens: 80, maxSeqLen: 64)) {
            try QuestionAnswering.windows(question: long, context: long, tokenizer: tokenizer, parameters: golden.parameters)
        }
        #expect(throws: PipelineError.strideTooLarge(stride: 60, contextTokensPerWindow: 60)) {
            try QuestionAnswering.windows(question: "why", context: long, tokenizer: tokenizer,
                                          parameters: QAParameters(maxSeqLen: 64, docStride: 60))
        }
    }
}

// MARK: - Fill mask

/// Only the top-20 logits at each mask are stored, so probabilities cannot be recomputed exactly;
/// the proposals' order, token strings, sequences and score ratios can.
@Suite("Fill mask")
struct FillMaskPipelineTests {
    let golden: MLMGolden
    let tokenizer: BertTokenizer

    init() throws {
        golden = try PipelineFixtures.golden("tiny-distilbert-mlm", as: MLMGolden.self)
        tokenizer = try PipelineFixtures.tokenizer("tiny-distilbert-mlm")
    }

    @Test func tokenStringsAndSequences() throws {
        for (i, text) in golden.texts.enumerated() {
            let encoding = tokenizer.encode(text)
            #expect(encoding.ids == golden.inputIds[i].filter { $0 != tokenizer.padId })
            let positions = FillMask.maskPositions(in: encoding, tokenizer: tokenizer)
            #expect(positions == golden.maskLogits.filter { $0.batch == i }.map(\.position))
            for (position, expected) in zip(positions, golden.pipeline[i]) {
                for prediction in expected {
                    #expect(tokenizer.decode([prediction.token], skipSpecialTokens: false) == prediction.tokenStr)
                    var ids = golden.inputIds[i]
                    ids[position] = prediction.token
                    ids.removeAll { $0 == tokenizer.padId }
                    #expect(tokenizer.decode(ids, skipSpecialTokens: positions.count == 1) == prediction.sequence)
                }
            }
        }
    }

    @Test func predictionsFromTop20Logits() throws {
        for (i, text) in golden.texts.enumerated() {
            let encoding = tokenizer.encode(text)
            let masks = golden.maskLogits.filter { $0.batch == i }
            // Logits outside the stored top 20 set far below them: order and ratios are kept.
            let rows = masks.map { mask in
                var logits = [Float](repeating: -100, count: tokenizer.vocabSize)
                for (id, logit) in zip(mask.top20Ids, mask.top20Logits) { logits[id] = logit }
                return logits
            }
            let got = try FillMask.predictions(maskLogits: rows, encoding: encoding, topK: 5, tokenizer: tokenizer)
            #expect(got.count == golden.pipeline[i].count)
            for (mine, expected) in zip(got, golden.pipeline[i]) {
                #expect(mine.map(\.token) == expected.map(\.token))
                #expect(mine.map(\.tokenStr) == expected.map(\.tokenStr))
                #expect(mine.map(\.sequence) == expected.map(\.sequence))
                for (m, e) in zip(mine, expected) {
                    let ratio = Double(m.score / mine[0].score), expectedRatio = Double(e.score / expected[0].score)
                    #expect(abs(ratio - expectedRatio) <= 1e-5 * expectedRatio, "\(m) vs \(e)")
                }
            }
        }
        let prediction = FillMaskPrediction(score: 0.5, token: 1, tokenStr: "x", sequence: "x")
        #expect(try PipelineFixtures.jsonKeys(prediction) == ["score", "token", "token_str", "sequence"])
    }

    @Test func targetsAndMissingMask() throws {
        let encoding = tokenizer.encode("Paris is in [MASK]")
        let position = try #require(FillMask.maskPositions(in: encoding, tokenizer: tokenizer).first)
        var logits = [Float](repeating: 0, count: tokenizer.vocabSize)
        let paris = try #require(tokenizer.id(of: "paris")), city = try #require(tokenizer.id(of: "city"))
        logits[paris] = 2
        logits[city] = 3
        let got = FillMask.predictions(maskLogits: logits, maskPosition: position, encoding: encoding, topK: 5,
                                       targetIds: [paris, city], tokenizer: tokenizer)
        #expect(got.map(\.token) == [city, paris])
        #expect(got.map(\.sequence) == ["paris is in city", "paris is in paris"])
        #expect(throws: PipelineError.noMaskToken) {
            try FillMask.predictions(maskLogits: [], encoding: tokenizer.encode("no mask"), tokenizer: tokenizer)
        }
    }
}

// MARK: - Embeddings

@Suite("Embeddings")
struct EmbeddingHelperTests {
    @Test func meanPoolingReproducesMiniLMEmbeddings() throws {
        let data = try Data(contentsOf: PipelineFixtures.directory.appendingPathComponent("minilm-golden.json"))
        let golden = try JSONDecoder().decode(MiniLMGolden.self, from: data)
        let hidden = golden.lastHiddenStateFirst2
        for i in 0..<2 {
            let mask = hidden.inputIds[i].map { $0 == 0 ? 0 : 1 }
            let pooled = try #require(Pooling.mean.pool(hidden.values[i], attentionMask: mask).first)
            #expect(cosine(l2Normalized(pooled), golden.embeddings[i]) >= 0.99999)
            let normalized = l2Normalized(pooled)
            for (a, b) in zip(normalized, golden.embeddings[i]) { #expect(abs(a - b) <= 1e-5) }
        }
    }

    @Test func helpers() {
        #expect(l2Normalized([3, 4]) == [0.6, 0.8])
        #expect(l2Normalized([0, 0]) == [0, 0])
        #expect(abs(cosine([1, 0], [1, 1]) - 0.70710677) <= 1e-6)
        #expect(cosine([0, 0], [1, 1]) == 0)
        let tokens: [[Float]] = [[1, 2], [3, 4], [100, 100]]
        #expect(Pooling.mean.pool(tokens, attentionMask: [1, 1, 0]) == [[2, 3]])
        #expect(Pooling.cls.pool(tokens, attentionMask: [1, 1, 0]) == [[1, 2]])
        #expect(Pooling.none.pool(tokens, attentionMask: [1, 1, 0]) == [[1, 2], [3, 4]])
        #expect(Pooling.mean.pool([]) == [])
    }
}
