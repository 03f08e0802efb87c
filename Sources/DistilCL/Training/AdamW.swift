import Foundation

/// The optimiser settings of a run, as transformers' Trainer names them.
public struct OptimizerSettings: Sendable, Equatable {
    public var learningRate: Float
    public var weightDecay: Float
    /// Global gradient-norm clipping; 0 turns it off.
    public var maxGradNorm: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// The shape of the learning rate over the steps (`--lr-scheduler`).
    public var scheduler: LRScheduler = .linear

    public init(learningRate: Float, weightDecay: Float = 0.01, maxGradNorm: Float = 1, warmupSteps: Int,
                totalSteps: Int) {
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.maxGradNorm = maxGradNorm
        self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    /// The learning rate of optimiser step `step` (0 for the first), as transformers'
    /// `get_<scheduler>_schedule_with_warmup` gives it (`LRScheduler.factor`).
    public func learningRate(at step: Int) -> Float {
        Float(Double(learningRate) * scheduler.factor(step: step, warmup: warmupSteps, total: totalSteps))
    }
}

/// AdamW over every parameter of a model, with its moments on the device: clips the global
/// gradient norm (as `torch.nn.utils.clip_grad_norm_`), applies decoupled weight decay to the
/// parameters that decay, updates in place and rebuilds the linear layers' packed layouts.
final class AdamWOptimizer {
    let settings: OptimizerSettings
    let grads: GradientTable
    let m: [any DeviceBuffer]
    let v: [any DeviceBuffer]
    /// Optimiser steps taken so far.
    private(set) var step = 0
    private let norms: any DeviceBuffer
    private let owners: [any DeviceLinear]
    /// The parameters a step updates: all but a frozen encoder's (`--freeze-encoder`).
    private let live: [Int]

    init(settings: OptimizerSettings, gradients: GradientTable, backend: any TrainingBackend) throws {
        self.settings = settings
        grads = gradients
        let ps = gradients.parameters
        // A new buffer's contents are undefined on a device: the moments start at zero.
        m = try ps.map { p in try backend.makeBuffer(count: p.count).zeroed(p.count, on: backend) }
        v = try ps.map { p in try backend.makeBuffer(count: p.count).zeroed(p.count, on: backend) }
        norms = try backend.makeBuffer(count: ps.count)
        var seen = Set<ObjectIdentifier>()
        live = ps.indices.filter { !gradients.frozen[$0] }
        // The layers whose weights a step changes (a frozen encoder's keep theirs).
        owners = live.compactMap { ps[$0].owner }.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// One update from the accumulated gradients; returns the gradient norm before clipping
    /// and the learning rate used.
    @discardableResult
    func update(on backend: any TrainingBackend) throws -> (gradNorm: Float, learningRate: Float) {
        let ps = grads.parameters
        for i in live {
            try backend.sumOfSquares(grads.gradients[i], count: ps[i].count, out: norms, index: i)
        }
        let squares = try backend.download(norms, count: ps.count)
        let norm = Float(live.reduce(0.0) { $0 + Double(squares[$1]) }.squareRoot())
        guard norm.isFinite else { throw TrainingError.nonFiniteGradient(step: step + 1) }
        var scale: Float = 1
        if settings.maxGradNorm > 0 { scale = min(1, settings.maxGradNorm / (norm + 1e-6)) }
        let lr = settings.learningRate(at: step)
        for i in live {
            let p = ps[i]
            let s = AdamWStep(learningRate: lr, weightDecay: p.decays ? settings.weightDecay : 0, step: step + 1,
                              gradScale: scale, beta1: settings.beta1, beta2: settings.beta2, eps: settings.eps)
            try backend.adamW(parameter: p.value, gradient: grads.gradients[i], m: m[i], v: v[i], count: p.count, step: s)
        }
        for layer in owners { try backend.refresh(layer) }
        step += 1
        return (norm, lr)
    }

    /// Restores the moments and step count of a saved run.
    func restore(step: Int, m moments: [[Float]], v second: [[Float]], on backend: any ComputeBackend) throws {
        for i in m.indices {
            try backend.upload(moments[i], to: m[i])
            try backend.upload(second[i], to: v[i])
        }
        self.step = step
    }
}

private extension DeviceBuffer {
    func zeroed(_ count: Int, on backend: any TrainingBackend) throws -> any DeviceBuffer {
        try backend.fill(self, value: 0, count: count)
        return self
    }
}
