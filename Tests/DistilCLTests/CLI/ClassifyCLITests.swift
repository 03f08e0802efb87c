import Foundation
import Testing

@Suite("CLI: classify")
struct ClassifyCLITests {
    @Test("SST checkpoint: logits and pipeline scores of the golden texts within 1e-4", arguments: CLI.devices)
    func sstGolden(device: String) throws {
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let logits = floatRows(golden["logits"])
        let pipeline = (golden["pipeline"] as? [Any] ?? []).map { ($0 as? [[String: Any]]) ?? [] }
        let r = try CLI.run(["classify", "--model", fixturePath("tiny-distilbert-sst"), "--device", device, "--jsonl",
                             "--max-length", "64", "--batch-size", "7", "--top-k", "2", "--logits"],
                            stdin: try CLI.jsonl(texts.map { ["text": $0] }))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == texts.count)
        for (i, line) in lines.enumerated() where i < logits.count && i < pipeline.count {
            let got = doubles(line["logits"])
            #expect(got.count == 2)
            for (g, w) in zip(got, logits[i]) { #expect(abs(g - Double(w)) <= 1e-4, "\(device) text \(i) logits \(got) vs \(logits[i])") }
            let want = pipeline[i]
            let scores = line["scores"] as? [[String: Any]] ?? []
            #expect(scores.count == 2)
            for (s, w) in zip(scores, want) {
                let ws = (w["score"] as? NSNumber)?.doubleValue ?? .nan, gs = (s["score"] as? NSNumber)?.doubleValue ?? .nan
                // Equal within 1e-5 may swap; otherwise the order and labels match.
                if abs(ws - 0.5) > 1e-5 { #expect(s["label"] as? String == w["label"] as? String, "\(device) text \(i)") }
                #expect(abs(gs - ws) <= 1e-4, "\(device) text \(i): \(gs) vs \(ws)")
            }
            #expect(line["label"] as? String == scores.first?["label"] as? String)
            #expect((line["score"] as? NSNumber)?.doubleValue == (scores.first?["score"] as? NSNumber)?.doubleValue)
        }
    }

    @Test("without --top-k and --logits: only label and score")
    func minimalOutput() throws {
        let r = try CLI.run(["classify", "--model", fixturePath("tiny-distilbert-sst"), "--device", "cpu"],
                            stdin: Data("Old form moviemaking at its best.\n".utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.jsonLines().map { Set($0.keys) } == [["label", "score"]])
        #expect(r.stderr.isEmpty, "\(r.stderr)")
    }

    @Test("BERT sentence pairs (text_pair): logits of the golden pairs", arguments: CLI.devices)
    func bertPairs(device: String) throws {
        let golden = try Fixtures.json("tiny-bert-pairs/golden.json")
        let pairs = golden["pairs"] as? [[String]] ?? []
        let logits = floatRows(golden["logits"])
        let r = try CLI.run(["classify", "--model", fixturePath("tiny-bert-pairs"), "--device", device, "--jsonl",
                             "--max-length", "64", "--logits"],
                            stdin: try CLI.jsonl(pairs.map { ["text": $0[0], "text_pair": $0[1]] }))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == pairs.count)
        for (i, line) in lines.enumerated() where i < logits.count {
            let got = doubles(line["logits"])
            #expect(got.count == 3)
            for (g, w) in zip(got, logits[i]) { #expect(abs(g - Double(w)) <= 1e-4, "\(device) pair \(i)") }
        }
    }

    @Test("zero-shot by similarity (--labels) with all-MiniLM-L6-v2 matches the reference predictions")
    func zeroShotMiniLM() throws {
        let source = Fixtures.data.appendingPathComponent("movieReviewSnippets_GroundTruth.txt")
        try Fixtures.requireRealData()
        let raw = try String(contentsOf: source, encoding: .utf8)
        let golden = try Fixtures.json("minilm-golden.json")
        let zeroShot = golden["zero_shot"] as? [String: Any] ?? [:]
        let anchors = zeroShot["anchors"] as? [String] ?? []
        let predictions = Array(zeroShot["predictions"] as? String ?? "")
        // Even sentence ids, in file order: the reference's 5,302 snippets; the first 40 here.
        var texts: [String] = []
        for line in raw.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let id = Int(fields[0]), id % 2 == 0 else { continue }
            texts.append(String(fields[2]))
            if texts.count == 40 { break }
        }
        #expect(texts.count == 40 && anchors.count == 2)
        let r = try CLI.run(["classify", "--device", "cpu", "--max-length", "128", "--top-k", "2", "--jsonl",
                             "--labels", "POSITIVE=\(anchors[0]),NEGATIVE=\(anchors[1])"],
                            stdin: try CLI.jsonl(texts.map { ["text": $0] }), environment: ["DISTILCL_MODEL": Fixtures.miniLM.path])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == texts.count)
        for (i, line) in lines.enumerated() where i < predictions.count {
            let scores = line["scores"] as? [[String: Any]] ?? []
            let margin = abs(((scores.first?["score"] as? NSNumber)?.doubleValue ?? 0)
                             - ((scores.last?["score"] as? NSNumber)?.doubleValue ?? 0))
            guard margin > 1e-5 else { continue }
            #expect(line["label"] as? String == (predictions[i] == "1" ? "POSITIVE" : "NEGATIVE"), "snippet \(i): \(texts[i])")
            let score = (line["score"] as? NSNumber)?.doubleValue ?? .nan
            #expect(score >= -1 && score <= 1)
        }
    }

    @Test("--labels parsing: commas inside descriptions, repeated flags, bad entries")
    func labelParsing() throws {
        let sst = fixturePath("tiny-distilbert-sst")
        let ok = try CLI.run(["classify", "--model", sst, "--device", "cpu", "--top-k", "3",
                              "--labels", "A=one, two, three", "--labels", "B=four,C=five"], stdin: Data("x\n".utf8))
        #expect(ok.status == 0, "\(ok.stderr)")
        let names = (ok.jsonLines().first?["scores"] as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
        #expect(Set(names) == ["A", "B", "C"])
        for bad in ["no equals sign", "=nameless", "A=x,A=y"] {
            let r = try CLI.run(["classify", "--model", sst, "--labels", bad], stdin: Data("x\n".utf8))
            #expect(r.status == 64, "\(bad): \(r.stderr)")
        }
        let logits = try CLI.run(["classify", "--model", sst, "--labels", "A=a", "--logits"], stdin: Data("x\n".utf8))
        #expect(logits.status == 64)
    }
}
