import Foundation

/// A DistilBERT or BERT encoder with its heads, resident on one backend.
///
/// The forward pass is written once against `ComputeBackend`: weights were transformed
/// (Q, K, V fused) and uploaded at load; per batch only ids and masks go up, and only what a
/// head returns comes down.
///
/// Sendable: the public entry points run one at a time under `lock` (they share the
/// workspace), so concurrent callers wait rather than race.
public final class EncoderModel: @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any ComputeBackend
    public let directory: URL?

    let embeddings: (word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?)
    let embeddingNorm: DeviceNorm
    let layers: [DeviceLayer]
    let heads: DeviceHeads
    var workspace: Workspace?
    /// How many times a workspace has been allocated (tests).
    private(set) var workspaceAllocations = 0
    let lock = NSLock()
    /// When set, `encode` records upload and compute time into it (and synchronises the
    /// device after the last layer to separate the two from the head and download).
    public var timer: StageTimer?

    /// Whether the linear layers keep the plain weights training updates.
    public let trainable: Bool

    /// Uploads `checkpoint` to `backend`; `trainable` keeps what training needs beside the
    /// inference layout (twice the linear layers' memory).
    public init(checkpoint: Checkpoint, backend: any ComputeBackend, trainable: Bool = false) throws {
        self.trainable = trainable
        config = checkpoint.config
        self.backend = backend
        directory = checkpoint.directory
        let e = checkpoint.encoder
        embeddings = (try backend.buffer(e.wordEmbeddings.values), try backend.buffer(e.positionEmbeddings.values),
                      try e.tokenTypeEmbeddings.map { try backend.buffer($0.values) })
        embeddingNorm = try DeviceNorm(e.embeddingNorm, on: backend)
        layers = try e.layers.map { try DeviceLayer($0, on: backend, trainable: trainable) }
        heads = try DeviceHeads(checkpoint.heads, on: backend, trainable: trainable, wordEmbeddings: embeddings.word)
    }

    /// Loads the checkpoint folder (`config.json`, `model.safetensors`) onto `backend`.
    public convenience init(directory: URL, backend: any ComputeBackend, trainable: Bool = false) throws {
        try self.init(checkpoint: try Checkpoint(directory: directory), backend: backend, trainable: trainable)
    }

    // MARK: - Forward

    /// Runs embeddings and every layer over the packed tokens of `batch`.
    /// - Parameters:
    ///   - rows: `.firstToken` when the caller reads only each text's `[CLS]` vector: the last
    ///     layer then runs its attention output and feed-forward over those rows alone (its
    ///     keys and values still come from every token), which is exact and skips about 12%
    ///     of a 6-layer model's GEMM work.
    ///   - capture: when given, called with the embeddings' output and then each layer's
    ///     output, packed `[tokens, dim]` (the last one `[sequences, dim]` with `.firstToken`;
    ///     downloads: for tests and `distilcl parity`).
    /// - Returns: the workspace, whose `hidden` holds the last hidden state: `[tokens, dim]`,
    ///   or `[sequences, dim]` (each text's first token, in order) with `.firstToken`.
    @discardableResult
    func encode(_ batch: TokenBatch, rows: EncodedRows = .everyToken,
                capture: ((Int, [Float]) throws -> Void)? = nil) throws -> Workspace {
        try validate(batch)
        let b = backend, c = config
        let (t, d) = (batch.tokens, c.hidden)
        let ws = try workspace(tokens: t, sequences: batch.batch)

        timer?.start()
        let packed = try ws.inputs.upload(batch, typeIds: embeddings.tokenType != nil, to: b)
        ws.packed = packed
        timer?.mark("upload")

        try embed(ws.inputs, tokens: t, sum: ws.hidden, out: ws.hidden, stats: nil)
        try capture?(0, try b.download(ws.hidden, count: t * d))

        let shared = LayerBuffers(workspace: ws)
        for (i, layer) in layers.enumerated() {
            var cls: FirstTokenRows?
            if rows == .firstToken, i == layers.count - 1 {
                // Only the [CLS] rows go on: ws.offsets' first entries are their indices.
                cls = FirstTokenRows(index: ws.offsets, rows: batch.batch, context: ws.scratch, residual: ws.qkv,
                                     attentionOut: ws.context)
            }
            try forwardLayer(layer, shared, tokens: t, packed: packed, firstTokens: cls)
            try capture?(i + 1, try b.download(ws.hidden, count: (cls?.rows ?? t) * d))
        }
        if let timer {
            try b.synchronize()
            timer.mark("compute")
        }
        return ws
    }

    /// The embeddings of the uploaded batch: `sum [tokens, d]` = word + position (+ token
    /// type), then `out` = its LayerNorm (in place in inference; training keeps the sum and the
    /// statistics `[tokens, 2]` for the backward).
    func embed(_ inputs: BatchInputs, tokens t: Int, sum: any DeviceBuffer, out: any DeviceBuffer,
               stats: NormStats?) throws {
        try backend.embed(ids: inputs.ids, positions: inputs.positions,
                          typeIds: embeddings.tokenType == nil ? nil : inputs.typeIds, word: embeddings.word,
                          position: embeddings.position, tokenType: embeddings.tokenType, tokens: t, dim: config.hidden,
                          out: sum)
        try norm(sum, residual: nil, embeddingNorm, rows: t, out: out, stats: stats)
    }

    /// One transformer block (post-norm, as BERT and DistilBERT) over `tokens` packed rows of
    /// `a.input`, into `a.output`; inference runs every layer in the same buffers, training
    /// (`saved`) gives each layer its own and keeps what the backward reads.
    /// - Parameter firstTokens: inference only: after attention, carry on with the given rows alone.
    func forwardLayer(_ layer: DeviceLayer, _ a: LayerBuffers, tokens t: Int, packed: PackedSequences,
                      firstTokens cls: FirstTokenRows? = nil, saved: SavedLayer? = nil) throws {
        let b = backend, c = config, d = c.hidden
        // Self-attention: one GEMM for Q, K, V, one call for every head of every text.
        try b.linear(a.input, layer.qkv, rows: t, activation: .none, out: a.qkv)
        let scale = 1 / Float(c.headDim).squareRoot()
        if let saved {
            try saved.backend.attention(qkv: a.qkv, sequences: packed, heads: c.heads, headDim: c.headDim, scale: scale,
                                        out: a.context, lse: saved.lse, dropout: saved.attentionDropout)
        } else {
            try b.attention(qkv: a.qkv, sequences: packed, heads: c.heads, headDim: c.headDim, scale: scale,
                            out: a.context)
        }
        var (context, residual, attentionOut, r) = (a.context, a.input, a.attentionOut, t)
        if let cls {
            r = cls.rows
            try b.gatherRows(a.context, index: cls.index, rows: r, dim: d, out: cls.context)
            try b.gatherRows(a.input, index: cls.index, rows: r, dim: d, out: cls.residual)
            (context, residual, attentionOut) = (cls.context, cls.residual, cls.attentionOut)
        }
        try b.linear(context, layer.attentionOutput, rows: r, activation: .none, out: attentionOut)
        if let saved, let mask = saved.outputDropout(0) {
            try saved.backend.dropout(attentionOut, width: d, mask: try Self.rows(mask, r), out: attentionOut)
        }
        try norm(attentionOut, residual: residual, layer.attentionNorm, rows: r, out: a.middle,
                 stats: saved.map { NormStats(backend: $0.backend, buffer: $0.stats1) })
        // Feed-forward, activation fused into the first GEMM (training keeps its input apart).
        if let pre = a.ffnPre {
            try b.linear(a.middle, layer.ffnIn, rows: r, activation: .none, out: pre)
            try b.activation(pre, count: r * c.ffn, Activation(c.activation), out: a.ffn)
        } else {
            try b.linear(a.middle, layer.ffnIn, rows: r, activation: Activation(c.activation), out: a.ffn)
        }
        try b.linear(a.ffn, layer.ffnOut, rows: r, activation: .none, out: a.ffnOut)
        if let saved, let mask = saved.outputDropout(1) {
            try saved.backend.dropout(a.ffnOut, width: d, mask: try Self.rows(mask, r), out: a.ffnOut)
        }
        try norm(a.ffnOut, residual: a.middle, layer.outputNorm, rows: r, out: a.output,
                 stats: saved.map { NormStats(backend: $0.backend, buffer: $0.stats2) })
    }

    /// `mask`, checked to cover the `rows` rows a layer runs (every token, or the [CLS] rows).
    private static func rows(_ mask: DropoutMask, _ rows: Int) throws -> DropoutMask {
        guard mask.rows.count == rows else {
            throw ModelError.malformedBatch("a dropout mask over \(mask.rows.count) rows for a layer over \(rows)")
        }
        return mask
    }

    /// `layerNorm`, keeping its statistics when `stats` is given (training, which passes the
    /// training backend along with the buffer: no downcast here).
    func norm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, _ n: DeviceNorm, rows: Int, out: any DeviceBuffer,
              stats: NormStats?) throws {
        if let stats {
            try stats.backend.layerNorm(x, residual: residual, gamma: n.gamma, beta: n.beta, rows: rows,
                                        cols: config.hidden, eps: config.layerNormEps, out: out, stats: stats.buffer)
        } else {
            try backend.layerNorm(x, residual: residual, gamma: n.gamma, beta: n.beta, rows: rows, cols: config.hidden,
                                  eps: config.layerNormEps, out: out)
        }
    }

    /// The workspace grows geometrically (at least doubling) up to these sizes ahead of need;
    /// a larger batch still gets an exact fit, and the workspace never shrinks. So batches of
    /// ascending length (as the CLI sorts them) reallocate O(log n) times, not per batch, and a
    /// long-running process holds at most the cap or its largest batch.
    static let workspaceTokenCap = 32_768, workspaceSequenceCap = 1_024

    private func workspace(tokens: Int, sequences: Int) throws -> Workspace {
        if let ws = workspace, ws.fits(tokens: tokens, sequences: sequences) { return ws }
        let old = workspace
        workspace = nil   // free the old buffers before allocating larger ones
        // Only the size that missed grows; the other stays as it was (or fits exactly).
        let (oldT, oldS) = (old?.tokens ?? 0, old?.sequences ?? 0)
        let t = tokens <= oldT ? oldT : max(tokens, 1, min(Self.workspaceTokenCap, 2 * oldT))
        let s = sequences <= oldS ? oldS : max(sequences, 1, min(Self.workspaceSequenceCap, 2 * oldS))
        let ws: Workspace
        do {
            ws = try Workspace(backend: backend, config: config, tokens: t, sequences: s)
        } catch where t > tokens || s > sequences {
            // Near the device's memory limit the head room may not fit where the batch does.
            ws = try Workspace(backend: backend, config: config, tokens: max(tokens, 1), sequences: max(sequences, 1))
        }
        workspace = ws
        workspaceAllocations += 1
        return ws
    }

    func validate(_ batch: TokenBatch) throws {
        guard batch.batch > 0, batch.tokens > 0 else { throw ModelError.emptyBatch }
        if let empty = batch.lengths.firstIndex(of: 0) { throw ModelError.emptyText(empty) }
        guard batch.ids.count == batch.tokens, batch.typeIds.count == batch.tokens,
              batch.positions.count == batch.tokens else {
            throw ModelError.malformedBatch("ids, type ids and positions must each hold \(batch.tokens) values")
        }
        guard batch.seq <= config.maxPositions else {
            throw ModelError.sequenceTooLong(batch.seq, config.maxPositions)
        }
        if let bad = batch.ids.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw ModelError.tokenIdOutOfRange(Int(bad), config.vocabSize)
        }
        // DistilBERT has no token types and ignores them, as transformers does.
        if embeddings.tokenType != nil, let bad = batch.typeIds.first(where: { $0 < 0 || Int($0) >= config.typeVocabSize }) {
            throw ModelError.tokenTypeOutOfRange(Int(bad), config.typeVocabSize)
        }
    }
}

/// Which rows of the last hidden state `EncoderModel.encode` must produce.
enum EncodedRows {
    /// Every real token: `[tokens, dim]`.
    case everyToken
    /// Each text's first token (`[CLS]`) only: `[sequences, dim]`.
    case firstToken
}

/// Errors from running a model on inputs.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case emptyBatch
    case sequenceTooLong(Int, Int)
    case tokenIdOutOfRange(Int, Int)
    case tokenTypeOutOfRange(Int, Int)
    case missingHead(String)
    case emptyText(Int)
    case malformedBatch(String)
    case positionOutOfRange(row: Int, position: Int)

    public var description: String {
        switch self {
        case .emptyBatch: return "empty batch"
        case .sequenceTooLong(let n, let max):
            return "sequence of \(n) tokens is longer than the model's \(max) positions (use --max-length)"
        case .tokenIdOutOfRange(let id, let vocab): return "token id \(id) outside the vocabulary of \(vocab)"
        case .tokenTypeOutOfRange(let t, let n): return "token type \(t) outside the model's \(n) types"
        case .missingHead(let what): return "the checkpoint has no \(what) head"
        case .emptyText(let row): return "text \(row) of the batch has no tokens"
        case .malformedBatch(let what): return "malformed batch: \(what)"
        case .positionOutOfRange(let row, let position): return "no token \(position) in text \(row) of the batch"
        }
    }
}
