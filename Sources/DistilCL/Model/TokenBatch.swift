/// A padded batch of tokenized texts, laid out `[batch, seq]` row-major, ready for upload.
public struct TokenBatch: Sendable {
    public let batch: Int
    public let seq: Int
    /// Token ids, pad id past each text's length. `[batch·seq]`
    public var ids: [Int32]
    /// Token type ids (0 for padding). `[batch·seq]`
    public var typeIds: [Int32]
    /// Position ids `0..<seq` in every row, as transformers makes them. `[batch·seq]`
    public var positions: [Int32]
    /// Real tokens per row.
    public var lengths: [Int]

    /// Pads `encodings` to the longest of them (or `padTo`, if larger).
    public init(_ encodings: [Encoding], padId: Int, padTo: Int? = nil) {
        batch = encodings.count
        seq = max(encodings.map(\.count).max() ?? 0, padTo ?? 0, 1)
        ids = [Int32](repeating: Int32(padId), count: batch * seq)
        typeIds = [Int32](repeating: 0, count: batch * seq)
        let s = seq
        positions = (0..<batch * s).map { Int32($0 % s) }
        lengths = encodings.map(\.count)
        for (b, e) in encodings.enumerated() {
            for t in 0..<e.count {
                ids[b * seq + t] = Int32(e.ids[t])
                typeIds[b * seq + t] = Int32(e.typeIds[t])
            }
        }
    }

    /// A batch from already padded rows: `ids[b]` and `attentionMask[b]` (1 real, 0 pad, real
    /// tokens first) of one common length, `typeIds[b]` optional.
    public init(paddedIds: [[Int]], attentionMask: [[Int]], typeIds: [[Int]]? = nil) {
        batch = paddedIds.count
        seq = max(paddedIds.first?.count ?? 1, 1)
        ids = paddedIds.flatMap { $0.map(Int32.init) }
        self.typeIds = typeIds.map { $0.flatMap { $0.map(Int32.init) } } ?? [Int32](repeating: 0, count: paddedIds.count * seq)
        let s = seq
        positions = (0..<batch * s).map { Int32($0 % s) }
        lengths = attentionMask.map { $0.reduce(0, +) }
    }

    public var tokens: Int { batch * seq }

    /// 1 for a real token, 0 for padding. `[batch·seq]`
    public var attentionMask: [Float] {
        (0..<tokens).map { $0 % seq < lengths[$0 / seq] ? 1 : 0 }
    }

    /// The attention mask in additive form for the softmax: 0 keeps, -FLT_MAX drops, as
    /// transformers' `masked_fill(finfo.min)`. `[batch·seq]`
    public var additiveMask: [Float] {
        attentionMask.map { $0 > 0 ? 0 : -Float.greatestFiniteMagnitude }
    }
}
