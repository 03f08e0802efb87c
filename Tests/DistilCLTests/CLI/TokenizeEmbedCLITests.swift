import Foundation
import Testing

@Suite("CLI: tokenize and embed")
struct TokenizeEmbedCLITests {
    @Test("tokenize: ids of the SST golden texts at --max-length 64, one line each, in order")
    func tokenizeGolden() throws {
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let ids = intRows(golden["input_ids"]), mask = intRows(golden["attention_mask"])
        let r = try CLI.run(["tokenize", "--model", fixturePath("tiny-distilbert-sst"), "--jsonl", "--max-length", "64"],
                            stdin: try CLI.jsonl(texts.map { ["text": $0] }))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == texts.count)
        for (i, line) in lines.enumerated() where i < ids.count {
            let want = zip(ids[i], mask[i]).filter { $0.1 == 1 }.map(\.0)
            #expect(ints(line["ids"]) == want, "text \(i)")
            #expect((line["tokens"] as? [String])?.count == want.count)
            #expect((line["offsets"] as? [Any])?.count == want.count)
            #expect(line["token_type_ids"] == nil)
        }
        // The 400-word text (and any other over 64 tokens) is cut: one warning that counts them.
        let warnings = r.stderr.split(separator: "\n").filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 1 && warnings[0].contains("inputs were longer than 64 tokens and were truncated"),
                "\(r.stderr)")
    }

    @Test("tokenize: ids, tokens and offsets of the reference tokenizer cases (bert-base-uncased vocab)")
    func tokenizeReferenceCases() throws {
        let folder = try TemporaryFolder()
        try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("bert-base-uncased-vocab.txt"),
                                         to: folder.file("vocab.txt"))
        let text = try String(contentsOf: Fixtures.root.appendingPathComponent("tokenizer_cases.jsonl"), encoding: .utf8)
        let lines = text.split(separator: "\n").prefix(120)
        let cases = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(cases.count == 120)
        // The reference lines themselves are the input (extra fields are ignored). Not re-encoded
        // with JSONSerialization, which drops a U+FEFF that starts a string (one case does).
        let r = try CLI.run(["tokenize", "--model", folder.url.path, "--jsonl"],
                            stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let outputs = r.jsonLines()
        #expect(outputs.count == cases.count)
        for (c, line) in zip(cases, outputs) {
            #expect(ints(line["ids"]) == ints(c["ids"]), "\(c["text"] ?? "")")
            #expect(line["tokens"] as? [String] == c["tokens"] as? [String])
            #expect(intRows(line["offsets"]) == intRows(c["offsets"]))
        }
    }

    @Test("tokenize: a pair gets token_type_ids; plain text lines keep empty lines and strip CRLF")
    func tokenizePairsAndPlainLines() throws {
        let r = try CLI.run(["tokenize", "--model", fixturePath("tiny-bert-pairs"), "--jsonl"],
                            stdin: try CLI.jsonl([["text": "Old form.", "text_pair": "A new one."]]))
        #expect(r.status == 0, "\(r.stderr)")
        let types = ints(r.jsonLines().first?["token_type_ids"])
        #expect(types.first == 0 && types.last == 1)

        let plain = try CLI.run(["tokenize", "--model", fixturePath("tiny-bert-pairs")],
                                stdin: Data("one\r\n\nthree".utf8))
        #expect(plain.status == 0, "\(plain.stderr)")
        let lines = plain.jsonLines()
        #expect(lines.count == 3)
        #expect((lines.first?["tokens"] as? [String]) == ["[CLS]", "one", "[SEP]"])
        #expect(ints(lines.dropFirst().first?["ids"]).count == 2)   // the empty line: [CLS] [SEP]
    }

    @Test("embed: all-MiniLM-L6-v2 mean-pooled, normalised embeddings match sentence-transformers",
          arguments: CLI.devices)
    func embedMiniLM(device: String) throws {
        try Fixtures.requireRealData()
        let golden = try Fixtures.json("minilm-golden.json")
        let texts = Array((golden["texts"] as? [String] ?? []).prefix(12))
        let want = (golden["embeddings"] as? [Any] ?? []).prefix(12).map(doubles)
        let r = try CLI.run(["embed", "--normalize", "--max-length", "128", "--device", device, "--batch-size", "5"],
                            stdin: Data((texts.joined(separator: "\n") + "\n").utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == texts.count)
        for (i, line) in lines.enumerated() where i < want.count {
            let got = doubles(line["embedding"])
            #expect(got.count == 384)
            let c = cosineSimilarity(got, want[i])
            #expect(c >= 0.99999, "\(device) text \(i): cosine \(c)")
        }
    }

    /// sentence-transformers cuts all-MiniLM-L6-v2's inputs at its max_seq_length, 256, and
    /// normalises (modules.json): without flags `embed` gives what `SentenceTransformer.encode`
    /// gives for texts of 52 to 713 tokens (`minilm-long-golden.json`); at the model's 512
    /// positions the 303- and 713-token texts' embeddings would differ (cosine about 0.97).
    /// Flags override the folder: --max-length 512 changes the long texts, --no-normalize the norm.
    @Test("embed: a sentence-transformers folder's max_seq_length, pooling and Normalize are the defaults",
          arguments: CLI.devices)
    func embedSentenceTransformersDefaults(device: String) throws {
        try Fixtures.requireRealData()
        let golden = try Fixtures.json("minilm-long-golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let want = (golden["embeddings"] as? [Any] ?? []).map(doubles)
        #expect(texts.count == 5 && want.count == 5 && golden["max_seq_length"] as? Int == 256)
        let stdin = try CLI.jsonl(texts.map { ["text": $0] })
        let base = ["embed", "--jsonl", "--device", device, "--batch-size", "2"]
        let r = try CLI.run(base, stdin: stdin)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("longer than 256 tokens"), "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == texts.count)
        for (i, line) in lines.enumerated() where i < want.count {
            let got = doubles(line["embedding"])
            let c = cosineSimilarity(got, want[i])
            #expect(c >= 0.99999, "\(device) text \(i): cosine \(c)")
            #expect(abs(got.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "\(device) text \(i) is not unit length")
        }

        let longer = try CLI.run(base + ["--max-length", "512", "--no-normalize"], stdin: stdin).jsonLines()
        #expect(longer.count == texts.count)
        for (i, line) in longer.enumerated() where i < want.count {
            let got = doubles(line["embedding"])
            let c = cosineSimilarity(got, want[i])
            // Text 0 (52 tokens) is the same; texts 1-4 (over 256 tokens) now see more.
            #expect(i == 0 ? c >= 0.99999 : c < 0.999, "\(device) --max-length 512 text \(i): cosine \(c)")
            #expect(abs(got.reduce(0) { $0 + $1 * $1 } - 1) > 1e-2, "\(device) --no-normalize text \(i) is unit length")
        }
    }

    /// A sentence-transformers folder whose Pooling module asks for max pooling: embed refuses
    /// it by default (status 3, the file named) and runs with --pooling given.
    @Test("embed: an unsupported pooling mode needs --pooling")
    func unsupportedPooling() throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model")
        try FileManager.default.copyItem(at: Fixtures.model("tiny-distilbert-sst"), to: model)
        try FileManager.default.createDirectory(at: model.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        try Data(#"[{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#.utf8)
            .write(to: model.appendingPathComponent("modules.json"))
        try Data(#"{"pooling_mode_max_tokens": true}"#.utf8).write(to: model.appendingPathComponent("1_Pooling/config.json"))
        let stdin = Data("a fine film\n".utf8)
        let refused = try CLI.run(["embed", "--model", model.path, "--device", "cpu"], stdin: stdin)
        #expect(refused.status == 3 && refused.stderr.contains("1_Pooling/config.json"), "\(refused.stderr)")
        let chosen = try CLI.run(["embed", "--model", model.path, "--device", "cpu", "--pooling", "mean"], stdin: stdin)
        #expect(chosen.status == 0 && chosen.jsonLines().count == 1, "\(chosen.stderr)")
    }

    @Test("embed: batching by length keeps input order; pooling none gives one vector per real token",
          arguments: CLI.devices)
    func embedOrderAndTokens(device: String) throws {
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let texts = Array((golden["texts"] as? [String] ?? []).prefix(16))
        let stdin = Data((texts.joined(separator: "\n") + "\n").utf8)
        let base = ["embed", "--model", fixturePath("tiny-distilbert-sst"), "--device", device, "--max-length", "64"]
        let one = try CLI.run(base + ["--batch-size", "1"], stdin: stdin)
        let many = try CLI.run(base + ["--batch-size", "5"], stdin: stdin)
        #expect(one.status == 0 && many.status == 0, "\(one.stderr) \(many.stderr)")
        let a = one.jsonLines(), b = many.jsonLines()
        #expect(a.count == texts.count && b.count == texts.count)
        for (i, (x, y)) in zip(a, b).enumerated() {
            let u = doubles(x["embedding"]), v = doubles(y["embedding"])
            #expect(u.count == 48 && v.count == 48)
            let diff = zip(u, v).map { abs($0 - $1) }.max() ?? .nan
            #expect(diff <= 1e-4, "\(device) text \(i): batch 1 vs 5 differ by \(diff)")
        }

        let tokens = try CLI.run(["tokenize", "--model", fixturePath("tiny-distilbert-sst"), "--max-length", "64"], stdin: stdin)
        let hidden = try CLI.run(base + ["--pooling", "none", "--normalize"], stdin: stdin)
        #expect(hidden.status == 0, "\(hidden.stderr)")
        for (t, h) in zip(tokens.jsonLines(), hidden.jsonLines()) {
            let vectors = (h["hidden"] as? [Any] ?? []).map(doubles)
            #expect(vectors.count == ints(t["ids"]).count)
            for v in vectors { #expect(abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4) }
        }
    }
}
