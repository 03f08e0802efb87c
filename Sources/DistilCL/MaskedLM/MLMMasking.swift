import Foundation

/// Masked-LM's dynamic masking (issue 23): which tokens of a block the model must predict and
/// what it reads there, redrawn every epoch from a Philox stream keyed by (seed, epoch,
/// example, position), so a masking is reproducible anywhere (any backend, any number of
/// processes) and a resumed run draws what an uninterrupted one does.
///
/// As transformers' `DataCollatorForLanguageModeling`: each non-special token is chosen with
/// probability `probability` (0.15); a chosen token reads `[MASK]` 80% of the time, a token drawn
/// uniformly from the vocabulary 10%, itself 10%; its label is its own id, every other label −100
/// (ignored). `wholeWord`: the choice is drawn at a word's first piece and every `##` piece after
/// it follows (`DataCollatorForWholeWordMask` picks a fixed count of words instead). `smoothing`:
/// the research distiller's `--mlm_smoothing`, each token id chosen with probability ∝ count^−s
/// over the training text, scaled so that the expected share of chosen tokens stays
/// `probability` (the distiller draws an exact count by those weights; here each position is an
/// independent draw, which keeps it keyed by position).
public struct MLMMasking: Sendable, Equatable {
    public var probability: Double = 0.15
    public var maskShare: Double = 0.8
    public var randomShare: Double = 0.1
    public var wholeWord = false
    public var seed: UInt64 = 0
    /// Per token id, the factor on `probability` (nil: none, every id alike).
    public var idWeights: [Double]?

    public init() {}

    /// The label of a position that is not predicted (PyTorch's `ignore_index`).
    public static let ignored = -100

    /// `block` as the model reads it in `epoch` when it is example `example` of the run:
    /// input ids and labels, `[block.ids.count]` each.
    public func mask(_ block: MaskedLMBlocks.Block, example: UInt64, epoch: Int, maskId: Int,
                     vocabSize: Int) -> (inputs: [Int], labels: [Int]) {
        var inputs = block.ids, labels = [Int](repeating: Self.ignored, count: block.ids.count)
        var chosen = false
        for p in block.ids.indices {
            let draw = words(example: example, epoch: epoch, position: p)
            if block.special[p] { chosen = false; continue }
            if !(wholeWord && block.continuesWord[p] && p > 0) {
                let weight = idWeights.map { block.ids[p] < $0.count ? $0[block.ids[p]] : 1 } ?? 1
                chosen = unit(draw.0) < probability * weight
            }
            guard chosen else { continue }
            labels[p] = block.ids[p]
            let action = unit(draw.1)
            if action < maskShare {
                inputs[p] = maskId
            } else if action < maskShare + randomShare {
                inputs[p] = Int(UInt64(draw.2) * UInt64(vocabSize) >> 32)
            }
        }
        return (inputs, labels)
    }

    /// Philox4x32-10 at counter (position, epoch, example low, example high), key = the seed.
    private func words(example: UInt64, epoch: Int, position: Int) -> (UInt32, UInt32, UInt32, UInt32) {
        philox4x32(counter: (UInt32(truncatingIfNeeded: position), UInt32(truncatingIfNeeded: epoch),
                             UInt32(truncatingIfNeeded: example), UInt32(truncatingIfNeeded: example >> 32)),
                   key: (UInt32(truncatingIfNeeded: seed) ^ 0x4D4C_4D31, UInt32(truncatingIfNeeded: seed >> 32)))
    }

    /// A uniform draw in [0, 1).
    private func unit(_ w: UInt32) -> Double { Double(w) / 4_294_967_296 }

    /// The factors of `--mlm-smoothing s` for a vocabulary of `vocabSize`: count^−s of each id
    /// over the non-special tokens of `blocks` (an unseen id counts as 1), divided by their mean
    /// over those tokens, so that Σ probability·factor over the text is probability·tokens.
    public static func smoothingWeights(_ blocks: [MaskedLMBlocks.Block], vocabSize: Int, smoothing s: Double) -> [Double] {
        var counts = [Double](repeating: 0, count: vocabSize)
        var n = 0.0
        for b in blocks { for (id, special) in zip(b.ids, b.special) where !special && id < vocabSize { counts[id] += 1; n += 1 } }
        var weights = counts.map { pow(max($0, 1), -s) }
        var mean = 0.0
        for b in blocks { for (id, special) in zip(b.ids, b.special) where !special && id < vocabSize { mean += weights[id] } }
        mean = n > 0 ? mean / n : 1
        for i in weights.indices { weights[i] /= mean }
        return weights
    }
}
