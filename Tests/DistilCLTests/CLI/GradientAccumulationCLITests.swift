import DistilCL
import Foundation
import Testing

/// `--gradient-accumulation-steps` on `train` and `distill`: refused below 1 with status 64
/// and the flag named, before any output folder exists; accepted and kept in the run's recipe.
@Suite("CLI: --gradient-accumulation-steps")
struct GradientAccumulationCLITests {
    @Test("N < 1 is status 64 naming the flag, on train and distill", arguments: ["0", "-2"])
    func refusals(_ n: String) throws {
        let folder = try TemporaryFolder()
        let train = try TrainCLITests.data(folder), out = folder.file("out").path
        for command in [TrainCLITests.common(TrainCLITests.sst, train, out), DistillCLITests.common(train, out)] {
            let r = try CLI.run(command + ["--gradient-accumulation-steps=\(n)"])   // "=": -2 is no flag
            #expect(r.status == 64 && r.stderr.contains("--gradient-accumulation-steps must be at least 1"),
                    "\(command[0]) N \(n): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// 9 texts in micro-batches of 4 (3 of them) with N = 2: 2 optimiser steps an epoch, the
    /// second over the one micro-batch left; the recipe in trainer_state.json keeps N.
    @Test("train with N = 2: steps count optimiser steps, the recipe keeps N")
    func trains() throws {
        let folder = try TemporaryFolder()
        let train = try TrainCLITests.data(folder), out = folder.file("out").path
        let r = try CLI.run(TrainCLITests.common(TrainCLITests.sst, train, out)
                            + ["--epochs", "1", "--gradient-accumulation-steps", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("1 epochs of 2 steps"), "\(r.stderr)")
        let log = try String(contentsOf: folder.file("out/train_log.jsonl"), encoding: .utf8)
        let last = try JSONSerialization.jsonObject(with: Data(log.split(separator: "\n").last.map { Data($0.utf8) } ?? Data()))
        #expect((last as? [String: Any])?["step"] as? Int == 2, "\(log)")
        let state = try String(contentsOf: folder.file("out/checkpoint-epoch1/trainer_state.json"), encoding: .utf8)
        #expect(state.contains("\"gradientAccumulationSteps\" : 2") || state.contains("\"gradientAccumulationSteps\":2"),
                "\(state)")
        let help = try CLI.run(["train", "--help"])
        #expect(String(decoding: help.stdout, as: UTF8.self).contains("--gradient-accumulation-steps"))
    }
}
