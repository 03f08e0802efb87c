import Foundation

/// transformers' learning-rate schedules (`--lr-scheduler`, its `SchedulerType` names), as
/// `optimization.py`'s `get_*_schedule_with_warmup` define them: a factor of the peak rate
/// for optimiser step `step` (0 for the first), applied as PyTorch's `LambdaLR` applies it.
public enum LRScheduler: String, Sendable, Codable, CaseIterable {
    /// Linear from 0 over the warm-up, then linear to 0 at the last step.
    case linear
    /// Linear warm-up, then half a cosine wave from 1 to 0 (`num_cycles` 0.5).
    case cosine
    /// Linear warm-up, then the peak rate to the end.
    case constantWithWarmup = "constant_with_warmup"

    /// The factor of the peak learning rate at optimiser step `step` of `total`, `warmup` of
    /// them warming up.
    public func factor(step: Int, warmup: Int, total: Int) -> Double {
        if step < warmup { return Double(step) / Double(max(1, warmup)) }
        switch self {
        case .linear:
            return max(0, Double(total - step) / Double(max(1, total - warmup)))
        case .cosine:
            let progress = Double(step - warmup) / Double(max(1, total - warmup))
            return max(0, 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress)))
        case .constantWithWarmup:
            return 1
        }
    }
}

/// Where `--report-to` sends the logged scalars besides `train_log.jsonl`.
public enum ReportTarget: String, Sendable, Codable, CaseIterable {
    case none
    /// TensorBoard event files under `OUT/runs/` (`TensorBoardWriter`).
    case tensorboard
}
