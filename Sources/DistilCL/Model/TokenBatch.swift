/// A batch of tokenized texts packed back to back without padding: text `b` occupies rows
/// `offsets[b] ..< offsets[b + 1]`. No work is spent on padding anywhere in the encoder.
public struct TokenBatch: Sendable {
    public let batch: Int
    /// The longest text, in tokens.
    public let seq: Int
    /// Tokens per text.
    public let lengths: [Int]
    /// `[batch + 1]`, starting at 0.
    public let offsets: [Int]
    /// Token ids, packed. `[tokens]`
    public var ids: [Int32]
    /// Token type ids, packed. `[tokens]`
    public var typeIds: [Int32]
    /// Position of each token within its text. `[tokens]`
    public var positions: [Int32]

    /// Packs `encodings`.
    public init(_ encodings: [Encoding]) {
        self.init(rows: encodings.map { ($0.ids, $0.typeIds) })
    }

    /// A batch from padded rows: `ids[b]` and `attentionMask[b]` (1 real, 0 pad, real tokens
    /// first) of one length, `typeIds[b]` optional; only the real tokens are kept.
    /// A mask row that is missing or longer than its ids counts every id as real; missing type
    /// ids are 0 (the model rejects a batch whose arrays disagree in length).
    public init(paddedIds: [[Int]], attentionMask: [[Int]], typeIds: [[Int]]? = nil) {
        self.init(rows: paddedIds.indices.map { b in
            let row = paddedIds[b]
            let n = b < attentionMask.count ? min(attentionMask[b].reduce(0, +), row.count) : row.count
            let types = typeIds.flatMap { b < $0.count ? $0[b] : nil } ?? [Int](repeating: 0, count: n)
            return (Array(row.prefix(n)), Array(types.prefix(n)))
        })
    }

    private init(rows: [(ids: [Int], types: [Int])]) {
        batch = rows.count
        lengths = rows.map(\.ids.count)
        seq = lengths.max() ?? 0
        var offsets = [0]
        for n in lengths { offsets.append(offsets[offsets.count - 1] + n) }
        self.offsets = offsets
        // Clamped, not trapping: the model rejects ids outside its vocabulary.
        ids = rows.flatMap { $0.ids.map { Int32(clamping: $0) } }
        typeIds = rows.flatMap { $0.types.map { Int32(clamping: $0) } }
        positions = rows.flatMap { r in (0..<r.ids.count).map(Int32.init) }
    }

    /// Real tokens in the batch.
    public var tokens: Int { offsets[batch] }

    /// Splits packed rows `[tokens][…]` into one array per text.
    public func split<T>(_ rows: [T]) -> [[T]] {
        (0..<batch).map { Array(rows[offsets[$0]..<offsets[$0 + 1]]) }
    }
}

/// Groups item indices into batches of at most `batchSize`, shortest first (a stable sort by
/// `lengths`), so that each batch pads little.
public func lengthSortedBatches(_ lengths: [Int], batchSize: Int) -> [[Int]] {
    let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] < lengths[$1] : $0 < $1 }
    let size = max(batchSize, 1)
    return stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min($0 + size, order.count)]) }
}
