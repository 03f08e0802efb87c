@testable import DistilCL
import Foundation
import Testing

/// `--lr-scheduler`, `--max-steps` and AdamW's `--adam-*` against transformers' closed forms,
/// each computed here on its own, and against worked numbers.
@Suite("Learning-rate schedules and AdamW settings")
struct ScheduleTests {
    /// transformers' `optimization.py`, written out: a linear warm-up, then the schedule's
    /// decay of the progress p = (t − w) / max(1, T − w).
    static func reference(_ name: String, step t: Int, warmup w: Int, total T: Int) -> Double {
        if t < w { return Double(t) / Double(max(1, w)) }
        let p = Double(t - w) / Double(max(1, T - w))
        switch name {
        case "linear": return max(0, Double(T - t) / Double(max(1, T - w)))
        case "cosine": return max(0, 0.5 * (1 + cos(.pi * p)))
        default: return 1
        }
    }

    @Test("every step's rate equals transformers' formula", arguments: LRScheduler.allCases)
    func everyStep(_ scheduler: LRScheduler) {
        for (warmup, total) in [(0, 1), (3, 10), (2, 12), (10, 10), (0, 7), (5, 100)] {
            let peak: Float = 3e-4   // the rate is the float peak times the factor, in double
            var s = OptimizerSettings(learningRate: peak, warmupSteps: warmup, totalSteps: total)
            s.scheduler = scheduler
            for t in 0...(total + 2) {
                let want = Float(Double(peak) * Self.reference(scheduler.rawValue, step: t, warmup: warmup, total: total))
                #expect(s.learningRate(at: t) == want, "\(scheduler) w \(warmup) T \(total) step \(t)")
            }
        }
    }

    /// Warm-up 3 of 10 steps at a peak of 1: the numbers a reader can check by hand.
    @Test("worked numbers: warm-up 3 of 10 steps")
    func workedNumbers() {
        func rates(_ scheduler: LRScheduler) -> [Double] {
            var s = OptimizerSettings(learningRate: 1, warmupSteps: 3, totalSteps: 10)
            s.scheduler = scheduler
            return (0..<10).map { Double(s.learningRate(at: $0)) }
        }
        let warm = [0, 1.0 / 3, 2.0 / 3]
        // linear: (10 − t) / 7 after the warm-up.
        expectNear(rates(.linear), warm + [1, 6.0 / 7, 5.0 / 7, 4.0 / 7, 3.0 / 7, 2.0 / 7, 1.0 / 7])
        // cosine: ½(1 + cos(π(t − 3)/7)); t = 5 gives ½(1 + cos(2π/7)) = 0.8117449.
        expectNear(rates(.cosine), warm + [1, 0.9504844, 0.8117449, 0.6112605, 0.3887395, 0.1882551, 0.0495156])
        expectNear(rates(.constantWithWarmup), warm + [Double](repeating: 1, count: 7))
    }

    private func expectNear(_ got: [Double], _ want: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, sourceLocation: sourceLocation)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(abs(g - w) < 1e-6, "step \(i): \(g) vs \(w)", sourceLocation: sourceLocation)
        }
    }

    /// `--max-steps` replaces the epochs: the schedule spans it, warm-up ceil(0.1 × 12) = 2,
    /// and the run begins ceil(12 / 5) = 3 epochs (the last cut to 2 steps).
    @Test("--max-steps sets the schedule's total and the epochs")
    func maxSteps() {
        var o = TrainingOptions()
        o.batchSize = 4
        o.epochs = 1
        o.maxSteps = 12
        o.lrScheduler = .cosine
        o.adamBeta1 = 0.8
        o.adamBeta2 = 0.95
        o.adamEpsilon = 1e-6
        let s = o.optimizer(examples: 18)
        #expect(s.totalSteps == 12 && s.warmupSteps == 2 && s.scheduler == .cosine)
        #expect(s.beta1 == 0.8 && s.beta2 == 0.95 && s.eps == 1e-6)
        #expect(o.epochCount(18) == 3 && o.stepsPerEpoch(18) == 5 && o.totalSteps(18) == 12)
        o.maxSteps = nil
        #expect(o.optimizer(examples: 18).totalSteps == 5 && o.epochCount(18) == 1)
        // Today's defaults: linear, 0.9/0.999/1e-8.
        let d = TrainingOptions().optimizer(examples: 64)
        #expect(d.scheduler == .linear && d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8 && d.totalSteps == 6)
    }

    @Test("a recipe saved before the new flags reads back with their defaults")
    func oldRecipe() throws {
        let old = #"{"epochs":2,"batchSize":4,"learningRate":0.001,"warmup":0.1,"weightDecay":0.01,"maxGradNorm":1,"seed":7,"shuffle":true}"#
        var want = TrainingOptions()
        (want.epochs, want.batchSize, want.learningRate, want.seed) = (2, 4, 1e-3, 7)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: Data(old.utf8)) == want)
        var o = want
        (o.lrScheduler, o.maxSteps, o.loggingSteps, o.reportTo, o.adamBeta2) = (.cosine, 9, 2, .tensorboard, 0.98)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(o)) == o)
    }

    @Test("each bad value is refused with the flag's name",
          arguments: ["--adam-beta1=1", "--adam-beta1=-0.1", "--adam-beta2=nan", "--adam-epsilon=0", "--max-steps=0",
                      "--logging-steps=-1"])
    func refusals(_ given: String) {
        let parts = given.split(separator: "="), flag = String(parts[0]), value = String(parts[1])
        var o = TrainingOptions()
        switch flag {
        case "--adam-beta1": o.adamBeta1 = Float(value)!
        case "--adam-beta2": o.adamBeta2 = Float(value)!
        case "--adam-epsilon": o.adamEpsilon = Float(value)!
        case "--max-steps": o.maxSteps = Int(value)!
        default: o.loggingSteps = Int(value)!
        }
        #expect(throws: TrainingError.self) { try o.validate() }
        do { try o.validate() } catch { #expect("\(error)".contains(flag), "\(error)") }
    }

    /// One AdamW update with β₁ 0.8, β₂ 0.95, ε 1e-6 against PyTorch's formula in double.
    @Test("AdamW with other betas and epsilon matches a double-precision update", arguments: BackendCase.all)
    func adamWSettings(_ bc: BackendCase) throws {
        let b = bc.trainer
        var rng = SeededRandom(seed: 11)
        let count = 4099
        let p = rng.floats(count), g = rng.floats(count, -0.1...0.1)
        let m = rng.floats(count, -0.01...0.01), v = rng.floats(count, 0...0.001)
        let (pb, gb, mb, vb) = (try b.buffer(p), try b.buffer(g), try b.buffer(m), try b.buffer(v))
        let (lr, wd, b1, b2, eps, t) = (2e-3, 0.05, 0.8, 0.95, 1e-6, 3)
        try b.adamW(parameter: pb, gradient: gb, m: mb, v: vb, count: count,
                    step: AdamWStep(learningRate: Float(lr), weightDecay: Float(wd), step: t, beta1: Float(b1),
                                    beta2: Float(b2), eps: Float(eps)))
        var wantP: [Double] = [], wantM: [Double] = [], wantV: [Double] = []
        for i in 0..<count {
            let gi = Double(g[i])
            let mi = b1 * Double(m[i]) + (1 - b1) * gi, vi = b2 * Double(v[i]) + (1 - b2) * gi * gi
            let mHat = mi / (1 - pow(b1, Double(t))), vHat = vi / (1 - pow(b2, Double(t)))
            wantP.append(Double(p[i]) * (1 - lr * wd) - lr * mHat / (vHat.squareRoot() + eps))
            wantM.append(mi)
            wantV.append(vi)
        }
        expectClose(try b.download(pb), wantP, atol: 1e-6, rtol: 1e-5, "\(bc.name) parameters")
        expectClose(try b.download(mb), wantM, atol: 1e-8, rtol: 1e-5, "\(bc.name) first moment")
        expectClose(try b.download(vb), wantV, atol: 1e-10, rtol: 1e-5, "\(bc.name) second moment")
    }
}
