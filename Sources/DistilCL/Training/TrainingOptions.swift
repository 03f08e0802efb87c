import Foundation

/// The recipe of a fine-tuning run (transformers' Trainer defaults where it has one).
public struct TrainingOptions: Sendable, Equatable, Codable {
    public var epochs = 3
    public var batchSize = 32
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

    public init() {}

    /// Optimiser steps in one epoch of `examples` texts.
    public func stepsPerEpoch(_ examples: Int) -> Int { (examples + batchSize - 1) / batchSize }

    /// The optimiser settings for `examples` training texts.
    public func optimizer(examples: Int) -> OptimizerSettings {
        let total = epochs * stepsPerEpoch(examples)
        return OptimizerSettings(learningRate: learningRate, weightDecay: weightDecay, maxGradNorm: maxGradNorm,
                                 warmupSteps: Int((fraction(warmup) * Double(total)).rounded(.up)), totalSteps: total)
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
        guard learningRate.isFinite, learningRate > 0 else { throw bad("--lr must be positive, got \(learningRate)") }
        guard warmup >= 0, warmup <= 1 else { throw bad("--warmup is a fraction of the steps in [0, 1], got \(warmup)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard maxGradNorm >= 0, maxGradNorm.isFinite else { throw bad("--max-grad-norm must be ≥ 0, got \(maxGradNorm)") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw bad("--dropout must be in [0, 1), got \(dropout)") }
        if let maxLength, maxLength < 3 { throw bad("--max-length must be at least 3, got \(maxLength)") }
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
    public var trainSamplesPerSecond: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, seconds
        case trainLoss = "train_loss", evalLoss = "eval_loss", evalAccuracy = "eval_accuracy"
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
