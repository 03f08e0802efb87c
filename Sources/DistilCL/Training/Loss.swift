/// A loss over a batch's logits: what `classificationStep` minimises. It writes each text's
/// loss and the gradient of the batch's mean loss with respect to the logits, on the device.
/// Cross-entropy against labels is the fine-tuning loss; the distillation issue adds KL
/// divergence to a teacher's softened logits (with a temperature) beside it, as another
/// conformer, without touching the forward and backward passes.
protocol LogitsLoss {
    /// Texts the loss expects (`classificationStep` checks it against the batch).
    var rows: Int { get }

    /// losses `[rows]` (one per text) and dLogits `[rows, classes]` = ∂(mean loss)/∂logits,
    /// from logits `[rows, classes]`; `scratch` holds at least `rows` int32 or float32 values.
    func evaluate(logits: any DeviceBuffer, classes: Int, backend: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws
}

/// Softmax cross-entropy against class ids, mean over the batch (transformers' loss for
/// single-label sequence classification).
struct CrossEntropyLoss: LogitsLoss {
    /// `[rows]` class ids.
    let labels: [Int32]
    var rows: Int { labels.count }

    func evaluate(logits: any DeviceBuffer, classes: Int, backend: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws {
        try backend.softmaxCrossEntropy(logits: logits, labels: labels, labelBuffer: scratch, classes: classes,
                                        gradScale: 1 / Float(rows), losses: losses, dLogits: dLogits)
    }
}
