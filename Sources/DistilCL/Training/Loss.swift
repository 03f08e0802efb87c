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

    /// The batch's loss from the terms brought down, `[terms][rows]`.
    func batchLoss(_ terms: [[Float]]) -> Double
}

/// Softmax cross-entropy against class ids, mean over the batch (transformers' loss for
/// single-label sequence classification).
struct CrossEntropyLoss: LogitsLoss {
    /// `[rows]` class ids.
    let labels: [Int32]
    var rows: Int { labels.count }
    var terms: Int { 1 }

    func evaluate(logits: any DeviceBuffer, classes: Int, backend: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: [any DeviceBuffer], dLogits: any DeviceBuffer) throws {
        try backend.softmaxCrossEntropy(logits: logits, labels: labels, labelBuffer: scratch, classes: classes,
                                        gradScale: 1 / Float(rows), losses: losses[0], dLogits: dLogits)
    }

    func batchLoss(_ terms: [[Float]]) -> Double { terms[0].reduce(0.0) { $0 + Double($1) } / Double(rows) }
}
