import DistilCL
import Foundation
import Testing

/// `distilcl train` refusing the silent ways to a wrong model: other label names for a kept
/// head, a data file mixing names and indices, `--resume` on changed data.
@Suite("CLI: train refusals that keep a model right")
struct TrainSafetyCLITests {
    static let sst = TrainCLITests.sst

    @Test("--labels renaming a kept head's labels (same count): 64 naming both sets, unless --new-head")
    func renamedLabels() throws {
        let folder = try TemporaryFolder()
        let train = try TrainCLITests.data(folder, labels: ["bad", "good"]), out = folder.file("out").path
        let args = TrainCLITests.common(Self.sst, train, out) + ["--epochs", "1", "--labels", "bad,good"]
        let refused = try CLI.run(args)
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(refused.stderr.contains("bad,good") && refused.stderr.contains("NEGATIVE,POSITIVE")
                && refused.stderr.contains("--new-head"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/model.safetensors"))

        let fresh = try CLI.run(args + ["--new-head"])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
            as? [String: Any] ?? [:]
        #expect((config["id2label"] as? [String: String]) == ["0": "bad", "1": "good"])
        // A fresh head: the classifier is no longer the checkpoint's.
        let before = try SafeTensorsFile(url: Fixtures.model("tiny-distilbert-sst").appendingPathComponent("model.safetensors"))
        let after = try SafeTensorsFile(url: URL(fileURLWithPath: out + "/model.safetensors"))
        let same = try before.floats("classifier.weight") == after.floats("classifier.weight")
        #expect(!same)
    }

    @Test("a data file mixing label names and class indices, names sorted from it (a fresh head): status 4 at the first offending line")
    func mixedLabels() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("mixed.jsonl").path
        try Data("""
            {"text": "fine", "label": "POSITIVE"}
            {"text": "awful", "label": "NEGATIVE"}
            {"text": "also fine", "label": 1}
            {"text": "meh", "label": 0}
            """.utf8).write(to: URL(fileURLWithPath: path))
        let r = try CLI.run(TrainCLITests.common(Self.sst, path, folder.file("out").path) + ["--new-head"])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains("mixed.jsonl:3") && r.stderr.contains("class ind"), "\(r.stderr)")
        // The kept head's id2label fixes what an index means: the same file trains.
        let kept = try CLI.run(TrainCLITests.common(Self.sst, path, folder.file("kept").path))
        #expect(kept.status == 0, "\(kept.stderr)")
    }

    @Test("--resume on a changed --train or --eval (same line count): 64, unless --resume-any-data")
    func changedData() throws {
        let folder = try TemporaryFolder()
        let train = try TrainCLITests.data(folder), out = folder.file("out").path
        let eval = try TrainCLITests.data(folder, name: "eval.jsonl")
        let args = TrainCLITests.common(Self.sst, train, out) + ["--epochs", "1", "--eval", eval]
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        let same = try CLI.run(args + ["--resume"])
        #expect(same.status == 0, "\(same.stderr)")

        for file in [train, eval] {
            let original = try Data(contentsOf: URL(fileURLWithPath: file))
            let text = String(decoding: original, as: UTF8.self)
                .replacingOccurrences(of: "\"text\":\"", with: "\"text\":\"so ")   // same lines, other bytes
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            #expect(text.split(separator: "\n").count == 9)
            let changed = try CLI.run(args + ["--resume"])
            #expect(changed.status == 64, "\(file): \(changed.stderr)")
            #expect(changed.stderr.contains(file) && changed.stderr.contains("sha256")
                    && changed.stderr.contains("--resume-any-data"), "\(changed.stderr)")
            let allowed = try CLI.run(args + ["--resume", "--resume-any-data"])
            #expect(allowed.status == 0, "\(file): \(allowed.stderr)")
            try original.write(to: URL(fileURLWithPath: file))
        }
    }

    @Test("train --help documents --new-head and --resume-any-data")
    func help() throws {
        let r = try CLI.run(["train", "--help"])
        #expect(r.status == 0 && r.out.contains("--new-head") && r.out.contains("--resume-any-data"), "\(r.out)")
    }
}
