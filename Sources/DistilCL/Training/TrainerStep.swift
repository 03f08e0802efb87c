/// One micro-batch's forward and backward for the run's task: the loss against the labels
/// (or, distilling, against the teacher's outputs), its gradient added into `grads`.
extension Trainer {
    /// Runs `batch` (with its `labels`, −1 for none) forward and backward under `plan`, adding
    /// its gradient into `grads` (zeroed by the caller once per optimiser step); the losses
    /// average over `step`, every micro-batch of the optimiser step (nil: this batch alone).
    /// Returns the batch's share of the step's loss.
    func accumulate(_ batch: TokenBatch, labels: [Int32], plan: DropoutPlan, step: StepTotals? = nil) throws -> Double {
        let step = step ?? StepTotals([batch], labels: [labels])
        if arena == nil || !arena!.fits(tokens: batch.tokens, sequences: batch.batch) {
            // Grown by a quarter at least, so a run reallocates a handful of times.
            let tokens = max(batch.tokens, (arena?.tokens ?? 0) * 5 / 4)
            arena = nil
            arena = try TrainingArena(backend: backend, config: model.config, labels: self.labels.count,
                                      tokens: tokens, sequences: options.batchSize)
        }
        let out: StepResult
        if let teacher {
            let (loss, target) = try teacher.targets(batch, labels: labels)
            var hidden = target
            hidden?.tokensInStep = step.tokens
            out = try model.classificationStep(batch, loss: loss.over(step), hiddenTarget: hidden, arena: arena!,
                                               grads: grads, dropout: plan, withLogits: false)
        } else if let d = options.distillation {   // labels alone, averaged over the labelled texts
            out = try model.classificationStep(batch, loss: DistillationLoss(labels: labels, teacher: nil, options: d)
                                                   .over(step),
                                               arena: arena!, grads: grads, dropout: plan, withLogits: false)
        } else {
            out = try model.classificationStep(batch, loss: CrossEntropyLoss(labels: labels, textsInStep: step.texts),
                                               arena: arena!, grads: grads, dropout: plan, withLogits: false)
        }
        return out.loss
    }
}
