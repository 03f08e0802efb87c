@testable import DistilCL
import Foundation
import Testing

/// The DistilBERT student built from a BERT teacher's own layers: before any training it
/// computes what the teacher computes with the skipped layers removed.
@Suite("Distillation: the student")
struct StudentTests {
    static let texts = ["a dull, plodding mess", "Wonderful.", "The unbelievably overwrought screenplay hamstrings it.",
                        "I laughed, I cried"]

    /// After each of its layers the student's hidden states equal the teacher's after the
    /// corresponding layer with the skipped layers removed, on single sentences (token type 0,
    /// which the student's position table holds). Tolerance: the embeddings are summed in
    /// another order (word + (position + type) against (word + position) + type), float32
    /// rounding of values near 1, carried through LayerNorms: 1e-5.
    @Test("hidden states equal the teacher's without the skipped layers", arguments: BackendCase.primary)
    func layersMatch(_ bc: BackendCase) throws {
        let teacher = try Checkpoint(directory: Fixtures.model("tiny-bert-pairs"))
        #expect(Checkpoint.defaultStudentLayers(teacherLayers: teacher.config.layers) == [0, 2])
        for chosen in [[0, 2], [1], [0, 1, 2]] {
            let student = try teacher.distilBertStudent(layers: chosen)
            #expect(student.config.modelType == .distilbert && student.config.layers == chosen.count)
            #expect(student.config.architectures == ["DistilBertForSequenceClassification"])
            #expect(student.heads.preClassifier == teacher.heads.pooler && student.heads.classifier == teacher.heads.classifier)
            var reduced = teacher
            reduced.encoder.layers = chosen.map { teacher.encoder.layers[$0] }
            reduced.config.layers = chosen.count

            let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-bert-pairs"))
            let batch = TokenBatch(Self.texts.map { tokenizer.encode($0) })
            let s = try EncoderModel(checkpoint: student, backend: bc.backend).allHiddenStates(batch)
            let t = try EncoderModel(checkpoint: reduced, backend: bc.backend).allHiddenStates(batch)
            #expect(s.count == chosen.count + 1 && t.count == s.count)
            for (i, (a, b)) in zip(s, t).enumerated() {
                expectClose(a, b, atol: 1e-5, rtol: 1e-5, "\(bc.name) layers \(chosen): hidden state \(i)")
            }
        }
    }

    @Test("refusals: a DistilBERT teacher, layers out of range or out of order")
    func refusals() throws {
        let bert = try Checkpoint(directory: Fixtures.model("tiny-bert-pairs"))
        #expect(throws: StudentError.self) { try bert.distilBertStudent(layers: [0, 3]) }
        #expect(throws: StudentError.self) { try bert.distilBertStudent(layers: [2, 0]) }
        #expect(throws: StudentError.self) { try bert.distilBertStudent(layers: []) }
        let distil = try Checkpoint(directory: Fixtures.model("tiny-distilbert-sst"))
        #expect(throws: StudentError.self) { try distil.distilBertStudent(layers: [0]) }
    }

    /// The student written as a Hugging Face folder reads back as the same model (and the
    /// folder is what transformers' DistilBERT reads: `config.json` in its keys).
    @Test("the student folder reads back as the same model")
    func writeAndRead() throws {
        let folder = try TemporaryFolder()
        let teacher = try Checkpoint(directory: Fixtures.model("tiny-bert-pairs"))
        let student = try teacher.distilBertStudent(layers: [0, 2])
        try student.write(to: folder.file("student"), tokenizer: Fixtures.model("tiny-bert-pairs"))
        let back = try Checkpoint(directory: folder.file("student"))
        #expect(back.config.modelType == .distilbert && back.config.layers == 2 && back.config.labels == teacher.config.labels)
        #expect(back.encoder == student.encoder && back.heads.classifier == student.heads.classifier
                && back.heads.preClassifier == student.heads.preClassifier)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.file("student/config.json"))) as? [String: Any]
        #expect(json?["dim"] as? Int == 48 && json?["n_layers"] as? Int == 2 && json?["hidden_dim"] as? Int == 100)
        #expect(FileManager.default.fileExists(atPath: folder.file("student/vocab.txt").path))
    }
}
