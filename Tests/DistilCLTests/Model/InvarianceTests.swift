@testable import DistilCL
import Foundation
import Testing

/// A text gives the same outputs alone, inside a padded batch, and at any position in it.
/// Different batch shapes change only the GEMMs' blocking (OpenBLAS picks kernels by M), so
/// results differ in summation order alone, ~1e-6 relative per GEMM; the tiny models' random
/// weights (range 0.3) amplify that through 3 layers, so 5e-5: half the 1e-4 that float32
/// supports against transformers.
@Suite("Batch invariance")
struct InvarianceTests {
    static let texts = [
        "A gripping, beautifully shot film.", "", "Dull.",
        "The plot meanders for two hours and the ending makes no sense at all, which is a pity given the cast.",
        "naïve café résumé 東京", "ok",
    ]

    @Test("classification logits alone vs. in a padded batch, every position", arguments: BackendCase.all)
    func classification(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-sst")
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let model = try EncoderModel(directory: dir, backend: bc.backend)
        let enc = Self.texts.map { tokenizer.encode($0) }
        let alone = try enc.map { try model.classificationLogits(TokenBatch([$0]))[0] }
        for rotation in 0..<enc.count {
            let order = Array(enc.indices.dropFirst(rotation)) + Array(enc.indices.prefix(rotation))
            let batched = try model.classificationLogits(TokenBatch(order.map { enc[$0] }))
            for (row, i) in order.enumerated() {
                expectClose(batched[row], alone[i], atol: 5e-5, rtol: 0, "\(bc.name) text \(i) at row \(row)")
            }
        }
    }

    @Test("token logits of real tokens alone vs. in a padded batch", arguments: BackendCase.all)
    func tokens(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-ner")
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let model = try EncoderModel(directory: dir, backend: bc.backend)
        let enc = Self.texts.map { tokenizer.encode($0) }
        let batched = try model.tokenLogits(TokenBatch(enc.reversed()), head: .tokenClassification)
        for (i, e) in enc.enumerated() {
            let alone = try model.tokenLogits(TokenBatch([e]), head: .tokenClassification)[0]
            let row = batched[enc.count - 1 - i]
            expectClose(row.prefix(e.count).flatMap { $0 }, alone.flatMap { $0 }, atol: 5e-5, rtol: 0, "\(bc.name) text \(i)")
        }
    }
}

/// The heads that read only `[CLS]` run the last layer's attention output and feed-forward
/// over those rows alone; the rows must equal the full last hidden state's. Same arithmetic
/// on the same rows except the GEMMs' M (blocking), hence the batch-invariance tolerance.
@Suite("[CLS]-only last layer")
struct FirstTokenLayerTests {
    @Test("CLS vectors equal the full last hidden state's first rows", arguments: BackendCase.all)
    func firstTokenRows(_ bc: BackendCase) throws {
        for name in ["tiny-distilbert-sst", "tiny-bert-pairs"] {
            let dir = Fixtures.model(name)
            let tokenizer = try BertTokenizer(modelDirectory: dir)
            let model = try EncoderModel(directory: dir, backend: bc.backend)
            let batch = TokenBatch(InvarianceTests.texts.map { tokenizer.encode($0) })
            let full = try model.lastHiddenState(batch)
            // The encoder's [CLS]-only pass itself: its last layer yields one row per text.
            var last: [Float] = []
            try model.encode(batch, rows: .firstToken) { _, h in last = h }
            let d = model.config.hidden
            #expect(last.count == batch.batch * d)
            // And the head that uses it.
            let cls = try model.embeddings(batch, pooling: .cls, normalize: false)
            #expect(cls.count == full.count)
            for (i, (c, f)) in zip(cls, full).enumerated() {
                expectClose(Array(last[(i * d)..<min((i + 1) * d, last.count)]), f[0], atol: 5e-5, rtol: 0,
                            "\(bc.name) \(name) encode text \(i)")
                expectClose(c, f[0], atol: 5e-5, rtol: 0, "\(bc.name) \(name) text \(i)")
            }
        }
    }
}

/// Batches a caller can build wrongly are errors, not out-of-bounds reads.
@Suite("Model input validation")
struct ModelInputTests {
    @Test("empty texts, bad masked positions, ids outside the vocabulary", arguments: BackendCase.primary)
    func rejects(_ bc: BackendCase) throws {
        let model = try EncoderModel(directory: Fixtures.model("tiny-distilbert-mlm"), backend: bc.backend)
        let withEmpty = TokenBatch(paddedIds: [[101, 2000, 102], [0, 0, 0]], attentionMask: [[1, 1, 1], [0, 0, 0]])
        #expect(throws: ModelError.emptyText(1)) { _ = try model.lastHiddenState(withEmpty) }
        let batch = TokenBatch(paddedIds: [[101, 2000, 102]], attentionMask: [[1, 1, 1]])
        #expect(throws: ModelError.positionOutOfRange(row: 0, position: 3)) {
            _ = try model.maskedLMLogits(batch, at: [(row: 0, position: 3)])
        }
        #expect(throws: ModelError.positionOutOfRange(row: 1, position: 0)) {
            _ = try model.maskedLMLogits(batch, at: [(row: 1, position: 0)])
        }
        let huge = TokenBatch(paddedIds: [[101, Int(Int32.max) + 5, 102]], attentionMask: [[1, 1, 1]])
        #expect(throws: ModelError.self) { _ = try model.lastHiddenState(huge) }
        // Still usable afterwards.
        #expect(try model.maskedLMLogits(batch, at: [(row: 0, position: 1)]).count == 1)
    }
}
