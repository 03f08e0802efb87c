import DistilCL
import Foundation
import Testing

/// `distilcl distill` end to end on the tiny BERT pair classifier as the teacher: the student
/// folder, the log, `--resume`, and every documented refusal with its exit status.
@Suite("CLI: distill")
struct DistillCLITests {
    static let teacher = fixturePath("tiny-bert-pairs")

    /// The distillation golden's 6 single sentences twice (12 lines), label names from the
    /// teacher's id2label, the golden's unlabelled texts without a "label" (or with null).
    static func data(_ folder: TemporaryFolder, name: String = "train.jsonl") throws -> String {
        let json = try Fixtures.json("tiny-bert-pairs/distill-golden.json")
        let names = ["contradiction", "neutral", "entailment"]
        var lines: [[String: Any]] = []
        for copy in 0..<2 {
            for (text, label) in zip(json["texts"] as? [String] ?? [], ints(json["labels"])) {
                var line: [String: Any] = ["text": text]
                if label >= 0 { line["label"] = copy == 0 ? names[label] as Any : label as Any }
                if label < 0 && copy == 1 { line["label"] = NSNull() }
                lines.append(line)
            }
        }
        #expect(lines.count == 12 && lines.filter { $0["label"] == nil || $0["label"] is NSNull }.count == 4)
        try CLI.jsonl(lines).write(to: folder.file(name))
        return folder.file(name).path
    }

    static func common(_ train: String, _ out: String, device: String = "cpu") -> [String] {
        ["distill", "--teacher", teacher, "--train", train, "--out", out, "--device", device, "--batch-size", "4",
         "--lr", "1e-3"]
    }

    @Test("distils a 2-layer student, logs every epoch and leaves a folder classify reads", arguments: CLI.devices)
    func distilThenClassify(_ device: String) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(train, out, device: device) + ["--epochs", "2", "--alpha-cos", "0.2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("distilling DistilBertForSequenceClassification") && r.stderr.contains("12 texts")
                && r.stderr.contains("epoch 2/2"), "\(r.stderr)")
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])
        for file in ["config.json", "model.safetensors", "vocab.txt", "train_log.jsonl", "checkpoint-epoch2"] {
            #expect(names.contains(file), "\(file) missing from \(names.sorted())")
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
            as? [String: Any] ?? [:]
        #expect(config["architectures"] as? [String] == ["DistilBertForSequenceClassification"])
        #expect(config["model_type"] as? String == "distilbert" && config["n_layers"] as? Int == 2
                && config["dim"] as? Int == 48, "\(config)")
        #expect((config["id2label"] as? [String: String]) == ["0": "contradiction", "1": "neutral", "2": "entailment"])
        let weights = try SafeTensorsFile(url: URL(fileURLWithPath: out + "/model.safetensors"))
        #expect(weights.names.contains("distilbert.transformer.layer.1.ffn.lin2.weight")
                && !weights.names.contains { $0.contains("layer.2.") || $0.hasPrefix("bert.") }, "\(weights.names)")

        let log = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)
        for (i, line) in log.enumerated() {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            #expect(o["epoch"] as? Int == i + 1 && o["step"] as? Int == 3 * (i + 1), "\(line)")
            #expect((o["train_loss"] as? Double)?.isFinite == true, "\(line)")
        }

        let c = try CLI.run(["classify", "--model", out, "--device", device, "--logits"],
                            stdin: Data("Wonderful.\nNobody is outside.\n".utf8))
        #expect(c.status == 0, "\(c.stderr)")
        let lines = c.jsonLines()
        #expect(lines.count == 2 && lines.allSatisfy { doubles($0["logits"]).count == 3 }, "\(c.out)")
        #expect(lines.allSatisfy { ["contradiction", "neutral", "entailment"].contains($0["label"] as? String ?? "") })
    }

    /// An interruption after epoch 1 of 2 (`Trainer.run(stopAfterEpoch:)`, the recipe the CLI
    /// builds from the same flags), then `distilcl distill --resume`: the same
    /// model.safetensors, byte for byte, as an uninterrupted CLI run (the CPU path is
    /// deterministic; the teacher's outputs and the student's start are rebuilt on resume).
    @Test("--resume after epoch 1 of 2 gives the uninterrupted run's weights")
    func resume() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder)
        let flags = ["--epochs", "2", "--alpha-cos", "0.2", "--student-layers", "1,2", "--warmup", "0.2"]
        let whole = try CLI.run(Self.common(train, folder.file("whole").path) + flags)
        #expect(whole.status == 0, "\(whole.stderr)")

        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.warmup) = (2, 4, 1e-3, 0.2)
        var d = DistillationOptions()
        (d.alphaCos, d.studentLayers) = (0.2, [1, 2])
        options.distillation = d
        let cut = try Trainer(model: Fixtures.model("tiny-bert-pairs"), train: URL(fileURLWithPath: train), eval: nil,
                              labels: nil, output: folder.file("cut"), backend: CPUBackend(), options: options,
                              resume: false)
        #expect(try cut.run(stopAfterEpoch: 1).count == 1)
        let left = Set((try? FileManager.default.contentsOfDirectory(atPath: folder.file("cut").path)) ?? [])
        #expect(left.contains("checkpoint-epoch1") && !left.contains("checkpoint-epoch2"), "\(left.sorted())")

        let resumed = try CLI.run(Self.common(train, folder.file("cut").path) + flags + ["--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming after epoch 1"), "\(resumed.stderr)")
        let a = try Data(contentsOf: folder.file("whole/model.safetensors"))
        let b = try Data(contentsOf: folder.file("cut/model.safetensors"))
        // A Bool, not `a == b` inside #expect: on failure Swift Testing would diff the two
        // files' bytes (a Myers diff of megabytes, which runs for many minutes).
        let same = a == b
        #expect(same, "the resumed run's weights differ from the uninterrupted run's (\(a.count) and \(b.count) bytes)")
        let log = try String(contentsOfFile: folder.file("cut/train_log.jsonl").path, encoding: .utf8)
        #expect(log.split(separator: "\n").count == 2)
    }

    /// A run started with the default layers resumes under the same layers spelled out, a
    /// 13-line file leaves a short last batch (1 text: the teacher's buffers and the arena only
    /// partly used), and a resume against another teacher (its weights changed) is refused.
    @Test("--resume: default layers spelled out; another teacher refused; a short last batch")
    func resumeGuards() throws {
        let folder = try TemporaryFolder()
        var train = try Self.data(folder)
        let extra = try Data(contentsOf: URL(fileURLWithPath: train)) + Data("{\"text\": \"one more line\"}\n".utf8)
        try extra.write(to: URL(fileURLWithPath: train))
        let out = folder.file("out").path
        let first = try CLI.run(Self.common(train, out) + ["--epochs", "1"])
        #expect(first.status == 0 && first.stderr.contains("13 texts") && first.stderr.contains("4 steps"), "\(first.stderr)")
        // The recipe is the same with the default layers written out; --epochs differs (refused).
        let spelled = try CLI.run(Self.common(train, out) + ["--epochs", "1", "--student-layers", "0,2", "--resume"])
        #expect(spelled.status == 0, "\(spelled.stderr)")

        // Another teacher: the same folder with one weight changed.
        let other = folder.file("other-teacher")
        try FileManager.default.copyItem(at: Fixtures.model("tiny-bert-pairs"), to: other)
        var bytes = try Data(contentsOf: other.appendingPathComponent("model.safetensors"))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: other.appendingPathComponent("model.safetensors"))
        train = try Self.data(folder)   // 12 lines again would be a different run: keep the 13
        try extra.write(to: URL(fileURLWithPath: train))
        let swapped = try CLI.run(["distill", "--teacher", other.path] + Array(Self.common(train, out).dropFirst(3))
                                  + ["--epochs", "1", "--resume"])
        #expect(swapped.status == 64 && swapped.stderr.contains("another teacher"), "\(swapped.stderr)")
    }

    /// Each bad flag value exits 64 with a message naming it, before any output is written.
    @Test("bad flags: status 64 with a message", arguments: [
        (["--student-layers", "0,5"], "0..<3"),
        (["--student-layers", "2,0"], "--student-layers"),
        (["--temperature", "0"], "--temperature"),
        (["--alpha-kd=-1"], "--alpha-kd"),
        (["--alpha-kd", "0", "--alpha-ce", "0"], "all 0"),
        (["--lr-scheduler", "cosine_with_restarts"], "--lr-scheduler"),
        (["--max-steps", "0"], "--max-steps"),
        (["--adam-beta2", "1"], "--adam-beta2"),
    ])
    func badFlags(_ extra: [String], _ needle: String) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(train, out) + extra)
        #expect(r.status == 64, "\(extra): \(r.stderr)")
        #expect(r.stderr.contains("rror: ") && r.stderr.contains(needle), "\(extra): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "\(extra): output written")
    }

    @Test("refusals: a missing teacher and a DistilBERT teacher (3), an unlabelled eval line (4)")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        func distil(_ teacher: String, _ extra: [String] = []) throws -> CLI.Result {
            try CLI.run(["distill", "--teacher", teacher, "--train", train, "--out", out, "--device", "cpu"] + extra)
        }
        let missing = try distil(folder.file("no-such-teacher").path)
        #expect(missing.status == 3 && missing.stderr.contains("no-such-teacher"), "\(missing.stderr)")
        let distilbert = try distil(fixturePath("tiny-distilbert-sst"))
        #expect(distilbert.status == 3 && distilbert.stderr.contains("BERT"), "\(distilbert.stderr)")
        let eval = folder.file("eval.jsonl")
        try Data("{\"text\": \"fine\", \"label\": \"neutral\"}\n{\"text\": \"no label here\"}\n".utf8).write(to: eval)
        let unlabelled = try distil(Self.teacher, ["--eval", eval.path])
        #expect(unlabelled.status == 4 && unlabelled.stderr.contains("eval.jsonl:2"), "\(unlabelled.stderr)")
        // A text pair: the student has no token types (4, the line named).
        let pairs = folder.file("pairs.jsonl")
        try Data("{\"text\": \"a\", \"label\": \"neutral\"}\n{\"text\": \"b\", \"text_pair\": \"c\"}\n".utf8).write(to: pairs)
        let pair = try CLI.run(["distill", "--teacher", Self.teacher, "--train", pairs.path, "--out", out, "--device", "cpu"])
        #expect(pair.status == 4 && pair.stderr.contains("pairs.jsonl:2") && pair.stderr.contains("text_pair"), "\(pair.stderr)")
        // A teacher without a classification head cannot give the KL term its logits (3) …
        let bare = folder.file("bare-teacher")
        try FileManager.default.copyItem(at: Fixtures.model("tiny-bert-pairs"), to: bare)
        let configURL = bare.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any] ?? [:]
        config["architectures"] = ["BertModel"]
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let headless = try distil(bare.path)
        #expect(headless.status == 3 && headless.stderr.contains("--alpha-kd 0"), "\(headless.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "no output after a refusal")
        // … but trains without it on the labels and hidden states (α_kd 0, α_cos > 0): the names
        // then come from --labels, as the file mixes names and indices (sorted names: status 4).
        let cosineFlags = ["--alpha-kd", "0", "--alpha-cos", "0.5", "--epochs", "1", "--batch-size", "5"]
        let sorted = try distil(bare.path, cosineFlags)
        #expect(sorted.status == 4 && sorted.stderr.contains("train.jsonl:7"), "\(sorted.stderr)")
        let cosine = try distil(bare.path, cosineFlags + ["--labels", "contradiction,neutral,entailment"])
        #expect(cosine.status == 0, "\(cosine.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"), "no student written")
    }
}
