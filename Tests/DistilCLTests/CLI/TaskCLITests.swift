import Foundation
import Testing

/// qa, fill-mask and ner against the transformers pipelines' golden outputs.
@Suite("CLI: qa, fill-mask, ner")
struct TaskCLITests {
    /// Compares two lists of pipeline records: every key of `want` present in `got`, numbers named
    /// "score" within `scoreTolerance`, everything else equal.
    static func expectRecords(_ got: [[String: Any]], _ want: [[String: Any]], _ what: String,
                              scoreTolerance: Double = 1e-4, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, "\(what): \(got.count) records, expected \(want.count)", sourceLocation: sourceLocation)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(Set(g.keys) == Set(w.keys), "\(what)[\(i)] keys \(g.keys.sorted()) vs \(w.keys.sorted())",
                    sourceLocation: sourceLocation)
            for (key, wv) in w {
                let gv = g[key]
                if key == "score" {
                    let a = (gv as? NSNumber)?.doubleValue ?? .nan, b = (wv as? NSNumber)?.doubleValue ?? .nan
                    #expect(abs(a - b) <= scoreTolerance, "\(what)[\(i)].score \(a) vs \(b)", sourceLocation: sourceLocation)
                } else if let ws = wv as? String {
                    #expect(gv as? String == ws, "\(what)[\(i)].\(key) \(gv ?? "nil") vs \(ws)", sourceLocation: sourceLocation)
                } else {
                    #expect((gv as? NSNumber)?.intValue == (wv as? NSNumber)?.intValue,
                            "\(what)[\(i)].\(key) \(gv ?? "nil") vs \(wv)", sourceLocation: sourceLocation)
                }
            }
        }
    }

    @Test("qa: the golden answers with max_seq_len 64, doc_stride 24, top_k 3 (several windows)", arguments: CLI.devices)
    func questionAnswering(device: String) throws {
        let golden = try Fixtures.json("tiny-distilbert-qa/golden.json")
        let inputs = golden["inputs"] as? [[String: Any]] ?? []
        let params = golden["pipeline_params"] as? [String: Any] ?? [:]
        let want = (golden["pipeline"] as? [Any] ?? []).map { $0 as? [[String: Any]] ?? [] }
        func p(_ key: String) -> String { "\((params[key] as? NSNumber)?.intValue ?? -1)" }
        let r = try CLI.run(["qa", "--model", fixturePath("tiny-distilbert-qa"), "--device", device, "--batch-size", "3",
                             "--max-seq-len", p("max_seq_len"), "--doc-stride", p("doc_stride"),
                             "--max-question-len", p("max_question_len"), "--max-answer-len", p("max_answer_len"),
                             "--top-k", p("top_k")],
                            stdin: try CLI.jsonl(inputs))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == want.count)
        for (i, (line, w)) in zip(lines, want).enumerated() {
            Self.expectRecords(line["answers"] as? [[String: Any]] ?? [], w, "\(device) qa \(i)")
        }
    }

    @Test("fill-mask: the golden top 5 at every mask", arguments: CLI.devices)
    func fillMask(device: String) throws {
        let golden = try Fixtures.json("tiny-distilbert-mlm/golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let want = (golden["pipeline"] as? [Any] ?? []).map { ($0 as? [Any] ?? []).map { $0 as? [[String: Any]] ?? [] } }
        let r = try CLI.run(["fill-mask", "--model", fixturePath("tiny-distilbert-mlm"), "--device", device, "--top-k", "5"],
                            stdin: Data((texts.joined(separator: "\n") + "\n").utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == want.count)
        for (i, (line, masks)) in zip(lines, want).enumerated() {
            let got = (line["predictions"] as? [Any] ?? []).map { $0 as? [[String: Any]] ?? [] }
            #expect(got.count == masks.count, "\(device) text \(i): \(got.count) masks")
            for (m, (g, w)) in zip(got, masks).enumerated() {
                Self.expectRecords(g, w, "\(device) fill-mask \(i) mask \(m)")
            }
        }
    }

    @Test("ner: the golden entities for every aggregation strategy",
          arguments: CLI.devices.flatMap { d in ["none", "simple", "first", "max", "average"].map { (d, $0) } })
    func ner(device: String, aggregation: String) throws {
        let golden = try Fixtures.json("tiny-distilbert-ner/golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let pipeline = golden["pipeline"] as? [String: Any] ?? [:]
        let want = (pipeline[aggregation] as? [Any] ?? []).map { $0 as? [[String: Any]] ?? [] }
        let r = try CLI.run(["ner", "--model", fixturePath("tiny-distilbert-ner"), "--device", device,
                             "--aggregation", aggregation],
                            stdin: Data((texts.joined(separator: "\n") + "\n").utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.count == want.count)
        for (i, (line, w)) in zip(lines, want).enumerated() {
            Self.expectRecords(line["entities"] as? [[String: Any]] ?? [], w, "\(device) ner \(aggregation) \(i)")
        }
    }

    @Test("fill-mask: a line without [MASK] is bad input (4), or skipped with --skip-invalid")
    func fillMaskWithoutMask() throws {
        let input = Data("Paris is in [MASK].\nno mask here\nI [MASK] it.\n".utf8)
        let args = ["fill-mask", "--model", fixturePath("tiny-distilbert-mlm"), "--device", "cpu", "--top-k", "1"]
        let r = try CLI.run(args, stdin: input)
        #expect(r.status == 4)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("line 2") && r.stderr.contains("[MASK]"), "\(r.stderr)")
        let skipped = try CLI.run(args + ["--skip-invalid"], stdin: input)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.jsonLines().count == 2)
        #expect(skipped.stderr.contains("skipped 1 invalid input line") && skipped.stderr.contains("line 2"))
    }

    @Test("qa: an empty context, a missing field or a plain-text line is bad input (4) with its line",
          arguments: ["{\"question\": \"Who?\", \"context\": \"\"}", "{\"question\": \"Who?\"}", "Who wrote it?"])
    func qaBadInput(line: String) throws {
        let input = Data("{\"question\": \"Who?\", \"context\": \"Ada wrote it.\"}\n\(line)\n".utf8)
        let r = try CLI.run(["qa", "--model", fixturePath("tiny-distilbert-qa"), "--device", "cpu"], stdin: input)
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("line 2"), "\(r.stderr)")
    }

    @Test("ner and fill-mask on a checkpoint without their head: status 3", arguments: ["ner", "fill-mask", "qa"])
    func wrongHead(command: String) throws {
        let r = try CLI.run([command, "--model", fixturePath("tiny-distilbert-sst"), "--device", "cpu"],
                            stdin: Data("{\"question\": \"q?\", \"context\": \"c [MASK].\", \"text\": \"c [MASK].\"}\n".utf8))
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("ForSequenceClassification"), "\(r.stderr)")
    }
}
