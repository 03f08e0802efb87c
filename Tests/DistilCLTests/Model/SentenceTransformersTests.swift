@testable import DistilCL
import Foundation
import Testing

/// A sentence-transformers folder's own settings (max_seq_length, the Pooling module's mode, a
/// Normalize module), read from its files as sentence-transformers and TEI read them.
@Suite("sentence-transformers folder settings")
struct SentenceTransformersTests {
    /// A folder holding `files` (relative path → contents).
    static func folder(_ files: [String: String]) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        for (path, text) in files {
            let url = folder.file(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return folder
    }

    static let modules = """
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
         {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
        """

    static func pooling(cls: Bool = false, mean: Bool = false, max: Bool = false) -> String {
        """
        {"word_embedding_dimension": 384, "pooling_mode_cls_token": \(cls), "pooling_mode_mean_tokens": \(mean),
         "pooling_mode_max_tokens": \(max), "pooling_mode_mean_sqrt_len_tokens": false}
        """
    }

    @Test("all-MiniLM-L6-v2: 256 tokens, mean pooling, normalised")
    func miniLM() throws {
        try Fixtures.requireRealData()
        let config = try SentenceTransformersConfig.read(directory: Fixtures.miniLM)
        #expect(config == SentenceTransformersConfig(maxSeqLength: 256, pooling: .mean, normalize: true))
    }

    @Test("cls pooling without Normalize; no max_seq_length; a plain folder has no settings")
    func variants() throws {
        let cls = try Self.folder(["modules.json": Self.modules.replacingOccurrences(of: ".Normalize", with: ".Dense"),
                                   "1_Pooling/config.json": Self.pooling(cls: true)])
        #expect(try SentenceTransformersConfig.read(directory: cls.url)
                == SentenceTransformersConfig(maxSeqLength: nil, pooling: .cls, normalize: false))
        let named = try Self.folder(["modules.json": Self.modules, "1_Pooling/config.json": #"{"pooling_mode": "cls"}"#,
                                     "sentence_bert_config.json": #"{"max_seq_length": 128}"#])
        #expect(try SentenceTransformersConfig.read(directory: named.url)
                == SentenceTransformersConfig(maxSeqLength: 128, pooling: .cls, normalize: true))
        #expect(try SentenceTransformersConfig.read(directory: Fixtures.model("tiny-distilbert-sst")) == nil)
    }

    /// A mode DistilCL does not compute is recorded, not thrown: `--pooling` can still choose one.
    @Test("pooling modes DistilCL does not compute are recorded with the reason")
    func unsupportedModes() throws {
        for pooling in [Self.pooling(max: true), Self.pooling(cls: true, mean: true), #"{"pooling_mode": "lasttoken"}"#] {
            let folder = try Self.folder(["modules.json": Self.modules, "1_Pooling/config.json": pooling])
            let config = try SentenceTransformersConfig.read(directory: folder.url)
            #expect(config?.pooling == nil && config?.normalize == true, "\(pooling)")
            #expect(config?.unsupportedPooling?.contains("not supported") == true, "\(pooling)")
        }
    }

    @Test("malformed files are errors")
    func refusals() throws {
        let cases: [[String: String]] = [
            ["modules.json": Self.modules],   // the Pooling module's config.json is missing
            ["modules.json": "{not json"],
            ["sentence_bert_config.json": #"{"max_seq_length": "long"}"#],
            ["sentence_bert_config.json": #"{"max_seq_length": 1}"#],
        ]
        for files in cases {
            let folder = try Self.folder(files)
            #expect(throws: CheckpointError.self, "\(files)") { try SentenceTransformersConfig.read(directory: folder.url) }
        }
    }
}
