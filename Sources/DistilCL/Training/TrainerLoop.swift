import Foundation

/// The training loop of `Trainer`: optimiser steps over seeded epochs, a `train_log.jsonl`
/// line every `--logging-steps` steps, and at each epoch's end (or at `--max-steps`, which
/// may cut the last epoch short) an evaluation, a log line and an atomic checkpoint.
extension Trainer {
    /// Trains the remaining steps (stopping after `stopAfterEpoch` when given, as an
    /// interrupted run would) and returns every epoch's report, resumed ones included.
    @discardableResult
    public func run(stopAfterEpoch: Int? = nil) throws -> [EpochReport] {
        let n = train.count, perEpoch = options.stepsPerEpoch(n), total = options.totalSteps(n)
        if options.reportTo == .tensorboard, events == nil, optimizer.step < total {
            events = try TensorBoardWriter(folder: folder.url.appendingPathComponent("runs"))
        }
        var logClock = Date(), logSeen = 0
        var epoch = completedEpochs + 1
        while epoch <= options.epochCount(n), optimizer.step < total {
            let order = options.order(n, epoch: epoch)
            let base = (epoch - 1) * perEpoch, last = min(perEpoch, total - base)
            let started = Date()
            var seen = 0
            for s in (optimizer.step - base)..<last {
                let picked = order[(s * options.batchSize)..<min(n, (s + 1) * options.batchSize)]
                let batch = TokenBatch(picked.map { train[$0].0 })
                let (loss, gradNorm) = try step(batch, labels: picked.map { train[$0].1 })
                totals.epochLoss += loss * Double(picked.count)
                totals.epochSeen += picked.count
                totals.logLoss += loss
                totals.logSteps += 1
                seen += picked.count
                logSeen += picked.count
                let rate = Double(seen) / max(Date().timeIntervalSince(started), 1e-9)
                onStep?(StepReport(epoch: epoch, step: s + 1, stepsPerEpoch: perEpoch,
                                   loss: totals.epochLoss / Double(totals.epochSeen), samplesPerSecond: rate))
                if let every = options.loggingSteps, optimizer.step % every == 0 {
                    let line = StepLog(loss: totals.logLoss / Double(totals.logSteps),
                                       learningRate: Double(optimizer.settings.learningRate(at: optimizer.step)),
                                       gradNorm: Double(gradNorm),
                                       samplesPerSecond: Double(logSeen) / max(Date().timeIntervalSince(logClock), 1e-9),
                                       step: optimizer.step, epoch: Double(optimizer.step) / Double(perEpoch))
                    history.append(.step(line))
                    try events?.write(step: line.step, scalars: [
                        ("train/loss", line.loss), ("train/learning_rate", line.learningRate),
                        ("train/grad_norm", line.gradNorm), ("train/epoch", line.epoch),
                    ])
                    (totals.logLoss, totals.logSteps, logSeen, logClock) = (0, 0, 0, Date())
                }
                // The epoch's end evaluates anyway.
                if let every = options.evalSteps, optimizer.step % every == 0, s + 1 < last {
                    try evaluateAt(epoch: Double(optimizer.step) / Double(perEpoch))
                }
            }
            try endEpoch(epoch, complete: last == perEpoch, seen: seen, seconds: Date().timeIntervalSince(started))
            if let stopAfterEpoch, epoch >= stopAfterEpoch { break }
            epoch += 1
        }
        return history.compactMap(\.epochReport)
    }

    /// An `--eval-steps` evaluation: a log line and its TensorBoard scalars.
    private func evaluateAt(epoch: Double) throws {
        let (loss, accuracy) = try evaluate()
        guard let loss, let accuracy else { return }
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step, loss: Float(loss)) }
        history.append(.evaluation(EvalLog(evalLoss: loss, evalAccuracy: accuracy, step: optimizer.step, epoch: epoch)))
        try events?.write(step: optimizer.step, scalars: [("eval/loss", loss), ("eval/accuracy", accuracy)])
    }

    /// An epoch's end (`complete`) or the run's (`--max-steps` within the epoch): evaluates,
    /// adds the epoch's report to the log and saves a checkpoint with it.
    private func endEpoch(_ epoch: Int, complete: Bool, seen: Int, seconds: Double) throws {
        let (evalLoss, accuracy) = try evaluate()
        if let evalLoss, !evalLoss.isFinite {
            throw TrainingError.nonFiniteLoss(step: optimizer.step, loss: Float(evalLoss))
        }
        let report = EpochReport(epoch: epoch, step: optimizer.step,
                                 trainLoss: totals.epochLoss / Double(max(1, totals.epochSeen)),
                                 evalLoss: evalLoss, evalAccuracy: accuracy,
                                 trainSamplesPerSecond: Double(seen) / max(seconds, 1e-9), seconds: seconds)
        if let evalLoss, let accuracy {
            try events?.write(step: optimizer.step, scalars: [("eval/loss", evalLoss), ("eval/accuracy", accuracy)])
        }
        var after = totals
        (after.epochLoss, after.epochSeen) = (0, 0)
        let name = complete ? "checkpoint-epoch\(epoch)" : "checkpoint-\(optimizer.step)"
        try folder.save(model, config: savedConfig, optimizer: optimizer, state: RunFolder.State(
            epoch: epoch, step: optimizer.step, labels: labels, trainExamples: train.count, options: options,
            teacher: teacherPrint, trainSHA256: dataHashes.train, evalSHA256: dataHashes.eval, totals: after),
            log: history + [.epoch(report)], name: name, source: source)
        source = folder.url.appendingPathComponent(name)
        lastCheckpoint = source
        history.append(.epoch(report))
        totals = after
        completedEpochs = epoch
        onEpoch?(report)
    }

    /// One optimiser step; returns the batch's mean loss and the gradient norm before clipping.
    private func step(_ batch: TokenBatch, labels: [Int32]) throws -> (Double, Float) {
        if arena == nil || !arena!.fits(tokens: batch.tokens, sequences: batch.batch) {
            // Grown by a quarter at least, so a run reallocates a handful of times.
            let tokens = max(batch.tokens, (arena?.tokens ?? 0) * 5 / 4)
            arena = nil
            arena = try TrainingArena(backend: backend, config: model.config, labels: self.labels.count,
                                      tokens: tokens, sequences: options.batchSize)
        }
        let plan = DropoutPlan(rates: model.config.dropout, bertProjection: model.config.modelType == .bert,
                               seed: options.seed, step: UInt32(truncatingIfNeeded: optimizer.step),
                               layers: model.config.layers)
        try grads.zero(on: backend)
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
        let loss = out.loss
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step + 1, loss: Float(loss)) }
        let (gradNorm, _) = try optimizer.update(on: backend)
        return (loss, gradNorm)
    }
}
