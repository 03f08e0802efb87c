/// The forward and backward pass of masked-LM training (`BertForMaskedLM`,
/// `DistilBertForMaskedLM`) and of DistilBERT's general-purpose distillation: the encoder over
/// every token, the masked-LM head over the predicted rows alone (the masked positions; every
/// token with `--kd-all-tokens`), the losses, then `backwardEncoder` from the last hidden state.
/// The decoder `[vocab, d]` is the largest GEMM of a small model, so it never runs over a row
/// no loss reads.

/// The masked-LM head's buffers for `rows` predicted rows, `d` = hidden, `v` = vocabulary:
///
///   picked, dPicked      [r, d]   the rows' last hidden state (gathered), and its gradient
///   pre, act             [r, d]   transform before and after its activation
///   normed, stats        [r, d], [r, 2]   after the LayerNorm, and its statistics
///   logits, dLogits      [r, v]
///   dNormed, dAct        [r, d]
///   losses               2 × [r]  cross-entropy, then the KL term, per row
///   labels, index        [r] int32: the rows' true ids; the rows' packed token indices
final class MaskedLMHeadArena {
    let rows: Int
    let vocab: Int
    let picked, dPicked, pre, act, normed, stats, logits, dLogits, dNormed, dAct, labels, index: any DeviceBuffer
    let losses: [any DeviceBuffer]

    init(backend b: any ComputeBackend, hidden d: Int, vocab v: Int, rows r: Int) throws {
        (rows, vocab) = (r, v)
        func floats(_ n: Int) throws -> any DeviceBuffer { try b.makeBuffer(count: n) }
        (picked, dPicked, pre, act, normed) = (try floats(r * d), try floats(r * d), try floats(r * d),
                                               try floats(r * d), try floats(r * d))
        (stats, logits, dLogits) = (try floats(2 * r), try floats(r * v), try floats(r * v))
        (dNormed, dAct) = (try floats(r * d), try floats(r * d))
        (labels, index) = (try b.makeBuffer(count: r, type: .int32), try b.makeBuffer(count: r, type: .int32))
        losses = try (0..<2).map { _ in try floats(r) }
    }

    func fits(rows r: Int, vocab v: Int) -> Bool { r <= rows && v == vocab }
}

/// What a masked-LM step's loss reads, for a batch of `tokens` packed tokens.
///
/// Training (`distillation` nil): the cross-entropy of every masked token, averaged over the
/// step's masked tokens (transformers' `CrossEntropyLoss` with −100 ignored). Distilling, the
/// research distiller's loss: `α_kd·T²·KL(softmax(t/T) ‖ softmax(s/T))` averaged over the
/// predicted rows (`batchmean`), `α_mlm·CE` (`alphaCE`, `--alpha-mlm`) over the masked tokens,
/// and the cosine term when the step gets a `HiddenTarget`.
struct MaskedLMTargets {
    /// `[tokens]` the true id of each masked token, −1 elsewhere.
    var labels: [Int32]
    /// The decoder runs over every token (`--kd-all-tokens`), not the masked ones alone.
    var allTokens = false
    /// The teacher's logits `[rows, vocab]` on the device, the rows `predictedRows()` (nil: no KL term).
    var teacher: (any DeviceBuffer)?
    var distillation: DistillationOptions?
    /// The denominators of the means over the whole optimiser step: its masked tokens and its
    /// predicted rows (the KL term's; the masked tokens, or every token with `allTokens`).
    var maskedInStep: Int
    var rowsInStep: Int

    init(labels: [Int32], allTokens: Bool = false, teacher: (any DeviceBuffer)? = nil,
         distillation: DistillationOptions? = nil, maskedInStep: Int? = nil, rowsInStep: Int? = nil) {
        self.labels = labels
        self.allTokens = allTokens
        self.teacher = teacher
        self.distillation = distillation
        let masked = labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        self.maskedInStep = maskedInStep ?? masked
        self.rowsInStep = rowsInStep ?? (allTokens ? labels.count : masked)
    }

    /// The packed token indices the head predicts, ascending: the masked ones, or every one.
    func predictedRows() -> [Int32] {
        allTokens ? (0..<Int32(labels.count)).map { $0 } : labels.indices.filter { labels[$0] >= 0 }.map { Int32($0) }
    }
}

/// A masked-LM step's loss, term by term (each weighted, each the batch's share of the step's mean).
struct MaskedLMLoss: Equatable {
    var mlm = 0.0, kd = 0.0, cos = 0.0
    var total: Double { mlm + kd + cos }
}

extension EncoderModel {
    /// Runs `batch` (its input ids already masked) forward and backward for masked-LM, adding
    /// the gradient of the loss `targets` describe (and of `hiddenTarget`'s cosine term, when
    /// given, averaged over its `tokensInStep`) into `grads`. Returns the batch's share of the
    /// step's loss and, when `withLogits`, the logits `[rows][vocab]` of the predicted rows.
    func maskedLMStep(_ batch: TokenBatch, targets: MaskedLMTargets, hiddenTarget: HiddenTarget? = nil,
                      arena a: TrainingArena, head h: MaskedLMHeadArena, grads: GradientTable, dropout: DropoutPlan,
                      withLogits: Bool = false) throws -> (loss: MaskedLMLoss, logits: [[Float]]) {
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        guard let transform = heads.vocabTransform, let norm = heads.vocabNorm, let projector = heads.vocabProjector else {
            throw ModelError.missingHead("masked language model")
        }
        try validate(batch)
        let (t, d, v) = (batch.tokens, config.hidden, projector.outFeatures)
        guard targets.labels.count == t else {
            throw ModelError.malformedBatch("\(targets.labels.count) token labels for a batch of \(t) tokens")
        }
        let index = targets.predictedRows(), r = index.count
        guard h.fits(rows: r, vocab: v), a.fits(tokens: t, sequences: batch.batch) else {
            throw ModelError.malformedBatch("a batch of \(t) tokens, \(r) predicted; the arenas keep \(a.tokens), \(h.rows)")
        }
        let packed = try forwardForTraining(batch, arena: a, dropout: dropout, backend: tb, everyToken: true)
        let hidden = a.hidden[layers.count]
        var loss = MaskedLMLoss()
        // ∂/∂hidden[L] of every token starts as the cosine term's (written), or zeros; the head's
        // rows are added on top.
        if let target = hiddenTarget {
            let tokensInStep = target.tokensInStep ?? t
            try tb.cosineDistance(hidden, target: target.states, rows: t, dim: d, weight: target.weight,
                                  gradScale: 1 / Float(tokensInStep), losses: a.tokenLosses, dX: a.dHidden)
            loss.cos = try tb.download(a.tokenLosses, count: t).reduce(0.0) { $0 + Double($1) } / Double(tokensInStep)
        } else {
            try tb.fill(a.dHidden, value: 0, count: t * d)
        }
        if r > 0 {
            // transform → activation → LayerNorm → decoder, over the predicted rows.
            var input = hidden
            if !targets.allTokens {
                try tb.upload(index, to: h.index)
                try tb.gatherRows(hidden, index: h.index, rows: r, dim: d, out: h.picked)
                input = h.picked
            }
            let act = Activation(config.activation)
            try tb.linear(input, transform, rows: r, activation: .none, out: h.pre)
            try tb.activation(h.pre, count: r * d, act, out: h.act)
            try tb.layerNorm(h.act, residual: nil, gamma: norm.gamma, beta: norm.beta, rows: r, cols: d,
                             eps: config.layerNormEps, out: h.normed, stats: h.stats)
            try tb.linear(h.normed, projector, rows: r, activation: .none, out: h.logits)

            // The losses' gradient over the logits: the cross-entropy written, the KL term added.
            let rowLabels = index.map { targets.labels[Int($0)] }
            let alphaMLM = targets.distillation?.alphaCE ?? 1
            if targets.maskedInStep > 0, alphaMLM > 0 {
                try tb.softmaxCrossEntropy(logits: h.logits, labels: rowLabels, labelBuffer: h.labels, classes: v,
                                           gradScale: alphaMLM / Float(targets.maskedInStep), losses: h.losses[0],
                                           dLogits: h.dLogits)
                let ce = try tb.download(h.losses[0], count: r).reduce(0.0) { $0 + Double($1) }
                loss.mlm = Double(alphaMLM) * ce / Double(targets.maskedInStep)
            } else {
                try tb.fill(h.dLogits, value: 0, count: r * v)
            }
            if let dist = targets.distillation, dist.alphaKD > 0, let teacher = targets.teacher {
                try tb.fill(h.losses[1], value: 0, count: r)
                try tb.softmaxKLDivergence(logits: h.logits, teacher: teacher, rows: r, classes: v,
                                           temperature: dist.temperature, weight: dist.alphaKD,
                                           gradScale: 1 / Float(targets.rowsInStep), accumulate: true,
                                           losses: h.losses[1], dLogits: h.dLogits)
                loss.kd = try tb.download(h.losses[1], count: r).reduce(0.0) { $0 + Double($1) }
                    / Double(targets.rowsInStep)
            }

            // Back through the decoder (its weight's gradient lands in the tied word
            // embeddings'), the LayerNorm and the transform, into the rows of ∂/∂hidden[L].
            try tb.linearBackward(dOut: h.dLogits, input: h.normed, try grads.linear(projector), rows: r,
                                  activation: .none, preActivation: nil, dInput: h.dNormed, accumulateInput: false)
            try tb.layerNormBackward(dOut: h.dNormed, x: h.act, residual: nil, stats: h.stats, gamma: norm.gamma,
                                     rows: r, cols: d, dInput: h.dAct, accumulateInput: false,
                                     gradGamma: grads[norm.gamma], gradBeta: grads[norm.beta])
            try tb.linearBackward(dOut: h.dAct, input: input, try grads.linear(transform), rows: r, activation: act,
                                  preActivation: h.pre, dInput: targets.allTokens ? a.dHidden : h.dPicked,
                                  accumulateInput: targets.allTokens)
            if !targets.allTokens {
                try tb.scatterAddRows(h.dPicked, index: index, indexBuffer: h.index, dim: d, dSource: a.dHidden)
            }
        }
        try backwardEncoder(batch, packed: packed, arena: a, grads: grads, dropout: dropout, backend: tb,
                            everyToken: true)
        let logits = withLogits && r > 0 ? rows(try tb.download(h.logits, count: r * v), width: v) : []
        return (loss, logits)
    }
}
