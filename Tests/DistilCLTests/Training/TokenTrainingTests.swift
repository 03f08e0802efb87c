@testable import DistilCL
import Foundation
import Testing

/// Token classification through the `Trainer`: tagged data in both formats, the evaluation a
/// run logs equal to `distilcl evaluate`'s on the saved folder, gradient accumulation equal to
/// one big batch with dropout on, `--resume` bit for bit, and distillation from a token
/// classifier.
@Suite("Token classification training")
struct TokenTrainingTests {
    /// Twelve tagged sentences, the golden files' words (several words split into many pieces).
    static let sentences: [(words: [String], tags: [String])] = {
        let a: [(String, String)] = [
            ("EU", "B-ORG"), ("rejects", "O"), ("German", "B-MISC"), ("call", "O"), ("to", "O"), ("boycott", "O"),
            ("British", "B-MISC"), ("lamb", "O"), (".", "O"),
        ]
        let b: [(String, String)] = [("Peter", "B-PER"), ("Blackburn", "I-PER")]
        let c: [(String, String)] = [
            ("The", "O"), ("unbelievably", "O"), ("overwrought", "O"), ("Kristin", "B-PER"), ("Scott-Thomas", "I-PER"),
            ("visited", "O"), ("Reykjavík", "B-LOC"), ("yesterday", "O"),
        ]
        let d: [(String, String)] = [("Meryl", "B-PER"), ("Streep", "I-PER"), ("joined", "O"), ("Universal", "B-ORG"),
                                     ("Pictures", "I-ORG")]
        let e: [(String, String)] = [("Quantum", "O"), ("physics", "O"), ("at", "O"), ("CERN", "B-ORG"), ("in", "O"),
                                     ("Geneva", "B-LOC")]
        let f: [(String, String)] = [("meh", "O")]
        return [a, b, c, d, e, f, b, a, f, d, e, c].map { s in (s.map(\.0), s.map(\.1)) }
    }()

    /// tiny-bert-ner tags PER and LOC only: the other entities are O there.
    static func tags(_ s: [String], bert: Bool) -> [String] {
        bert ? s.map { $0.hasSuffix("PER") || $0.hasSuffix("LOC") ? $0 : "O" } : s
    }

    static func jsonl(_ folder: TemporaryFolder, _ name: String = "tags.jsonl", bert: Bool = false) throws -> URL {
        let lines = try sentences.map { s in
            String(decoding: try JSONSerialization.data(withJSONObject: ["tokens": s.words, "tags": tags(s.tags, bert: bert)]),
                   as: UTF8.self)
        }
        let url = folder.file(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static func conll(_ folder: TemporaryFolder, bert: Bool = false) throws -> URL {
        let text = sentences.map { s in zip(s.words, tags(s.tags, bert: bert)).map { "\($0)\t\($1)" }.joined(separator: "\n") }
            .joined(separator: "\n\n")
        let url = folder.file("tags.conll")
        try (text + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static func options(batch: Int = 4, accumulation: Int = 1, dropout: Float? = nil) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 2
        o.batchSize = batch
        o.gradientAccumulationSteps = accumulation
        o.learningRate = 1e-3
        o.dropout = dropout
        o.seed = 11
        return o
    }

    static func weights(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(url: url.appendingPathComponent("model.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    @Test("trains, logs seqeval's metrics, and the saved folder evaluates to the same", arguments: BackendCase.primary)
    func trainAndEvaluate(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let data = try Self.jsonl(folder)
        let trainer = try Trainer(model: Fixtures.model("tiny-distilbert-ner"), train: data, eval: data, labels: nil,
                                  output: folder.file("out"), backend: bc.backend, options: Self.options(), resume: false)
        #expect(trainer.task == .tokenClassification)   // from the checkpoint's head
        #expect(trainer.labels == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
        let reports = try trainer.run()
        #expect(reports.count == 2 && reports[1].trainLoss < reports[0].trainLoss, "\(reports.map(\.trainLoss))")
        let last = try #require(reports.last)
        #expect(last.evalF1 != nil && last.evalPrecision != nil && last.evalRecall != nil && last.evalAccuracy != nil)
        #expect(reports.allSatisfy { $0.evalLoss!.isFinite })

        let saved = try EncoderModel(directory: folder.file("out"), backend: bc.backend)
        #expect(saved.config.architectures == ["DistilBertForTokenClassification"])
        let tokenizer = try BertTokenizer(modelDirectory: folder.file("out"))
        let e = try Evaluator.evaluate(saved, tokenizer: tokenizer, data: data,
                                       settings: EvaluationSettings(task: .tokenClassification, maxLength: 512, batchSize: 4))
        #expect(e["f1"] == last.evalF1 && e["precision"] == last.evalPrecision && e["accuracy"] == last.evalAccuracy)
        #expect(abs(e.loss! - last.evalLoss!) <= 1e-6 * max(1, last.evalLoss!))
    }

    @Test("CoNLL text trains the same weights as the same sentences in JSON Lines")
    func conllEqualsJSONLines() throws {
        let folder = try TemporaryFolder()
        var o = Self.options()
        o.epochs = 1
        var settings = TaskSettings()
        for (name, url, format) in [("j", try Self.jsonl(folder, bert: true), TaggedData.Format.jsonl),
                                    ("c", try Self.conll(folder, bert: true), .conll)] {
            settings.format = format
            _ = try Trainer(model: Fixtures.model("tiny-bert-ner"), train: url, eval: nil, labels: nil,
                            output: folder.file(name), backend: BackendCase.cpu.backend, options: o, resume: false,
                            settings: settings).run()
        }
        #expect(try Self.weights(folder.file("j")) == (try Self.weights(folder.file("c"))))
    }

    /// Accumulation 3 × batch 2 against batch 6, dropout 0.1 on every site: the same weights
    /// within 1e-5 after the run's 4 steps. Attention key biases have a gradient of 0 up to
    /// rounding (softmax ignores a shift of a score row), which Adam scales into steps of about
    /// lr whatever the summation order: they are held to the 2·Σlr both runs may move them.
    @Test("gradient accumulation equals one large batch, dropout on", arguments: BackendCase.primary)
    func accumulation(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let data = try Self.jsonl(folder, bert: true)
        for (name, batch, accumulation) in [("big", 6, 1), ("acc", 2, 3)] {
            _ = try Trainer(model: Fixtures.model("tiny-bert-ner"), train: data, eval: nil, labels: nil,
                            output: folder.file(name), backend: bc.backend,
                            options: Self.options(batch: batch, accumulation: accumulation, dropout: 0.1),
                            resume: false).run()
        }
        let (a, b) = (try Self.weights(folder.file("big")), try Self.weights(folder.file("acc")))
        #expect(a.keys == b.keys)
        var moved = false
        let start = try Self.weights(Fixtures.model("tiny-bert-ner"))
        for (name, x) in a {
            let worst = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            let bound: Float = name.hasSuffix("attention.self.key.bias") ? 2 * 4 * 1e-3 : 1e-5
            #expect(worst <= bound, "\(bc.name) \(name): max |diff| \(worst), bound \(bound)")
            if let s = start[name], s.count == x.count, zip(s, x).contains(where: { $0 != $1 }) { moved = true }
        }
        #expect(moved)
    }

    @Test("an interrupted run resumes to the same weights, bit for bit", arguments: BackendCase.primary)
    func resume(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let data = try Self.jsonl(folder)
        func trainer(_ out: String, resume: Bool) throws -> Trainer {
            try Trainer(model: Fixtures.model("tiny-distilbert-ner"), train: data, eval: data, labels: nil,
                        output: folder.file(out), backend: bc.backend, options: Self.options(dropout: 0.1), resume: resume)
        }
        let whole = try trainer("whole", resume: false).run()
        _ = try trainer("split", resume: false).run(stopAfterEpoch: 1)
        let rest = try trainer("split", resume: true).run()
        #expect(rest.map(\.trainLoss) == whole.map(\.trainLoss) && rest.map(\.evalF1) == whole.map(\.evalF1))
        #expect(try Self.weights(folder.file("whole")) == (try Self.weights(folder.file("split"))))
    }

    @Test("distils a 2-layer student from a token classifier, KL over every token")
    func distil() throws {
        let folder = try TemporaryFolder()
        let data = try Self.jsonl(folder, bert: true)
        var o = Self.options()
        var d = DistillationOptions()
        d.studentLayers = [0, 2]
        d.alphaCos = 0.1
        o.distillation = d
        let trainer = try Trainer(model: Fixtures.model("tiny-bert-ner"), train: data, eval: data, labels: nil,
                                  output: folder.file("student"), backend: BackendCase.cpu.backend, options: o,
                                  resume: false)
        #expect(trainer.model.config.layers == 2 && trainer.model.config.modelType == .distilbert)
        let reports = try trainer.run()
        #expect(reports.allSatisfy { $0.trainLoss.isFinite && $0.evalF1 != nil })
        let saved = try ModelConfig(contentsOf: folder.file("student/config.json"))
        #expect(saved.architectures == ["DistilBertForTokenClassification"] && saved.labels == trainer.labels)
        // transformers' AutoTokenizer must not give the student token type ids.
        let tokenizer = try JSONSerialization.jsonObject(
            with: Data(contentsOf: folder.file("student/tokenizer_config.json"))) as? [String: Any] ?? [:]
        #expect((tokenizer["tokenizer_class"] as? String)?.hasPrefix("DistilBertTokenizer") == true, "\(tokenizer)")
    }

    @Test("bad tagged data names the file and line")
    func badData() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("bad.jsonl")
        try "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\", \"O\"]}\n{\"tokens\": [\"a\"], \"tags\": [\"O\", \"B-PER\"]}\n"
            .write(to: url, atomically: true, encoding: .utf8)
        #expect {
            _ = try Trainer(model: Fixtures.model("tiny-distilbert-ner"), train: url, eval: nil, labels: nil,
                            output: folder.file("out"), backend: BackendCase.cpu.backend, options: Self.options(),
                            resume: false)
        } throws: { error in
            "\(error)".hasPrefix("\(url.path):2:")
        }
    }
}

/// `distill --student DIR`: a given checkpoint instead of the teacher's cut layers.
@Suite("Distillation from a given student")
struct GivenStudentTests {
    @Test("--student starts from the given folder, its head kept; a teacher's vocabulary is required")
    func givenStudent() throws {
        let folder = try TemporaryFolder()
        let data = try TokenTrainingTests.jsonl(folder, bert: true)
        var o = TokenTrainingTests.options()
        o.epochs = 1
        var d = DistillationOptions()
        d.student = Fixtures.model("tiny-distilbert-ner").path
        o.distillation = d
        // tiny-distilbert-ner tags 9 labels, the teacher 5: its head is replaced (--new-head).
        let trainer = try Trainer(model: Fixtures.model("tiny-bert-ner"), train: data, eval: data, labels: nil,
                                  output: folder.file("s"), backend: BackendCase.cpu.backend, options: o, resume: false,
                                  newHead: true)
        #expect(trainer.model.config.layers == 3 && trainer.model.config.modelType == .distilbert)
        #expect(trainer.labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])   // the teacher's, for the KL term
        let start = try SafeTensorsFile(url: Fixtures.model("tiny-distilbert-ner").appendingPathComponent("model.safetensors"))
        let word = "distilbert.embeddings.word_embeddings.weight"
        #expect(try trainer.model.trainableParameters().contains { $0.names.contains(word) })
        let before = try start.floats(word)
        _ = try trainer.run()
        let after = try SafeTensorsFile(url: folder.file("s/model.safetensors")).floats(word)
        #expect(before.count == after.count && before != after)
        #expect(throws: TrainingError.self) {   // with --student-layers too
            var both = o
            both.distillation?.studentLayers = [0, 1]
            try both.validate()
        }
    }
}
