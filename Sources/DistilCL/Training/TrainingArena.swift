/// What a training step keeps between its forward and backward passes, allocated once for a
/// batch shape (and again only when a larger batch arrives), all packed `[tokens, …]` for
/// `tokens` real tokens of `sequences` texts, `d` = hidden, `f` = ffn, `h` = heads:
///
///   inputs      ids, typeIds, positions [t] int32, offsets [s + 1], ranges [t, 2], labels [s]
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
}

/// Where a training forward keeps a LayerNorm's statistics (`buffer [rows, 2]`: mean,
/// 1/√(var + eps)), with the training backend that writes them.
struct NormStats {
    let backend: any TrainingBackend
    let buffer: any DeviceBuffer
}

/// A layer's training extras for `EncoderModel.forwardLayer`: where the statistics and
/// log-sum-exps go, and the dropout keys of its three sites.

struct SavedLayer {
    let backend: any TrainingBackend
    let lse: any DeviceBuffer
    let stats1: any DeviceBuffer
    let stats2: any DeviceBuffer
    let attentionDropout: DropoutKey?
    /// BERT drops the attention projection (0) and the FFN output (1); DistilBERT only the latter.
    let projectionDropout: DropoutKey?
    let ffnDropout: DropoutKey?

    func outputDropout(_ which: Int) -> DropoutKey? { which == 0 ? projectionDropout : ffnDropout }
}

/// The dropout sites of a model, numbered for `DropoutKey.site`: the embeddings 0, layer i's
/// attention probabilities, attention projection and FFN output 1 + 4i + {0, 1, 2}, the
/// classifier input 1 + 4L.
struct DropoutPlan {
    let rates: ModelConfig.DropoutRates
    let bertProjection: Bool
    let seed: UInt64
    let step: UInt32
    let layers: Int

    private func key(_ site: Int, _ p: Float) -> DropoutKey? {
        p > 0 ? DropoutKey(seed: seed, step: step, site: UInt32(site), probability: p) : nil
    }

    var embeddings: DropoutKey? { key(0, rates.hidden) }
    func attention(_ i: Int) -> DropoutKey? { key(1 + 4 * i, rates.attention) }
    func projection(_ i: Int) -> DropoutKey? { bertProjection ? key(2 + 4 * i, rates.hidden) : nil }
    func ffn(_ i: Int) -> DropoutKey? { key(3 + 4 * i, rates.hidden) }
    var classifier: DropoutKey? { key(1 + 4 * layers, rates.classifier) }
}
