@testable import DistilCL
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Data-parallel training under Open MPI's `mpirun` (issue 24): N processes with batch b give
/// the weights of one process with batch N·b, dropout on, after ten steps, for every task, on
/// both backends; ranks that disagree stop at start-up. Skipped where `mpirun` is not
/// installed, unless `DISTILCL_REQUIRE_MPI` is set (CI sets it: `scripts/setup.sh` installs Open MPI).
@Suite("CLI: data-parallel training on MPI", .serialized)
struct MPICLITests {
    static let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func available() throws -> Bool {
        if mpirun != nil { return true }
        if ProcessInfo.processInfo.environment["DISTILCL_REQUIRE_MPI"] != nil {
            Issue.record("DISTILCL_REQUIRE_MPI is set but mpirun is not installed (bash scripts/setup.sh)")
        }
        return false
    }

    /// `mpirun -np n` as root, oversubscribed (3 ranks on 2 cores), shared memory without
    /// cross-process copies (containers forbid ptrace).
    static func launcher(_ n: Int) -> [String] {
        [mpirun!, "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none",
         "-np", "\(n)"]
    }

    static func weights(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(url: url.appendingPathComponent("model.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.names.map { ($0, try file.floats($0)) })
    }

    /// Each task: its command, model and data.
    static func task(_ name: String, _ folder: TemporaryFolder) throws -> [String] {
        switch name {
        case "text":
            return ["train", "--model", fixturePath("tiny-distilbert-sst"),
                    "--train", try GradientAccumulationTests.data(folder).path]
        case "token":
            return ["train", "--task", "token-classification", "--model", fixturePath("tiny-distilbert-ner"),
                    "--train", try TokenTrainingTests.jsonl(folder).path]
        case "qa":
            return ["train", "--task", "question-answering", "--model", fixturePath("tiny-distilbert-qa"),
                    "--train", try QATrainingTests.data(folder).path, "--max-length", "32", "--doc-stride", "16"]
        default:   // masked-LM distillation, the whole triple loss
            let lines = (0..<30).map { "the film was good and the acting was good \($0) times over" }
            try Data(lines.joined(separator: "\n").utf8).write(to: folder.file("text.txt"))
            return ["distill", "--task", "masked-lm", "--teacher", fixturePath("tiny-bert-mlm"), "--student-layers", "0,2",
                    "--train", folder.file("text.txt").path, "--max-length", "16"]
        }
    }

    static let cases: [(String, String)] = ["text", "token", "qa", "mlm"].flatMap { t in [(t, "cpu"), (t, "opencl")] }

    @Test("N processes × batch 2 give the weights of one process × batch 2N (N = 1, 2, 3), dropout on",
          arguments: Self.cases)
    func sameModel(_ task: String, _ device: String) throws {
        guard try Self.available() else { return }
        if device == "opencl", BackendCase.openCL.isEmpty { return }
        let folder = try TemporaryFolder()
        let command = try Self.task(task, folder)
        // transformers' default learning rate (5e-5), dropout on.
        let recipe = ["--device", device, "--dropout", "0.1", "--max-steps", "10", "--seed", "3", "--threads", "1"]
        for n in 1...3 {
            let one = folder.file("one-\(n)").path, many = folder.file("mpi-\(n)").path
            let single = try CLI.run(command + recipe + ["--batch-size", "\(2 * n)", "--out", one])
            #expect(single.status == 0, "\(single.stderr)")
            // N = 1 and 2 sum one bucket per tensor, started during the backward; N = 3 the
            // default 25 MB bucket, which holds all of a tiny model, at the end.
            let buckets = n < 3 ? ["--ddp-bucket-cap-mb", "0.000001"] : []
            let r = try CLI.run(command + recipe + buckets + ["--batch-size", "2", "--out", many], launcher: Self.launcher(n))
            #expect(r.status == 0, "\(task) \(device) N=\(n): \(r.stderr)")
            #expect(r.stderr.contains("\(n) processes × batch 2") && r.stderr.components(separatedBy: "saved ").count == 2,
                    "rank 0 alone reports: \(r.stderr)")
            let (a, b) = (try Self.weights(URL(fileURLWithPath: one)), try Self.weights(URL(fileURLWithPath: many)))
            #expect(a.keys == b.keys && !a.isEmpty)
            for (name, x) in a {
                let worst = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
                // Key biases and QA's output bias have no gradient in exact arithmetic (a softmax
                // cancels them): Adam turns the rounding noise of another summation order into
                // steps of up to lr each.
                let zeroGradient = name.hasSuffix("k_lin.bias") || name.hasSuffix("key.bias") || name == "qa_outputs.bias"
                let bound: Float = zeroGradient ? 2 * 10 * 5e-5 : 1e-5
                #expect(worst <= bound, "\(task) \(device) N=\(n) \(name): max |diff| \(worst), bound \(bound)")
            }
        }
    }

    @Test("ranks given different flags or data stop at start-up, saying which")
    func disagreement() throws {
        guard try Self.available() else { return }
        let folder = try TemporaryFolder()
        let data = try GradientAccumulationTests.data(folder).path
        // Each rank reads its own seed from the environment Open MPI gives it.
        let script = folder.file("rank-seed.sh")
        try """
            #!/bin/sh
            exec "$@" --seed "$OMPI_COMM_WORLD_RANK"
            """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let r = try CLI.run(["train", "--model", fixturePath("tiny-distilbert-sst"), "--train", data, "--device", "cpu",
                             "--out", folder.file("out").path, "--max-steps", "2"],
                            launcher: Self.launcher(2) + [script.path])
        #expect(r.status != 0 && r.stderr.contains("disagree on the flags") && r.stderr.contains("rank 1"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("out/model.safetensors").path))
        // Bucket sizes are no part of the recipe, but the buckets are collectives every rank must start alike.
        let buckets = folder.file("rank-buckets.sh")
        try """
            #!/bin/sh
            exec "$@" --ddp-bucket-cap-mb "$((OMPI_COMM_WORLD_RANK + 1))"
            """.write(to: buckets, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: buckets.path)
        let b = try CLI.run(["train", "--model", fixturePath("tiny-distilbert-sst"), "--train", data, "--device", "cpu",
                             "--out", folder.file("out-buckets").path, "--max-steps", "2"],
                            launcher: Self.launcher(2) + [buckets.path])
        #expect(b.status != 0 && b.stderr.contains("disagree on --ddp-bucket-cap-mb") && b.stderr.contains("rank 1"),
                "\(b.stderr)")
    }

    /// The pid of rank `rank` of a job whose command line mentions `marker` (its environment
    /// holds `OMPI_COMM_WORLD_RANK`).
    static func pid(rank: Int, marker: String) -> pid_t? {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for p in procs {
            guard let pid = pid_t(p),
                  let cmd = FileManager.default.contents(atPath: "/proc/\(p)/cmdline"),
                  String(decoding: cmd, as: UTF8.self).contains(marker),
                  let env = FileManager.default.contents(atPath: "/proc/\(p)/environ") else { continue }
            let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    @Test("a rank killed mid-run ends the job naming it; --resume with N = 1 and accumulation 2 reaches the uninterrupted weights")
    func rankDies() throws {
        guard try Self.available(), let binary = CLI.binary else { return }
        let folder = try TemporaryFolder()
        let data = try GradientAccumulationTests.data(folder).path
        let out = folder.file("killed").path
        let common = ["train", "--model", fixturePath("tiny-distilbert-sst"), "--train", data, "--device", "cpu",
                      "--dropout", "0.1", "--max-steps", "400", "--seed", "3", "--threads", "1", "--batch-size", "2"]
        let job = Process()
        job.executableURL = URL(fileURLWithPath: Self.mpirun!)
        job.arguments = Array(Self.launcher(2).dropFirst()) + [binary.path] + common + ["--out", out]
        let errors = Pipe()
        (job.standardError, job.standardOutput) = (errors, FileHandle.nullDevice)
        try job.run()
        // Kill rank 1 once two epochs are saved (8 steps an epoch).
        let started = Date()
        while !FileManager.default.fileExists(atPath: out + "/checkpoint-epoch2/trainer_state.json"), job.isRunning,
              Date().timeIntervalSince(started) < 120 {
            usleep(5_000)
        }
        let victim = Self.pid(rank: 1, marker: out)
        #expect(victim != nil && job.isRunning, "the job finished before rank 1 could be killed")
        if let victim { kill(victim, SIGKILL) }
        let killed = Date()
        while job.isRunning, Date().timeIntervalSince(killed) < 60 { usleep(20_000) }
        #expect(!job.isRunning, "the job still runs 60 s after rank 1 died")
        if job.isRunning { job.terminate() }
        job.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(job.terminationStatus != 0 && stderr.contains("rank 1"), "\(stderr)")

        // The last checkpoint is whole: one process accumulating two micro-batches continues it.
        let resumed = try CLI.run(common + ["--gradient-accumulation-steps", "2", "--out", out, "--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming after epoch"), "\(resumed.stderr)")
        let whole = folder.file("whole").path
        let reference = try CLI.run(common + ["--gradient-accumulation-steps", "2", "--out", whole])
        #expect(reference.status == 0, "\(reference.stderr)")
        let (a, b) = (try Self.weights(URL(fileURLWithPath: whole)), try Self.weights(URL(fileURLWithPath: out)))
        #expect(a.keys == b.keys && !a.isEmpty)
        for (name, x) in a {
            let worst = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            let bound: Float = name.hasSuffix("k_lin.bias") ? 2 * 400 * 5e-5 : 1e-4
            #expect(worst <= bound, "\(name): max |diff| \(worst), bound \(bound)")
        }
    }
}
