import Foundation

/// Token classification's side of a `Trainer` run: the tagged sentences as features.
final class TokenTaskState {
    let features: TaggedFeatures
    /// `--eval`'s sentences under the same names (empty without one).
    let eval: [(Encoding, [Int32])]

    init(features: TaggedFeatures, eval: [(Encoding, [Int32])]) {
        self.features = features
        self.eval = eval
    }

    /// Labelled tokens of training examples `indices`.
    func labelled(_ indices: some Sequence<Int>) -> Int {
        indices.reduce(0) { n, i in n + features.examples[i].1.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
    }
}

extension Trainer {
    /// Token classification's micro-batch: training examples `indices` (their batch `batch`)
    /// forward and backward, the loss averaged over the step's `labelledInStep` labelled and
    /// `tokensInStep` tokens; distilling, against the teacher's logits of every token (and its
    /// hidden states for the cosine term). Returns the batch's share of the step's loss.
    func accumulateTokens(_ tokens: TokenTaskState, indices: [Int], batch: TokenBatch, plan: DropoutPlan,
                          labelledInStep: Int, tokensInStep: Int) throws -> Double {
        let (arena, head) = try arenas(for: batch, tokenOutputs: labels.count)
        let labels = indices.flatMap { tokens.features.examples[$0].1 }
        var targets = TokenClassificationTargets(labels: labels, distillation: options.distillation,
                                                 labelledInStep: labelledInStep, tokensInStep: tokensInStep)
        var hidden: HiddenTarget?
        if let teacher {
            let d = teacher.options
            if d.alphaKD > 0 {   // the teacher's logits of every token, up to the device
                let logits = try teacher.model.tokenLogits(batch, head: .tokenClassification)
                targets.teacher = try backend.buffer(logits.flatMap { $0.flatMap { $0 } })
            }
            if d.alphaCos > 0 {
                hidden = HiddenTarget(states: try teacher.model.lastHiddenStateOnDevice(batch), weight: d.alphaCos)
            }
        }
        return try model.tokenClassificationStep(batch, targets: targets, hiddenTarget: hidden, arena: arena,
                                                 head: head!, grads: grads, dropout: plan).loss
    }
}
