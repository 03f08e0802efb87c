import Foundation

/// A `--logging-steps` line of `train_log.jsonl`, transformers' `log_history` entry: the mean
/// training loss over the steps since the previous line, the learning rate after this step
/// (as transformers logs it: the scheduler has already stepped, so it is the rate of the next
/// step), the gradient norm before clipping of this step, and the epoch as a fraction.
public struct StepLog: Sendable, Equatable, Codable {
    public var loss: Double
    public var learningRate: Double
    public var gradNorm: Double
    public var samplesPerSecond: Double
    public var step: Int
    public var epoch: Double

    enum CodingKeys: String, CodingKey {
        case loss, step, epoch
        case learningRate = "learning_rate", gradNorm = "grad_norm", samplesPerSecond = "samples_per_second"
    }
}

/// An `--eval-steps` line of `train_log.jsonl`: the evaluation at a step within an epoch.
public struct EvalLog: Sendable, Equatable, Codable {
    public var evalLoss: Double
    public var evalAccuracy: Double?
    /// The task's other metrics, when it has them (as `EpochReport`'s).
    public var evalF1: Double?
    public var evalPrecision: Double?
    public var evalRecall: Double?
    public var evalExactMatch: Double?
    public var evalExact: Double?
    /// Regression's mean squared error and Pearson correlation.
    public var evalMSE: Double?
    public var evalPearson: Double?
    public var evalPerplexity: Double?
    public var step: Int
    public var epoch: Double

    enum CodingKeys: String, CodingKey {
        case step, epoch
        case evalLoss = "eval_loss", evalAccuracy = "eval_accuracy"
        case evalF1 = "eval_f1", evalPrecision = "eval_precision", evalRecall = "eval_recall"
        case evalExactMatch = "eval_exact_match", evalExact = "eval_exact"
        case evalMSE = "eval_mse", evalPearson = "eval_pearson", evalPerplexity = "eval_perplexity"
    }

    init(_ e: Evaluation, loss: Double, step: Int, epoch: Double) {
        (evalLoss, evalAccuracy, evalF1) = (loss, e["accuracy"], e["f1"])
        (evalPrecision, evalRecall, self.step, self.epoch) = (e["precision"], e["recall"], step, epoch)
        (evalExactMatch, evalExact) = (e["exact_match"], e["exact"])
        (evalMSE, evalPearson, evalPerplexity) = (e["mse"], e["pearson"], e["perplexity"])
    }
}

/// One line of `train_log.jsonl`: a `--logging-steps` line, an `--eval-steps` evaluation or
/// an epoch's report.
public enum TrainLogLine: Sendable, Equatable {
    case step(StepLog)
    case evaluation(EvalLog)
    case epoch(EpochReport)

    /// The optimiser step the line was written after.
    public var step: Int {
        switch self {
        case .step(let s): s.step
        case .evaluation(let e): e.step
        case .epoch(let e): e.step
        }
    }

    /// The epoch report, if the line is one.
    public var epochReport: EpochReport? {
        if case .epoch(let e) = self { return e }
        return nil
    }

    /// The line's JSON (keys sorted), without the newline.
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch self {
        case .step(let s): return try encoder.encode(s)
        case .evaluation(let e): return try encoder.encode(e)
        case .epoch(let e): return try encoder.encode(e)
        }
    }

    /// Reads a line back (an epoch report has `train_samples_per_second`, a step line
    /// `grad_norm`); nil for anything else.
    init?(_ line: Data) {
        let decoder = JSONDecoder()
        if let e = try? decoder.decode(EpochReport.self, from: line) {
            self = .epoch(e)
        } else if let s = try? decoder.decode(StepLog.self, from: line) {
            self = .step(s)
        } else if let e = try? decoder.decode(EvalLog.self, from: line) {
            self = .evaluation(e)
        } else {
            return nil
        }
    }
}

/// What the loop adds up between two `--logging-steps` lines and within an epoch, kept in
/// `trainer_state.json` so that a resumed run logs what an uninterrupted one does.
struct LoopTotals: Codable, Equatable {
    /// Sum of the step losses since the last logging line, and how many steps.
    var logLoss = 0.0
    var logSteps = 0
    /// Sum of loss × texts in the current epoch, and how many texts.
    var epochLoss = 0.0
    var epochSeen = 0
}
