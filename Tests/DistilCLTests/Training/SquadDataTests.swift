@testable import DistilCL
import Foundation
import Testing

/// The SQuAD reader: both layouts, v2.0's unanswerable questions, code point positions, and
/// every refusal with the file and the question id (JSON) or line (JSON Lines).
@Suite("SQuAD data")
struct SquadDataTests {
    /// Writes `text` to a fresh file and returns its URL.
    static func file(_ text: String, _ name: String = "data.json") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// The error `read` throws for `text`, or nil.
    static func refusal(_ text: String, _ name: String = "data.json") throws -> LabeledDataError? {
        let url = try file(text, name)
        do {
            _ = try SquadData.read(url)
            return nil
        } catch let e as LabeledDataError {
            return e
        }
    }

    static let v2 = """
        {"version": "v2.0", "data": [{"title": "T", "paragraphs": [
          {"context": "🙂 Zürich is in Switzerland.", "qas": [
            {"id": "a", "question": "Where is Zürich?", "is_impossible": false,
             "answers": [{"text": "Switzerland", "answer_start": 15}, {"text": "in Switzerland", "answer_start": 12}]},
            {"id": "b", "question": "Who founded it?", "is_impossible": true, "answers": [],
             "plausible_answers": [{"text": "Zürich", "answer_start": 2}]}]},
          {"context": "Bern is the capital.", "qas": [
            {"id": "c", "question": "What is the capital?", "answers": [{"text": "Bern", "answer_start": 0}]}]}]}]}
        """

    @Test("SQuAD JSON v2.0: every question in order, all answers kept, is_impossible read, code point starts")
    func squadJSON() throws {
        let examples = try SquadData.read(try Self.file(Self.v2))
        #expect(examples.map(\.id) == ["a", "b", "c"])
        #expect(examples[0].answers == [SquadAnswer(text: "Switzerland", start: 15),
                                        SquadAnswer(text: "in Switzerland", start: 12)])
        #expect(examples[0].context == "🙂 Zürich is in Switzerland.")
        #expect(examples[0].answers[0].end == 26)   // 15 + 11 code points: the emoji counts one
        #expect(!examples[1].isAnswerable && examples[1].answers.isEmpty)
        #expect(examples[2].isAnswerable && examples[2].context == "Bern is the capital.")
        #expect(examples.allSatisfy { $0.line == nil })
    }

    @Test("JSON Lines in the datasets layout: lists of answers, empty lists unanswerable, blank lines skipped")
    func jsonLines() throws {
        let text = """
            {"id": "q1", "question": "Where is Zürich?", "context": "🙂 Zürich is in Switzerland.", "answers": {"text": ["Switzerland"], "answer_start": [15]}}

            {"id": "q2", "question": "Who?", "context": "Nobody.", "answers": {"text": [], "answer_start": []}}
            {"question": "What?", "context": "Bern.", "answers": {"text": ["Bern", "Bern."], "answer_start": [0, 0]}}
            """
        let examples = try SquadData.read(try Self.file(text, "data.jsonl"))
        #expect(examples.map(\.id) == ["q1", "q2", "4"])   // no id: the line number
        #expect(examples.map(\.line) == [1, 3, 4])
        #expect(examples[0].answers == [SquadAnswer(text: "Switzerland", start: 15)])
        #expect(!examples[1].isAnswerable)
        #expect(examples[2].answers.count == 2)
    }

    @Test("SQuAD JSON refusals name the file and the question id (or the entry's place)")
    func jsonRefusals() throws {
        func squad(_ qa: String, context: String = "Bern is the capital.") -> String {
            #"{"data": [{"paragraphs": [{"context": "\#(context)", "qas": [\#(qa)]}]}]}"#
        }
        let cases: [(String, String, String)] = [
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"text": "capital", "answer_start": 15}]}"#),
             "question \"x\"", "past the context"),
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"text": "Bern", "answer_start": -1}]}"#),
             "question \"x\"", "answer_start must be an integer"),
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"text": "Bern", "answer_start": 1.5}]}"#),
             "question \"x\"", "answer_start must be an integer"),
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"text": "Bern", "answer_start": true}]}"#),
             "question \"x\"", "answer_start must be an integer"),
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"answer_start": 0}]}"#),
             "question \"x\"", "no \"text\""),
            (squad(#"{"id": "x", "question": "Q?", "answers": [{"text": "", "answer_start": 0}]}"#),
             "question \"x\"", "empty text"),
            (squad(#"{"id": "x", "question": "  ", "answers": []}"#), "question \"x\"", "question is empty"),
            (squad(#"{"id": "x", "answers": []}"#), "question \"x\"", "no \"question\""),
            (squad(#"{"id": "x", "question": "Q?"}"#), "question \"x\"", "no \"answers\""),
            (squad(#"{"id": "x", "question": "Q?", "is_impossible": true, "answers": [{"text": "Bern", "answer_start": 0}]}"#),
             "question \"x\"", "is_impossible\" is true"),
            (squad(#"{"id": "x", "question": "Q?", "is_impossible": false, "answers": []}"#),
             "question \"x\"", "is_impossible\" is false"),
            (squad(#"{"id": "x", "question": "Q?", "is_impossible": "no", "answers": []}"#),
             "question \"x\"", "true or false"),
            (squad(#"{"id": "x", "question": "Q?", "answers": []}"#, context: ""), "question \"x\"", "context is empty"),
            (squad(#"{"id": "x", "question": "Q?", "answers": []}, {"id": "x", "question": "R?", "answers": []}"#),
             "question \"x\"", "used again"),
            (squad(#"{"question": "Q?", "answers": []}"#), "data[0].paragraphs[0].qas[0]", "no \"id\""),
            (#"{"data": [{"paragraphs": [{"qas": []}]}]}"#, "data[0].paragraphs[0]", "no \"context\""),
            (#"{"data": [{"title": "T"}]}"#, "data[0]", "no \"paragraphs\""),
            (#"{"data": 3}"#, "data", "list of articles"),
        ]
        for (text, at, why) in cases {
            let error = try Self.refusal(text)
            guard case .badEntry(let path, let place, let message)? = error else {
                Issue.record("\(text): expected a badEntry, got \(String(describing: error))")
                continue
            }
            #expect(path.hasSuffix("data.json"))
            #expect(place == at, "\(text): at \(place)")
            #expect(message.contains(why), "\(text): \(message)")
            #expect(error?.description.contains("data.json: \(at): ") == true)
        }
    }

    @Test("JSON Lines refusals name the file and the line")
    func lineRefusals() throws {
        let good = #"{"id": "g", "question": "Q?", "context": "Bern.", "answers": {"text": ["Bern"], "answer_start": [0]}}"#
        let cases: [(String, String)] = [
            ("not json", "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            (#"{"id": 3, "question": "Q?", "context": "C", "answers": {"text": [], "answer_start": []}}"#, "\"id\" must be a string"),
            (#"{"context": "C", "answers": {"text": [], "answer_start": []}}"#, "no \"question\""),
            (#"{"question": "Q?", "answers": {"text": [], "answer_start": []}}"#, "no \"context\""),
            (#"{"question": "Q?", "context": "C", "answers": [{"text": "C", "answer_start": 0}]}"#, "\"answers\" must be"),
            (#"{"question": "Q?", "context": "C", "answers": {"text": ["C"], "answer_start": []}}"#, "1 texts but 0"),
            (#"{"question": "Q?", "context": "C", "answers": {"text": [1], "answer_start": [0]}}"#, "must be a string"),
            (#"{"question": "Q?", "context": "C", "answers": {"text": ["C"], "answer_start": ["0"]}}"#, "integer ≥ 0"),
            (#"{"question": "Q?", "context": "Bern", "answers": {"text": ["Bern"], "answer_start": [1]}}"#, "past the context"),
            (#"{"question": "", "context": "C", "answers": {"text": [], "answer_start": []}}"#, "question is empty"),
            (#"{"id": "g", "question": "Q?", "context": "C", "answers": {"text": [], "answer_start": []}}"#, "used again (line 1"),
        ]
        for (line, why) in cases {
            let error = try Self.refusal(good + "\n\n" + line + "\n", "data.jsonl")
            guard case .badLine(let path, let n, let message)? = error else {
                Issue.record("\(line): expected a badLine, got \(String(describing: error))")
                continue
            }
            #expect(path.hasSuffix("data.jsonl") && n == 3, "\(line): line \(n)")
            #expect(message.contains(why), "\(line): \(message)")
        }
    }

    @Test("unreadable and empty files")
    func files() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/squad.json")
        #expect(throws: LabeledDataError.unreadable(missing.path, "no such file")) { try SquadData.read(missing) }
        let empty = try Self.file("\n\n", "empty.jsonl")
        #expect(throws: LabeledDataError.empty(empty.path)) { try SquadData.read(empty) }
        let noQuestions = try Self.file(#"{"data": []}"#)
        #expect(throws: LabeledDataError.empty(noQuestions.path)) { try SquadData.read(noQuestions) }
        let latin1 = try Self.file("", "latin1.json")
        try Data([0x7B, 0xE9, 0x7D]).write(to: latin1)
        #expect(throws: LabeledDataError.unreadable(latin1.path, "not valid UTF-8")) { try SquadData.read(latin1) }
        // A JSON Lines file forced to be SQuAD JSON is refused as a whole.
        let lines = try Self.file("{\"a\": 1}\n{\"b\": 2}\n", "forced.json")
        #expect(throws: LabeledDataError.self) { try SquadData.read(lines, format: .squadJSON) }
    }

    @Test("the shared SQuAD excerpts read completely", .enabled(if: FileManager.default.fileExists(
        atPath: Fixtures.root.appendingPathComponent("../../../shared/data/squad").standardized.path)))
    func sharedExcerpts() throws {
        let folder = Fixtures.root.appendingPathComponent("../../../shared/data/squad").standardized
        let v1 = try SquadData.read(folder.appendingPathComponent("squad-v1.1-train-University_of_Notre_Dame.json"))
        let v2 = try SquadData.read(folder.appendingPathComponent("squad-v2.0-dev-5-articles.json"))
        #expect(v1.count == 269 && v1.allSatisfy(\.isAnswerable))   // the README's counts
        #expect(v2.count == 1407 && v2.filter { !$0.isAnswerable }.count == 702)
    }
}
