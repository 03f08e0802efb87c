@testable import DistilCL
import Foundation
import Testing

/// `--save-steps`, `--save-total-limit`, `--metric-for-best-model` and
/// `--early-stopping-patience` with transformers' semantics, on the tiny fixture: 18 texts in
/// batches of 4, 5 steps an epoch.
@Suite("Checkpoints: save steps, rotation, best model, early stopping")
struct CheckpointPolicyTests {
    static func trainer(_ folder: TemporaryFolder, _ out: String, eval: URL?, _ options: TrainingOptions,
                        resume: Bool = false) throws -> Trainer {
        try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: try TrainerTests.data(folder), eval: eval,
                    labels: nil, output: folder.file(out), backend: CPUBackend(), options: options, resume: resume)
    }

    /// The training texts with every label flipped: training makes this set's loss grow, so
    /// the best evaluation by loss comes early and later ones do not improve on it.
    static func flipped(_ folder: TemporaryFolder) throws -> URL {
        let text = try String(contentsOf: try TrainerTests.data(folder), encoding: .utf8)
        let lines = try text.split(separator: "\n").map { line -> [String: Any] in
            var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            o["label"] = 1 - (o["label"] as? Int ?? 0)
            return o
        }
        try CLI.jsonl(lines).write(to: folder.file("flipped.jsonl"))
        return folder.file("flipped.jsonl")
    }

    static func checkpoints(_ folder: TemporaryFolder, _ out: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: folder.file(out).path)) ?? [])
            .filter(RunFolder.isCheckpoint))
    }

    static func evals(_ t: Trainer) -> [EvalLog] {
        t.history.compactMap { if case .evaluation(let e) = $0 { e } else { nil } }
    }

    static func state(_ dir: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("trainer_state.json")))
            as? [String: Any] ?? [:]
    }

    @Test("transformers' rotation: oldest first, the best moved last but one, a limit of 1 keeps 2")
    func rotation() {
        let names = ["checkpoint-2", "checkpoint-4", "checkpoint-epoch1", "checkpoint-6"]
        #expect(RunFolder.rotation(names, best: nil, limit: 2) == ["checkpoint-epoch1", "checkpoint-6"])
        #expect(RunFolder.rotation(names, best: "checkpoint-2", limit: 2) == ["checkpoint-2", "checkpoint-6"])
        #expect(RunFolder.rotation(names, best: "checkpoint-2", limit: 3) == ["checkpoint-epoch1", "checkpoint-2", "checkpoint-6"])
        #expect(RunFolder.rotation(names, best: "checkpoint-4", limit: 1) == ["checkpoint-4", "checkpoint-6"])
        #expect(RunFolder.rotation(names, best: "checkpoint-6", limit: 1) == ["checkpoint-6"])
        #expect(RunFolder.rotation(names, best: nil, limit: 9) == names)
    }

    /// Saves at 2, 4, 6, 8 and the epochs' ends (5, 10); a limit of 3 keeps the newest three.
    @Test("--save-steps 2 saves checkpoint-N folders; --save-total-limit 3 rotates the oldest out")
    func saveStepsAndLimit() throws {
        let folder = try TemporaryFolder()
        var o = TrainerTests.options
        (o.epochs, o.saveSteps, o.saveTotalLimit) = (2, 2, 9)
        try Self.trainer(folder, "all", eval: nil, o).run()
        #expect(Self.checkpoints(folder, "all") == ["checkpoint-2", "checkpoint-4", "checkpoint-epoch1", "checkpoint-6",
                                                    "checkpoint-8", "checkpoint-epoch2"])
        let mid = try Self.state(folder.file("all/checkpoint-6"))
        #expect(mid["step"] as? Int == 6 && mid["epoch"] as? Int == 1, "\(mid)")
        o.saveTotalLimit = 3
        let t = try Self.trainer(folder, "three", eval: nil, o)
        try t.run(stopAfterEpoch: 1)
        #expect(Self.checkpoints(folder, "three") == ["checkpoint-2", "checkpoint-4", "checkpoint-epoch1"])
        try Self.trainer(folder, "three", eval: nil, o, resume: true).run()
        #expect(Self.checkpoints(folder, "three") == ["checkpoint-6", "checkpoint-8", "checkpoint-epoch2"])
        // The default keeps the newest only, as before.
        o.saveTotalLimit = 1
        try Self.trainer(folder, "one", eval: nil, o).run()
        #expect(Self.checkpoints(folder, "one") == ["checkpoint-epoch2"])
        let top = try Data(contentsOf: folder.file("one/model.safetensors"))
        #expect(top == (try Data(contentsOf: folder.file("one/checkpoint-epoch2/model.safetensors"))))
    }

    /// Evaluations every step on the flipped labels: the best by loss is an early one, kept
    /// through the rotation, and the top level ends as its model, not the last one's.
    @Test("the best checkpoint is kept and becomes the top level; trainer_state.json records it")
    func bestModelAtEnd() throws {
        let folder = try TemporaryFolder()
        let eval = try Self.flipped(folder)
        var o = TrainerTests.options
        (o.epochs, o.evalSteps, o.saveTotalLimit, o.metricForBestModel) = (2, 1, 2, "eval_loss")
        o.dropout = 0   // the run learns the training labels step by step: the flipped ones' loss rises
        let t = try Self.trainer(folder, "out", eval: eval, o)
        try t.run()
        let last = try #require(t.lastCheckpoint), best = try #require(t.bestCheckpoint)
        #expect(last.lastPathComponent == "checkpoint-epoch2")
        #expect(best != last, "the flipped labels' loss should be lowest early, not at \(best.lastPathComponent)")
        #expect(Self.checkpoints(folder, "out") == [best.lastPathComponent, "checkpoint-epoch2"])
        let state = try Self.state(last)
        #expect(state["best_model_checkpoint"] as? String == best.path)
        let losses = t.history.compactMap { line -> Double? in
            switch line {
            case .evaluation(let e): e.evalLoss
            case .epoch(let e): e.evalLoss
            case .step: nil
            }
        }
        // JSONSerialization may read the 17th significant digit back one unit off.
        let bestMetric = try #require(state["best_metric"] as? Double), lowest = try #require(losses.min())
        #expect(abs(bestMetric - lowest) <= 1e-15 * lowest, "\(state)")
        let top = try Data(contentsOf: folder.file("out/model.safetensors"))
        #expect(top == (try Data(contentsOf: best.appendingPathComponent("model.safetensors"))))
        #expect(top != (try Data(contentsOf: last.appendingPathComponent("model.safetensors"))))
        // The top level's log is the whole run's.
        #expect(RunFolder.readLog(folder.file("out")).last?.step == 10)
    }

    /// Patience 3, evaluations at 3, 5, 6, 9, 10, …: the run ends, saved, at the third
    /// evaluation in a row that is not a new best.
    @Test("--early-stopping-patience stops after N evaluations without improvement; --resume is bit for bit")
    func earlyStopping() throws {
        let folder = try TemporaryFolder()
        let eval = try Self.flipped(folder)
        var o = TrainerTests.options
        (o.epochs, o.evalSteps, o.saveSteps, o.metricForBestModel, o.earlyStoppingPatience) = (4, 3, 4, "loss", 3)
        let t = try Self.trainer(folder, "whole", eval: eval, o)
        try t.run()
        // Replays the evaluations: where the count of non-improving ones first reaches 2.
        var bestLoss = Double.infinity, counter = 0, stop: Int?
        for line in t.history {
            let loss: Double? = switch line {
            case .evaluation(let e): e.evalLoss
            case .epoch(let e): e.evalLoss
            case .step: nil
            }
            guard let loss, stop == nil else { continue }
            if loss < bestLoss { (bestLoss, counter) = (loss, 0) } else { counter += 1 }
            if counter == 3 { stop = line.step }
        }
        let stopStep = try #require(stop, "no three evaluations without improvement")
        #expect(stopStep < 20 && t.history.last?.step == stopStep, "\(t.history.map(\.step))")
        #expect(RunFolder.readLog(folder.file("whole")).last?.step == stopStep)
        let best = try #require(t.bestCheckpoint)
        let top = try Data(contentsOf: folder.file("whole/model.safetensors"))
        #expect(top == (try Data(contentsOf: best.appendingPathComponent("model.safetensors"))))
        #expect(try Self.state(try #require(t.lastCheckpoint))["early_stopping_patience_counter"] as? Int == 3)

        // Interrupted after epoch 1, resumed: the same evaluations, the same stop, the same files.
        _ = try Self.trainer(folder, "split", eval: eval, o).run(stopAfterEpoch: 1)
        let resumed = try Self.trainer(folder, "split", eval: eval, o, resume: true)
        try resumed.run()
        #expect(Self.evals(resumed) == Self.evals(t))
        #expect(resumed.bestCheckpoint?.lastPathComponent == best.lastPathComponent)
        #expect(Self.checkpoints(folder, "split") == Self.checkpoints(folder, "whole"))
        #expect((try Data(contentsOf: folder.file("split/model.safetensors"))) == top)
        let (a, b) = (try Self.state(try #require(t.lastCheckpoint)), try Self.state(try #require(resumed.lastCheckpoint)))
        #expect(a["best_metric"] as? Double == b["best_metric"] as? Double && a["step"] as? Int == b["step"] as? Int)
        // A run that stopped early, resumed, has nothing left to do.
        let done = try Self.trainer(folder, "whole", eval: eval, o, resume: true)
        try done.run()
        #expect(done.history.last?.step == stopStep)
        (o.metricForBestModel, o.evalSteps) = (nil, nil)
        #expect(throws: TrainingError.badOption("--early-stopping-patience needs --eval")) {
            _ = try Self.trainer(folder, "none", eval: nil, o)
        }
    }
}
