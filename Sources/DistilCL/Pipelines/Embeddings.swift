// Sentence-embedding helpers, as sentence-transformers computes them: pooling over the last
// hidden state, L2 normalisation (`torch.nn.functional.normalize`) and cosine similarity.

/// How token vectors become the output of the embedding pipeline.
public enum Pooling: String, CaseIterable, Sendable {
    /// Mean over the tokens the attention mask keeps (sentence-transformers' default).
    case mean
    /// The `[CLS]` token's vector.
    case cls
    /// No pooling: every real token's vector.
    case none
}

/// `v / max(‖v‖₂, 1e-12)`, as `torch.nn.functional.normalize(v, p=2, dim=-1)`.
public func l2Normalized(_ v: [Float]) -> [Float] {
    var squares: Double = 0
    for x in v { squares += Double(x) * Double(x) }
    let norm = Float(max(squares.squareRoot(), 1e-12))
    return v.map { $0 / norm }
}

/// Cosine similarity of `a` and `b` (the dot product of their L2-normalised forms, as
/// sentence-transformers' `cos_sim`); 0 when either is the zero vector. Extra values of the
/// longer vector are ignored.
public func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot: Double = 0, normA: Double = 0, normB: Double = 0
    for i in 0..<min(a.count, b.count) {
        dot += Double(a[i]) * Double(b[i])
        normA += Double(a[i]) * Double(a[i])
        normB += Double(b[i]) * Double(b[i])
    }
    let denominator = max(normA.squareRoot(), 1e-12) * max(normB.squareRoot(), 1e-12)
    return Float(dot / denominator)
}

extension Pooling {
    /// Pools one text's token vectors.
    ///
    /// - Parameters:
    ///   - tokens: the last hidden state of one text, `[seq][dim]`.
    ///   - attentionMask: `[seq]`, 1 for real tokens, 0 for padding; `nil` means all real.
    /// - Returns: `[1][dim]` for `mean` (sum of masked vectors / max(count, 1e-9)) and `cls`
    ///   (row 0), `[real tokens][dim]` for `none` (sentence-transformers' `token_embeddings`:
    ///   trailing padding dropped). Empty when `tokens` is.
    public func pool(_ tokens: [[Float]], attentionMask: [Int]? = nil) -> [[Float]] {
        guard let firstRow = tokens.first else { return [] }
        let mask = (0..<tokens.count).map { i in attentionMask.map { i < $0.count ? $0[i] : 0 } ?? 1 }
        switch self {
        case .cls:
            return [firstRow]
        case .mean:
            var sums = [Double](repeating: 0, count: firstRow.count)
            var count: Double = 0
            for (row, weight) in zip(tokens, mask) where weight != 0 {
                for j in sums.indices where j < row.count { sums[j] += Double(row[j]) * Double(weight) }
                count += Double(weight)
            }
            let divisor = max(count, 1e-9)
            return [sums.map { Float($0 / divisor) }]
        case .none:
            var last = tokens.count - 1
            while last > 0 && mask[last] == 0 { last -= 1 }
            return Array(tokens[0...last])
        }
    }
}
