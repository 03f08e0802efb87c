/// The teacher of a distillation run: a model in inference mode (no dropout) on the student's
/// backend, giving each batch's targets: its logits (on the device, for the KL term) and, when
/// the cosine term is on, its last hidden state of every token.
final class Teacher {
    let model: EncoderModel
    let options: DistillationOptions
    /// Masked-LM distillation's logits at the predicted rows `[rows, vocab]`, kept between steps.
    var logitsBuffer: (any DeviceBuffer)?

    init(model: EncoderModel, options: DistillationOptions) {
        self.model = model
        self.options = options
    }

    var classes: Int { model.heads.classifier?.outFeatures ?? 0 }

    /// The loss and hidden-state target of `batch` with `labels` (`[batch]`, −1 for none).
    /// The hidden target is the teacher's workspace: valid until the teacher runs again.
    func targets(_ batch: TokenBatch, labels: [Int32]) throws -> (DistillationLoss, HiddenTarget?) {
        let everyToken = options.alphaCos > 0
        // Without the KL term the logits go unused: the teacher runs only for hidden states.
        guard classes > 0, options.alphaKD > 0 else {   // hidden states alone, or nothing
            let hidden = everyToken ? try model.lastHiddenStateOnDevice(batch) : nil
            return (DistillationLoss(labels: labels, teacher: nil, options: options),
                    hidden.map { HiddenTarget(states: $0, weight: options.alphaCos) })
        }
        // The logits stay on the device: the teacher's workspace, read before the teacher runs again.
        let out = try model.lock.withLock { try model.classificationLogitsOnDevice(batch, keepingHidden: everyToken) }
        return (DistillationLoss(labels: labels, teacher: out.logits, options: options),
                everyToken ? HiddenTarget(states: out.hidden, weight: options.alphaCos) : nil)
    }
}
