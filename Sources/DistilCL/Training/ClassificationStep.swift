/// The forward and backward pass of sequence classification, written once against
/// `TrainingBackend`: the inference layer loop with every activation kept, then the same
/// loop in reverse, accumulating into the gradient table.
extension EncoderModel {
    /// Runs forward and backward over `batch`, adding the gradient of `loss` (over the
    /// classifier's logits) and of `hiddenTarget`'s term (over the last hidden state of every
    /// token, when given) into `grads`. Returns the batch's share of the step's loss (the
    /// losses' means run over the whole step's texts and tokens), the loss's per-text terms,
    /// and the logits when `withLogits` (else none: a training step brings down only the losses).
    func classificationStep(_ batch: TokenBatch, loss: some LogitsLoss, hiddenTarget: HiddenTarget? = nil,
                            arena: TrainingArena, grads: GradientTable, dropout: DropoutPlan,
                            withLogits: Bool = true) throws -> StepResult {
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        guard let classifier = heads.classifier else { throw ModelError.missingHead("sequence classification") }
        let classes = classifier.outFeatures
        try validate(batch)
        guard loss.rows == batch.batch else {
            throw ModelError.malformedBatch("a loss over \(loss.rows) texts for a batch of \(batch.batch)")
        }
        guard loss.terms <= arena.losses.count else {
            throw ModelError.malformedBatch("a loss of \(loss.terms) terms; the arena keeps \(arena.losses.count)")
        }
        let everyToken = hiddenTarget != nil
        let packed = try forwardForTraining(batch, arena: arena, dropout: dropout, backend: tb, everyToken: everyToken)
        let (s, t, d) = (batch.batch, batch.tokens, config.hidden)
        let a = arena

        // Head: [CLS] (hidden[L] holds those rows alone, unless every token went on) → pooler +
        // tanh (BERT) or pre_classifier + ReLU → dropout → classifier.
        let (pre, act) = try headLayer()
        var cls = a.hidden[layers.count]
        if everyToken {
            try tb.gatherRows(cls, index: a.offsets, rows: s, dim: d, out: a.clsHidden)
            cls = a.clsHidden
        }
        try tb.linear(cls, pre, rows: s, activation: .none, out: a.headPre)
        try tb.activation(a.headPre, count: s * d, act, out: a.headAct)
        let headDropout = a.textDropout(dropout.classifier)   // the [CLS] rows: each text's local row 0
        if let mask = headDropout { try tb.dropout(a.headAct, width: d, mask: mask, out: a.headAct) }
        try tb.linear(a.headAct, classifier, rows: s, activation: .none, out: a.logits)
        try loss.evaluate(logits: a.logits, classes: classes, backend: tb, scratch: a.labels, losses: a.losses,
                          dLogits: a.dLogits)

        try tb.linearBackward(dOut: a.dLogits, input: a.headAct, try grads.linear(classifier), rows: s,
                              activation: .none, preActivation: nil, dInput: a.dAct, accumulateInput: false)
        if let mask = headDropout { try tb.dropout(a.dAct, width: d, mask: mask, out: a.dAct) }
        try tb.linearBackward(dOut: a.dAct, input: cls, try grads.linear(pre), rows: s, activation: act,
                              preActivation: a.headPre, dInput: everyToken ? a.dClsIn : a.dHidden,
                              accumulateInput: false)
        var hiddenLoss = 0.0
        if let target = hiddenTarget {
            // ∂/∂hidden[L] of every token: the target's term, then the head's [CLS] rows on top.
            let tokensInStep = target.tokensInStep ?? t
            try tb.cosineDistance(a.hidden[layers.count], target: target.states, rows: t, dim: d, weight: target.weight,
                                  gradScale: 1 / Float(tokensInStep), losses: a.tokenLosses, dX: a.dHidden)
            try tb.scatterAddRows(a.dClsIn, index: batch.offsets.prefix(s).map { Int32($0) }, indexBuffer: a.clsIndex,
                                  dim: d, dSource: a.dHidden)
            hiddenLoss = try tb.download(a.tokenLosses, count: t).reduce(0.0) { $0 + Double($1) } / Double(tokensInStep)
        }
        try backwardEncoder(batch, packed: packed, arena: a, grads: grads, dropout: dropout, backend: tb,
                            everyToken: everyToken)

        let terms = try (0..<loss.terms).map { try tb.download(a.losses[$0], count: s) }
        let logits = withLogits ? rows(try tb.download(a.logits, count: s * classes), width: classes) : []
        return StepResult(loss: loss.batchLoss(terms) + hiddenLoss, hiddenLoss: hiddenLoss, terms: terms, logits: logits)
    }

    /// The classification head's first layer and its activation: BERT's pooler (tanh) or
    /// DistilBERT's pre_classifier (ReLU).
    func headLayer() throws -> (any DeviceLinear, Activation) {
        if config.modelType == .bert {
            guard let pooler = heads.pooler else { throw ModelError.missingHead("pooler") }
            return (pooler, .tanh)
        }
        guard let pre = heads.preClassifier else { throw ModelError.missingHead("pre_classifier") }
        return (pre, .relu)
    }

    /// Embeddings and every layer, keeping activations in `arena`; the last hidden state is
    /// `arena.hidden[layers]`.
    /// `everyToken`: the last layer runs over every token (a loss reads them all), not the
    /// [CLS] rows alone. Uploads the batch's dropout rows (`arena.dropoutRows`): the head and
    /// `backwardEncoder` draw the same masks from them.
    func forwardForTraining(_ batch: TokenBatch, arena a: TrainingArena, dropout: DropoutPlan,
                            backend tb: any TrainingBackend, everyToken: Bool = false) throws -> PackedSequences {
        let d = config.hidden
        let packed = try a.inputs.upload(batch, typeIds: embeddings.tokenType != nil, to: tb)
        try a.uploadDropoutRows(batch, plan: dropout, backend: tb)
        try embed(a.inputs, tokens: batch.tokens, sum: a.embeddingSum, out: a.hidden[0],
                  stats: NormStats(backend: tb, buffer: a.embeddingStats))
        if let mask = a.tokenDropout(dropout.embeddings) {
            try tb.dropout(a.hidden[0], width: d, mask: mask, out: a.hidden[0])
        }
        for (i, layer) in layers.enumerated() {
            let l = a.layers[i]
            // The last layer goes on from attention with the [CLS] rows alone, as inference's
            // classification does: nothing else reaches the loss.
            let last = i == layers.count - 1 && !everyToken
            let cls = last ? FirstTokenRows(index: a.offsets, rows: batch.batch, context: a.clsContext,
                                            residual: a.clsResidual, attentionOut: l.buffers.attentionOut) : nil
            let outputs = last ? a.textDropout : a.tokenDropout
            try forwardLayer(layer, l.buffers, tokens: batch.tokens, packed: packed, firstTokens: cls,
                             saved: SavedLayer(backend: tb, lse: l.lse, stats1: l.stats1, stats2: l.stats2,
                                               attentionDropout: a.tokenDropout(dropout.attention(i)),
                                               projectionDropout: outputs(dropout.projection(i)),
                                               ffnDropout: outputs(dropout.ffn(i))))
        }
        return packed
    }

    /// The encoder's backward from `arena.dHidden` (∂loss/∂ last hidden state, `[texts, d]`:
    /// the [CLS] rows the last layer produced; `[tokens, d]` when `everyToken`): each layer in
    /// reverse, then the embeddings' LayerNorm and tables.
    func backwardEncoder(_ batch: TokenBatch, packed: PackedSequences, arena a: TrainingArena, grads g: GradientTable,
                         dropout: DropoutPlan, backend tb: any TrainingBackend, everyToken: Bool = false) throws {
        let c = config, (t, d) = (batch.tokens, c.hidden)
        var (dOut, dIn) = (a.dHidden, a.dIn)
        try g.layerDone?(layers.count)
        if g.freezesEncoder { return }   // --freeze-encoder: the head's gradients are all there is
        for (i, layer) in layers.enumerated().reversed() {
            let l = a.layers[i], x = l.buffers
            // The last layer ran its projection, norms and FFN over the [CLS] rows alone.
            let last = i == layers.count - 1 && !everyToken
            let r = last ? batch.batch : t
            let (residual, context) = last ? (a.clsResidual, a.clsContext) : (x.input, x.context)
            let outputs = last ? a.textDropout : a.tokenDropout   // the rows this layer ran
            // out = LN2(ffnOut + middle)
            try tb.layerNormBackward(dOut: dOut, x: x.ffnOut, residual: x.middle, stats: l.stats2,
                                     gamma: layer.outputNorm.gamma, rows: r, cols: d, dInput: a.dMiddle,
                                     accumulateInput: false, gradGamma: g[layer.outputNorm.gamma],
                                     gradBeta: g[layer.outputNorm.beta])
            var dFfnOut = a.dMiddle
            if let mask = outputs(dropout.ffn(i)) {
                try tb.dropout(a.dMiddle, width: d, mask: mask, out: a.dTmp)
                dFfnOut = a.dTmp
            }
            try tb.linearBackward(dOut: dFfnOut, input: x.ffn, try g.linear(layer.ffnOut), rows: r, activation: .none,
                                  preActivation: nil, dInput: a.dFfn, accumulateInput: false)
            try tb.linearBackward(dOut: a.dFfn, input: x.middle, try g.linear(layer.ffnIn), rows: r,
                                  activation: Activation(c.activation), preActivation: x.ffnPre, dInput: a.dMiddle,
                                  accumulateInput: true)
            // middle = LN1(attentionOut + input)
            let dResidual = last ? a.dClsIn : dIn
            try tb.layerNormBackward(dOut: a.dMiddle, x: x.attentionOut, residual: residual, stats: l.stats1,
                                     gamma: layer.attentionNorm.gamma, rows: r, cols: d, dInput: dResidual,
                                     accumulateInput: false, gradGamma: g[layer.attentionNorm.gamma],
                                     gradBeta: g[layer.attentionNorm.beta])
            var dProjection = dResidual
            if let mask = outputs(dropout.projection(i)) {
                try tb.dropout(dResidual, width: d, mask: mask, out: a.dTmp)
                dProjection = a.dTmp
            }
            let dContext = last ? a.dClsContext : a.dContext
            try tb.linearBackward(dOut: dProjection, input: context, try g.linear(layer.attentionOutput), rows: r,
                                  activation: .none, preActivation: nil, dInput: dContext, accumulateInput: false)
            if last {   // back to every token: zero but for the [CLS] rows
                try tb.fill(a.dContext, value: 0, count: t * d)
                let first = batch.offsets.prefix(r).map { Int32($0) }   // each text's [CLS] row
                try tb.scatterAddRows(a.dClsContext, index: first, indexBuffer: a.clsIndex, dim: d, dSource: a.dContext)
                try tb.fill(dIn, value: 0, count: t * d)
                try tb.scatterAddRows(a.dClsIn, index: first, indexBuffer: a.clsIndex, dim: d, dSource: dIn)
            }
            try tb.attentionBackward(qkv: x.qkv, out: x.context, lse: l.lse, dOut: a.dContext, sequences: packed,
                                     heads: c.heads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot(),
                                     dropout: a.tokenDropout(dropout.attention(i)), dQKV: a.dQKV)
            try tb.linearBackward(dOut: a.dQKV, input: x.input, try g.linear(layer.qkv), rows: t, activation: .none,
                                  preActivation: nil, dInput: dIn, accumulateInput: true)
            swap(&dOut, &dIn)
            try g.layerDone?(i)
        }
        // hidden[0] = dropout(LN(word + position + type))
        var dNorm = dOut
        if let mask = a.tokenDropout(dropout.embeddings) {
            try tb.dropout(dOut, width: d, mask: mask, out: a.dTmp)
            dNorm = a.dTmp
        }
        try tb.layerNormBackward(dOut: dNorm, x: a.embeddingSum, residual: nil, stats: a.embeddingStats,
                                 gamma: embeddingNorm.gamma, rows: t, cols: d, dInput: dIn, accumulateInput: false,
                                 gradGamma: g[embeddingNorm.gamma], gradBeta: g[embeddingNorm.beta])
        try tb.embeddingBackward(dOut: dIn, segments: try EmbeddingSegments.upload(batch.ids, to: tb), dim: d,
                                 grad: g[embeddings.word])
        if !config.sinusoidalPositions {
            try tb.embeddingBackward(dOut: dIn, segments: try EmbeddingSegments.upload(batch.positions, to: tb), dim: d,
                                     grad: g[embeddings.position])
        }
        if let types = embeddings.tokenType {
            try tb.embeddingBackward(dOut: dIn, segments: try EmbeddingSegments.upload(batch.typeIds, to: tb), dim: d,
                                     grad: g[types])
        }
    }
}

/// What one `classificationStep` gives.
struct StepResult {
    /// The batch's share of the step's loss (the logits loss and the hidden-state term).
    var loss: Double
    /// The hidden-state term alone (0 without one).
    var hiddenLoss: Double
    /// The logits loss's per-text terms, `[terms][texts]`.
    var terms: [[Float]]
    /// `[texts][classes]`, or empty when not asked for.
    var logits: [[Float]]
}

/// A target for the last hidden state of every token: distillation's cosine term,
/// `weight·mean over the step's tokens of (1 − cos(h, states))`.
struct HiddenTarget {
    /// `[tokens, d]`, packed as the batch.
    let states: any DeviceBuffer
    let weight: Float
    /// The tokens of the whole optimiser step the mean runs over; nil: this batch's.
    var tokensInStep: Int? = nil
}

/// Errors of training that a caller can cause.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case backendCannotTrain(String)
    case notFloat32(String)
    case nonFiniteLoss(step: Int, loss: Float)
    case nonFiniteGradient(step: Int)
    case outputWrite(String)
    case headMismatch(String)
    case badOption(String)
    case output(String)
    case resume(String)

    public var description: String {
        switch self {
        case .backendCannotTrain(let name): return "\(name) cannot train"
        case .notFloat32(let p): return "training runs in fp32; --precision \(p) is for inference"
        case .nonFiniteLoss(let step, let loss):
            return "the loss became \(loss) at step \(step); stopped, the last checkpoint is untouched (try a lower --lr)"
        case .nonFiniteGradient(let step):
            return "the gradient norm stopped being finite at step \(step); stopped before the update, the last checkpoint is untouched (try a lower --lr)"
        case .outputWrite(let what): return what
        case .headMismatch(let what), .badOption(let what), .output(let what), .resume(let what): return what
        }
    }
}
