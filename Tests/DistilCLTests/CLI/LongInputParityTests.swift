import DistilCL
import Foundation
import Testing

/// One model folder, read once (`ModelFolder`), the same way by the CLI and by `serve`: a
/// 600-token text through every route of `serve` and the matching command gives the same
/// answer. Each model is a copy of a tiny fixture made a sentence-transformers folder with
/// `max_seq_length` 128, so both cuts are exercised: 128 for the embeddings and zero-shot
/// similarity, the model's 512 positions for its head.
@Suite(.serialized) struct LongInputParityTests {
    /// 600 words, one token each: 602 tokens with [CLS] and [SEP].
    static let words = Array(repeating: "the film was good and the story was bad .", count: 60)
        .joined(separator: " ").split(separator: " ").map(String.init)
    static let text = words.joined(separator: " ")

    /// A copy of fixture `name` with a `sentence_bert_config.json` cutting at 128 tokens.
    static func sentenceTransformersCopy(_ name: String, in folder: TemporaryFolder) throws -> String {
        let url = folder.file(name)
        try FileManager.default.copyItem(at: Fixtures.model(name), to: url)
        try Data(#"{"max_seq_length": 128, "do_lower_case": true}"#.utf8)
            .write(to: url.appendingPathComponent("sentence_bert_config.json"))
        return url.path
    }

    /// `a` and `b` are the same JSON, numbers within `tolerance` (float32 sums in another order).
    static func same(_ a: Any?, _ b: Any?, tolerance: Double = 1e-4, at path: String = "") -> String? {
        switch (a, b) {
        case let (x as String, y as String): return x == y ? nil : "\(path): \(x) vs \(y)"
        case let (x as NSNumber, y as NSNumber):
            return abs(x.doubleValue - y.doubleValue) <= tolerance ? nil : "\(path): \(x) vs \(y)"
        case let (x as [Any], y as [Any]):
            guard x.count == y.count else { return "\(path): \(x.count) items vs \(y.count)" }
            for (i, (p, q)) in zip(x, y).enumerated() {
                if let d = same(p, q, tolerance: tolerance, at: "\(path)[\(i)]") { return d }
            }
            return nil
        case let (x as [String: Any], y as [String: Any]):
            guard Set(x.keys) == Set(y.keys) else { return "\(path): keys \(x.keys.sorted()) vs \(y.keys.sorted())" }
            for key in x.keys.sorted() {
                if let d = same(x[key], y[key], tolerance: tolerance, at: "\(path).\(key)") { return d }
            }
            return nil
        case (nil, nil), (is NSNull, is NSNull): return nil
        default: return "\(path): \(String(describing: a)) vs \(String(describing: b))"
        }
    }

    /// The one JSON line `distilcl arguments…` prints for `stdin`.
    static func command(_ arguments: [String], _ stdin: String) throws -> [String: Any] {
        let device = arguments.first == "tokenize" ? [] : ["--device", "cpu"]
        let r = try CLI.run(arguments + device, stdin: Data((stdin + "\n").utf8))
        #expect(r.status == 0, "\(arguments.first ?? ""): \(r.stderr)")
        #expect(r.stderr.contains("truncated") || arguments.first == "qa", "\(arguments.first ?? ""): \(r.stderr)")
        return r.jsonLines().first ?? [:]
    }

    @Test func classifierEmbeddingsAndZeroShot() async throws {
        let folder = try TemporaryFolder()
        let sst = try Self.sentenceTransformersCopy("tiny-distilbert-sst", in: folder)
        let server = try ServeCLITests.ServerProcess(["--model", sst, "--device", "cpu"])
        try await server.waitUntilReady()

        let classify = try Self.command(["classify", "--model", sst, "--top-k", "2"], Self.text)
        let (predicted, s1) = try await server.post("/predict", ["inputs": Self.text, "truncate": true])
        #expect(s1 == 200)
        #expect(Self.same(predicted, classify["scores"]) == nil, "\(Self.same(predicted, classify["scores"]) ?? "")")

        let embed = try Self.command(["embed", "--model", sst, "--normalize"], Self.text)
        let (embedded, s2) = try await server.post("/embed", ["inputs": Self.text, "truncate": true])
        #expect(s2 == 200)
        #expect(Self.same((embedded as? [Any])?.first, embed["embedding"]) == nil)
        let (openAI, s3) = try await server.post("/v1/embeddings", ["input": [Self.text], "truncate": true])
        #expect(s3 == 200)
        let data = ((openAI as? [String: Any])?["data"] as? [[String: Any]])?.first
        #expect(Self.same(data?["embedding"], embed["embedding"]) == nil)
        let usage = (openAI as? [String: Any])?["usage"] as? [String: Any]
        #expect(usage?["prompt_tokens"] as? Int == 128)

        let labels = "GOOD=the film was good.,BAD=the story was bad.,MEH=it was a film."
        let zeroShot = try Self.command(["classify", "--model", sst, "--labels", labels, "--top-k", "3"], Self.text)
        let (ranked, s4) = try await server.post("/zero_shot", ["inputs": Self.text, "truncate": true,
                                                               "labels": labels.split(separator: ",").map(String.init)])
        #expect(s4 == 200)
        #expect(Self.same(ranked, zeroShot) == nil, "\(Self.same(ranked, zeroShot) ?? "")")

        // /tokenize is not cut (as TEI's); the command cuts at the model's 512 positions.
        let tokenized = try Self.command(["tokenize", "--model", sst], Self.text)
        let (tokens, s5) = try await server.post("/tokenize", ["inputs": Self.text])
        #expect(s5 == 200)
        let ids = ((tokens as? [[[String: Any]]])?.first ?? []).compactMap { $0["id"] as? Int }
        let cut = ((tokenized["ids"] as? [Any]) ?? []).compactMap { ($0 as? NSNumber)?.intValue }
        #expect(ids.count == 602)
        #expect(cut == Array(ids.prefix(511)) + Array(ids.suffix(1)))
    }

    @Test func headsCutAtThePositions() async throws {
        let folder = try TemporaryFolder()
        // The mask past token 128: a cut at max_seq_length would leave fill-mask nothing to fill.
        let masked = (Self.words.prefix(300) + ["[MASK]"] + Self.words.dropFirst(301)).joined(separator: " ")
        // Where word 200 (token 201) starts: NER must tag words past a 128-token cut.
        let word200 = Self.words.prefix(200).reduce(0) { $0 + $1.count + 1 }
        let qaInput = ["question": "what was bad?", "context": Self.text]
        let cases: [(fixture: String, command: [String], stdin: String, route: String, body: [String: any Sendable])] = [
            ("tiny-distilbert-ner", ["ner", "--aggregation", "simple"], Self.text,
             "/ner", ["inputs": Self.text, "truncate": true, "aggregation_strategy": "simple"]),
            ("tiny-distilbert-mlm", ["fill-mask", "--top-k", "3"], masked,
             "/fill_mask", ["inputs": masked, "truncate": true, "top_k": 3]),
            ("tiny-distilbert-qa", ["qa", "--top-k", "2"],
             String(decoding: try JSONSerialization.data(withJSONObject: qaInput), as: UTF8.self),
             "/qa", ["inputs": qaInput, "top_k": 2]),
        ]
        for c in cases {
            let path = try Self.sentenceTransformersCopy(c.fixture, in: folder)
            let server = try ServeCLITests.ServerProcess(["--model", path, "--device", "cpu"])
            try await server.waitUntilReady()
            let want = try Self.command([c.command[0], "--model", path] + c.command.dropFirst(), c.stdin)
            let (got, status) = try await server.post(c.route, c.body)
            #expect(status == 200, "\(c.route)")
            #expect(Self.same(got, want) == nil, "\(c.route): \(Self.same(got, want) ?? "")")
            if c.route == "/ner" {
                let ends = ((want["entities"] as? [[String: Any]]) ?? []).compactMap { ($0["end"] as? NSNumber)?.intValue }
                #expect((ends.max() ?? 0) > word200, "no entity past word 200: \(ends)")
            }
            if c.route == "/fill_mask" {
                #expect(!((want["predictions"] as? [Any]) ?? []).isEmpty, "\(want)")
            }
        }
    }
}
