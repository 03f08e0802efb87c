import Foundation
import Testing

/// `--shard K/N` splits a corpus over N processes: merged by line index (shard K's j-th output
/// is input line K + j·N), the shards' outputs are the unsharded run's, line for line.
@Suite("CLI: --shard")
struct ShardCLITests {
    static let texts = ["a gripping, funny film", "", "dull", "I laughed, I cried", "not worth it", "Wonderful.",
                        "the plot holds together", "x", "an hour too long", "bravo", "meh"]

    /// Interleaves `shards` (shard K holding lines K, K+N, …) back into input order.
    static func merged(_ shards: [[String]]) -> [String] {
        var out: [String] = []
        for j in 0..<(shards.map(\.count).max() ?? 0) {
            for shard in shards where j < shard.count { out.append(shard[j]) }
        }
        return out
    }

    static func lines(_ r: CLI.Result) -> [String] { String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map(String.init) }

    /// Byte for byte: with --batch-size 1 each text runs alone in both runs. (In larger batches a
    /// shard packs other neighbours than the whole run, and oneDNN's AVX2 GEMM kernels round a
    /// row differently with the batch's size: the last bit or two of a logit move, seen on a
    /// Zen 3; the merge is what this test checks, not GEMM invariance.)
    @Test("classify and embed: N shards merged by line index equal the unsharded run", arguments: [
        (["classify", "--model", fixturePath("tiny-distilbert-sst"), "--logits", "--device", "cpu", "--batch-size", "1"], 3),
        (["embed", "--model", fixturePath("tiny-distilbert-sst"), "--device", "cpu", "--batch-size", "1"], 4),
        (["tokenize", "--model", fixturePath("tiny-distilbert-sst")], 11),
        (["tokenize", "--model", fixturePath("tiny-distilbert-sst")], 20),   // more shards than lines: some empty
    ])
    func mergedEqualsWhole(_ command: [String], _ n: Int) throws {
        let stdin = Data((Self.texts.joined(separator: "\n") + "\n").utf8)
        let base = command + ["--max-length", "32"]
        let whole = try CLI.run(base, stdin: stdin)
        #expect(whole.status == 0, "\(whole.stderr)")
        var shards: [[String]] = []
        for k in 0..<n {
            let r = try CLI.run(base + ["--shard", "\(k)/\(n)"], stdin: stdin)
            #expect(r.status == 0, "shard \(k)/\(n): \(r.stderr)")
            let got = Self.lines(r)
            #expect(got.count == Self.texts.indices.filter { $0 % n == k }.count, "shard \(k)/\(n)")
            shards.append(got)
        }
        #expect(Self.merged(shards) == Self.lines(whole), "\(command[0]) over \(n) shards")
    }

    @Test("auto/N reads the job index from Kubernetes or Slurm; bad values are usage errors (64)")
    func autoAndRefusals() throws {
        let stdin = Data((Self.texts.joined(separator: "\n") + "\n").utf8)
        let base = ["tokenize", "--model", fixturePath("tiny-distilbert-sst")]
        let two = Self.lines(try CLI.run(base + ["--shard", "2/3"], stdin: stdin))
        #expect(two.count == 3)
        for variable in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
            let other = variable == "JOB_COMPLETION_INDEX" ? "SLURM_ARRAY_TASK_ID" : "JOB_COMPLETION_INDEX"
            let r = try CLI.run(base + ["--shard", "auto/3"], stdin: stdin, environment: [variable: "2", other: ""])
            #expect(r.status == 0 && Self.lines(r) == two, "\(variable): \(r.stderr)")
        }
        let cases: [([String], [String: String], String)] = [
            (["--shard", "3/3"], [:], "0 to 2"),
            (["--shard=-1/3"], [:], "0 to 2"),
            (["--shard", "1/0"], [:], "N ≥ 1"),
            (["--shard", "1"], [:], "K/N"),
            (["--shard", "auto/3"], ["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""], "neither"),
            (["--shard", "auto/3"], ["JOB_COMPLETION_INDEX": "seven", "SLURM_ARRAY_TASK_ID": ""], "not an index"),
            (["--shard", "auto/3"], ["JOB_COMPLETION_INDEX": "3", "SLURM_ARRAY_TASK_ID": ""], "0 to 2"),
            (["--shard", "1/3", "--skip-invalid"], [:], "--skip-invalid"),   // a skipped line would shift the merge
        ]
        for (flags, environment, needle) in cases {
            let r = try CLI.run(base + flags, stdin: stdin, environment: environment)
            #expect(r.status == 64 && r.stderr.contains(needle), "\(flags) \(environment): \(r.stderr)")
        }
    }
}
