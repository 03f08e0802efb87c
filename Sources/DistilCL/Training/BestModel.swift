import Foundation

/// The metric `--metric-for-best-model` names (transformers' `metric_for_best_model`, with or
/// without its `eval_` prefix): the evaluation loss and regression's mean squared error are
/// minimised, every other metric maximised (transformers' `greater_is_better` default: true
/// unless the name ends in "loss", which would maximise an error). Default:
/// the task's main metric (`TrainingTask.mainMetric`).
public enum BestModelMetric: String, Sendable, CaseIterable {
    case accuracy = "eval_accuracy"
    case loss = "eval_loss"
    case f1 = "eval_f1"
    case precision = "eval_precision"
    case recall = "eval_recall"
    /// Regression's (lower is better; transformers would need `greater_is_better=False`).
    case mse = "eval_mse"
    case pearson = "eval_pearson"
    /// Masked-LM's (lower is better).
    case perplexity = "eval_perplexity"

    /// Every name the flag takes.
    public static let names = allCases.flatMap { [String($0.rawValue.dropFirst(5)), $0.rawValue] }

    /// The metric `name` means (nil for an unknown name); `nil` gives accuracy.
    public init?(flag name: String?) {
        guard let name else { self = .accuracy; return }
        let bare = name.hasPrefix("eval_") ? name : "eval_" + name
        guard let metric = BestModelMetric(rawValue: bare) else { return nil }
        self = metric
    }

    public var greaterIsBetter: Bool { self != .loss && self != .mse && self != .perplexity }

    /// This metric of an evaluation (nil when the task does not report it).
    func value(_ e: Evaluation) -> Double? {
        self == .loss ? e.loss : e[String(rawValue.dropFirst(5))]
    }
}

/// transformers' best-model bookkeeping (`TrainerState.best_metric`, `best_model_checkpoint`)
/// and `EarlyStoppingCallback`'s counter, over every evaluation of the run (each epoch's end
/// and each `--eval-steps` one). An evaluation improves only when strictly better than the best
/// so far (the first always does); one that does not adds one to the counter, one that does
/// resets it. Kept in `trainer_state.json`, so that `--resume` continues the same count.
struct BestModelTracker: Equatable {
    let metric: BestModelMetric
    /// `--early-stopping-patience` (nil: never stop early).
    let patience: Int?
    var bestMetric: Double?
    /// The checkpoint folder's name (`checkpoint-epoch2`, `checkpoint-40`) of the best evaluation.
    var bestCheckpoint: String?
    /// Evaluations since the last improvement.
    var patienceCounter = 0

    /// Records an evaluation; returns whether it is the new best (its step is then saved).
    mutating func observe(_ evaluation: Evaluation) -> Bool {
        guard let value = metric.value(evaluation) else { return false }
        let better = bestMetric.map { metric.greaterIsBetter ? value > $0 : value < $0 } ?? true
        if better {
            bestMetric = value
            patienceCounter = 0
        } else {
            patienceCounter += 1
        }
        return better
    }

    /// Whether `--early-stopping-patience` evaluations in a row have not improved the metric.
    var shouldStop: Bool { patience.map { patienceCounter >= $0 } ?? false }
}

// MARK: - Rotation

extension RunFolder {
    /// The complete checkpoints in the folder (those with a `trainer_state.json`), oldest first.
    func checkpointsByStep() -> [(name: String, step: Int)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter(Self.isCheckpoint)
        let found = names.compactMap { name -> (name: String, step: Int)? in
            let file = url.appendingPathComponent(name).appendingPathComponent("trainer_state.json")
            guard let data = try? Data(contentsOf: file), let state = try? JSONDecoder().decode(State.self, from: data)
            else { return nil }
            return (name, state.step)
        }
        return found.sorted { ($0.step, $0.name) < ($1.step, $1.name) }
    }

    /// Which of `sorted` (checkpoint names, oldest first, the one being saved last) a save keeps,
    /// as transformers' `_sorted_checkpoints` and `_rotate_checkpoints`: the best one is moved
    /// to just before the newest so that it is deleted last, a limit of one keeps two when the
    /// best is not the newest, and the oldest beyond `limit` go.
    static func rotation(_ sorted: [String], best: String?, limit: Int) -> [String] {
        var order = sorted, limit = limit
        if let best, let i = order.firstIndex(of: best), i < order.count - 1 {
            order.remove(at: i)
            order.insert(best, at: order.count - 1)
            if limit == 1 { limit = 2 }
        }
        return Array(order.suffix(max(1, limit)))
    }

    /// Hard-links checkpoint `name`'s files (a flat folder) into `staged`, so that the swap
    /// carries it into the new folder without copying the weights.
    func carry(_ name: String, into staged: URL) throws {
        let fm = FileManager.default
        let from = url.appendingPathComponent(name), to = staged.appendingPathComponent(name)
        try fm.createDirectory(at: to, withIntermediateDirectories: true)
        for file in try fm.contentsOfDirectory(atPath: from.path) {
            try fm.linkItem(at: from.appendingPathComponent(file), to: to.appendingPathComponent(file))
        }
    }
}
