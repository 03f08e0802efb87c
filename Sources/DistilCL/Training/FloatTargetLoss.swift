import Foundation

/// Regression's and multi-label classification's loss over a batch's logits s `[rows, C]`
/// (`LogitsLoss`), as transformers' sequence classifiers compute it, each a mean over the
/// step's labelled texts and the C outputs:
/// - regression: `MSELoss`, (s − y)²;
/// - multi-label: `BCEWithLogitsLoss`, max(s, 0) − s·y + log(1 + e^−|s|), y ∈ {0, 1}.
///
/// Distilling, the teacher's logits t give the soft term beside it, a mean over the step's
/// texts: regression `α_kd·(s − t)²`; multi-label `α_kd·T²·BCE(s/T, σ(t/T))`, the same loss
/// against the teacher's tempered probabilities (its gradient `α_kd·T·(σ(s/T) − σ(t/T))`); the
/// hard term is weighted by α_ce. A few values a text: computed on the host in double
/// precision. Terms written: 0 = each text's hard loss (0 without a label), 1 = its soft loss.
struct FloatTargetLoss: LogitsLoss {
    let problem: ProblemType
    /// `[rows]` of `[C]` targets; nil for a text without a label.
    let targets: [[Float]?]
    /// The teacher's logits `[rows, C]` (nil: no soft term).
    var teacher: [Float]?
    /// Distillation's weights (nil: fine-tuning, the hard loss alone at weight 1).
    var distillation: DistillationOptions?
    /// The two means' denominators over the whole optimiser step (this batch's by default).
    var labelledInStep: Int
    var textsInStep: Int

    init(problem: ProblemType, targets: [[Float]?], teacher: [Float]? = nil, distillation: DistillationOptions? = nil,
         step: StepTotals? = nil) {
        precondition(problem != .singleLabel, "single-label classification is CrossEntropyLoss")
        self.problem = problem
        self.targets = targets
        self.teacher = teacher
        self.distillation = distillation
        labelledInStep = step?.labelled ?? targets.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        textsInStep = step?.texts ?? targets.count
    }

    var rows: Int { targets.count }
    var terms: Int { 2 }
    private var hardWeight: Double { Double(distillation?.alphaCE ?? 1) }

    func evaluate(logits: any DeviceBuffer, classes c: Int, backend b: any TrainingBackend, scratch: any DeviceBuffer,
                  losses: [any DeviceBuffer], dLogits: any DeviceBuffer) throws {
        let s = try b.download(logits, count: rows * c)
        let (hard, soft, gradient) = values(s, classes: c)
        try b.upload(hard, to: losses[0])
        try b.upload(soft, to: losses[1])
        try b.upload(gradient, to: dLogits)
    }

    /// Each text's hard and soft terms (each a mean over the C outputs; the soft one weighted)
    /// and ∂(step loss)/∂s for logits `s` `[rows, C]`.
    func values(_ s: [Float], classes c: Int) -> (hard: [Float], soft: [Float], gradient: [Float]) {
        var hard = [Float](repeating: 0, count: rows), soft = hard
        var gradient = [Float](repeating: 0, count: rows * c)
        let hardScale = labelledInStep > 0 ? hardWeight / Double(labelledInStep * c) : 0
        let kd = Double(distillation?.alphaKD ?? 0), temperature = Double(distillation?.temperature ?? 1)
        let softScale = kd / Double(textsInStep * c)
        for r in 0..<rows {
            var h = 0.0, k = 0.0
            for j in 0..<c {
                let z = Double(s[r * c + j])
                var g = 0.0
                if let y = targets[r].map({ Double($0[j]) }) {
                    switch problem {
                    case .regression: (h, g) = (h + (z - y) * (z - y), 2 * (z - y) * hardScale)
                    default: (h, g) = (h + Self.bce(z, y), (Self.sigmoid(z) - y) * hardScale)
                    }
                }
                if let teacher, kd > 0 {
                    let t = Double(teacher[r * c + j])
                    switch problem {
                    case .regression:
                        k += (z - t) * (z - t)
                        g += 2 * (z - t) * softScale
                    default:
                        let p = Self.sigmoid(t / temperature)
                        k += temperature * temperature * Self.bce(z / temperature, p)
                        g += temperature * (Self.sigmoid(z / temperature) - p) * softScale
                    }
                }
                gradient[r * c + j] = Float(g)
            }
            hard[r] = Float(h / Double(c))
            soft[r] = Float(kd * k / Double(c))
        }
        return (hard, soft, gradient)
    }

    func batchLoss(_ terms: [[Float]]) -> Double {
        let hard = labelledInStep > 0 ? hardWeight * terms[0].reduce(0.0) { $0 + Double($1) } / Double(labelledInStep) : 0
        return hard + terms[1].reduce(0.0) { $0 + Double($1) } / Double(textsInStep)
    }

    /// max(z, 0) − z·y + log(1 + e^−|z|): binary cross-entropy with logits, stable for any z.
    static func bce(_ z: Double, _ y: Double) -> Double { max(z, 0) - z * y + log1p(exp(-abs(z))) }

    static func sigmoid(_ z: Double) -> Double { z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)) }
}
