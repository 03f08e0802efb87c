import DistilCL
import Foundation
import Testing

/// `ModelFolder`: the folder read once for every command and the server, and its one rule for
/// where inputs are cut; `QuestionAnswering.windowCount`, the count the server bounds work by.
@Suite struct ModelFolderTests {
    /// A copy of the SST fixture, with a `sentence_bert_config.json` saying `json` when given.
    static func copy(sentenceBert json: String?) throws -> (TemporaryFolder, URL) {
        let folder = try TemporaryFolder()
        let url = folder.file("model")
        try FileManager.default.copyItem(at: Fixtures.model("tiny-distilbert-sst"), to: url)
        if let json { try Data(json.utf8).write(to: url.appendingPathComponent("sentence_bert_config.json")) }
        return (folder, url)
    }

    @Test func sentenceTransformersLengthAppliesToEmbeddingsOnly() throws {
        let (st, url) = try Self.copy(sentenceBert: #"{"max_seq_length": 128}"#)
        defer { withExtendedLifetime(st) {} }
        let folder = try ModelFolder(directory: url)
        #expect(folder.sentenceTransformers?.maxSeqLength == 128)
        #expect(folder.maxLength(for: .embedding) == 128)
        #expect(folder.maxLength(for: .task) == 512)
        #expect(folder.defaultQAWindow == 384)
        // --max-length wins everywhere.
        let capped = try ModelFolder(directory: url, maxLength: 100)
        #expect(capped.maxLength(for: .embedding) == 100 && capped.maxLength(for: .task) == 100)
        #expect(capped.defaultQAWindow == 100)
        // A max_seq_length over the positions is cut to them.
        let (wide, wideURL) = try Self.copy(sentenceBert: #"{"max_seq_length": 4096}"#)
        defer { withExtendedLifetime(wide) {} }
        #expect(try ModelFolder(directory: wideURL).maxLength(for: .embedding) == 512)
        // A plain folder: the positions for both.
        let plain = try ModelFolder(directory: Fixtures.model("tiny-distilbert-sst"))
        #expect(plain.sentenceTransformers == nil)
        #expect(plain.maxLength(for: .embedding) == 512 && plain.maxLength(for: .task) == 512)
    }

    @Test func refusals() throws {
        #expect(throws: ModelFolderError.maxLengthOverPositions(maxLength: 600, positions: 512)) {
            try ModelFolder(directory: Fixtures.model("tiny-distilbert-sst"), maxLength: 600)
        }
        let (broken, brokenURL) = try Self.copy(sentenceBert: #"{"max_seq_length": "long"}"#)
        defer { withExtendedLifetime(broken) {} }
        #expect(throws: CheckpointError.self) { try ModelFolder(directory: brokenURL) }
        #expect(ModelFolderError.vocabularyTooLarge(directory: "/m", tokens: 10, modelTokens: 5).description
                == "/m: vocab.txt has 10 tokens but the model only 5")
    }

    @Test func windowCountIsTheWindowsBuilt() throws {
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-distilbert-qa"))
        let context = Array(repeating: "the film was good and the story was bad .", count: 40).joined(separator: " ")
        for (seq, stride) in [(384, 128), (64, 24), (32, 10), (40, 0), (400, 16), (20, 19), (12, 2)] {
            for words in [1, 7, 50, 129, 400] {
                let question = "what was bad ?"
                let text = context.split(separator: " ").prefix(words).joined(separator: " ")
                let parameters = QAParameters(maxSeqLen: seq, docStride: stride)
                let count = QuestionAnswering.windowCount(question: question, context: text, tokenizer: tokenizer,
                                                          parameters: parameters)
                let built = (try? QuestionAnswering.windows(question: question, context: text, tokenizer: tokenizer,
                                                            parameters: parameters).count) ?? 0
                #expect(count == built, "max_seq_len \(seq), doc_stride \(stride), \(words) words")
            }
        }
    }
}
