/// The forward and backward pass of sequence classification, written once against
/// `TrainingBackend`: the inference layer loop with every activation kept, then the same
/// loop in reverse, accumulating into the gradient table.
extension EncoderModel {
    /// Runs forward and backward over `batch` with `labels` (`[batch]` class ids), adding the
    /// gradient of the mean cross-entropy into `grads`, and returns each text's loss and logits.
    func classificationStep(_ batch: TokenBatch, labels: [Int32], arena: TrainingArena, grads: GradientTable,
                            dropout: DropoutPlan) throws -> (losses: [Float], logits: [[Float]]) {
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        guard let classifier = heads.classifier else { throw ModelError.missingHead("sequence classification") }
        let classes = classifier.outFeatures
        try validate(batch)
        guard labels.count == batch.batch else {
            throw ModelError.malformedBatch("\(labels.count) labels for \(batch.batch) texts")
        }
        let packed = try forwardForTraining(batch, arena: arena, dropout: dropout, backend: tb)
        let (t, s, d) = (batch.tokens, batch.batch, config.hidden)
        let a = arena

        // Head: [CLS] → pooler + tanh (BERT) or pre_classifier + ReLU → dropout → classifier.
        let (pre, act) = try headLayer()
        try tb.gatherRows(a.hidden[layers.count], index: a.offsets, rows: s, dim: d, out: a.cls)
        try tb.linear(a.cls, pre, rows: s, activation: .none, out: a.headPre)
        try tb.activation(a.headPre, count: s * d, act, out: a.headAct)
        if let key = dropout.classifier { try tb.dropout(a.headAct, count: s * d, key: key, out: a.headAct) }
        try tb.linear(a.headAct, classifier, rows: s, activation: .none, out: a.logits)
        try tb.upload(labels, to: a.labels)
        try tb.softmaxCrossEntropy(logits: a.logits, labels: a.labels, rows: s, classes: classes,
                                   gradScale: 1 / Float(s), losses: a.losses, dLogits: a.dLogits)

        try tb.linearBackward(dOut: a.dLogits, input: a.headAct, classifier, rows: s, activation: .none,
                              preActivation: nil, dInput: a.dAct, accumulateInput: false,
                              gradWeight: grads[classifier.weight!], gradBias: grads.optional(classifier.bias))
        if let key = dropout.classifier { try tb.dropout(a.dAct, count: s * d, key: key, out: a.dAct) }
        try tb.linearBackward(dOut: a.dAct, input: a.cls, pre, rows: s, activation: act, preActivation: a.headPre,
                              dInput: a.dCls, accumulateInput: false, gradWeight: grads[pre.weight!],
                              gradBias: grads.optional(pre.bias))
        try tb.fill(a.dHidden, value: 0, count: t * d)
        try tb.scatterAddRows(a.dCls, index: a.offsets, rows: s, dim: d, dSource: a.dHidden)
        try backwardEncoder(batch, packed: packed, arena: a, grads: grads, dropout: dropout, backend: tb)

        let losses = try tb.download(a.losses, count: s)
        let logits = rows(try tb.download(a.logits, count: s * classes), width: classes)
        return (losses, logits)
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
    func forwardForTraining(_ batch: TokenBatch, arena a: TrainingArena, dropout: DropoutPlan,
                            backend tb: any TrainingBackend) throws -> PackedSequences {
        let (t, d) = (batch.tokens, config.hidden)
        try tb.upload(batch.ids, to: a.ids)
        try tb.upload(batch.positions, to: a.positions)
        if embeddings.tokenType != nil { try tb.upload(batch.typeIds, to: a.typeIds) }
        try tb.upload(batch.offsets.map { Int32($0) }, to: a.offsets)
        try tb.upload(PackedSequences.ranges(for: batch.offsets), to: a.ranges)
        let packed = PackedSequences(offsets: batch.offsets, deviceOffsets: a.offsets, ranges: a.ranges)

        try tb.embed(ids: a.ids, positions: a.positions, typeIds: embeddings.tokenType == nil ? nil : a.typeIds,
                     word: embeddings.word, position: embeddings.position, tokenType: embeddings.tokenType,
                     tokens: t, dim: d, out: a.embeddingSum)
        try norm(a.embeddingSum, residual: nil, embeddingNorm, rows: t, out: a.hidden[0], stats: a.embeddingStats)
        if let key = dropout.embeddings { try tb.dropout(a.hidden[0], count: t * d, key: key, out: a.hidden[0]) }
        for (i, layer) in layers.enumerated() {
            let l = a.layers[i]
            try forwardLayer(layer, l.buffers, tokens: t, packed: packed,
                             saved: SavedLayer(backend: tb, lse: l.lse, stats1: l.stats1, stats2: l.stats2,
                                               attentionDropout: dropout.attention(i),
                                               projectionDropout: dropout.projection(i), ffnDropout: dropout.ffn(i)))
        }
        return packed
    }

    /// The encoder's backward from `arena.dHidden` (∂loss/∂ last hidden state, `[tokens, d]`):
    /// each layer in reverse, then the embeddings' LayerNorm and tables.
    func backwardEncoder(_ batch: TokenBatch, packed: PackedSequences, arena a: TrainingArena, grads g: GradientTable,
                         dropout: DropoutPlan, backend tb: any TrainingBackend) throws {
        let c = config, (t, d) = (batch.tokens, c.hidden)
        var (dOut, dIn) = (a.dHidden, a.dIn)
        for (i, layer) in layers.enumerated().reversed() {
            let l = a.layers[i], x = l.buffers
            // out = LN2(ffnOut + middle)
            try tb.layerNormBackward(dOut: dOut, x: x.ffnOut, residual: x.middle, stats: l.stats2,
                                     gamma: layer.outputNorm.gamma, rows: t, cols: d, dInput: a.dMiddle,
                                     accumulateInput: false, gradGamma: g[layer.outputNorm.gamma],
                                     gradBeta: g[layer.outputNorm.beta])
            var dFfnOut = a.dMiddle
            if let key = dropout.ffn(i) {
                try tb.dropout(a.dMiddle, count: t * d, key: key, out: a.dTmp)
                dFfnOut = a.dTmp
            }
            try tb.linearBackward(dOut: dFfnOut, input: x.ffn, layer.ffnOut, rows: t, activation: .none,
                                  preActivation: nil, dInput: a.dFfn, accumulateInput: false,
                                  gradWeight: g[layer.ffnOut.weight!], gradBias: g.optional(layer.ffnOut.bias))
            try tb.linearBackward(dOut: a.dFfn, input: x.middle, layer.ffnIn, rows: t, activation: Activation(c.activation),
                                  preActivation: x.ffnPre, dInput: a.dMiddle, accumulateInput: true,
                                  gradWeight: g[layer.ffnIn.weight!], gradBias: g.optional(layer.ffnIn.bias))
            // middle = LN1(attentionOut + input)
            try tb.layerNormBackward(dOut: a.dMiddle, x: x.attentionOut, residual: x.input, stats: l.stats1,
                                     gamma: layer.attentionNorm.gamma, rows: t, cols: d, dInput: dIn,
                                     accumulateInput: false, gradGamma: g[layer.attentionNorm.gamma],
                                     gradBeta: g[layer.attentionNorm.beta])
            var dProjection = dIn
            if let key = dropout.projection(i) {
                try tb.dropout(dIn, count: t * d, key: key, out: a.dTmp)
                dProjection = a.dTmp
            }
            try tb.linearBackward(dOut: dProjection, input: x.context, layer.attentionOutput, rows: t, activation: .none,
                                  preActivation: nil, dInput: a.dContext, accumulateInput: false,
                                  gradWeight: g[layer.attentionOutput.weight!],
                                  gradBias: g.optional(layer.attentionOutput.bias))
            try tb.attentionBackward(qkv: x.qkv, out: x.context, lse: l.lse, dOut: a.dContext, sequences: packed,
                                     heads: c.heads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot(),
                                     dropout: dropout.attention(i), dQKV: a.dQKV)
            try tb.linearBackward(dOut: a.dQKV, input: x.input, layer.qkv, rows: t, activation: .none,
                                  preActivation: nil, dInput: dIn, accumulateInput: true,
                                  gradWeight: g[layer.qkv.weight!], gradBias: g.optional(layer.qkv.bias))
            swap(&dOut, &dIn)
        }
        // hidden[0] = dropout(LN(word + position + type))
        var dNorm = dOut
        if let key = dropout.embeddings {
            try tb.dropout(dOut, count: t * d, key: key, out: a.dTmp)
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
