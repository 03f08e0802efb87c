/// One micro-batch's forward and backward for the run's task: the loss against the labels
/// (or, distilling, against the teacher's outputs), its gradient added into `grads`.
extension Trainer {
    /// Runs `batch` (with its `labels`, −1 for none) forward and backward under `plan`, adding
    /// its gradient into `grads` (zeroed by the caller once per optimiser step); the losses
    /// average over `step`, every micro-batch of the optimiser step (nil: this batch alone).
    /// Regression and multi-label read `targets` (`[batch]` of `[labels]`, nil: none) instead
    /// of the class ids. Returns the batch's share of the step's loss.
    func accumulate(_ batch: TokenBatch, labels: [Int32], targets: [[Float]?]? = nil, plan: DropoutPlan,
                    step: StepTotals? = nil) throws -> Double {
        let step = step ?? StepTotals([batch], labels: [labels])
        let (arena, _) = try arenas(for: batch)
        let out: StepResult
        if let targets {
            var loss = FloatTargetLoss(problem: problem, targets: targets, distillation: options.distillation, step: step)
            var hidden: HiddenTarget?
            if let teacher {   // its logits (a few a text) come down for the host loss
                let (soft, target) = try teacher.targets(batch, labels: labels)
                loss.teacher = try soft.teacher.map { try backend.download($0, count: batch.batch * self.labels.count) }
                hidden = target
                hidden?.tokensInStep = step.tokens
            }
            out = try model.classificationStep(batch, loss: loss, hiddenTarget: hidden, arena: arena, grads: grads,
                                               dropout: plan, withLogits: false)
        } else if let teacher {
            let (loss, target) = try teacher.targets(batch, labels: labels)
            var hidden = target
            hidden?.tokensInStep = step.tokens
            out = try model.classificationStep(batch, loss: loss.over(step), hiddenTarget: hidden, arena: arena,
                                               grads: grads, dropout: plan, withLogits: false)
        } else if let d = options.distillation {   // labels alone, averaged over the labelled texts
            out = try model.classificationStep(batch, loss: DistillationLoss(labels: labels, teacher: nil, options: d)
                                                   .over(step),
                                               arena: arena, grads: grads, dropout: plan, withLogits: false)
        } else {
            out = try model.classificationStep(batch, loss: CrossEntropyLoss(labels: labels, textsInStep: step.texts),
                                               arena: arena, grads: grads, dropout: plan, withLogits: false)
        }
        return out.loss
    }

    /// The step's buffers, fitting `batch`: the arena and, for a per-token head of
    /// `tokenOutputs` outputs, its head buffers. Both are grown by a quarter at least when a
    /// larger batch arrives, so a run reallocates a handful of times.
    func arenas(for batch: TokenBatch, tokenOutputs: Int? = nil) throws -> (TrainingArena, TokenHeadArena?) {
        let fits = arena?.fits(tokens: batch.tokens, sequences: batch.batch) ?? false
        let headFits = tokenOutputs.map { tokenHead?.fits(tokens: batch.tokens, outputs: $0) ?? false } ?? true
        if !fits || !headFits {
            let t = max(batch.tokens, (arena?.tokens ?? 0) * 5 / 4)
            (arena, tokenHead) = (nil, nil)   // the old buffers go before the new ones come
            arena = try TrainingArena(backend: backend, config: model.config, labels: labels.count, tokens: t,
                                      sequences: options.batchSize)
            tokenHead = try tokenOutputs.map {
                try TokenHeadArena(backend: backend, hidden: model.config.hidden, outputs: $0, tokens: t)
            }
        }
        return (arena!, tokenOutputs == nil ? nil : tokenHead)
    }
}
