@testable import DistilCL
import Foundation
import Testing

/// The loop's transformers semantics: `--max-steps` cutting the last epoch, `--logging-steps`
/// lines (loss since the last line, the rate after the step, the norm before clipping, the
/// fractional epoch) and `--resume` giving all of it bit for bit.
@Suite("Training loop: schedules, step logging, max steps")
struct TrainingLoopTests {
    /// 18 texts in batches of 4: 5 steps an epoch; 12 steps are 2 epochs and 2 steps of a third.
    static var options: TrainingOptions {
        var o = TrainerTests.options
        o.lrScheduler = .cosine
        o.maxSteps = 12
        o.loggingSteps = 4
        o.adamBeta2 = 0.98
        return o
    }

    static func stepLines(_ t: Trainer) -> [StepLog] {
        t.history.compactMap { if case .step(let s) = $0 { s } else { nil } }
    }

    @Test("cosine, --logging-steps 4, --max-steps 12: the log, and --resume bit for bit", arguments: BackendCase.primary)
    func resumeWithEverything(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let train = try TrainerTests.data(folder)
        func trainer(_ out: String, resume: Bool) throws -> Trainer {
            try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: train, eval: train, labels: nil,
                        output: folder.file(out), backend: bc.backend, options: Self.options, resume: resume)
        }
        let wholeTrainer = try trainer("whole", resume: false)
        let whole = try wholeTrainer.run()
        #expect(whole.map(\.epoch) == [1, 2, 3] && whole.map(\.step) == [5, 10, 12])
        #expect(wholeTrainer.lastCheckpoint?.lastPathComponent == "checkpoint-12")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.file("whole").path)
        // An epoch's checkpoint is left only as the best evaluation's (kept, as transformers keeps it).
        let best = wholeTrainer.bestCheckpoint?.lastPathComponent
        #expect(names.contains("checkpoint-12") && !names.contains { $0.hasPrefix("checkpoint-epoch") && $0 != best },
                "\(names)")

        // Steps 4, 8, 12; the rate logged is the next step's: 1e-3 · ½(1 + cos(π(t − 2)/10)), warm-up ceil(1.2) = 2.
        let lines = Self.stepLines(wholeTrainer)
        #expect(lines.map(\.step) == [4, 8, 12])
        #expect(lines.map(\.epoch) == [0.8, 1.6, 2.4])
        let peak: Float = 1e-3
        for line in lines {
            let want = Float(Double(peak) * 0.5 * (1 + cos(Double.pi * Double(line.step - 2) / 10)))
            #expect(Float(line.learningRate) == want, "step \(line.step): \(line.learningRate) vs \(want)")
            #expect(line.loss.isFinite && line.loss > 0 && line.gradNorm > 0 && line.samplesPerSecond > 0)
        }
        // The file: step lines before their epoch's line; the last line is the final epoch's.
        let text = try String(contentsOf: folder.file("whole/train_log.jsonl"), encoding: .utf8)
        let objects = try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        #expect(objects.map { $0["step"] as? Int ?? -1 } == [4, 5, 8, 10, 12, 12])
        #expect(objects.last?["train_samples_per_second"] is Double && objects.last?["eval_accuracy"] is Double)
        for o in objects where o["grad_norm"] != nil {
            #expect(Set(o.keys) == ["loss", "learning_rate", "grad_norm", "samples_per_second", "step", "epoch"])
        }

        // Interrupted after epoch 1 (step 5, one step's loss pending for the line at step 8).
        _ = try trainer("split", resume: false).run(stopAfterEpoch: 1)
        let resumed = try trainer("split", resume: true)
        #expect(resumed.completedEpochs == 1)
        let rest = try resumed.run()
        #expect(rest.map(\.trainLoss) == whole.map(\.trainLoss))
        #expect(rest.map(\.evalLoss) == whole.map(\.evalLoss))
        let again = Self.stepLines(resumed)
        #expect(again.map(\.loss) == lines.map(\.loss), "\(again.map(\.loss)) vs \(lines.map(\.loss))")
        #expect(again.map(\.gradNorm) == lines.map(\.gradNorm) && again.map(\.learningRate) == lines.map(\.learningRate))
        let a = try SafeTensorsFile(url: folder.file("whole/model.safetensors"))
        let b = try SafeTensorsFile(url: folder.file("split/model.safetensors"))
        for name in a.names { #expect(try a.floats(name) == (try b.floats(name)), "\(bc.name) \(name)") }

        // A finished run resumed has nothing left to do.
        let done = try trainer("whole", resume: true)
        #expect(try done.run().map(\.step) == [5, 10, 12])
    }

    /// 5 steps an epoch, 2 epochs, --eval-steps 2: evaluations at 2, 4, 6, 8 and the epochs' 5
    /// and 10 (an epoch's end evaluates once).
    @Test("--eval-steps evaluates within epochs; --resume keeps the lines")
    func evalSteps() throws {
        let folder = try TemporaryFolder()
        let train = try TrainerTests.data(folder)
        var o = TrainerTests.options
        (o.epochs, o.evalSteps, o.reportTo) = (2, 2, .tensorboard)
        func trainer(_ out: String, resume: Bool = false, _ options: TrainingOptions) throws -> Trainer {
            try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: train, eval: train, labels: nil,
                        output: folder.file(out), backend: CPUBackend(), options: options, resume: resume)
        }
        let t = try trainer("whole", o)
        try t.run()
        #expect(t.history.map(\.step) == [2, 4, 5, 6, 8, 10])
        let evals = t.history.compactMap { if case .evaluation(let e) = $0 { e } else { nil } }
        #expect(evals.map(\.epoch) == [0.4, 0.8, 1.2, 1.6])
        #expect(evals.allSatisfy { e in e.evalLoss.isFinite && (e.evalAccuracy.map { (0...1).contains($0) } ?? false) && e.evalF1 != nil })
        _ = try trainer("split", o).run(stopAfterEpoch: 1)
        let resumed = try trainer("split", resume: true, o)
        try resumed.run()
        let again = resumed.history.compactMap { if case .evaluation(let e) = $0 { e } else { nil } }
        #expect(again == evals)
        let runs = try FileManager.default.contentsOfDirectory(atPath: folder.file("whole/runs").path)
        let events = TensorBoardTests.read(Array(try Data(contentsOf: folder.file("whole/runs/" + runs[0]))))
        #expect(events.filter { $0.scalars["eval/accuracy"] != nil }.map(\.step) == [2, 4, 5, 6, 8, 10])
        #expect(throws: TrainingError.badOption("--eval-steps needs --eval")) {
            _ = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: train, eval: nil, labels: nil,
                            output: folder.file("none"), backend: CPUBackend(), options: o, resume: false)
        }
    }

    /// Other betas reach the optimiser: one step with β₁ 0.5 moves the weights elsewhere.
    @Test("--adam-beta1 changes the trained weights")
    func betasReachTheOptimiser() throws {
        let folder = try TemporaryFolder()
        let train = try TrainerTests.data(folder)
        func weights(_ out: String, beta1: Float) throws -> [Float] {
            var o = TrainerTests.options
            o.maxSteps = 2
            o.adamBeta1 = beta1
            let t = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: train, eval: nil, labels: nil,
                                output: folder.file(out), backend: CPUBackend(), options: o, resume: false)
            try t.run()
            return try SafeTensorsFile(url: folder.file(out + "/model.safetensors")).floats("classifier.weight")
        }
        #expect(try weights("a", beta1: 0.9) != (try weights("b", beta1: 0.5)))
    }
}
