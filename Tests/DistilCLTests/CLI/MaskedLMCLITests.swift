@testable import DistilCL
import Foundation
import Testing

/// Masked-LM training, evaluation and general-purpose distillation through `train`,
/// `evaluate`, `distill` and `fill-mask` as processes, and their refusals.
@Suite("CLI: masked-LM")
struct MaskedLMCLITests {
    /// A BERT sequence classifier: `--task masked-lm` gives it a fresh masked-LM head.
    static let bert = fixturePath("tiny-bert-pairs")
    static let mlmBert = fixturePath("tiny-bert-mlm")
    static let sst = fixturePath("tiny-distilbert-sst")

    /// Forty short lines of plain text (a few repeated words, so a tiny model learns some).
    static func corpus(_ folder: TemporaryFolder) throws -> String {
        let lines = (0..<40).map { i in
            ["the film was good and the acting was good", "the plot was bad and the ending was bad",
             "a good film with a good cast", "a bad film with a bad script"][i % 4] + (i % 3 == 0 ? " indeed" : "")
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: folder.file("text.txt"))
        return folder.file("text.txt").path
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    static func logLines(_ out: String) throws -> [[String: Any]] {
        try String(contentsOfFile: out + "/train_log.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    @Test("train --task masked-lm: a fresh tied head learns, evaluate scores the same masks, fill-mask reads the folder")
    func train() throws {
        let folder = try TemporaryFolder()
        let text = try Self.corpus(folder), out = folder.file("mlm").path
        let r = try CLI.run(["train", "--task", "masked-lm", "--model", Self.bert, "--train", text, "--eval", text,
                             "--out", out, "--device", "cpu", "--batch-size", "8", "--lr", "2e-3", "--epochs", "4",
                             "--max-length", "16", "--mlm-probability", "0.3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("blocks") && r.stderr.contains("eval perplexity"), "\(r.stderr)")
        let config = try Self.json(out + "/config.json")
        #expect(config["architectures"] as? [String] == ["BertForMaskedLM"])
        let keys = Set(try SafeTensorsFile(url: URL(fileURLWithPath: out + "/model.safetensors")).names)
        #expect(keys.contains("cls.predictions.bias") && keys.contains("cls.predictions.transform.dense.weight"))
        #expect(!keys.contains("cls.predictions.decoder.weight"), "the tied decoder is the word embeddings, saved once")
        #expect(!keys.contains("bert.pooler.dense.weight") && !keys.contains("classifier.weight"))

        let epochs = try Self.logLines(out).filter { $0["train_loss"] != nil }
        #expect(epochs.count == 4)
        let (first, last) = (epochs.first!, epochs.last!)
        let loss = last["eval_loss"] as? Double ?? .nan, perplexity = last["eval_perplexity"] as? Double ?? .nan
        #expect(abs(perplexity - exp(loss)) <= 1e-9 * perplexity, "perplexity is exp(eval_loss): \(last)")
        #expect(loss < (first["eval_loss"] as? Double ?? 0), "four epochs lower the masked-LM loss: \(first) → \(last)")

        let e = try CLI.run(["evaluate", "--task", "masked-lm", "--model", out, "--data", text, "--device", "cpu",
                             "--max-length", "16", "--mlm-probability", "0.3", "--batch-size", "8", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let got = try JSONSerialization.jsonObject(with: e.stdout) as? [String: Double] ?? [:]
        #expect(Set(got.keys) == ["eval_loss", "eval_accuracy", "eval_perplexity"], "\(e.out)")
        // The run evaluated with its seed (0) as evaluate's default: the same positions, the same numbers.
        for key in ["eval_loss", "eval_accuracy", "eval_perplexity"] {
            let want = last[key] as? Double ?? .nan
            #expect(abs((got[key] ?? .nan) - want) <= 1e-9 * max(1, abs(want)), "\(key): \(got[key] ?? .nan) vs \(want)")
        }
        let other = try CLI.run(["evaluate", "--task", "masked-lm", "--model", out, "--data", text, "--device", "cpu",
                                 "--max-length", "16", "--mlm-probability", "0.3", "--seed", "7", "--json"])
        let seven = try JSONSerialization.jsonObject(with: other.stdout) as? [String: Double] ?? [:]
        #expect(other.status == 0 && seven["eval_loss"] != got["eval_loss"], "another seed masks other positions")

        let fill = try CLI.run(["fill-mask", "--model", out, "--device", "cpu"], stdin: Data("a good [MASK] with a good cast\n".utf8))
        #expect(fill.status == 0, "\(fill.stderr)")
    }

    @Test("distill --task masked-lm: a DistilBERT student keeps the teacher's head, tied; the triple loss's defaults")
    func distill() throws {
        let folder = try TemporaryFolder()
        let text = try Self.corpus(folder)
        for (name, extra) in [("masked", [String]()), ("all", ["--kd-all-tokens", "--mlm-smoothing", "0"])] {
            let out = folder.file(name).path
            let r = try CLI.run(["distill", "--task", "masked-lm", "--teacher", Self.mlmBert, "--train", text, "--eval", text,
                                 "--out", out, "--device", "cpu", "--batch-size", "8", "--gradient-accumulation-steps", "2",
                                 "--lr", "1e-3", "--epochs", "2", "--max-length", "16", "--student-layers", "0,2"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("α_kd 5") && r.stderr.contains("α_mlm 2") && r.stderr.contains("α_cos 1"), "\(r.stderr)")
            let config = try Self.json(out + "/config.json")
            #expect(config["architectures"] as? [String] == ["DistilBertForMaskedLM"])
            #expect(config["n_layers"] as? Int == 2)
            let keys = Set(try SafeTensorsFile(url: URL(fileURLWithPath: out + "/model.safetensors")).names)
            #expect(keys.isSuperset(of: ["vocab_transform.weight", "vocab_layer_norm.weight", "vocab_projector.bias"]))
            #expect(!keys.contains("vocab_projector.weight"))
            let state = try Self.json(out + "/checkpoint-epoch2/trainer_state.json")
            let recipe = ((state["options"] as? [String: Any])?["maskedLM"] as? [String: Any]) ?? [:]
            #expect(recipe["smoothing"] as? Double == (name == "all" ? 0 : 0.7), "\(recipe)")
            #expect(recipe["kdAllTokens"] as? Bool == (name == "all"), "\(recipe)")
            let e = try CLI.run(["evaluate", "--model", out, "--data", text, "--device", "cpu", "--max-length", "16", "--json"])
            #expect(e.status == 0 && e.out.contains("eval_perplexity"), "a …ForMaskedLM folder evaluates as masked-LM: \(e.out) \(e.stderr)")
        }
    }

    @Test("refusals: flags of another task, bad values, text that makes no block, a model or teacher without the head")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let text = try Self.corpus(folder)
        func run(_ args: [String]) throws -> CLI.Result {
            try CLI.run(args + ["--device", "cpu", "--out", folder.file(UUID().uuidString).path])
        }
        let ce = try run(["distill", "--task", "masked-lm", "--teacher", Self.mlmBert, "--train", text, "--alpha-ce", "1"])
        #expect(ce.status == 64 && ce.stderr.contains("--alpha-mlm"), "\(ce.stderr)")
        let mlm = try run(["distill", "--teacher", Self.bert, "--train", text, "--alpha-mlm", "1"])
        #expect(mlm.status == 64 && mlm.stderr.contains("masked-lm"), "\(mlm.stderr)")
        let p = try run(["train", "--task", "masked-lm", "--model", Self.bert, "--train", text, "--mlm-probability", "0"])
        #expect(p.status == 64 && p.stderr.contains("--mlm-probability"), "\(p.stderr)")
        let lines = try run(["train", "--model", Self.sst, "--train", text, "--line-by-line"])
        #expect(lines.status == 64 && lines.stderr.contains("--task masked-lm"), "\(lines.stderr)")
        let short = try run(["train", "--task", "masked-lm", "--model", Self.bert, "--train", text, "--max-length", "512"])
        #expect(short.status == 4 && short.stderr.contains("text.txt:1") && short.stderr.contains("--line-by-line"), "\(short.stderr)")
        let teacher = try run(["distill", "--task", "masked-lm", "--teacher", Self.bert, "--train", text, "--max-length", "16"])
        #expect(teacher.status == 3 && teacher.stderr.contains("masked-LM head"), "\(teacher.stderr)")
        let e = try CLI.run(["evaluate", "--task", "masked-lm", "--model", Self.sst, "--data", text, "--device", "cpu"])
        #expect(e.status == 3 && e.stderr.contains("masked-LM head"), "\(e.stderr)")
    }

    @Test("--resume keeps the masking: another --mlm-probability is refused")
    func resume() throws {
        let folder = try TemporaryFolder()
        let text = try Self.corpus(folder), out = folder.file("run").path
        let base = ["train", "--task", "masked-lm", "--model", Self.bert, "--train", text, "--out", out, "--device", "cpu",
                    "--batch-size", "8", "--max-length", "16", "--epochs", "2"]
        let r = try CLI.run(base)
        #expect(r.status == 0, "\(r.stderr)")
        let again = try CLI.run(base + ["--resume", "--mlm-probability", "0.2"])
        #expect(again.status == 64 && again.stderr.contains("mlm probability 0.15"), "\(again.stderr)")
    }
}
