import DistilCL
import Foundation
import Testing

/// `distilcl train --task token-classification` and `distilcl evaluate` as processes: the
/// folder `ner` reads, `evaluate --json` with transformers' names equal to the run's last
/// evaluation, and the refusals with their statuses.
@Suite("CLI: token classification and evaluate")
struct TokenTaskCLITests {
    static let ner = fixturePath("tiny-distilbert-ner")
    static let sst = fixturePath("tiny-distilbert-sst")

    static func data(_ folder: TemporaryFolder, conll: Bool = false) throws -> String {
        let sentences = TokenTrainingTestsData.sentences
        if conll {
            let text = sentences.map { s in zip(s.0, s.1).map { "\($0)\t\($1)" }.joined(separator: "\n") }
                .joined(separator: "\n\n") + "\n"
            try text.write(to: folder.file("tags.conll"), atomically: true, encoding: .utf8)
            return folder.file("tags.conll").path
        }
        try CLI.jsonl(sentences.map { ["tokens": $0.0, "tags": $0.1] }).write(to: folder.file("tags.jsonl"))
        return folder.file("tags.jsonl").path
    }

    @Test("trains from the head's task, ner reads the folder, evaluate --json equals the last evaluation")
    func trainEvaluate() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(["train", "--model", Self.ner, "--train", data, "--eval", data, "--out", out,
                             "--device", "cpu", "--batch-size", "4", "--lr", "1e-3", "--epochs", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("sentences") && r.stderr.contains("eval f1"), "\(r.stderr)")
        let lines = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n")
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any] ?? [:]
        let e = try CLI.run(["evaluate", "--model", out, "--data", data, "--device", "cpu", "--batch-size", "4", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let got = try JSONSerialization.jsonObject(with: e.stdout) as? [String: Double] ?? [:]
        #expect(Set(got.keys) == ["eval_loss", "eval_precision", "eval_recall", "eval_f1", "eval_accuracy"], "\(e.out)")
        for key in ["eval_f1", "eval_precision", "eval_recall", "eval_accuracy"] {
            #expect(got[key] == last[key] as? Double, "\(key): evaluate \(got[key] ?? -1), train_log \(last[key] ?? "none")")
        }
        let n = try CLI.run(["ner", "--model", out, "--device", "cpu"], stdin: Data("Peter Blackburn visited Geneva\n".utf8))
        #expect(n.status == 0 && n.out.contains("\"entities\""), "\(n.stderr)")
    }

    @Test("--format conll trains as JSON Lines does; --task text-classification on tagged data is bad data")
    func formats() throws {
        let folder = try TemporaryFolder()
        let conll = try Self.data(folder, conll: true)
        let base = ["train", "--model", Self.ner, "--out", folder.file("c").path, "--device", "cpu", "--max-steps", "1"]
        let ok = try CLI.run(base + ["--train", conll, "--format", "conll"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let jsonl = try Self.data(folder)
        let wrong = try CLI.run(["train", "--model", Self.ner, "--out", folder.file("w").path, "--device", "cpu",
                                 "--train", jsonl, "--task", "text-classification"])
        #expect(wrong.status == 4 && wrong.stderr.contains("tags.jsonl:1"), "\(wrong.status) \(wrong.stderr)")
    }

    @Test("refusals: unknown task or format 64, bad data 4 with file:line, a head the model lacks 3")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(folder)
        let bad = try CLI.run(["evaluate", "--model", Self.ner, "--data", data, "--task", "translation"])
        #expect(bad.status == 64, "\(bad.stderr)")
        let format = try CLI.run(["evaluate", "--model", Self.ner, "--data", data, "--format", "xml"])
        #expect(format.status == 64, "\(format.stderr)")
        try "{\"tokens\": [\"a\"], \"tags\": [\"O\", \"O\"]}\n".write(to: folder.file("bad.jsonl"), atomically: true,
                                                                        encoding: .utf8)
        let line = try CLI.run(["evaluate", "--model", Self.ner, "--data", folder.file("bad.jsonl").path])
        #expect(line.status == 4 && line.stderr.contains("bad.jsonl:1"), "\(line.status) \(line.stderr)")
        let head = try CLI.run(["evaluate", "--model", Self.sst, "--data", data, "--task", "token-classification"])
        #expect(head.status == 3 && head.stderr.contains("token-classification head"), "\(head.status) \(head.stderr)")
    }
}

/// The sentences `TokenTrainingTests` trains on, for the process tests.
enum TokenTrainingTestsData {
    static let sentences: [([String], [String])] = [
        (["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
         ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["Meryl", "Streep", "joined", "Universal", "Pictures"], ["B-PER", "I-PER", "O", "B-ORG", "I-ORG"]),
        (["Quantum", "physics", "at", "CERN", "in", "Geneva"], ["O", "O", "O", "B-ORG", "O", "B-LOC"]),
        (["meh"], ["O"]),
        (["The", "unbelievably", "overwrought", "Kristin", "Scott-Thomas", "visited", "Reykjavík"],
         ["O", "O", "O", "B-PER", "I-PER", "O", "B-LOC"]),
    ]
}
