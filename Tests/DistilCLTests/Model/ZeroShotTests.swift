import DistilCL
import Foundation
import Testing

/// The library's zero-shot classifier (the CLI's `classify --labels` and, later, the server's
/// `/zero_shot` share it): label parsing, and scores that are the cosines of the texts' and the
/// descriptions' embeddings, highest first.
@Suite("Zero-shot classification")
struct ZeroShotTests {
    @Test("labels: NAME=description lists, commas continue a description, several arguments")
    func parsing() throws {
        let labels = try ZeroShotClassifier.parseLabels(["POS=great, really good,NEG=bad", "MEH = so-so "])
        #expect(labels == [.init(name: "POS", description: "great, really good"), .init(name: "NEG", description: "bad"),
                           .init(name: "MEH", description: "so-so")])
        for bad in [["=nameless"], ["no equals sign"], ["A=x,A=y"], [""], []] {
            #expect(throws: PipelineError.self, "\(bad)") { try ZeroShotClassifier.parseLabels(bad) }
        }
    }

    @Test("scores are the cosines with each description, highest first", arguments: BackendCase.primary)
    func scores(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-sst")
        let model = try EncoderModel(directory: dir, backend: bc.backend)
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let labels = try ZeroShotClassifier.parseLabels(["A=a wonderful film,B=a dull mess,C=nothing at all"])
        let classifier = try ZeroShotClassifier(labels: labels, model: model, tokenizer: tokenizer, maxLength: 64, batchSize: 2)
        let texts = ["I laughed, I cried", "the plot holds together", "meh"]
        let batch = TokenBatch(texts.map { tokenizer.encode($0, maxLength: 64) })
        let got = try classifier.scores(batch, model: model)
        let vectors = try model.embeddings(batch, pooling: .mean, normalize: true)
        let anchors = try model.embeddings(TokenBatch(labels.map { tokenizer.encode($0.description, maxLength: 64) }),
                                           pooling: .mean, normalize: true)
        #expect(got.count == texts.count)
        for (i, ranked) in got.enumerated() {
            #expect(ranked.count == 3 && zip(ranked, ranked.dropFirst()).allSatisfy { $0.score >= $1.score })
            for entry in ranked {
                let j = labels.firstIndex { $0.name == entry.label }!
                #expect(abs(entry.score - cosine(vectors[i], anchors[j])) < 1e-6, "\(bc.name) text \(i) \(entry.label)")
            }
        }
    }
}
