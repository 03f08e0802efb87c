@testable import DistilCL
import Foundation
import Testing

/// The forward pass's workspace is reused across batches: it grows geometrically (so batches of
/// ascending length, as the CLI and a server's batcher send them, reallocate a handful of
/// times, not per batch), never beyond the cap ahead of need, and what it computes does not
/// depend on how large it has grown.
@Suite("Forward-pass workspace")
struct WorkspaceTests {
    @Test("ascending batches reallocate O(log n) times, with the same outputs", arguments: BackendCase.primary)
    func geometricGrowth(_ bc: BackendCase) throws {
        let dir = Fixtures.model("tiny-distilbert-sst")
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let grown = try EncoderModel(directory: dir, backend: bc.backend)
        let words = "a wonderful film that holds together from start to finish with a plot".split(separator: " ")
        var sizes: [Int] = []
        for n in 1...40 {   // 40 batches of 3 texts, each a word longer than the last
            let texts = (0..<3).map { k in words.prefix(1 + (n + k) % words.count).joined(separator: " ") + String(repeating: " x", count: n) }
            let batch = TokenBatch(texts.map { tokenizer.encode($0, maxLength: 64) })
            let got = try grown.classificationLogits(batch)
            // A fresh model (its workspace an exact fit) gives the same logits, bit for bit.
            let fresh = try EncoderModel(directory: dir, backend: bc.backend).classificationLogits(batch)
            #expect(got == fresh, "\(bc.name) batch \(n)")
            sizes.append(grown.workspace?.tokens ?? 0)
        }
        // Tokens grow from about 12 to about 190: at most log2(190/12) + 1 ≈ 5 allocations.
        #expect(grown.workspaceAllocations <= 6, "\(bc.name): \(grown.workspaceAllocations) allocations, sizes \(sizes)")
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 <= $1 })
        #expect((sizes.last ?? 0) <= 2 * 200, "\(bc.name): grew to \(sizes.last ?? 0) tokens")
    }

    @Test("a batch near the cap gets what it needs, and no more than the cap")
    func cap() throws {
        let dir = Fixtures.model("tiny-distilbert-sst")
        let model = try EncoderModel(directory: dir, backend: CPUBackend())
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let cap = EncoderModel.workspaceTokenCap
        // One text of 40 tokens, then a batch just under the cap (doubling would not be enough).
        _ = try model.classificationLogits(TokenBatch([tokenizer.encode(String(repeating: "good ", count: 38), maxLength: 64)]))
        let long = tokenizer.encode(String(repeating: "good ", count: 62), maxLength: 64)
        let many = TokenBatch(Array(repeating: long, count: cap / 64 - 1))
        _ = try model.classificationLogits(many)
        #expect((model.workspace?.tokens ?? 0) >= many.tokens && (model.workspace?.tokens ?? 0) <= cap)
    }
}

/// The heads that take their scratch from the workspace give, from a grown workspace, what a
/// fresh model (exact fit) gives: token classification, question answering and masked LM.
@Suite("Forward-pass workspace: heads")
struct WorkspaceHeadTests {
    static func batches(_ tokenizer: BertTokenizer) -> [TokenBatch] {
        let words = "the quick brown fox jumps over the lazy dog near paris in june".split(separator: " ")
        return (1...12).map { n in
            TokenBatch((0..<2).map { k in tokenizer.encode(words.prefix(1 + (n + k) % words.count).joined(separator: " ")
                                                            + String(repeating: " [MASK] x", count: n), maxLength: 64) })
        }
    }

    @Test("token, QA and masked-LM logits from a grown workspace equal a fresh model's", arguments: BackendCase.primary)
    func heads(_ bc: BackendCase) throws {
        for (name, head) in [("tiny-distilbert-ner", TokenHead.tokenClassification), ("tiny-distilbert-qa", .questionAnswering)] {
            let dir = Fixtures.model(name)
            let grown = try EncoderModel(directory: dir, backend: bc.backend)
            for batch in Self.batches(try BertTokenizer(modelDirectory: dir)) {
                let fresh = try EncoderModel(directory: dir, backend: bc.backend).tokenLogits(batch, head: head)
                #expect(try grown.tokenLogits(batch, head: head) == fresh, "\(bc.name) \(name)")
            }
        }
        let dir = Fixtures.model("tiny-distilbert-mlm")
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let grown = try EncoderModel(directory: dir, backend: bc.backend)
        for batch in Self.batches(tokenizer) {
            let at = (0..<batch.batch).map { (row: $0, position: 1) }
            let fresh = try EncoderModel(directory: dir, backend: bc.backend).maskedLMLogits(batch, at: at)
            #expect(try grown.maskedLMLogits(batch, at: at) == fresh, "\(bc.name) masked LM")
        }
    }
}
