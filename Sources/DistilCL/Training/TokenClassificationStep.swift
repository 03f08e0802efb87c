/// The forward and backward pass of token classification (`BertForTokenClassification`,
/// `DistilBertForTokenClassification`): the encoder over every token, dropout, the classifier
/// over every token, the loss, then the same backward `classificationStep` uses from the last
/// hidden state down (`backwardEncoder`).

/// A per-token head's buffers, for `tokens` packed tokens, `d` = hidden, `c` = outputs:
///
///   dropped, dDropped  [t, d]   the head's input after dropout, and its gradient
///   logits, dLogits    [t, c]
///   losses             2 × [t]  a loss's per-token terms
///   labels, rows       [t] int32  the labels going up; 0..<t for adding a gradient into another
final class TokenHeadArena {
    let tokens: Int
    let outputs: Int
    let dropped, dDropped, logits, dLogits, labels, rows: any DeviceBuffer
    let losses: [any DeviceBuffer]

    init(backend b: any ComputeBackend, hidden d: Int, outputs c: Int, tokens t: Int) throws {
        (tokens, outputs) = (t, c)
        (dropped, dDropped) = (try b.makeBuffer(count: t * d), try b.makeBuffer(count: t * d))
        (logits, dLogits) = (try b.makeBuffer(count: t * c), try b.makeBuffer(count: t * c))
        (labels, rows) = (try b.makeBuffer(count: t, type: .int32), try b.makeBuffer(count: t, type: .int32))
        losses = try (0..<2).map { _ in try b.makeBuffer(count: t) }
    }

    func fits(tokens t: Int, outputs c: Int) -> Bool { t <= tokens && c == outputs }
}

/// What a token-classification step's loss reads.
///
/// Fine-tuning: the cross-entropy of every labelled token, averaged over the labelled tokens
/// (transformers' `CrossEntropyLoss` with −100 ignored). Distilling:
/// `α_ce·CE + α_kd·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`, the KL averaged over every
/// real token of the batch (special tokens and later word pieces included: the teacher has an
/// opinion on each), plus the cosine term when the step gets a `HiddenTarget`.
struct TokenClassificationTargets {
    /// `[tokens]` class ids; −1 for a token without a label (special tokens, a word's later
    /// pieces, unlabelled text).
    var labels: [Int32]
    /// The teacher's logits `[tokens, classes]` on the device (nil: no KL term).
    var teacher: (any DeviceBuffer)?
    /// Distillation's weights (nil: fine-tuning, the cross-entropy alone at weight 1).
    var distillation: DistillationOptions?
    /// The denominators of the means: the labelled tokens and the tokens of the whole
    /// optimiser step (more than this batch's under gradient accumulation).
    var labelledInStep: Int
    var tokensInStep: Int

    init(labels: [Int32], teacher: (any DeviceBuffer)? = nil, distillation: DistillationOptions? = nil,
         labelledInStep: Int? = nil, tokensInStep: Int? = nil) {
        self.labels = labels
        self.teacher = teacher
        self.distillation = distillation
        self.labelledInStep = labelledInStep ?? labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        self.tokensInStep = tokensInStep ?? labels.count
    }
}

extension EncoderModel {
    /// Runs `batch` forward and backward for token classification, adding the gradient of the
    /// loss `targets` describe (and of `hiddenTarget`'s cosine term, when given, averaged over
    /// `targets.tokensInStep`) into `grads`. Returns the batch's share of the step's loss and,
    /// when `withLogits`, the logits `[tokens][classes]` (packed).
    func tokenClassificationStep(_ batch: TokenBatch, targets: TokenClassificationTargets,
                                 hiddenTarget: HiddenTarget? = nil, arena a: TrainingArena, head h: TokenHeadArena,
                                 grads: GradientTable, dropout: DropoutPlan,
                                 withLogits: Bool = false) throws -> (loss: Double, logits: [[Float]]) {
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        guard let classifier = heads.classifier else { throw ModelError.missingHead("token classification") }
        try validate(batch)
        let (t, d, c) = (batch.tokens, config.hidden, classifier.outFeatures)
        guard targets.labels.count == t else {
            throw ModelError.malformedBatch("\(targets.labels.count) token labels for a batch of \(t) tokens")
        }
        guard h.fits(tokens: t, outputs: c), a.fits(tokens: t, sequences: batch.batch) else {
            throw ModelError.malformedBatch("a batch of \(t) tokens; the arena keeps \(min(a.tokens, h.tokens))")
        }
        let packed = try forwardForTraining(batch, arena: a, dropout: dropout, backend: tb, everyToken: true)
        let hidden = a.hidden[layers.count]
        // transformers' token heads: dropout (DistilBERT `dropout`, BERT `classifier_dropout`
        // or `hidden_dropout_prob`: the plan's classifier rate) → classifier, over every token.
        let mask = a.tokenDropout(dropout.classifier)
        var input = hidden
        if let mask {
            try tb.dropout(hidden, width: d, mask: mask, out: h.dropped)
            input = h.dropped
        }
        try tb.linear(input, classifier, rows: t, activation: .none, out: h.logits)

        // The loss's gradient over the logits: the cross-entropy written, the KL term added.
        let labelled = targets.labelledInStep, alphaCE = targets.distillation?.alphaCE ?? 1
        if labelled > 0, alphaCE > 0 {
            try tb.softmaxCrossEntropy(logits: h.logits, labels: targets.labels, labelBuffer: h.labels, classes: c,
                                       gradScale: alphaCE / Float(labelled), losses: h.losses[0], dLogits: h.dLogits)
        } else {
            try tb.fill(h.losses[0], value: 0, count: t)
            try tb.fill(h.dLogits, value: 0, count: t * c)
        }
        try tb.fill(h.losses[1], value: 0, count: t)
        if let d = targets.distillation, d.alphaKD > 0, let teacher = targets.teacher {
            try tb.softmaxKLDivergence(logits: h.logits, teacher: teacher, rows: t, classes: c,
                                       temperature: d.temperature, weight: d.alphaKD,
                                       gradScale: 1 / Float(targets.tokensInStep), accumulate: true,
                                       losses: h.losses[1], dLogits: h.dLogits)
        }

        // Back through the head into ∂/∂hidden[L] of every token, the cosine term's first.
        var hiddenLoss = 0.0
        if let target = hiddenTarget {
            try tb.cosineDistance(hidden, target: target.states, rows: t, dim: d, weight: target.weight,
                                  gradScale: 1 / Float(targets.tokensInStep), losses: a.tokenLosses, dX: a.dHidden)
            hiddenLoss = try tb.download(a.tokenLosses, count: t).reduce(0.0) { $0 + Double($1) }
                / Double(targets.tokensInStep)
        }
        let direct = hiddenTarget == nil && mask == nil
        try tb.linearBackward(dOut: h.dLogits, input: input, try grads.linear(classifier), rows: t, activation: .none,
                              preActivation: nil, dInput: direct ? a.dHidden : h.dDropped, accumulateInput: false)
        if !direct {
            if let mask {   // in place, or straight into ∂/∂hidden when nothing else is there
                try tb.dropout(h.dDropped, width: d, mask: mask, out: hiddenTarget == nil ? a.dHidden : h.dDropped)
            }
            if hiddenTarget != nil {   // added to the cosine term's gradient
                try tb.scatterAddRows(h.dDropped, index: (0..<Int32(t)).map { $0 }, indexBuffer: h.rows, dim: d,
                                      dSource: a.dHidden)
            }
        }
        try backwardEncoder(batch, packed: packed, arena: a, grads: grads, dropout: dropout, backend: tb,
                            everyToken: true)

        let ce = try tb.download(h.losses[0], count: t).reduce(0.0) { $0 + Double($1) }
        let kl = try tb.download(h.losses[1], count: t).reduce(0.0) { $0 + Double($1) }
        let loss = (labelled > 0 ? Double(alphaCE) * ce / Double(labelled) : 0) + kl / Double(targets.tokensInStep)
            + hiddenLoss
        let logits = withLogits ? rows(try tb.download(h.logits, count: t * c), width: c) : []
        return (loss, logits)
    }
}
