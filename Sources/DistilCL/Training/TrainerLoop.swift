import Foundation

/// The training loop of `Trainer`: optimiser steps over seeded epochs, each over
/// `--gradient-accumulation-steps` micro-batches of `--batch-size` texts (the last step of an
/// epoch over what is left, as transformers' Trainer), a `train_log.jsonl` line every
/// `--logging-steps` steps, an evaluation every `--eval-steps` and a checkpoint
/// every `--save-steps`, and at each epoch's end (or at `--max-steps`, which may cut the last
/// epoch short) an evaluation, a log line and an atomic checkpoint. With `--eval` every
/// evaluation is weighed (`BestModelTracker`): a new best is saved if its step has no save,
/// and `--early-stopping-patience` evaluations without one end the run with a save.
extension Trainer {
    /// Trains the remaining steps (stopping after `stopAfterEpoch` when given, as an
    /// interrupted run would) and returns every epoch's report, resumed ones included.
    @discardableResult
    public func run(stopAfterEpoch: Int? = nil) throws -> [EpochReport] {
        let n = train.count, perEpoch = options.stepsPerEpoch(n), total = options.totalSteps(n)
        if options.reportTo == .tensorboard, events == nil, optimizer.step < total, writes {
            events = try TensorBoardWriter(folder: folder.url.appendingPathComponent("runs"))
        }
        var logClock = Date(), logSeen = 0
        var epoch = completedEpochs + 1
        while epoch <= options.epochCount(n), optimizer.step < total, !(best?.shouldStop ?? false) {
            let order = options.order(n, epoch: epoch)
            let base = (epoch - 1) * perEpoch, last = min(perEpoch, total - base)
            let started = Date()
            var seen = 0
            for s in (optimizer.step - base)..<last {
                let first = s * options.textsPerStep, end = min(n, first + options.textsPerStep)
                let (loss, gradNorm) = try step(order: order, texts: first..<end, epoch: epoch)
                let count = end - first
                totals.epochLoss += loss * Double(count)
                totals.epochSeen += count
                totals.logLoss += loss
                totals.logSteps += 1
                seen += count
                logSeen += count
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
                // The epoch's end evaluates and saves anyway.
                guard s + 1 < last else { continue }
                var improved = false
                if let every = options.evalSteps, optimizer.step % every == 0 {
                    improved = try evaluateAt(epoch: Double(optimizer.step) / Double(perEpoch))
                }
                let stop = best?.shouldStop ?? false
                if improved || stop || options.saveSteps.map({ optimizer.step % $0 == 0 }) == true {
                    try save(name: "checkpoint-\(optimizer.step)", epoch: epoch - 1, improved: improved,
                             log: history, totals: totals)
                }
                if stop { break }
            }
            if best?.shouldStop ?? false { break }
            try endEpoch(epoch, complete: last == perEpoch, seen: seen, seconds: Date().timeIntervalSince(started))
            if let stopAfterEpoch, epoch >= stopAfterEpoch { break }
            epoch += 1
        }
        return history.compactMap(\.epochReport)
    }

    /// An `--eval-steps` evaluation: a log line and its TensorBoard scalars; returns whether
    /// it is the best so far.
    private func evaluateAt(epoch: Double) throws -> Bool {
        guard let evaluation = try evaluate(), let loss = evaluation.loss else { return false }
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step, loss: Float(loss)) }
        history.append(.evaluation(EvalLog(evaluation, loss: loss, step: optimizer.step, epoch: epoch)))
        try events?.write(step: optimizer.step, scalars: Self.scalars(evaluation))
        return best?.observe(evaluation) ?? false
    }

    /// An evaluation's TensorBoard scalars: `eval/loss` and `eval/<metric>`.
    static func scalars(_ e: Evaluation) -> [(String, Double)] {
        (e.loss.map { [("eval/loss", $0)] } ?? []) + e.metrics.map { ("eval/" + $0.name, $0.value) }
    }

    /// Saves checkpoint `name` after `epoch` complete epochs with `log` and `totals`, as the best
    /// one when `improved`, keeping the older checkpoints `--save-total-limit` and the best allow.
    private func save(name: String, epoch: Int, improved: Bool, log: [TrainLogLine], totals: LoopTotals) throws {
        if improved { best?.bestCheckpoint = name }
        defer {
            source = folder.url.appendingPathComponent(name)
            lastCheckpoint = source
        }
        guard writes else { return }
        let older = folder.checkpointsByStep().map(\.name).filter { $0 != name }
        let keep = RunFolder.rotation(older + [name], best: best?.bestCheckpoint, limit: options.saveTotalLimit)
        let top = best?.bestCheckpoint.flatMap { keep.contains($0) ? $0 : nil } ?? name
        try folder.save(model, config: savedConfig, optimizer: optimizer, state: RunFolder.State(
            epoch: epoch, step: optimizer.step, labels: labels, trainExamples: rawTrainCount, options: options,
            teacher: teacherPrint, trainSHA256: dataHashes.train, evalSHA256: dataHashes.eval, totals: totals,
            bestMetric: best?.bestMetric,
            bestModelCheckpoint: best?.bestCheckpoint.map { folder.url.appendingPathComponent($0).path },
            earlyStoppingPatienceCounter: best?.patienceCounter),
            log: log, name: name, source: source, keep: keep.filter { $0 != name }, top: top)
    }

    /// An epoch's end (`complete`) or the run's (`--max-steps` within the epoch): evaluates,
    /// adds the epoch's report to the log and saves a checkpoint with it.
    private func endEpoch(_ epoch: Int, complete: Bool, seen: Int, seconds: Double) throws {
        let evaluation = try evaluate()
        if let evalLoss = evaluation?.loss, !evalLoss.isFinite {
            throw TrainingError.nonFiniteLoss(step: optimizer.step, loss: Float(evalLoss))
        }
        let report = EpochReport(epoch: epoch, step: optimizer.step,
                                 trainLoss: totals.epochLoss / Double(max(1, totals.epochSeen)),
                                 evalLoss: evaluation?.loss, evalAccuracy: evaluation?["accuracy"],
                                 evalF1: evaluation?["f1"], evalPrecision: evaluation?["precision"],
                                 evalRecall: evaluation?["recall"], evalExactMatch: evaluation?["exact_match"],
                                 evalExact: evaluation?["exact"], evalMSE: evaluation?["mse"],
                                 evalPearson: evaluation?["pearson"], evalPerplexity: evaluation?["perplexity"],
                                 trainSamplesPerSecond: Double(seen) / max(seconds, 1e-9), seconds: seconds)
        var improved = false
        if let evaluation {
            try events?.write(step: optimizer.step, scalars: Self.scalars(evaluation))
            improved = best?.observe(evaluation) ?? false
        }
        var after = totals
        (after.epochLoss, after.epochSeen) = (0, 0)
        let name = complete ? "checkpoint-epoch\(epoch)" : "checkpoint-\(optimizer.step)"
        try save(name: name, epoch: epoch, improved: improved, log: history + [.epoch(report)], totals: after)
        history.append(.epoch(report))
        totals = after
        completedEpochs = epoch
        onEpoch?(report)
    }

    /// One optimiser step over the texts at `texts` of the epoch's `order`; returns the step's
    /// mean loss and the gradient norm before clipping.
    private func step(order: [Int], texts: Range<Int>, epoch: Int) throws -> (Double, Float) {
        let loss = try accumulateStep(order: order, texts: texts, epoch: epoch)
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step + 1, loss: Float(loss)) }
        let (gradNorm, _) = try optimizer.update(on: backend)
        return (loss, gradNorm)
    }

    /// The gradient of one optimiser step into `grads` (zeroed first): the texts at `texts` of
    /// epoch `epoch`'s `order`, in micro-batches of `--batch-size`, each adding its share of
    /// the gradient of the step's mean loss. Returns that mean.
    func accumulateStep(order: [Int], texts: Range<Int>, epoch: Int) throws -> Double {
        let parts = stride(from: texts.lowerBound, to: texts.upperBound, by: options.batchSize).map {
            $0..<min(texts.upperBound, $0 + options.batchSize)
        }
        let batches = parts.map { TokenBatch(order[$0].map { train[$0].0 }) }
        let labels = parts.map { order[$0].map { train[$0].1 } }
        let whole = StepTotals(batches, labels: labels)
        // Each text's example identity: its draw number over the whole run (DropoutPlan).
        let drawn = UInt64(epoch - 1) * UInt64(train.count)
        try grads.zero(on: backend)
        // Token classification's mean runs over the step's labelled tokens.
        let labelledTokens = tokenTask?.labelled(order[texts])
        // Masked-LM's blocks as this epoch masks them, and the step's masked tokens.
        let maskedRows = maskedTask.map { m in parts.map { order[$0].map { m.masked($0, epoch: epoch) } } }
        let maskedInStep = maskedRows?.joined().reduce(0) { n, r in n + r.labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } } ?? 0
        var loss = 0.0
        // A data-parallel run deals the micro-batches round-robin; the means above are the whole step's.
        let (rank, size) = (group?.rank ?? 0, group?.size ?? 1)
        let mine = parts.indices.filter { $0 % size == rank }
        defer { grads.layerDone = nil }
        for i in mine {
            let part = parts[i]
            // The last micro-batch's backward starts each bucket's sum as soon as it is final.
            if i == mine.last, let reducer { grads.layerDone = { try reducer.layerDone($0) } }
            let plan = DropoutPlan(rates: model.config.dropout, bertProjection: model.config.modelType == .bert,
                                   seed: options.seed, examples: part.map { drawn + UInt64($0) },
                                   layers: model.config.layers)
            if let maskedTask, let maskedRows {
                loss += try accumulateMaskedLM(maskedTask, rows: maskedRows[i], plan: plan, maskedInStep: maskedInStep,
                                               rowsInStep: maskedTask.allTokens ? whole.tokens : maskedInStep,
                                               tokensInStep: whole.tokens)
            } else if let qaTask {
                loss += try accumulateQA(qaTask, indices: Array(order[part]), batch: batches[i], plan: plan,
                                         windowsInStep: texts.count)
            } else if let tokenTask, let labelledTokens {
                loss += try accumulateTokens(tokenTask, indices: Array(order[part]), batch: batches[i], plan: plan,
                                             labelledInStep: labelledTokens, tokensInStep: whole.tokens)
            } else {
                loss += try accumulate(batches[i], labels: labels[i], targets: floatTargets.map { t in order[part].map { t.train[$0] } },
                                       plan: plan, step: whole)
            }
        }
        if let group, let reducer {
            grads.layerDone = nil
            try reducer.finish()
            loss = try group.sum(loss)
        }
        return loss
    }
}
