import Foundation

/// The forward and backward pass of extractive question answering (`BertForQuestionAnswering`,
/// `DistilBertForQuestionAnswering`): the encoder over every token, [DistilBERT: dropout at
/// `qa_dropout`] → `qa_outputs` `[tokens, 2]` (start, end), a loss over each window's start and
/// end logits, then the same backward `classificationStep` uses from the last hidden state down.

/// What a question-answering step's loss reads.
///
/// Fine-tuning: `(CE_start + CE_end) / 2`, each cross-entropy a mean over the step's windows,
/// the softmax over each window's own tokens (transformers' QA heads). Distilling, as
/// transformers' `run_squad_w_distillation.py`:
/// `α_kd·T²·(KL_start + KL_end)/2 + α_ce·(CE_start + CE_end)/2`, KL(softmax(teacher/T) ‖
/// softmax(student/T)) a mean over the windows (PyTorch's `batchmean`); its `alpha_ce` is our
/// α_kd, its `alpha_squad` our α_ce.
///
/// transformers pads a batch's windows to one length (run_qa.py: to `max_seq_length`) and
/// does not mask the padded positions' logits, so padding takes part in its softmaxes; here
/// every window is unpadded, so the losses agree exactly only on unpadded (or equal-length)
/// windows, and the distillation's KL likewise runs over real tokens alone.
struct QuestionAnsweringTargets {
    /// `[windows]`: the answer's first and last token within each window (0, `[CLS]`, for none).
    var startPositions: [Int]
    var endPositions: [Int]
    /// The teacher's `qa_outputs` `[tokens, 2]` for the same packed batch (nil: no KL term).
    var teacher: [Float]?
    /// Distillation's weights (nil: fine-tuning, the hard loss alone at weight 1).
    var distillation: DistillationOptions?
    /// The means' denominator: the windows of the whole optimiser step (more than this
    /// batch's under gradient accumulation).
    var windowsInStep: Int

    init(startPositions: [Int], endPositions: [Int], teacher: [Float]? = nil,
         distillation: DistillationOptions? = nil, windowsInStep: Int? = nil) {
        self.startPositions = startPositions
        self.endPositions = endPositions
        self.teacher = teacher
        self.distillation = distillation
        self.windowsInStep = windowsInStep ?? startPositions.count
    }

    /// The targets of `features` (one micro-batch, in batch order).
    init(_ features: [QATrainingFeature], teacher: [Float]? = nil, distillation: DistillationOptions? = nil,
         windowsInStep: Int? = nil) {
        self.init(startPositions: features.map(\.startPosition), endPositions: features.map(\.endPosition),
                  teacher: teacher, distillation: distillation, windowsInStep: windowsInStep)
    }
}

/// What one `questionAnsweringStep` gives.
struct QuestionAnsweringStepResult {
    /// The batch's share of the step's loss: `α_ce·hard + α_kd·soft` (fine-tuning: `hard`).
    var loss: Double
    /// Σ over the batch's windows of (CE_start + CE_end)/2, over `windowsInStep`.
    var hardLoss: Double
    /// Σ over the batch's windows of T²·(KL_start + KL_end)/2, over `windowsInStep` (0 without a teacher).
    var softLoss: Double
    /// `[windows][tokens]` each, when asked for (else empty).
    var startLogits: [[Float]]
    var endLogits: [[Float]]
}

extension EncoderModel {
    /// Runs `batch` (one window a text, packed) forward and backward for question answering,
    /// adding the gradient of the loss `targets` describe into `grads`. The loss and its
    /// gradient over the `[tokens, 2]` logits are computed on the host (a few values a token).
    /// `head` holds the head's buffers (`outputs` 2).
    func questionAnsweringStep(_ batch: TokenBatch, targets: QuestionAnsweringTargets, arena a: TrainingArena,
                               head h: TokenHeadArena, grads: GradientTable, dropout: DropoutPlan,
                               withLogits: Bool = false) throws -> QuestionAnsweringStepResult {
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        guard let qa = heads.qaOutputs, qa.outFeatures == 2 else { throw ModelError.missingHead("question answering") }
        try validate(batch)
        let (t, d) = (batch.tokens, config.hidden)
        try check(targets, batch)
        guard h.fits(tokens: t, outputs: 2), a.fits(tokens: t, sequences: batch.batch) else {
            throw ModelError.malformedBatch("a batch of \(t) tokens; the arena keeps \(min(a.tokens, h.tokens))")
        }
        let packed = try forwardForTraining(batch, arena: a, dropout: dropout, backend: tb, everyToken: true)
        let hidden = a.hidden[layers.count]
        let mask = a.tokenDropout(dropout.questionAnswering(config))
        var input = hidden
        if let mask {
            try tb.dropout(hidden, width: d, mask: mask, out: h.dropped)
            input = h.dropped
        }
        try tb.linear(input, qa, rows: t, activation: .none, out: h.logits)

        let logits = try tb.download(h.logits, count: 2 * t)
        let loss = questionAnsweringLoss(logits: logits, offsets: batch.offsets, targets: targets)
        try tb.upload(loss.dLogits, to: h.dLogits)
        try tb.linearBackward(dOut: h.dLogits, input: input, try grads.linear(qa), rows: t, activation: .none,
                              preActivation: nil, dInput: mask == nil ? a.dHidden : h.dDropped, accumulateInput: false)
        if let mask { try tb.dropout(h.dDropped, width: d, mask: mask, out: a.dHidden) }
        try backwardEncoder(batch, packed: packed, arena: a, grads: grads, dropout: dropout, backend: tb,
                            everyToken: true)

        let rows = withLogits ? batch.split(Array(0..<t)) : []
        return QuestionAnsweringStepResult(loss: loss.loss, hardLoss: loss.hard, softLoss: loss.soft,
                                           startLogits: rows.map { $0.map { logits[2 * $0] } },
                                           endLogits: rows.map { $0.map { logits[2 * $0 + 1] } })
    }

    private func check(_ targets: QuestionAnsweringTargets, _ batch: TokenBatch) throws {
        let s = batch.batch
        guard targets.startPositions.count == s, targets.endPositions.count == s else {
            throw ModelError.malformedBatch("\(targets.startPositions.count) start and \(targets.endPositions.count) "
                                            + "end positions for \(s) windows")
        }
        for w in 0..<s {
            let n = batch.lengths[w]
            guard (0..<n).contains(targets.startPositions[w]), (0..<n).contains(targets.endPositions[w]) else {
                throw ModelError.malformedBatch("window \(w) of \(n) tokens has answer positions "
                                                + "\(targets.startPositions[w])…\(targets.endPositions[w])")
            }
        }
        guard targets.windowsInStep >= s else {
            throw ModelError.malformedBatch("\(targets.windowsInStep) windows in the step, fewer than the batch's \(s)")
        }
        if let teacher = targets.teacher, teacher.count != 2 * batch.tokens {
            throw ModelError.malformedBatch("teacher logits of \(teacher.count) values for \(batch.tokens) tokens × 2")
        }
    }
}

/// The QA loss over packed `logits` `[tokens, 2]` (windows at `offsets`, `[windows + 1]`) and
/// its gradient `dLogits` `[tokens, 2]`, in double precision: with N = `windowsInStep`,
/// `hard = Σ_w (CE_start + CE_end) / 2N`, `soft = Σ_w T²·(KL_start + KL_end) / 2N`,
/// `loss = α_ce·hard + α_kd·soft` (fine-tuning: `hard`);
/// ∂/∂z = α_ce·(softmax(z) − onehot)/2N + α_kd·T·(softmax(z/T) − softmax(teacher/T))/2N.
func questionAnsweringLoss(logits: [Float], offsets: [Int], targets: QuestionAnsweringTargets)
    -> (loss: Double, hard: Double, soft: Double, dLogits: [Float]) {
    let n = Double(targets.windowsInStep)
    let options = targets.distillation
    let alphaCE = Double(options?.alphaCE ?? 1)
    let kd = options.flatMap { o in targets.teacher.map { (teacher: $0, alpha: Double(o.alphaKD), t: Double(o.temperature)) } }
    let useKD = (kd?.alpha ?? 0) > 0
    var dLogits = [Float](repeating: 0, count: logits.count)
    var (hard, soft) = (0.0, 0.0)
    for w in 0..<(offsets.count - 1) {
        let rows = offsets[w]..<offsets[w + 1]
        for column in 0..<2 {   // start, end
            let z = rows.map { Double(logits[2 * $0 + column]) }
            let p = softmax(z, temperature: 1)
            let label = (column == 0 ? targets.startPositions : targets.endPositions)[w]
            hard += logSumExp(z) - z[label]
            var g = p.map { alphaCE * $0 / (2 * n) }
            g[label] -= alphaCE / (2 * n)
            if useKD, let kd {
                let ps = softmax(z, temperature: kd.t)
                let pt = softmax(rows.map { Double(kd.teacher[2 * $0 + column]) }, temperature: kd.t)
                var kl = 0.0
                for i in pt.indices where pt[i] > 0 { kl += pt[i] * (log(pt[i]) - log(max(ps[i], .leastNonzeroMagnitude))) }
                soft += kd.t * kd.t * kl
                for i in g.indices { g[i] += kd.alpha * kd.t * (ps[i] - pt[i]) / (2 * n) }
            }
            for (i, r) in rows.enumerated() { dLogits[2 * r + column] = Float(g[i]) }
        }
    }
    hard /= 2 * n
    soft /= 2 * n
    let loss = options == nil ? hard : alphaCE * hard + (useKD ? (kd?.alpha ?? 0) * soft : 0)
    return (loss, hard, soft, dLogits)
}

/// log Σ exp(z), in double.
private func logSumExp(_ z: [Double]) -> Double {
    let top = z.max() ?? 0
    return top + log(z.reduce(0) { $0 + exp($1 - top) })
}

/// softmax(z / temperature), in double.
private func softmax(_ z: [Double], temperature: Double) -> [Double] {
    let top = (z.max() ?? 0) / temperature
    let e = z.map { exp($0 / temperature - top) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

extension DropoutPlan {
    /// DistilBERT's dropout before `qa_outputs` (`qa_dropout`), at the classifier's site (a
    /// model has one head); BERT's question answering has none.
    func questionAnswering(_ config: ModelConfig) -> DropoutKey? {
        guard config.modelType == .distilbert, rates.questionAnswering > 0 else { return nil }
        return DropoutKey(seed: seed, site: UInt32(1 + 4 * layers), probability: rates.questionAnswering)
    }
}
