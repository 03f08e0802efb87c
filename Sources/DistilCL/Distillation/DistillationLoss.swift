/// Distillation's loss over the student's logits s (`LogitsLoss`): with the teacher's logits t,
/// `α_kd·T²·KL(softmax(t/T) ‖ softmax(s/T))` averaged over the step's texts (PyTorch's
/// `batchmean`) plus `α_ce·CE(s, label)` averaged over the step's labelled texts alone (label
/// −1: none); the step is this batch unless it is one of several accumulated micro-batches.
/// The cosine term reads hidden states, not logits: `classificationStep` takes it as a
/// `HiddenTarget`. Terms written: 0 = each text's cross-entropy (0 without a label), 1 = α_kd·T²·KL.
struct DistillationLoss: LogitsLoss {
    /// `[rows]` class ids, −1 for a text without a label.
    let labels: [Int32]
    /// The teacher's logits `[rows, classes]`, on the device; nil when α_kd = 0 (the KL term is
    /// off, whether or not the teacher classifies).
    let teacher: (any DeviceBuffer)?
    let options: DistillationOptions
    /// The denominators of the two means: the labelled texts and the texts of the whole
    /// optimiser step (this batch's own by default).
    var labelledInStep: Int
    var textsInStep: Int

    init(labels: [Int32], teacher: (any DeviceBuffer)?, options: DistillationOptions, labelledInStep: Int? = nil,
         textsInStep: Int? = nil) {
        self.labels = labels
        self.teacher = teacher
        self.options = options
        self.labelledInStep = labelledInStep ?? labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        self.textsInStep = textsInStep ?? labels.count
    }

    var rows: Int { labels.count }
    var terms: Int { 2 }
    /// This batch's labelled texts.
    var labelled: Int { labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// The same loss with the means over `step`'s texts.
    func over(_ step: StepTotals) -> DistillationLoss {
        var loss = self
        (loss.labelledInStep, loss.textsInStep) = (step.labelled, step.texts)
        return loss
    }

    func evaluate(logits: any DeviceBuffer, classes: Int, backend b: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: [any DeviceBuffer], dLogits: any DeviceBuffer) throws {
        let n = labelledInStep
        if n > 0 {   // writes the gradient; unlabelled rows get 0
            try b.softmaxCrossEntropy(logits: logits, labels: labels, labelBuffer: scratch, classes: classes,
                                      gradScale: options.alphaCE / Float(n), losses: losses[0], dLogits: dLogits)
        } else {
            try b.fill(losses[0], value: 0, count: rows)
            try b.fill(dLogits, value: 0, count: rows * classes)
        }
        try b.fill(losses[1], value: 0, count: rows)
        guard options.alphaKD > 0, let teacher else { return }
        try b.softmaxKLDivergence(logits: logits, teacher: teacher, rows: rows, classes: classes,
                                  temperature: options.temperature, weight: options.alphaKD,
                                  gradScale: 1 / Float(textsInStep),
                                  accumulate: true, losses: losses[1], dLogits: dLogits)
    }

    func batchLoss(_ terms: [[Float]]) -> Double {
        let n = labelledInStep
        let ce = n > 0 ? Double(options.alphaCE) * terms[0].reduce(0.0) { $0 + Double($1) } / Double(n) : 0
        return ce + terms[1].reduce(0.0) { $0 + Double($1) } / Double(textsInStep)
    }
}
