@testable import DistilCL
import Foundation
import Testing

/// Regression and multi-label text classification through `train`, `evaluate`, `classify`
/// and `distill` as processes, and how their labels are read.
@Suite("CLI: regression and multi-label")
struct ProblemTypeCLITests {
    static let sst = fixturePath("tiny-distilbert-sst")
    /// A BERT: distil's teachers are.
    static let bert = fixturePath("tiny-bert-pairs")
    static let texts = ["Wonderful.", "a dull, plodding mess", "Not worth it", "An exhilarating, kaleidoscopic triumph.",
                        "meh", "Heartfelt acting rescues an otherwise predictable story about twins",
                        "I laughed, I cried, and then I laughed again", "Nothing here makes sense"]

    static func regressionData(_ folder: TemporaryFolder) throws -> String {
        let scores: [Double] = [4.5, 0.75, 1.0, 4.8, 2.5, 3.6, 4.2, 0.3]
        try CLI.jsonl(zip(texts, scores).map { ["text": $0, "label": $1] }).write(to: folder.file("scores.jsonl"))
        return folder.file("scores.jsonl").path
    }

    static func multiLabelData(_ folder: TemporaryFolder) throws -> String {
        let sets: [[String]] = [["praise"], ["boredom", "complaint"], ["complaint"], ["praise", "style"], [],
                                ["praise"], ["praise", "style"], ["boredom"]]
        try CLI.jsonl(zip(texts, sets).map { ["text": $0, "label": $1] }).write(to: folder.file("sets.jsonl"))
        return folder.file("sets.jsonl").path
    }

    static func lastLog(_ out: String) throws -> [String: Any] {
        let lines = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n")
        return try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any] ?? [:]
    }

    static func config(_ out: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any] ?? [:]
    }

    @Test("regression: a one-label head trains on numbers, evaluate gives mse and pearson, classify the raw value")
    func regression() throws {
        let folder = try TemporaryFolder()
        let data = try Self.regressionData(folder), out = folder.file("out").path
        let r = try CLI.run(["train", "--model", Self.sst, "--new-head", "--regression", "--train", data, "--eval", data,
                             "--out", out, "--device", "cpu", "--batch-size", "4", "--lr", "1e-3", "--epochs", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("eval mse") && r.stderr.contains("eval pearson"), "\(r.stderr)")
        let c = try Self.config(out)
        #expect(c["problem_type"] as? String == "regression")
        #expect((c["id2label"] as? [String: String]) == ["0": "LABEL_0"])
        let last = try Self.lastLog(out)
        #expect((last["eval_mse"] as? Double) == (last["eval_loss"] as? Double))
        // Three epochs at lr 1e-3 on eight texts fit them better than the fresh head did.
        let first = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n").first!
        let start = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] ?? [:]
        #expect((last["eval_mse"] as? Double ?? .infinity) < (start["eval_mse"] as? Double ?? 0), "\(start) → \(last)")

        let e = try CLI.run(["evaluate", "--model", out, "--data", data, "--device", "cpu", "--batch-size", "4", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let got = try JSONSerialization.jsonObject(with: e.stdout) as? [String: Double] ?? [:]
        #expect(Set(got.keys) == ["eval_loss", "eval_mse", "eval_pearson"], "\(e.out)")
        for key in ["eval_mse", "eval_pearson"] { #expect(got[key] == last[key] as? Double, "\(key)") }

        let k = try CLI.run(["classify", "--model", out, "--device", "cpu", "--logits"], stdin: Data("Wonderful.\n".utf8))
        let row = try JSONSerialization.jsonObject(with: k.stdout) as? [String: Any] ?? [:]
        let logit = (row["logits"] as? [Double])?.first
        #expect(k.status == 0 && logit != nil && row["score"] as? Double == logit, "regression scores are raw: \(k.out)")
    }

    @Test("regression refuses a two-label head, names as labels and a list")
    func regressionRefusals() throws {
        let folder = try TemporaryFolder()
        let data = try Self.regressionData(folder)
        let kept = try CLI.run(["train", "--model", Self.sst, "--regression", "--train", data, "--out", folder.file("a").path,
                                "--device", "cpu"])
        #expect(kept.status == 64 && kept.stderr.contains("one-label head") && kept.stderr.contains("--new-head"), "\(kept.stderr)")
        try CLI.jsonl([["text": "a", "label": 1.5], ["text": "b", "label": "good"]]).write(to: folder.file("names.jsonl"))
        let names = try CLI.run(["train", "--model", Self.sst, "--new-head", "--regression", "--train",
                                 folder.file("names.jsonl").path, "--out", folder.file("b").path, "--device", "cpu"])
        #expect(names.status == 4 && names.stderr.contains("names.jsonl:2") && names.stderr.contains("numbers"), "\(names.stderr)")
        let single = try CLI.run(["train", "--model", Self.sst, "--train", data, "--out", folder.file("c").path, "--device", "cpu"])
        #expect(single.status == 4 && single.stderr.contains("scores.jsonl:1") && single.stderr.contains("--regression"),
                "\(single.stderr)")
        let both = try CLI.run(["train", "--model", Self.sst, "--regression", "--multi-label", "--train", data, "--out",
                                folder.file("d").path])
        #expect(both.status == 64, "\(both.stderr)")
        let task = try CLI.run(["train", "--model", Self.sst, "--regression", "--task", "token-classification", "--train", data,
                                "--out", folder.file("e").path, "--device", "cpu"])
        #expect(task.status == 64 && task.stderr.contains("text-classification"), "\(task.stderr)")
    }

    @Test("multi-label: lists of names train a sigmoid head; evaluate's accuracy and f1 equal the run's; distill keeps it")
    func multiLabel() throws {
        let folder = try TemporaryFolder()
        let data = try Self.multiLabelData(folder), out = folder.file("out").path
        let r = try CLI.run(["train", "--model", Self.bert, "--new-head", "--multi-label", "--train", data, "--eval", data,
                             "--out", out, "--device", "cpu", "--batch-size", "4", "--lr", "1e-3", "--epochs", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("labels boredom, complaint, praise, style"), "\(r.stderr)")
        let c = try Self.config(out)
        #expect(c["problem_type"] as? String == "multi_label_classification")
        let last = try Self.lastLog(out)
        let e = try CLI.run(["evaluate", "--model", out, "--data", data, "--device", "cpu", "--batch-size", "4", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let got = try JSONSerialization.jsonObject(with: e.stdout) as? [String: Double] ?? [:]
        #expect(Set(got.keys) == ["eval_loss", "eval_accuracy", "eval_f1"], "\(e.out)")
        for key in ["eval_loss", "eval_accuracy", "eval_f1"] { #expect(got[key] == last[key] as? Double, "\(key)") }

        let k = try CLI.run(["classify", "--model", out, "--device", "cpu", "--logits", "--top-k", "4"],
                            stdin: Data("Wonderful.\n".utf8))
        let row = try JSONSerialization.jsonObject(with: k.stdout) as? [String: Any] ?? [:]
        let logits = row["logits"] as? [Double] ?? [], scores = row["scores"] as? [[String: Any]] ?? []
        let names = ["boredom", "complaint", "praise", "style"]
        #expect(k.status == 0 && scores.count == 4, "\(k.out)")
        for s in scores {   // sigmoid of each label's own logit: they need not sum to 1
            let i = names.firstIndex(of: s["label"] as? String ?? "") ?? 0
            #expect(abs((s["score"] as? Double ?? 0) - 1 / (1 + exp(-logits[i]))) < 1e-6, "\(s)")
        }

        // The multi-label model as a teacher: the student keeps the problem type and the labels.
        let student = folder.file("student").path
        let d = try CLI.run(["distill", "--teacher", out, "--train", data, "--eval", data, "--out", student,
                             "--device", "cpu", "--batch-size", "4", "--epochs", "1", "--student-layers", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(try Self.config(student)["problem_type"] as? String == "multi_label_classification")
        let bad = folder.file("bad.jsonl")
        try CLI.jsonl([["text": "a", "label": ["praise"]], ["text": "b", "label": 2.5]]).write(to: bad)
        let b = try CLI.run(["evaluate", "--model", out, "--data", bad.path, "--device", "cpu"])
        #expect(b.status == 4 && b.stderr.contains("bad.jsonl:2"), "\(b.stderr)")
    }
}

/// How labels are read for each problem type.
@Suite("Labels of regression and multi-label data")
struct ProblemTypeDataTests {
    @Test("numbers, lists and names are read as written; booleans refused")
    func reading() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("d.jsonl")
        try CLI.jsonl([["text": "a", "label": 2], ["text": "b", "label": -0.5], ["text": "c", "label": ["x", "y"]],
                       ["text": "d", "label": [0, 2]], ["text": "e", "label": []]]).write(to: url)
        let e = try LabeledData.read(url)
        #expect(e.map(\.label) == [.index(2), .value(-0.5), .list([.name("x"), .name("y")]), .list([.index(0), .index(2)]), .list([])])
        #expect(try LabeledData.regressionTargets(Array(e.prefix(2)), path: "d") == [2, -0.5])
        let names = ["x", "y", "z"]
        #expect(try LabeledData.multiLabelTargets(Array(e.suffix(3)), labels: names, path: "d") == [[1, 1, 0], [1, 0, 1], [0, 0, 0]])
        #expect(try LabeledData.labelNames(given: nil, model: nil, examples: [e[2]], path: "d", problem: .multiLabel) == ["x", "y"])
        #expect(try LabeledData.labelNames(given: nil, model: nil, examples: e, path: "d", problem: .regression) == ["LABEL_0"])
        #expect(throws: LabeledDataError.self) { try LabeledData.multiLabelTargets([e[2]], labels: ["x"], path: "d") }
        try Data("{\"text\": \"a\", \"label\": [true]}\n".utf8).write(to: url)
        #expect(throws: LabeledDataError.self) { try LabeledData.read(url) }
    }

    @Test("the problem type: a flag, else config.json's problem_type, else one label means regression")
    func problemType() throws {
        var c = try ModelConfig(contentsOf: Fixtures.model("tiny-distilbert-sst").appendingPathComponent("config.json"))
        #expect(TaskSettings().problem(for: c) == .singleLabel)
        #expect(TaskSettings(problemType: .multiLabel).problem(for: c) == .multiLabel)
        c.problemType = .multiLabel
        #expect(TaskSettings().problem(for: c) == .multiLabel)
        #expect(ClassificationFunction.default(for: c) == .sigmoid)
        c.problemType = nil
        c.labels = ["score"]
        #expect(TaskSettings().problem(for: c) == .regression)
        c.problemType = .regression
        #expect(ClassificationFunction.default(for: c) == ClassificationFunction.none)
        let back = try ModelConfig(jsonData: JSONSerialization.data(withJSONObject: c.jsonObject()), file: "config.json")
        #expect(back.problemType == .regression)
    }
}
