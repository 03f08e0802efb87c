@testable import DistilCL
import Foundation
import Testing

/// The training loop: an interrupted run resumed from its last checkpoint ends exactly where
/// an uninterrupted one does, and the folder it writes reloads into the same model.
@Suite("Trainer")
struct TrainerTests {
    static func data(_ folder: TemporaryFolder) throws -> URL {
        let json = try Fixtures.json("tiny-distilbert-sst/train-golden.json")
        var lines: [[String: Any]] = []
        for batch in json["batches"] as? [[String: Any]] ?? [] {
            for (text, label) in zip(batch["texts"] as? [String] ?? [], ints(batch["labels"])) {
                lines.append(["text": text, "label": label])
            }
        }
        try CLI.jsonl(lines + lines.reversed()).write(to: folder.file("train.jsonl"))
        return folder.file("train.jsonl")
    }

    static var options: TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 3
        o.batchSize = 4
        o.learningRate = 1e-3
        o.seed = 7   // shuffled batches and dropout (the config's 0.1, 0.2) both depend on it
        return o
    }

    /// Bit-identical on the same backend: shuffles and dropout masks are keyed by seed, epoch
    /// and step, and the optimiser's moments and step are restored from the checkpoint exactly.
    @Test("resume after an interruption gives the uninterrupted run's weights, bit for bit",
          arguments: ["tiny-distilbert-sst", "tiny-bert-pairs"], BackendCase.primary)
    func resume(_ fixture: String, _ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder)
        let labels = fixture == "tiny-bert-pairs" ? ["contradiction", "neutral", "entailment"] : nil
        func trainer(_ out: String, resume: Bool) throws -> Trainer {
            try Trainer(model: Fixtures.model(fixture), train: train, eval: train, labels: labels,
                        output: folder.file(out), backend: bc.backend, options: Self.options, resume: resume)
        }
        let whole = try trainer("whole", resume: false).run()
        let first = try trainer("split", resume: false).run(stopAfterEpoch: 1)
        #expect(first.count == 1)
        let resumed = try trainer("split", resume: true)
        #expect(resumed.completedEpochs == 1)
        let rest = try resumed.run()
        #expect(rest.map(\.epoch) == [1, 2, 3])
        #expect(rest.map(\.trainLoss) == whole.map(\.trainLoss), "\(bc.name): \(rest.map(\.trainLoss)) vs \(whole.map(\.trainLoss))")
        #expect(rest.map(\.evalLoss) == whole.map(\.evalLoss))
        let a = try SafeTensorsFile(url: folder.file("whole/model.safetensors"))
        let b = try SafeTensorsFile(url: folder.file("split/model.safetensors"))
        #expect(a.names.sorted() == b.names.sorted())
        for name in a.names { #expect(try a.floats(name) == (try b.floats(name)), "\(bc.name) \(fixture) \(name)") }
    }

    /// The saved folder is the trained model: reloaded, it gives the same logits.
    @Test("the saved folder reloads into the model that was trained", arguments: BackendCase.primary)
    func roundTrip(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        var options = Self.options
        options.epochs = 1
        let trainer = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: try Self.data(folder), eval: nil,
                                  labels: nil, output: folder.file("out"), backend: bc.backend, options: options,
                                  resume: false)
        try trainer.run()
        let tokenizer = try BertTokenizer(modelDirectory: folder.file("out"))
        let batch = TokenBatch(["a dull, plodding mess", "Wonderful.", "fine"].map { tokenizer.encode($0) })
        let reloaded = try EncoderModel(directory: folder.file("out"), backend: bc.backend)
        #expect(try reloaded.classificationLogits(batch) == (try trainer.model.classificationLogits(batch)))
        #expect(reloaded.config.labels == ["NEGATIVE", "POSITIVE"])
    }
}
