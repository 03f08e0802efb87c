/// A loss over a batch's logits: what `classificationStep` minimises. It writes each text's
/// terms and the gradient of the batch's loss with respect to the logits, on the device.
/// Cross-entropy against labels is the fine-tuning loss; distillation's `DistillationLoss`
/// adds KL divergence to a teacher's softened logits beside it, as another conformer, without
/// touching the forward and backward passes.
protocol LogitsLoss {
    /// Texts the loss expects (`classificationStep` checks it against the batch).
    var rows: Int { get }
    /// Per-text buffers it writes (at most `TrainingArena.lossTerms`).
    var terms: Int { get }

    /// losses: `terms` buffers `[rows]` (each text's value of each term) and dLogits
    /// `[rows, classes]` = ∂(batch loss)/∂logits, from logits `[rows, classes]`; `scratch`
    /// holds at least `rows` int32 values.
    func evaluate(logits: any DeviceBuffer, classes: Int, backend: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: [any DeviceBuffer], dLogits: any DeviceBuffer) throws

    /// The batch's share of the step's loss from the terms brought down, `[terms][rows]`.
    func batchLoss(_ terms: [[Float]]) -> Double
}

/// What the loss of one optimiser step averages over, all of its micro-batches together
/// (`--gradient-accumulation-steps`): each micro-batch adds its share of the gradient of the
/// step's mean, so N micro-batches give the gradient one batch of all their texts gives.
struct StepTotals: Equatable {
    /// Texts in the step.
    var texts: Int
    /// Those with a label (all of them, but for distillation's unlabelled texts).
    var labelled: Int
    /// Their tokens.
    var tokens: Int

    /// The totals of `batches`, with `labels[b]` the labels of batch b (−1: none).
    init(_ batches: [TokenBatch], labels: [[Int32]]) {
        texts = batches.reduce(0) { $0 + $1.batch }
        labelled = labels.reduce(0) { $0 + $1.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
        tokens = batches.reduce(0) { $0 + $1.tokens }
    }
}

/// Softmax cross-entropy against class ids, mean over the step's texts (transformers' loss
/// for single-label sequence classification).
struct CrossEntropyLoss: LogitsLoss {
    /// `[rows]` class ids.
    let labels: [Int32]
    /// The texts of the whole optimiser step the mean runs over (more than `rows` when the
    /// batch is one of several accumulated micro-batches).
    var textsInStep: Int

    init(labels: [Int32], textsInStep: Int? = nil) {
        self.labels = labels
        self.textsInStep = textsInStep ?? labels.count
    }

    var rows: Int { labels.count }
    var terms: Int { 1 }

    func evaluate(logits: any DeviceBuffer, classes: Int, backend: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: [any DeviceBuffer], dLogits: any DeviceBuffer) throws {
        try backend.softmaxCrossEntropy(logits: logits, labels: labels, labelBuffer: scratch, classes: classes,
                                        gradScale: 1 / Float(textsInStep), losses: losses[0], dLogits: dLogits)
    }

    func batchLoss(_ terms: [[Float]]) -> Double { terms[0].reduce(0.0) { $0 + Double($1) } / Double(textsInStep) }
}
