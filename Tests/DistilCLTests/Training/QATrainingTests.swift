@testable import DistilCL
import Foundation
import Testing

/// Question answering through the `Trainer`: SQuAD-style questions cut into windows, the
/// evaluation a run logs equal to `distilcl evaluate`'s on the saved folder (v1.1 and v2.0
/// metrics), accumulation equal to one batch with dropout on, `--resume` bit for bit, and
/// distillation from a QA teacher.
@Suite("Question answering training")
struct QATrainingTests {
    static let questions: [(String, String, String?)] = [
        ("Who wrote Hamlet?", "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601.",
         "William Shakespeare"),
        ("When was Hamlet written?", "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601.",
         "between 1599 and 1601"),
        ("What is the capital of France?",
         "Paris is the capital and most populous city of France, with an estimated population of two million.", "Paris"),
        ("How many people live in Paris?",
         "Paris is the capital and most populous city of France, with an estimated population of two million.",
         "two million"),
        ("What colour is the sky on Mars?",
         "The sky on Earth is blue because of Rayleigh scattering of sunlight by the atmosphere.", nil),
    ]

    /// JSON Lines in the datasets layout; `version2` keeps the unanswerable question.
    static func data(_ folder: TemporaryFolder, version2: Bool = true) throws -> URL {
        var lines: [String] = []
        for (i, (q, c, a)) in questions.enumerated() where version2 || a != nil {
            let start = a.flatMap { c.range(of: $0) }.map { c.unicodeScalars.distance(from: c.unicodeScalars.startIndex,
                                                                                   to: $0.lowerBound) }
            let answers: [String: Any] = ["text": a.map { [$0] } ?? [], "answer_start": start.map { [$0] } ?? []]
            let object: [String: Any] = ["id": "q\(i)", "question": q, "context": c, "answers": answers]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]),
                                as: UTF8.self))
        }
        let url = folder.file(version2 ? "v2.jsonl" : "v1.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Windows of 32 tokens with a stride of 8: each context is cut into several.
    static let settings = TaskSettings(task: .questionAnswering, docStride: 8)

    static func options(batch: Int = 4, accumulation: Int = 1, dropout: Float? = nil) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 2
        o.batchSize = batch
        o.gradientAccumulationSteps = accumulation
        o.learningRate = 1e-3
        o.maxLength = 32
        o.dropout = dropout
        o.seed = 5
        return o
    }

    static func weights(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(url: url.appendingPathComponent("model.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    @Test("trains on windows, logs SQuAD v2.0 scores, the saved folder evaluates to the same", arguments: BackendCase.primary)
    func trainAndEvaluate(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder)
        let trainer = try Trainer(model: Fixtures.model("tiny-distilbert-qa"), train: data, eval: data, labels: nil,
                                  output: folder.file("out"), backend: bc.backend, options: Self.options(), resume: false,
                                  settings: Self.settings)
        #expect(trainer.trainCount > Self.questions.count)   // several windows a context
        let reports = try trainer.run()
        let last = try #require(reports.last)
        #expect(last.evalExact != nil && last.evalF1 != nil && last.evalLoss?.isFinite == true)
        let saved = try EncoderModel(directory: folder.file("out"), backend: bc.backend)
        #expect(saved.config.architectures == ["DistilBertForQuestionAnswering"])
        let e = try Evaluator.evaluate(saved, tokenizer: try BertTokenizer(modelDirectory: folder.file("out")), data: data,
                                       settings: EvaluationSettings(task: .questionAnswering, maxLength: 32, batchSize: 4,
                                                                    data: Self.settings))
        #expect(e["exact"] == last.evalExact && e["f1"] == last.evalF1 && e["NoAns_exact"] != nil)
        #expect(abs(e.loss! - last.evalLoss!) <= 1e-6 * max(1, last.evalLoss!))
    }

    @Test("v1.1 data (every question answerable) reports exact_match and f1")
    func version1() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder, version2: false)
        var o = Self.options()
        o.epochs = 1
        let reports = try Trainer(model: Fixtures.model("tiny-bert-qa"), train: data, eval: data, labels: nil,
                                  output: folder.file("out"), backend: BackendCase.cpu.backend, options: o, resume: false,
                                  settings: Self.settings).run()
        #expect(reports.last?.evalExactMatch != nil && reports.last?.evalExact == nil && reports.last?.evalF1 != nil)
    }

    /// Accumulation 2 × batch 2 against batch 4, dropout 0.1 on every site (qa_dropout too):
    /// the same weights within 1e-5; key biases and qa_outputs.bias (gradient 0 up to rounding)
    /// within the 2·Σlr both runs may move them.
    @Test("gradient accumulation equals one large batch, dropout on", arguments: BackendCase.primary)
    func accumulation(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder)
        for (name, batch, accumulation) in [("big", 4, 1), ("acc", 2, 2)] {
            _ = try Trainer(model: Fixtures.model("tiny-distilbert-qa"), train: data, eval: nil, labels: nil,
                            output: folder.file(name), backend: bc.backend,
                            options: Self.options(batch: batch, accumulation: accumulation, dropout: 0.1), resume: false,
                            settings: Self.settings).run()
        }
        let (a, b) = (try Self.weights(folder.file("big")), try Self.weights(folder.file("acc")))
        #expect(a.keys == b.keys && !a.isEmpty)
        let steps: Float = 2 * 4   // two epochs of at most 4 steps (the windows in batches of 4)
        for (name, x) in a {
            let worst = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            let zeroGradient = name.hasSuffix("k_lin.bias") || name == "qa_outputs.bias"
            let bound: Float = zeroGradient ? 2 * steps * 1e-3 : 1e-5
            #expect(worst <= bound, "\(bc.name) \(name): max |diff| \(worst), bound \(bound)")
        }
    }

    @Test("an interrupted run resumes to the same weights, bit for bit")
    func resume() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder)
        func trainer(_ out: String, resume: Bool) throws -> Trainer {
            try Trainer(model: Fixtures.model("tiny-distilbert-qa"), train: data, eval: data, labels: nil,
                        output: folder.file(out), backend: BackendCase.cpu.backend, options: Self.options(dropout: 0.1),
                        resume: resume, settings: Self.settings)
        }
        let whole = try trainer("whole", resume: false).run()
        _ = try trainer("split", resume: false).run(stopAfterEpoch: 1)
        let rest = try trainer("split", resume: true).run()
        #expect(rest.map(\.trainLoss) == whole.map(\.trainLoss) && rest.map(\.evalF1) == whole.map(\.evalF1))
        #expect(try Self.weights(folder.file("whole")) == (try Self.weights(folder.file("split"))))
    }

    @Test("distils a 2-layer student from a QA teacher, keeping its qa_outputs")
    func distil() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder)
        var o = Self.options()
        var d = DistillationOptions()
        d.studentLayers = [0, 2]
        o.distillation = d
        let trainer = try Trainer(model: Fixtures.model("tiny-bert-qa"), train: data, eval: data, labels: nil,
                                  output: folder.file("student"), backend: BackendCase.cpu.backend, options: o,
                                  resume: false, settings: Self.settings)
        #expect(trainer.model.config.layers == 2 && trainer.model.heads.qaOutputs != nil)
        let reports = try trainer.run()
        #expect(reports.allSatisfy { $0.trainLoss.isFinite && $0.evalF1 != nil })
        let saved = try ModelConfig(contentsOf: folder.file("student/config.json"))
        #expect(saved.architectures == ["DistilBertForQuestionAnswering"])
        // The cosine term reads hidden states QA's distillation does not take.
        d.alphaCos = 0.5
        o.distillation = d
        #expect(throws: TrainingError.self) {
            _ = try Trainer(model: Fixtures.model("tiny-bert-qa"), train: data, eval: nil, labels: nil,
                            output: folder.file("cos"), backend: BackendCase.cpu.backend, options: o, resume: false,
                            settings: Self.settings)
        }
    }

    @Test("an answer outside its context names the file and the line")
    func badData() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("bad.jsonl")
        try """
            {"id": "a", "question": "q?", "context": "short", "answers": {"text": ["short"], "answer_start": [0]}}
            {"id": "b", "question": "q?", "context": "short", "answers": {"text": ["long answer"], "answer_start": [40]}}

            """.write(to: url, atomically: true, encoding: .utf8)
        #expect {
            _ = try Trainer(model: Fixtures.model("tiny-distilbert-qa"), train: url, eval: nil, labels: nil,
                            output: folder.file("out"), backend: BackendCase.cpu.backend, options: Self.options(),
                            resume: false, settings: Self.settings)
        } throws: { error in
            "\(error)".hasPrefix("\(url.path):2")
        }
    }
}
