/// One micro-batch's forward and backward for the run's task: the loss against the labels
/// (or, distilling, against the teacher's outputs), its gradient added into `grads`.
extension Trainer {
    /// Runs `batch` (with its `labels`, −1 for none) forward and backward under `plan`, adding
    /// its gradient into `grads` (zeroed by the caller once per optimiser step); returns the
    /// batch's loss.
    func accumulate(_ batch: TokenBatch, labels: [Int32], plan: DropoutPlan) throws -> Double {
        if arena == nil || !arena!.fits(tokens: batch.tokens, sequences: batch.batch) {
            // Grown by a quarter at least, so a run reallocates a handful of times.
            let tokens = max(batch.tokens, (arena?.tokens ?? 0) * 5 / 4)
            arena = nil
            arena = try TrainingArena(backend: backend, config: model.config, labels: self.labels.count,
                                      tokens: tokens, sequences: options.batchSize)
        }
        let out: StepResult
        if let teacher {
            let (loss, hidden) = try teacher.targets(batch, labels: labels)
            out = try model.classificationStep(batch, loss: loss, hiddenTarget: hidden, arena: arena!, grads: grads,
                                               dropout: plan, withLogits: false)
        } else if let d = options.distillation {   // labels alone, averaged over the labelled texts
            out = try model.classificationStep(batch, loss: DistillationLoss(labels: labels, teacher: nil, options: d),
                                               arena: arena!, grads: grads, dropout: plan, withLogits: false)
        } else {
            out = try model.classificationStep(batch, loss: CrossEntropyLoss(labels: labels), arena: arena!,
                                               grads: grads, dropout: plan, withLogits: false)
        }
        return out.loss
    }
}
