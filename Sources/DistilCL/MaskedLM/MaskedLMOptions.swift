/// How a masked-LM run reads its text and masks it (`--line-by-line`, `--mlm-probability`,
/// `--whole-word-masking`, `--mlm-smoothing`, `--kd-all-tokens`), kept in the run's recipe so
/// that `--resume` masks as the run began.
public struct MaskedLMOptions: Sendable, Equatable, Codable {
    /// One text a block, cut at the max length (run_mlm's `--line_by_line`); else the texts are
    /// concatenated and cut into blocks (`group_texts`).
    public var lineByLine = false
    /// The share of tokens the model predicts (`DataCollatorForLanguageModeling.mlm_probability`).
    public var probability = 0.15
    /// Every piece of a chosen word goes with it.
    public var wholeWord = false
    /// The research distiller's `--mlm_smoothing`: a token is chosen with probability ∝
    /// count^−s over the training text (0: every token alike).
    public var smoothing = 0.0
    /// Distillation: the KL term over every real token (the distiller's
    /// `restrict_ce_to_mask=False`), not the masked ones alone.
    public var kdAllTokens = false

    public init(lineByLine: Bool = false, probability: Double = 0.15, wholeWord: Bool = false, smoothing: Double = 0,
                kdAllTokens: Bool = false) {
        (self.lineByLine, self.probability, self.wholeWord) = (lineByLine, probability, wholeWord)
        (self.smoothing, self.kdAllTokens) = (smoothing, kdAllTokens)
    }

    /// Checks the values a user gives.
    public func validate() throws {
        guard probability > 0, probability <= 1 else {
            throw TrainingError.badOption("--mlm-probability must be in (0, 1], got \(probability)")
        }
        guard smoothing.isFinite, smoothing >= 0 else {
            throw TrainingError.badOption("--mlm-smoothing must be ≥ 0, got \(smoothing)")
        }
    }

    /// The masking of a run with `seed` over `blocks` (smoothing weights counted over them) for
    /// a vocabulary of `vocabSize`.
    func masking(seed: UInt64, blocks: [MaskedLMBlocks.Block], vocabSize: Int) -> MLMMasking {
        var m = MLMMasking()
        (m.probability, m.wholeWord, m.seed) = (probability, wholeWord, seed)
        if smoothing > 0 { m.idWeights = MLMMasking.smoothingWeights(blocks, vocabSize: vocabSize, smoothing: smoothing) }
        return m
    }
}
