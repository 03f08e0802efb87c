@testable import DistilCL
import Foundation
import Testing

/// Masked-LM's data (issue 23): run_mlm.py's blocks and the dynamic masking's statistics.
@Suite("Masked-LM data and masking")
struct MaskedLMDataTests {
    static let vocab = 30_522, mask = 103

    /// `count` ordinary tokens in blocks of 128, each block `[CLS] … [SEP]`, every third token a `##` piece.
    static func blocks(tokens count: Int, seed: UInt64 = 1) -> [MaskedLMBlocks.Block] {
        var rng = SeededRandom(seed: seed), out: [MaskedLMBlocks.Block] = []
        var left = count
        while left > 0 {
            let n = min(126, left)
            left -= n
            let ids = [101] + (0..<n).map { _ in 1_000 + Int(rng.next() % 20_000) } + [102]
            out.append(.init(ids: ids, special: ids.indices.map { $0 == 0 || $0 == ids.count - 1 },
                             continuesWord: ids.indices.map { $0 > 1 && $0 < ids.count - 1 && $0 % 3 == 0 }))
        }
        return out
    }

    /// Within 3σ of a binomial's mean.
    static func expectShare(_ hits: Int, of n: Int, _ p: Double, _ what: String) {
        let sigma = (p * (1 - p) / Double(n)).squareRoot(), share = Double(hits) / Double(n)
        #expect(abs(share - p) <= 3 * sigma, "\(what): \(share) of \(n), expected \(p) ± \(3 * sigma)")
    }

    @Test("15% of 100k tokens chosen, of those 80% [MASK], 10% random, 10% kept; special tokens never")
    func proportions() {
        let blocks = Self.blocks(tokens: 100_000)
        var m = MLMMasking()
        m.seed = 42
        var ordinary = 0, chosen = 0, masked = 0, random = 0, kept = 0
        for (e, b) in blocks.enumerated() {
            let (inputs, labels) = m.mask(b, example: UInt64(e), epoch: 1, maskId: Self.mask, vocabSize: Self.vocab)
            for p in b.ids.indices {
                if b.special[p] {
                    #expect(labels[p] == MLMMasking.ignored && inputs[p] == b.ids[p], "a special token was chosen")
                    continue
                }
                ordinary += 1
                guard labels[p] != MLMMasking.ignored else { #expect(inputs[p] == b.ids[p]); continue }
                #expect(labels[p] == b.ids[p])
                chosen += 1
                if inputs[p] == Self.mask { masked += 1 } else if inputs[p] == b.ids[p] { kept += 1 } else { random += 1 }
                #expect((0..<Self.vocab).contains(inputs[p]))
            }
        }
        #expect(ordinary == 100_000)
        Self.expectShare(chosen, of: ordinary, 0.15, "chosen")
        Self.expectShare(masked, of: chosen, 0.8, "[MASK]")
        // A random draw equal to the token itself (1 in 30,522) reads as kept: within the bound.
        Self.expectShare(random, of: chosen, 0.1, "random")
        Self.expectShare(kept, of: chosen, 0.1, "kept")
    }

    @Test("whole-word masking chooses every piece of a word together, at the same rate")
    func wholeWords() {
        let blocks = Self.blocks(tokens: 100_000)
        var m = MLMMasking()
        m.wholeWord = true
        var words = 0, chosenWords = 0
        for (e, b) in blocks.enumerated() {
            let labels = m.mask(b, example: UInt64(e), epoch: 3, maskId: Self.mask, vocabSize: Self.vocab).labels
            for p in b.ids.indices where !b.special[p] {
                if b.continuesWord[p] {
                    #expect((labels[p] != MLMMasking.ignored) == (labels[p - 1] != MLMMasking.ignored), "a word split at \(p)")
                } else {
                    words += 1
                    if labels[p] != MLMMasking.ignored { chosenWords += 1 }
                }
            }
        }
        Self.expectShare(chosenWords, of: words, 0.15, "whole words chosen")
    }

    @Test("the masks are keyed by seed, epoch, example and position alone")
    func keyed() {
        let b = Self.blocks(tokens: 500)[0]
        let m = MLMMasking()
        let a = m.mask(b, example: 7, epoch: 2, maskId: Self.mask, vocabSize: Self.vocab)
        #expect(a == m.mask(b, example: 7, epoch: 2, maskId: Self.mask, vocabSize: Self.vocab))
        #expect(a != m.mask(b, example: 7, epoch: 3, maskId: Self.mask, vocabSize: Self.vocab), "redrawn every epoch")
        #expect(a != m.mask(b, example: 8, epoch: 2, maskId: Self.mask, vocabSize: Self.vocab))
        var other = m
        other.seed = 1
        #expect(a != other.mask(b, example: 7, epoch: 2, maskId: Self.mask, vocabSize: Self.vocab))
        // A position's draw does not depend on the block around it.
        var cut = b
        (cut.ids, cut.special, cut.continuesWord) = (Array(b.ids.prefix(50)), Array(b.special.prefix(50)),
                                                     Array(b.continuesWord.prefix(50)))
        let c = m.mask(cut, example: 7, epoch: 2, maskId: Self.mask, vocabSize: Self.vocab)
        #expect(c.labels == Array(a.labels.prefix(50)) && c.inputs == Array(a.inputs.prefix(50)))
    }

    @Test("frequency smoothing: chosen ∝ count^-0.7, 15% overall")
    func smoothing() {
        // Each of tokens 2000..<2100 ten times as frequent as each of tokens 3000..<3100.
        var ids: [Int] = []
        for i in 0..<100 { ids += [Int](repeating: 2_000 + i, count: 10) + [3_000 + i] }
        let blocks = stride(from: 0, to: ids.count, by: 11).map { s in
            MaskedLMBlocks.Block(ids: Array(ids[s..<(s + 11)]), special: [Bool](repeating: false, count: 11),
                                 continuesWord: [Bool](repeating: false, count: 11))
        }
        let w = MLMMasking.smoothingWeights(blocks, vocabSize: Self.vocab, smoothing: 0.7)
        #expect(abs(w[3_000] / w[2_000] - pow(10, 0.7)) < 1e-9)
        #expect(abs((1_000 * w[2_000] + 100 * w[3_000]) / 1_100 - 1) < 1e-12, "the factors average 1 over the text")
        var m = MLMMasking()
        m.idWeights = w
        var chosen = 0, rare = 0, rareChosen = 0
        for epoch in 1...40 {
            for (e, b) in blocks.enumerated() {
                let labels = m.mask(b, example: UInt64(e), epoch: epoch, maskId: Self.mask, vocabSize: Self.vocab).labels
                for (id, l) in zip(b.ids, labels) {
                    if l != MLMMasking.ignored { chosen += 1 }
                    if id >= 3_000 { rare += 1; if l != MLMMasking.ignored { rareChosen += 1 } }
                }
            }
        }
        Self.expectShare(chosen, of: 40 * 1_100, 0.15, "all tokens")
        Self.expectShare(rareChosen, of: rare, 0.15 * w[3_000], "rare tokens")
    }

    @Test("run_mlm's group_texts: each text with its special tokens, concatenated, cut into whole blocks")
    func grouping() throws {
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-distilbert-sst"))
        let texts = ["The unbelievably overwrought screenplay hamstrings Kristin's otherwise luminous performance.",
                     "a dull, plodding mess", "Wonderful.", "I laughed, I cried, and then I laughed again"]
        let stream = texts.flatMap { tokenizer.encode($0).ids }
        let grouped = MaskedLMBlocks(texts: texts, tokenizer: tokenizer, maxLength: 8, lineByLine: false)
        #expect(grouped.blocks.count == stream.count / 8)
        #expect(grouped.blocks.flatMap(\.ids) == Array(stream.prefix(stream.count / 8 * 8)))
        #expect(grouped.blocks.allSatisfy { $0.ids.count == 8 })
        let special = grouped.blocks.flatMap(\.special), ids = grouped.blocks.flatMap(\.ids)
        #expect(zip(ids, special).allSatisfy { $1 == ($0 == tokenizer.clsId || $0 == tokenizer.sepId) })
        #expect(grouped.blocks.flatMap(\.continuesWord).contains(true), "the long words split into ## pieces")
        let lines = MaskedLMBlocks(texts: texts, tokenizer: tokenizer, maxLength: 8, lineByLine: true)
        #expect(lines.blocks.map(\.ids) == texts.map { tokenizer.encode($0, maxLength: 8).ids })
    }

    @Test("text files: one text a line or JSON Lines with text; blank lines skipped; errors name the line")
    func files() throws {
        let folder = try TemporaryFolder()
        let plain = folder.file("a.txt"), jsonl = folder.file("b.jsonl")
        try Data("first line\n\n  second line\r\n".utf8).write(to: plain)
        #expect(try MaskedLMBlocks.texts(plain) == ["first line", "  second line"])
        try Data("{\"text\": \"one\"}\n{\"text\": \"two\"}\n".utf8).write(to: jsonl)
        #expect(try MaskedLMBlocks.texts(jsonl) == ["one", "two"])
        try Data("{\"text\": \"one\"}\n{\"label\": 2}\n".utf8).write(to: jsonl)
        #expect(throws: LabeledDataError.self) { try MaskedLMBlocks.texts(jsonl) }
        try Data("\n\n".utf8).write(to: plain)
        #expect(throws: LabeledDataError.empty(plain.path)) { try MaskedLMBlocks.texts(plain) }
    }
}
