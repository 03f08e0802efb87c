@testable import DistilCL
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `distilcl train` killed with SIGKILL at seeded random moments: after `RunFolder.recover()`
/// (which every run does first), `--out` holds exactly the weights of one completed epoch of
/// an uninterrupted run (or nothing, killed before the first save), never a mix.
@Suite("CLI: train killed at any moment")
struct TrainKillTests {
    static let epochs = 5

    /// The training flags of every run here (the CPU path: bit-for-bit reproducible).
    static func arguments(_ train: String, _ out: String) -> [String] {
        TrainCLITests.common(TrainCLITests.sst, train, out) + ["--epochs", String(epochs), "--seed", "3"]
    }

    /// The uninterrupted run's weights after each epoch, in process, from the same recipe.
    static func reference(train: String, folder: TemporaryFolder) throws -> [Data] {
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = 4
        options.learningRate = 1e-3
        options.seed = 3
        let out = folder.file("reference")
        let trainer = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: URL(fileURLWithPath: train),
                                  eval: nil, labels: nil, output: out,
                                  backend: try makeBackend(DeviceChoice(parsing: "cpu")), options: options,
                                  resume: false)
        var weights: [Data] = []
        var failure: (any Error)?
        trainer.onEpoch = { _ in
            do { weights.append(try Data(contentsOf: out.appendingPathComponent("model.safetensors"))) } catch {
                failure = error
            }
        }
        try trainer.run()
        if let failure { throw failure }
        return weights
    }

    /// SplitMix64: the seeded delays.
    struct Delays {
        var state: UInt64
        mutating func next(below limit: Double) -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(1 << 53) * limit
        }
    }

    @Test("SIGKILL at 16 seeded moments: --out is always one epoch's complete model")
    func killAnywhere() throws {
        guard let binary = CLI.binary else { throw CLITestError.noBinary }
        let folder = try TemporaryFolder()
        let train = try TrainCLITests.data(folder)
        let reference = try Self.reference(train: train, folder: folder)
        #expect(reference.count == Self.epochs)

        // The uninterrupted CLI run ends with the reference's last weights, and says how long a run takes.
        let started = Date()
        let whole = try CLI.run(Self.arguments(train, folder.file("whole").path))
        let duration = Date().timeIntervalSince(started)
        #expect(whole.status == 0, "\(whole.stderr)")
        let last = try Data(contentsOf: folder.file("whole/model.safetensors"))
        let matches = last == reference.last
        #expect(matches, "the CLI's uninterrupted run differs from the in-process reference")

        var delays = Delays(state: 21)
        var seen: [Int: Int] = [:]
        for trial in 0..<16 {
            let out = folder.file("killed-\(trial)")
            let process = Process()
            process.executableURL = binary
            process.arguments = Self.arguments(train, out.path)
            process.currentDirectoryURL = CLI.packageRoot
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            let delay = delays.next(below: duration)
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            try RunFolder(url: out).recover()
            let run = RunFolder(url: out)
            for leftover in [run.partialFolder, run.newFolder, run.oldFolder] {
                #expect(!FileManager.default.fileExists(atPath: leftover.path), "trial \(trial): \(leftover.path)")
            }
            let model = out.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: model.path) else {
                seen[0, default: 0] += 1   // killed before the first save completed
                continue
            }
            let weights = try Data(contentsOf: model)
            guard let epoch = reference.firstIndex(of: weights).map({ $0 + 1 }) else {
                Issue.record("trial \(trial) (killed after \(delay) s): model.safetensors is no epoch's weights")
                continue
            }
            seen[epoch, default: 0] += 1
            // The rest of the folder is the same epoch's: its checkpoint, log and a loadable model.
            let checkpoint = try Data(contentsOf: out.appendingPathComponent("checkpoint-epoch\(epoch)/model.safetensors"))
            let sameCheckpoint = checkpoint == weights
            #expect(sameCheckpoint, "trial \(trial): checkpoint-epoch\(epoch) is not the top-level model")
            let log = try String(contentsOf: out.appendingPathComponent("train_log.jsonl"), encoding: .utf8)
            #expect(log.split(separator: "\n").count == epoch, "trial \(trial): \(log)")
            _ = try EncoderModel(directory: out, backend: CPUBackend())
        }
        #expect(seen.keys.contains { $0 > 0 }, "no kill landed after a save: \(seen)")
    }
}
