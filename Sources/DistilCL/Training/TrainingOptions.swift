import Foundation

/// The recipe of a fine-tuning run (transformers' Trainer defaults where it has one).
public struct TrainingOptions: Sendable, Equatable, Codable {
    public var epochs = 3
    /// Texts per micro-batch (transformers' `per_device_train_batch_size`): an optimiser step
    /// takes `gradientAccumulationSteps` of them.
    public var batchSize = 32
    /// `--gradient-accumulation-steps`: micro-batches per optimiser step, the loss averaged
    /// over all of their texts (so N × batch b trains as one batch of N·b).
    public var gradientAccumulationSteps = 1
    public var learningRate: Float = 5e-5
    /// Warm-up as a fraction of all optimiser steps (rounded up, as transformers does).
    public var warmup: Float = 0.1
    public var weightDecay: Float = 0.01
    /// 0 turns clipping off.
    public var maxGradNorm: Float = 1
    /// Replaces every dropout rate of the config (0 turns dropout off); nil keeps the config's.
    public var dropout: Float?
    public var seed: UInt64 = 0
    /// Shuffle the training set each epoch (seeded); else batches are consecutive lines.
    public var shuffle = true
    /// Tokens per text, [CLS] and [SEP] included; nil for the model's positions.
    public var maxLength: Int?
    /// Distillation (`distilcl distill`): the model is the teacher, the student is built from
    /// its layers and trained on this loss. Nil for fine-tuning.
    public var distillation: DistillationOptions?
    /// `--lr-scheduler`: the learning rate's shape after the warm-up.
    public var lrScheduler: LRScheduler = .linear
    /// AdamW's β₁, β₂ and ε (`--adam-beta1`, `--adam-beta2`, `--adam-epsilon`).
    public var adamBeta1: Float = 0.9
    public var adamBeta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    /// `--max-steps`: train this many optimiser steps, whatever `epochs` says (the schedule's
    /// total, as transformers' `max_steps`); nil trains `epochs` epochs.
    public var maxSteps: Int?
    /// `--logging-steps`: a line in `train_log.jsonl` every this many steps; nil: none.
    public var loggingSteps: Int?
    /// `--report-to`: TensorBoard event files besides the log.
    public var reportTo: ReportTarget = .none
    /// `--eval-steps`: evaluate every this many steps too (transformers' eval_strategy
    /// "steps"), besides each epoch's end; nil: at the epochs' ends only.
    public var evalSteps: Int?
    /// `--save-steps`: also save `checkpoint-<step>` every this many steps (transformers'
    /// save_strategy "steps"), besides each epoch's end; nil: at the epochs' ends only.
    public var saveSteps: Int?
    /// `--save-total-limit`: checkpoint folders kept, the oldest deleted first but never the
    /// best (with one, the best and the newest: transformers' rule).
    public var saveTotalLimit = 1
    /// `--metric-for-best-model` as given (`BestModelMetric`; nil: accuracy when evaluating).
    public var metricForBestModel: String?
    /// `--early-stopping-patience`: stop after this many evaluations without improvement.
    public var earlyStoppingPatience: Int?
    /// Masked-LM's blocks and masking (nil for the other tasks).
    public var maskedLM: MaskedLMOptions?
    /// `--freeze-encoder`: train the head alone. The encoder (transformers' `base_model`: the
    /// embeddings, every layer, BERT's pooler) keeps its weights, takes no AdamW step and no
    /// part in the clipping norm, and its backward pass is skipped, as PyTorch with
    /// `model.base_model.requires_grad_(False)`. A masked-LM decoder tied to the word
    /// embeddings stays frozen with them; its bias and the transform train.
    public var freezeEncoder = false

    public init() {}

    /// Micro-batches (of `batchSize` texts, the last one maybe fewer) in one epoch of `examples` texts.
    public func microBatchesPerEpoch(_ examples: Int) -> Int { (examples + batchSize - 1) / batchSize }

    /// Optimiser steps in one epoch of `examples` texts: one per `gradientAccumulationSteps`
    /// micro-batches, the last step of an epoch taking what is left (transformers'
    /// `num_update_steps_per_epoch` = ⌈micro-batches / N⌉; its last update has `remainder`
    /// batches and its loss averages over them alone).
    public func stepsPerEpoch(_ examples: Int) -> Int {
        let n = max(1, gradientAccumulationSteps)
        return (microBatchesPerEpoch(examples) + n - 1) / n
    }

    /// Texts of one optimiser step (the last step of an epoch may have fewer).
    public var textsPerStep: Int { batchSize * max(1, gradientAccumulationSteps) }

    /// Optimiser steps of the whole run: `maxSteps`, else `epochs` epochs.
    public func totalSteps(_ examples: Int) -> Int { maxSteps ?? epochs * stepsPerEpoch(examples) }

    /// Epochs the run begins (the last one possibly cut short by `maxSteps`), as transformers'
    /// `ceil(max_steps / steps_per_epoch)`.
    public func epochCount(_ examples: Int) -> Int {
        let perEpoch = max(1, stepsPerEpoch(examples))
        return maxSteps.map { ($0 + perEpoch - 1) / perEpoch } ?? epochs
    }

    /// The optimiser settings for `examples` training texts.
    public func optimizer(examples: Int) -> OptimizerSettings {
        let total = totalSteps(examples)
        var s = OptimizerSettings(learningRate: learningRate, weightDecay: weightDecay, maxGradNorm: maxGradNorm,
                                  warmupSteps: Int((fraction(warmup) * Double(total)).rounded(.up)), totalSteps: total)
        s.scheduler = lrScheduler
        s.beta1 = adamBeta1
        s.beta2 = adamBeta2
        s.eps = adamEpsilon
        return s
    }

    /// `value` as the decimal the user typed (0.1, not 0.100000001490116): so that
    /// `ceil(0.1 × 500)` is 50, as Python's `math.ceil(500 * 0.1)`.
    private func fraction(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    /// The order of the training texts in `epoch` (1-based): a Fisher–Yates shuffle seeded
    /// by the seed and the epoch, or file order.
    public func order(_ count: Int, epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var state = seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(next() % UInt64(i + 1))) }
        return order
    }

    /// Checks the values a user gives.
    public func validate() throws {
        func bad(_ what: String) -> TrainingError { .badOption(what) }
        guard epochs >= 1 else { throw bad("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw bad("--batch-size must be at least 1, got \(batchSize)") }
        guard gradientAccumulationSteps >= 1 else {
            throw bad("--gradient-accumulation-steps must be at least 1 (micro-batches per optimiser step), got \(gradientAccumulationSteps)")
        }
        guard learningRate.isFinite, learningRate > 0 else { throw bad("--lr must be positive, got \(learningRate)") }
        guard warmup >= 0, warmup <= 1 else { throw bad("--warmup is a fraction of the steps in [0, 1], got \(warmup)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard maxGradNorm >= 0, maxGradNorm.isFinite else { throw bad("--max-grad-norm must be ≥ 0, got \(maxGradNorm)") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw bad("--dropout must be in [0, 1), got \(dropout)") }
        if let maxLength, maxLength < 3 { throw bad("--max-length must be at least 3, got \(maxLength)") }
        guard adamBeta1.isFinite, adamBeta1 >= 0, adamBeta1 < 1 else { throw bad("--adam-beta1 must be in [0, 1), got \(adamBeta1)") }
        guard adamBeta2.isFinite, adamBeta2 >= 0, adamBeta2 < 1 else { throw bad("--adam-beta2 must be in [0, 1), got \(adamBeta2)") }
        guard adamEpsilon.isFinite, adamEpsilon > 0 else { throw bad("--adam-epsilon must be positive, got \(adamEpsilon)") }
        if let maxSteps, maxSteps < 1 { throw bad("--max-steps must be at least 1, got \(maxSteps)") }
        if let evalSteps, evalSteps < 1 { throw bad("--eval-steps must be at least 1, got \(evalSteps)") }
        if let saveSteps, saveSteps < 1 { throw bad("--save-steps must be at least 1, got \(saveSteps)") }
        guard saveTotalLimit >= 1 else { throw bad("--save-total-limit must be at least 1, got \(saveTotalLimit)") }
        if let p = earlyStoppingPatience, p < 1 { throw bad("--early-stopping-patience must be at least 1, got \(p)") }
        if BestModelMetric(flag: metricForBestModel) == nil {
            throw bad("--metric-for-best-model takes \(BestModelMetric.names.joined(separator: ", ")); got '\(metricForBestModel ?? "")'")
        }
        if let loggingSteps, loggingSteps < 1 { throw bad("--logging-steps must be at least 1, got \(loggingSteps)") }
        try distillation?.validate()
    }
}

/// What one epoch gave: one line of `train_log.jsonl`.
public struct EpochReport: Sendable, Equatable, Codable {
    public var epoch: Int
    public var step: Int
    public var trainLoss: Double
    public var evalLoss: Double?
    public var evalAccuracy: Double?
    /// The task's other metrics (`eval_f1`, `eval_precision`, `eval_recall`, …), when it has them.
    public var evalF1: Double?
    public var evalPrecision: Double?
    public var evalRecall: Double?
    /// Question answering's SQuAD scores: v1.1 `eval_exact_match`, v2.0 `eval_exact`.
    public var evalExactMatch: Double?
    public var evalExact: Double?
    /// Regression's mean squared error and Pearson correlation.
    public var evalMSE: Double?
    public var evalPearson: Double?
    /// Masked-LM's perplexity, exp(eval_loss).
    public var evalPerplexity: Double?
    public var trainSamplesPerSecond: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, seconds
        case trainLoss = "train_loss", evalLoss = "eval_loss", evalAccuracy = "eval_accuracy"
        case evalF1 = "eval_f1", evalPrecision = "eval_precision", evalRecall = "eval_recall"
        case evalExactMatch = "eval_exact_match", evalExact = "eval_exact"
        case evalMSE = "eval_mse", evalPearson = "eval_pearson", evalPerplexity = "eval_perplexity"
        case trainSamplesPerSecond = "train_samples_per_second"
    }
}

/// Progress within an epoch, for a progress bar.
public struct StepReport: Sendable {
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    /// The running mean of this epoch's training loss.
    public var loss: Double
    public var samplesPerSecond: Double
}

// MARK: - Reading a saved recipe

extension TrainingOptions {
    enum CodingKeys: String, CodingKey {
        case epochs, batchSize, learningRate, warmup, weightDecay, maxGradNorm, dropout, seed, shuffle, maxLength
        case distillation, lrScheduler, adamBeta1, adamBeta2, adamEpsilon, maxSteps, loggingSteps, reportTo
        case evalSteps, saveSteps, saveTotalLimit, metricForBestModel, earlyStoppingPatience
        case gradientAccumulationSteps, maskedLM, freezeEncoder
    }

    /// Reads a `trainer_state.json` recipe; one saved before a flag existed gets that flag's
    /// default, so that `--resume` continues older runs.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingOptions()
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        warmup = try c.decode(Float.self, forKey: .warmup)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        maxGradNorm = try c.decode(Float.self, forKey: .maxGradNorm)
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout)
        seed = try c.decode(UInt64.self, forKey: .seed)
        shuffle = try c.decode(Bool.self, forKey: .shuffle)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        distillation = try c.decodeIfPresent(DistillationOptions.self, forKey: .distillation)
        lrScheduler = try c.decodeIfPresent(LRScheduler.self, forKey: .lrScheduler) ?? d.lrScheduler
        adamBeta1 = try c.decodeIfPresent(Float.self, forKey: .adamBeta1) ?? d.adamBeta1
        adamBeta2 = try c.decodeIfPresent(Float.self, forKey: .adamBeta2) ?? d.adamBeta2
        adamEpsilon = try c.decodeIfPresent(Float.self, forKey: .adamEpsilon) ?? d.adamEpsilon
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        loggingSteps = try c.decodeIfPresent(Int.self, forKey: .loggingSteps)
        reportTo = try c.decodeIfPresent(ReportTarget.self, forKey: .reportTo) ?? d.reportTo
        evalSteps = try c.decodeIfPresent(Int.self, forKey: .evalSteps)
        saveSteps = try c.decodeIfPresent(Int.self, forKey: .saveSteps)
        saveTotalLimit = try c.decodeIfPresent(Int.self, forKey: .saveTotalLimit) ?? d.saveTotalLimit
        metricForBestModel = try c.decodeIfPresent(String.self, forKey: .metricForBestModel)
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience)
        gradientAccumulationSteps = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulationSteps)
            ?? d.gradientAccumulationSteps
        maskedLM = try c.decodeIfPresent(MaskedLMOptions.self, forKey: .maskedLM)
        freezeEncoder = try c.decodeIfPresent(Bool.self, forKey: .freezeEncoder) ?? d.freezeEncoder
    }
}
