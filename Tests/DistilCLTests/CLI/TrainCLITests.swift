import DistilCL
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `distilcl train` end to end on the tiny checkpoints: the output folder, the log, heads for
/// bare encoders, and every documented refusal with its exit status.
@Suite("CLI: train")
struct TrainCLITests {
    static let sst = fixturePath("tiny-distilbert-sst")

    /// Nine labelled sentences (the golden batches' texts) as JSON Lines.
    static func data(_ folder: TemporaryFolder, labels: [String] = ["NEGATIVE", "POSITIVE"],
                     name: String = "train.jsonl") throws -> String {
        let json = try Fixtures.json("tiny-distilbert-sst/train-golden.json")
        var lines: [[String: Any]] = []
        for batch in json["batches"] as? [[String: Any]] ?? [] {
            for (text, label) in zip(batch["texts"] as? [String] ?? [], ints(batch["labels"])) {
                lines.append(["text": text, "label": labels[label]])
            }
        }
        #expect(lines.count == 9)
        try CLI.jsonl(lines).write(to: folder.file(name))
        return folder.file(name).path
    }

    static func common(_ model: String, _ train: String, _ out: String) -> [String] {
        ["train", "--model", model, "--train", train, "--out", out, "--device", "cpu", "--batch-size", "4",
         "--lr", "1e-3"]
    }

    @Test("trains, evaluates, logs every epoch and leaves a Hugging Face folder classify reads")
    func trainThenClassify() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(Self.sst, train, out) + ["--eval", train, "--epochs", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("epoch 1/2") && r.stderr.contains("epoch 2/2") && r.stderr.contains("eval accuracy"),
                "\(r.stderr)")
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])
        for file in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "train_log.jsonl",
                     "checkpoint-epoch2"] {
            #expect(names.contains(file), "\(file) missing from \(names.sorted())")
        }
        // Without --metric-for-best-model no model is picked on --eval: older checkpoints are
        // removed and the last epoch is the output.
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint-epoch2/trainer_state.json"))) as? [String: Any] ?? [:]
        #expect(state["best_model_checkpoint"] == nil || state["best_model_checkpoint"] is NSNull, "\(state)")
        #expect(!names.contains("checkpoint-epoch1"), "older checkpoints are removed")
        #expect(!names.contains { $0.hasPrefix(".") }, "temporary files left: \(names.sorted())")
        let checkpoint = Set((try? FileManager.default.contentsOfDirectory(atPath: out + "/checkpoint-epoch2")) ?? [])
        #expect(checkpoint.isSuperset(of: ["optimizer.safetensors", "trainer_state.json", "model.safetensors"]))

        let log = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)
        for (i, line) in log.enumerated() {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            #expect(o["epoch"] as? Int == i + 1 && o["step"] as? Int == 3 * (i + 1), "\(line)")
            for key in ["train_loss", "eval_loss", "eval_accuracy", "train_samples_per_second", "seconds"] {
                #expect((o[key] as? Double)?.isFinite == true, "\(key) in \(line)")
            }
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
            as? [String: Any] ?? [:]
        #expect(config["architectures"] as? [String] == ["DistilBertForSequenceClassification"])
        #expect((config["id2label"] as? [String: String]) == ["0": "NEGATIVE", "1": "POSITIVE"])

        let c = try CLI.run(["classify", "--model", out, "--device", "cpu", "--logits"],
                            stdin: Data("a dull, plodding mess\nWonderful.\n".utf8))
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.jsonLines().count == 2 && c.jsonLines().allSatisfy { doubles($0["logits"]).count == 2 })
    }

    @Test("--freeze-encoder: the saved encoder is the input's, bit for bit; the head trained")
    func freezeEncoder() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(Self.sst, train, out) + ["--epochs", "1", "--freeze-encoder"])
        #expect(r.status == 0, "\(r.stderr)")
        let before = try SafeTensorsFile(url: URL(fileURLWithPath: Self.sst + "/model.safetensors"))
        let after = try SafeTensorsFile(url: URL(fileURLWithPath: out + "/model.safetensors"))
        var frozen = 0, trained = 0
        for name in before.names {
            let same = try before.floats(name) == (try after.floats(name))
            if name.hasPrefix("distilbert.") {
                #expect(same, "\(name) changed")
                frozen += 1
            } else if !same {
                trained += 1
            }
        }
        #expect(frozen > 10 && trained == 4, "frozen \(frozen), head tensors trained \(trained) (pre_classifier, classifier)")
    }

    @Test("a bare encoder gets a new head; labels are the data's sorted names",
          arguments: ["tiny-distilbert-mlm", "tiny-bert-pairs"])
    func bareEncoder(_ fixture: String) throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model")
        try FileManager.default.copyItem(at: Fixtures.model(fixture), to: model)
        if fixture == "tiny-bert-pairs" {   // as a plain BertModel, like all-MiniLM-L6-v2
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json")))
                as? [String: Any] ?? [:]
            config["architectures"] = ["BertModel"]
            config["id2label"] = nil
            config["label2id"] = nil
            try JSONSerialization.data(withJSONObject: config).write(to: model.appendingPathComponent("config.json"))
            let weights = try SafeTensorsFile(url: model.appendingPathComponent("model.safetensors"))
            let kept = try weights.names.filter { !$0.hasPrefix("classifier.") }.map {
                SafeTensorsWriter.Tensor(name: $0, shape: try weights.shape($0), values: try weights.floats($0))
            }
            try SafeTensorsWriter.write(kept, to: model.appendingPathComponent("model.safetensors"))
        }
        let train = try Self.data(folder, labels: ["sad", "happy"]), out = folder.file("out").path
        let r = try CLI.run(Self.common(model.path, train, out) + ["--epochs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
            as? [String: Any] ?? [:]
        let bert = fixture.contains("bert-pairs")
        #expect(config["architectures"] as? [String]
                == [bert ? "BertForSequenceClassification" : "DistilBertForSequenceClassification"])
        #expect((config["id2label"] as? [String: String]) == ["0": "happy", "1": "sad"])
        let c = try CLI.run(["classify", "--model", out, "--device", "cpu"], stdin: Data("Wonderful.\n".utf8))
        #expect(c.status == 0 && ["happy", "sad"].contains(c.jsonLines().first?["label"] as? String), "\(c.stderr)")
    }

    @Test("sentence pairs with class indices train a BERT pair classifier further, keeping its labels")
    func pairs() throws {
        let folder = try TemporaryFolder()
        let lines: [[String: Any]] = [
            ["text": "A man is playing a guitar.", "text_pair": "A person plays music.", "label": 2],
            ["text": "A man is playing a guitar.", "text_pair": "Nobody is playing.", "label": 0],
            ["text": "Two dogs run in a field.", "text_pair": "The animals are outside.", "label": 2],
            ["text": "Two dogs run in a field.", "text_pair": "The dogs are asleep indoors.", "label": 0],
            ["text": "A woman reads a book.", "text_pair": "She is in a library.", "label": 1],
            ["text": "A child eats an apple.", "text_pair": "Someone is eating.", "label": "entailment"],
        ]
        try CLI.jsonl(lines).write(to: folder.file("pairs.jsonl"))
        let out = folder.file("out").path
        let r = try CLI.run(Self.common(fixturePath("tiny-bert-pairs"), folder.file("pairs.jsonl").path, out)
                            + ["--epochs", "2", "--eval", folder.file("pairs.jsonl").path])
        #expect(r.status == 0, "\(r.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
            as? [String: Any] ?? [:]
        #expect((config["id2label"] as? [String: String]) == ["0": "contradiction", "1": "neutral", "2": "entailment"])
        let log = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)
    }

    /// A real interruption: SIGINT after the first checkpoint lands, mid-way through epoch 2.
    /// The run exits 130 leaving epoch 1 complete; `--resume` then ends with the same
    /// model.safetensors, byte for byte, as a run that was never interrupted.
    @Test("SIGINT mid-run: status 130, the last complete epoch kept, --resume gives the uninterrupted result")
    func interruptAndResume() throws {
        guard let binary = CLI.binary else { throw CLITestError.noBinary }
        let folder = try TemporaryFolder()
        let json = try Fixtures.json("tiny-distilbert-sst/train-golden.json")
        var lines: [[String: Any]] = []
        for _ in 0..<150 {   // 1,350 texts: epochs long enough to interrupt
            for batch in json["batches"] as? [[String: Any]] ?? [] {
                for (text, label) in zip(batch["texts"] as? [String] ?? [], ints(batch["labels"])) {
                    lines.append(["text": text, "label": label])
                }
            }
        }
        try CLI.jsonl(lines).write(to: folder.file("train.jsonl"))
        func arguments(_ out: String) -> [String] {
            ["train", "--model", Self.sst, "--train", folder.file("train.jsonl").path, "--out", folder.file(out).path,
             "--device", "cpu", "--batch-size", "2", "--lr", "1e-3", "--epochs", "3"]
        }
        let whole = try CLI.run(arguments("whole"))
        #expect(whole.status == 0, "\(whole.stderr)")

        let process = Process()
        process.executableURL = binary
        process.arguments = arguments("cut")
        process.standardError = FileHandle.nullDevice
        try process.run()
        let firstState = folder.file("cut/checkpoint-epoch1/trainer_state.json").path
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: firstState), process.isRunning, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        Thread.sleep(forTimeInterval: 0.05)   // inside epoch 2 (an epoch here takes over a second)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "interrupted run exited \(process.terminationStatus)")
        let left = Set((try? FileManager.default.contentsOfDirectory(atPath: folder.file("cut").path)) ?? [])
        #expect(left.contains("checkpoint-epoch1") && !left.contains("checkpoint-epoch3"), "\(left.sorted())")

        let resumed = try CLI.run(arguments("cut") + ["--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming after epoch"), "\(resumed.stderr)")
        let a = try Data(contentsOf: folder.file("whole/model.safetensors"))
        let b = try Data(contentsOf: folder.file("cut/model.safetensors"))
        // A Bool, not `a == b` inside #expect: on failure Swift Testing would print both megabyte buffers.
        let identical = a == b
        #expect(identical, "the resumed run's weights differ from the uninterrupted run's")
        let log = try String(contentsOfFile: folder.file("cut/train_log.jsonl").path, encoding: .utf8)
        #expect(log.split(separator: "\n").count == 3)
    }

    @Test("bad data: status 4 with file and line", arguments: ["no-text", "no-label", "unknown", "empty", "not-json"])
    func badData(_ kind: String) throws {
        let folder = try TemporaryFolder()
        let path = folder.file("bad.jsonl").path
        var lines = [#"{"text": "fine", "label": "POSITIVE"}"#, #"{"text": "also fine", "label": "NEGATIVE"}"#]
        switch kind {
        case "no-text": lines.append(#"{"label": "POSITIVE"}"#)
        case "no-label": lines.append(#"{"text": "where is my label"}"#)
        case "unknown": lines.append(#"{"text": "meh", "label": "NEUTRAL"}"#)
        case "empty": lines = ["", "  "]
        default: lines.append("not json at all")
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let r = try CLI.run(Self.common(Self.sst, path, folder.file("out").path))
        #expect(r.status == 4, "\(kind): \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(path), "\(r.stderr)")
        if kind != "empty" { #expect(r.stderr.contains("bad.jsonl:3"), "\(r.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: folder.file("out").path), "no output for bad data")
    }

    @Test("refusals: a token classifier told to classify texts (3), reduced precision, an existing run, nothing to resume (64)")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        // A token classifier's task is token classification: texts are not tagged data (4) …
        let ner = try CLI.run(Self.common(fixturePath("tiny-distilbert-ner"), train, out))
        #expect(ner.status == 4 && ner.stderr.contains("\"tokens\""), "\(ner.stderr)")
        // … and its per-token classifier cannot classify texts (3).
        let text = try CLI.run(Self.common(fixturePath("tiny-distilbert-ner"), train, out)
                               + ["--task", "text-classification"])
        #expect(text.status == 3 && text.stderr.contains("token"), "\(text.stderr)")
        let int8 = try CLI.run(Self.common(Self.sst, train, out) + ["--precision", "int8"])
        #expect(int8.status == 64 && int8.stderr.contains("fp32"), "\(int8.stderr)")
        let resume = try CLI.run(Self.common(Self.sst, train, out) + ["--resume"])
        #expect(resume.status == 64 && resume.stderr.contains("--resume"), "\(resume.stderr)")
        let first = try CLI.run(Self.common(Self.sst, train, out) + ["--epochs", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try CLI.run(Self.common(Self.sst, train, out) + ["--epochs", "1"])
        #expect(again.status == 64 && again.stderr.contains("already holds a training run"), "\(again.stderr)")
        let changed = try CLI.run(Self.common(Self.sst, train, out) + ["--epochs", "2", "--resume"])
        #expect(changed.status == 64 && changed.stderr.contains("different recipe"), "\(changed.stderr)")
        let badFlag = try CLI.run(Self.common(Self.sst, train, out) + ["--warmup", "1.5"])
        #expect(badFlag.status == 64, "\(badFlag.stderr)")
    }

    @Test("--help documents the data format, the output folder and every exit status")
    func help() throws {
        let r = try CLI.run(["train", "--help"])
        #expect(r.status == 0)
        let text = r.out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for needle in ["Exit status", "1 other failure", "3 model", "4 bad data", "5 device", "64 bad flag", "130",
                       "train_log.jsonl", "--resume", "text_pair", "--no-shuffle", "--max-grad-norm",
                       "--lr-scheduler", "constant_with_warmup", "--adam-beta1", "--adam-beta2", "--adam-epsilon",
                       "--max-steps", "--logging-steps", "--eval-steps", "grad_norm", "--report-to", "OUT/runs", "checkpoint-N",
                       "--save-steps", "--save-total-limit", "--metric-for-best-model", "--early-stopping-patience",
                       "best_model_checkpoint",
                       "movie-dev.jsonl"] {
            #expect(text.contains(needle), "train --help lacks '\(needle)'")
        }
    }

    @Test("the schedule, AdamW and logging flags: a bad value is status 64 naming the flag",
          arguments: [["--lr-scheduler", "polynomial"], ["--report-to", "wandb"], ["--adam-beta1", "1"],
                      ["--adam-beta2", "-0.5"], ["--adam-epsilon", "0"], ["--max-steps", "0"],
                      ["--logging-steps", "-3"], ["--eval-steps", "0"], ["--eval-steps", "2"],
                      ["--save-steps", "0"], ["--save-total-limit", "0"], ["--early-stopping-patience", "0"],
                      ["--early-stopping-patience", "2"], ["--metric-for-best-model", "loss"],
                      ["--metric-for-best-model", "bleu", "--eval", "x.jsonl"], ["--threads", "0"],
                      ["--ddp-bucket-cap-mb", "0"], ["--ddp-bucket-cap-mb", "5000"]])
    func newFlagRefusals(_ flag: [String]) throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(Self.sst, train, out) + flag)
        #expect(r.status == 64 && r.stderr.contains(flag[0]), "\(flag): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// 9 texts in batches of 4: 3 steps an epoch; --max-steps 5 ends 2 steps into epoch 2.
    @Test("--max-steps, --logging-steps, --lr-scheduler and --report-to from the command line")
    func stepFlags() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(Self.common(Self.sst, train, out) + [
            "--eval", train, "--epochs", "9", "--max-steps", "5", "--logging-steps", "2", "--lr-scheduler", "cosine",
            "--adam-beta1", "0.85", "--adam-epsilon", "1e-7", "--report-to", "tensorboard"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("epoch 2/2") && r.stderr.contains("checkpoint-5"), "\(r.stderr)")
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])
        #expect(names.isSuperset(of: ["checkpoint-5", "runs", "model.safetensors"]), "\(names.sorted())")
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: out + "/runs")) ?? []
        #expect(runs.count == 1 && runs[0].hasPrefix("events.out.tfevents."), "\(runs)")
        let log = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        #expect(log.map { $0["step"] as? Int ?? -1 } == [2, 3, 4, 5])
        #expect(log.last?["train_samples_per_second"] is Double, "the last line is an epoch's")
        #expect(log[0]["learning_rate"] is Double && log[0]["grad_norm"] is Double && log[0]["epoch"] as? Double != nil)
        // --resume of the finished run: the same flags are accepted, other ones refused.
        let again = try CLI.run(Self.common(Self.sst, train, out) + [
            "--eval", train, "--epochs", "9", "--max-steps", "5", "--logging-steps", "2", "--lr-scheduler", "cosine",
            "--adam-beta1", "0.85", "--adam-epsilon", "1e-7", "--report-to", "tensorboard", "--resume"])
        #expect(again.status == 0, "\(again.stderr)")
        let other = try CLI.run(Self.common(Self.sst, train, out) + ["--eval", train, "--max-steps", "6", "--resume"])
        #expect(other.status == 64 && other.stderr.contains("different recipe"), "\(other.stderr)")
    }

    /// One step per epoch, warm-up of one step: epoch 1 runs at lr 0, epoch 2 at 1e38, which
    /// blows the weights up; the evaluation's loss is then not finite and the run stops.
    @Test("a loss that stops being finite: status 1, the last checkpoint untouched")
    func nonFiniteLoss() throws {
        let folder = try TemporaryFolder()
        let train = try Self.data(folder), out = folder.file("out").path
        let r = try CLI.run(["train", "--model", Self.sst, "--train", train, "--eval", train, "--out", out,
                             "--device", "cpu", "--batch-size", "16", "--epochs", "3", "--warmup", "0.2",
                             "--lr", "1e38", "--max-grad-norm", "0"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("error: the loss became") && r.stderr.contains("checkpoint is untouched"), "\(r.stderr)")
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])
        #expect(names.contains("checkpoint-epoch1") && !names.contains("checkpoint-epoch2"), "\(names.sorted())")
        let log = try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 1)
    }
}
