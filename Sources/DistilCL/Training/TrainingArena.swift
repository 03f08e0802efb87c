/// What a training step keeps between its forward and backward passes, allocated once for a
/// batch shape (and again only when a larger batch arrives), all packed `[tokens, …]` for
/// `tokens` real tokens of `sequences` texts, `d` = hidden, `f` = ffn, `h` = heads:
///
///   inputs      ids, typeIds, positions [t] int32, offsets [s + 1], ranges [t, 2], labels [s]
///   dropout     tokenRows [t, 3], textRows [s, 3] int32: each row's (example lo, hi, local row)
///   embeddings  sum [t, d] (before the LayerNorm), stats [t, 2]
///   hidden      L + 1 buffers [t, d]: the embeddings' output, then each layer's
///   per layer   qkv [t, 3d], context [t, d], lse [t, h], attentionOut, middle [t, d],
///               ffnPre, ffn [t, f], ffnOut [t, d], stats1, stats2 [t, 2]
///   last layer  clsContext, clsResidual [s, d]: after attention it runs over the [CLS] rows
///               alone (the loss reads nothing else), so its hidden[L] is [s, d]; unless a
///               loss reads every token (distillation's cosine term): then hidden[L] is
///               [t, d], clsHidden [s, d] its [CLS] rows, tokenLosses [t]
///   head        pre, act [s, d], logits, dLogits [s, labels], losses: lossTerms × [s]
///   gradients   dHidden, dMiddle, dTmp, dIn, dContext [t, d], dFfn [t, f], dQKV [t, 3d],
///               dAct, dClsIn, dClsContext [s, d]
final class TrainingArena {
    let tokens: Int
    let sequences: Int
    let inputs: BatchInputs
    /// `[s]` int32: a loss's labels, and the [CLS] rows the backward scatters into.
    let labels, clsIndex: any DeviceBuffer
    var offsets: any DeviceBuffer { inputs.offsets }
    /// Where `uploadDropoutRows` puts the batch's `DropoutRows`: `[t, 3]` and `[s, 3]` int32.
    let tokenRowBuffer, textRowBuffer: any DeviceBuffer
    /// The current batch's dropout rows, every token's and the [CLS] rows' (nil until a
    /// forward with dropout uploads them).
    private(set) var dropoutRows: (tokens: DropoutRows, texts: DropoutRows)?
    let embeddingSum, embeddingStats: any DeviceBuffer
    let hidden: [any DeviceBuffer]
    let layers: [(buffers: LayerBuffers, lse: any DeviceBuffer, stats1: any DeviceBuffer, stats2: any DeviceBuffer)]
    /// The most per-text loss terms a `LogitsLoss` may write.
    static let lossTerms = 2
    let clsContext, clsResidual, clsHidden, tokenLosses, headPre, headAct, logits, dLogits: any DeviceBuffer
    let losses: [any DeviceBuffer]
    let dHidden, dMiddle, dTmp, dIn, dContext, dFfn, dQKV, dAct, dClsIn, dClsContext: any DeviceBuffer

    init(backend b: any ComputeBackend, config c: ModelConfig, labels classes: Int, tokens t: Int, sequences s: Int) throws {
        tokens = t
        sequences = s
        let (d, f) = (c.hidden, c.ffn)
        func floats(_ n: Int) throws -> any DeviceBuffer { try b.makeBuffer(count: n) }
        func ints(_ n: Int) throws -> any DeviceBuffer { try b.makeBuffer(count: n, type: .int32) }
        inputs = try BatchInputs(backend: b, tokens: t, sequences: s)
        (labels, clsIndex) = (try ints(s), try ints(s))
        (tokenRowBuffer, textRowBuffer) = (try ints(3 * t), try ints(3 * s))
        (embeddingSum, embeddingStats) = (try floats(t * d), try floats(2 * t))
        let hidden = try (0...c.layers).map { _ in try floats(t * d) }
        self.hidden = hidden
        layers = try (0..<c.layers).map { i in
            let buffers = LayerBuffers(input: hidden[i], qkv: try floats(t * 3 * d), context: try floats(t * d),
                                       attentionOut: try floats(t * d), middle: try floats(t * d),
                                       ffnPre: try floats(t * f), ffn: try floats(t * f), ffnOut: try floats(t * d),
                                       output: hidden[i + 1])
            return (buffers, try floats(t * c.heads), try floats(2 * t), try floats(2 * t))
        }
        (clsContext, clsResidual, clsHidden) = (try floats(s * d), try floats(s * d), try floats(s * d))
        tokenLosses = try floats(t)
        (headPre, headAct) = (try floats(s * d), try floats(s * d))
        (logits, dLogits) = (try floats(s * classes), try floats(s * classes))
        losses = try (0..<Self.lossTerms).map { _ in try floats(s) }
        (dHidden, dMiddle, dTmp, dIn, dContext) = (try floats(t * d), try floats(t * d), try floats(t * d),
                                                   try floats(t * d), try floats(t * d))
        (dFfn, dQKV, dAct) = (try floats(t * f), try floats(t * 3 * d), try floats(s * d))
        (dClsIn, dClsContext) = (try floats(s * d), try floats(s * d))
    }

    func fits(tokens t: Int, sequences s: Int) -> Bool { t <= tokens && s <= sequences }

    /// Uploads the dropout rows of `batch` whose texts are `plan.examples`, when the plan
    /// drops anything (else forgets the last batch's).
    func uploadDropoutRows(_ batch: TokenBatch, plan: DropoutPlan, backend b: any ComputeBackend) throws {
        dropoutRows = nil
        guard plan.drops else { return }
        guard plan.examples.count == batch.batch else {
            throw ModelError.malformedBatch("dropout keyed by \(plan.examples.count) examples for a batch of \(batch.batch) texts")
        }
        let tokenHost = DropoutRows.layout(examples: plan.examples, offsets: batch.offsets, everyToken: true)
        let textHost = DropoutRows.layout(examples: plan.examples, offsets: batch.offsets, everyToken: false)
        try b.upload(tokenHost, to: tokenRowBuffer)
        try b.upload(textHost, to: textRowBuffer)
        dropoutRows = (DropoutRows(host: tokenHost, buffer: tokenRowBuffer), DropoutRows(host: textHost, buffer: textRowBuffer))
    }

    /// `key`'s mask over every token of the batch (`[t, …]` rows); nil without a key.
    func tokenDropout(_ key: DropoutKey?) -> DropoutMask? {
        guard let key else { return nil }
        guard let rows = dropoutRows?.tokens else { preconditionFailure("dropout before uploadDropoutRows") }
        return DropoutMask(key: key, rows: rows)
    }

    /// `key`'s mask over the batch's [CLS] rows alone (`[s, …]`, local row 0); nil without a key.
    func textDropout(_ key: DropoutKey?) -> DropoutMask? {
        guard let key else { return nil }
        guard let rows = dropoutRows?.texts else { preconditionFailure("dropout before uploadDropoutRows") }
        return DropoutMask(key: key, rows: rows)
    }
}

/// Where a training forward keeps a LayerNorm's statistics (`buffer [rows, 2]`: mean,
/// 1/√(var + eps)), with the training backend that writes them.
struct NormStats {
    let backend: any TrainingBackend
    let buffer: any DeviceBuffer
}

/// A layer's training extras for `EncoderModel.forwardLayer`: where the statistics and
/// log-sum-exps go, and the dropout masks of its three sites (attention's over every token;
/// the outputs' over the rows the layer runs: every token, or the [CLS] rows of the last layer).
struct SavedLayer {
    let backend: any TrainingBackend
    let lse: any DeviceBuffer
    let stats1: any DeviceBuffer
    let stats2: any DeviceBuffer
    let attentionDropout: DropoutMask?
    /// BERT drops the attention projection (0) and the FFN output (1); DistilBERT only the latter.
    let projectionDropout: DropoutMask?
    let ffnDropout: DropoutMask?

    func outputDropout(_ which: Int) -> DropoutMask? { which == 0 ? projectionDropout : ffnDropout }
}

/// The dropout of one micro-batch: the sites of a model, numbered for `DropoutKey.site` (the
/// embeddings 0, layer i's attention probabilities, attention projection and FFN output
/// 1 + 4i + {0, 1, 2}, the classifier input 1 + 4L), and the example each text is.
///
/// A mask depends on the run's seed, the site, the example and the element's place within
/// that example, never on the step or on the texts packed beside it: so gradient
/// accumulation's micro-batches (4 × 8) draw exactly what one batch of 32 draws.
struct DropoutPlan {
    let rates: ModelConfig.DropoutRates
    let bertProjection: Bool
    let seed: UInt64
    /// `[texts]`: each text's example identity. The trainer uses its global draw number,
    /// (epoch − 1)·n + its position in the epoch's order (n training texts): the same for a
    /// text at the same point of training whatever the batch and accumulation, and new each
    /// epoch, as a fresh mask per step was before.
    let examples: [UInt64]
    let layers: Int

    /// Whether any site drops anything (DistilBERT's `qa_dropout` included).
    var drops: Bool { rates.hidden > 0 || rates.attention > 0 || rates.classifier > 0 || rates.questionAnswering > 0 }

    private func key(_ site: Int, _ p: Float) -> DropoutKey? {
        p > 0 ? DropoutKey(seed: seed, site: UInt32(site), probability: p) : nil
    }

    var embeddings: DropoutKey? { key(0, rates.hidden) }
    func attention(_ i: Int) -> DropoutKey? { key(1 + 4 * i, rates.attention) }
    func projection(_ i: Int) -> DropoutKey? { bertProjection ? key(2 + 4 * i, rates.hidden) : nil }
    func ffn(_ i: Int) -> DropoutKey? { key(3 + 4 * i, rates.hidden) }
    var classifier: DropoutKey? { key(1 + 4 * layers, rates.classifier) }
}
