// The fill-mask pipeline's post-processing (transformers `FillMaskPipeline`): softmax over the
// vocabulary at each `[MASK]`, the top_k tokens, and the input decoded with each of them in place.

/// One proposal for a mask, as the pipeline's `{"score", "token", "token_str", "sequence"}`.
public struct FillMaskPrediction: Sendable, Equatable, Codable {
    /// Probability of the token at the mask.
    public var score: Float
    /// The token's id.
    public var token: Int
    /// The token decoded alone (`tokenizer.decode([token])`; a `##` piece keeps its prefix).
    public var tokenStr: String
    /// The input decoded with this token at the mask (special tokens dropped when the input has
    /// one mask; kept, so the other masks stay visible, when it has several).
    public var sequence: String

    public init(score: Float, token: Int, tokenStr: String, sequence: String) {
        self.score = score
        self.token = token
        self.tokenStr = tokenStr
        self.sequence = sequence
    }

    private enum CodingKeys: String, CodingKey {
        case score, token, tokenStr = "token_str", sequence
    }
}

/// Fill-mask post-processing.
public enum FillMask {
    /// Positions of the `[MASK]` tokens in `encoding`, in order.
    public static func maskPositions(in encoding: Encoding, tokenizer: BertTokenizer) -> [Int] {
        encoding.ids.indices.filter { encoding.ids[$0] == tokenizer.maskId }
    }

    /// The masked-LM logits at every mask token of each encoding, `[encodings][masks][vocab]`,
    /// from one forward pass over the batch (an encoding without a mask gets `[]`).
    public static func maskLogits(_ encodings: [Encoding], model: EncoderModel,
                                  tokenizer: BertTokenizer) throws -> [[[Float]]] {
        var positions: [(row: Int, position: Int)] = []
        var counts: [Int] = []
        for (row, e) in encodings.enumerated() {
            let masks = maskPositions(in: e, tokenizer: tokenizer)
            positions += masks.map { (row, $0) }
            counts.append(masks.count)
        }
        let logits = try model.maskedLMLogits(TokenBatch(encodings), at: positions)
        var offset = 0
        return counts.map { n in
            defer { offset += n }
            return Array(logits[offset..<offset + n])
        }
    }

    /// The `topK` proposals for the mask at `maskPosition`.
    ///
    /// - Parameters:
    ///   - maskLogits: the masked-LM logits at that position, `[vocab]`.
    ///   - maskPosition: index of the `[MASK]` token in `encoding`.
    ///   - encoding: the encoded input, `[seq]` (unpadded; `[PAD]` ids are dropped from `sequence` anyway).
    ///   - topK: how many proposals (`top_k`, the pipeline's default is 5).
    ///   - targetIds: restrict the proposals to these token ids (`targets`), in this order for ties.
    ///   - tokenizer: decodes `token_str` and `sequence`.
    /// - Returns: `[min(topK, candidates)]` proposals, most probable first.
    public static func predictions(maskLogits: [Float], maskPosition: Int, encoding: Encoding, topK: Int = 5,
                                   targetIds: [Int]? = nil, tokenizer: BertTokenizer) -> [FillMaskPrediction] {
        let probabilities = PipelineMath.softmax(maskLogits)
        let candidates = (targetIds ?? Array(probabilities.indices)).filter { probabilities.indices.contains($0) }
        let best = PipelineMath.topK(candidates.map { probabilities[$0] }, topK)
        let singleMask = maskPositions(in: encoding, tokenizer: tokenizer).count <= 1
        return best.map { pick in
            let token = candidates[pick]
            var ids = encoding.ids
            if ids.indices.contains(maskPosition) { ids[maskPosition] = token }
            ids.removeAll { $0 == tokenizer.padId }
            return FillMaskPrediction(score: probabilities[token], token: token,
                                      tokenStr: tokenizer.decode([token], skipSpecialTokens: false),
                                      sequence: tokenizer.decode(ids, skipSpecialTokens: singleMask))
        }
    }

    /// Proposals for every mask of the input, `[masks][topK]`.
    ///
    /// - Parameter maskLogits: `[masks][vocab]`, one row per entry of `maskPositions(in:tokenizer:)`.
    /// - Throws: `PipelineError.noMaskToken` when the input has no mask, `.shapeMismatch` when the
    ///   rows do not match the masks.
    public static func predictions(maskLogits: [[Float]], encoding: Encoding, topK: Int = 5, targetIds: [Int]? = nil,
                                   tokenizer: BertTokenizer) throws -> [[FillMaskPrediction]] {
        let positions = maskPositions(in: encoding, tokenizer: tokenizer)
        guard !positions.isEmpty else { throw PipelineError.noMaskToken }
        guard maskLogits.count == positions.count else {
            throw PipelineError.shapeMismatch(what: "\(positions.count) masks but \(maskLogits.count) logit rows")
        }
        return zip(maskLogits, positions).map { logits, position in
            predictions(maskLogits: logits, maskPosition: position, encoding: encoding, topK: topK,
                        targetIds: targetIds, tokenizer: tokenizer)
        }
    }
}
