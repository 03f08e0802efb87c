import Foundation

/// Masked-LM's side of a `Trainer` run: the blocks of `--train` and `--eval`
/// (`MaskedLMBlocks`) and their masking, redrawn each epoch for training and fixed (epoch 0,
/// the run's seed) for evaluation, so that every evaluation scores the same positions.
final class MaskedLMTaskState {
    let train: [MaskedLMBlocks.Block]
    let eval: [MaskedLMBlocks.Block]
    let masking: MLMMasking
    let allTokens: Bool
    let maskId: Int
    /// Random replacements are drawn from `vocab.txt`'s ids (`len(tokenizer)`, as the collator).
    let tokenizerVocabulary: Int
    /// The head's buffers, grown with the predicted rows.
    var head: MaskedLMHeadArena?

    init(train: [MaskedLMBlocks.Block], eval: [MaskedLMBlocks.Block], masking: MLMMasking, allTokens: Bool,
         maskId: Int, tokenizerVocabulary: Int) {
        (self.train, self.eval, self.masking, self.allTokens) = (train, eval, masking, allTokens)
        (self.maskId, self.tokenizerVocabulary) = (maskId, tokenizerVocabulary)
    }

    /// Training block `index` as the model reads it in `epoch`: input ids and labels (−1: not predicted).
    func masked(_ index: Int, epoch: Int) -> (inputs: [Int], labels: [Int32]) {
        let (inputs, labels) = masking.mask(train[index], example: UInt64(index), epoch: epoch, maskId: maskId,
                                            vocabSize: tokenizerVocabulary)
        return (inputs, labels.map { $0 < 0 ? -1 : Int32($0) })
    }

    /// `blocks` masked, one batch of input ids as a `TokenBatch` with its `[tokens]` labels.
    static func batch(_ rows: [(inputs: [Int], labels: [Int32])]) -> (TokenBatch, [Int32]) {
        (TokenBatch(paddedIds: rows.map(\.inputs), attentionMask: rows.map { $0.inputs.map { _ in 1 } }),
         rows.flatMap(\.labels))
    }

    /// The block as an `Encoding` for the loop's batching (ids and token types only).
    static func encoding(_ block: MaskedLMBlocks.Block) -> Encoding {
        let n = block.ids.count
        return Encoding(ids: block.ids, tokens: [String](repeating: "", count: n),
                        offsets: [CodePointRange](repeating: CodePointRange(0, 0), count: n),
                        typeIds: [Int](repeating: 0, count: n), sequenceIds: [Int?](repeating: nil, count: n),
                        wordIds: [Int?](repeating: nil, count: n))
    }
}

extension Trainer {
    /// Masked-LM's micro-batch: `rows`, masked blocks of the step, forward and backward with
    /// the means over the step's `maskedInStep` masked tokens, `rowsInStep` predicted rows and
    /// `tokensInStep` tokens; distilling, against the teacher's logits at the same rows (they
    /// stay on the device) and its last hidden state. Returns the batch's share of the step's loss.
    func accumulateMaskedLM(_ state: MaskedLMTaskState, rows: [(inputs: [Int], labels: [Int32])], plan: DropoutPlan,
                            maskedInStep: Int, rowsInStep: Int, tokensInStep: Int) throws -> Double {
        let (batch, labels) = MaskedLMTaskState.batch(rows)
        let (arena, _) = try arenas(for: batch)
        var targets = MaskedLMTargets(labels: labels, allTokens: state.allTokens, distillation: options.distillation,
                                      maskedInStep: maskedInStep, rowsInStep: rowsInStep)
        let predicted = targets.predictedRows()
        let v = model.config.vocabSize
        if !(state.head?.fits(rows: predicted.count, vocab: v) ?? false) {
            let r = max(predicted.count, (state.head?.rows ?? 0) * 5 / 4, 1)
            state.head = nil
            state.head = try MaskedLMHeadArena(backend: backend, hidden: model.config.hidden, vocab: v, rows: r)
        }
        var hidden: HiddenTarget?
        if let teacher {
            let out = try teacher.maskedLMTargets(batch, rows: predicted)
            targets.teacher = out.logits
            hidden = out.hidden
            hidden?.tokensInStep = tokensInStep
        }
        return try model.maskedLMStep(batch, targets: targets, hiddenTarget: hidden, arena: arena, head: state.head!,
                                      grads: grads, dropout: plan).loss.total
    }
}

extension Teacher {
    /// The teacher's masked-LM logits `[rows.count, vocab]` at the packed token `rows` (its own
    /// buffer, kept between steps: nothing of vocabulary size comes to the host) when the KL
    /// term is on, and its last hidden state of every token when the cosine term is: valid
    /// until the teacher runs again.
    func maskedLMTargets(_ batch: TokenBatch, rows: [Int32]) throws -> (logits: (any DeviceBuffer)?, hidden: HiddenTarget?) {
        try model.lock.withLock {
            guard options.alphaKD > 0, !rows.isEmpty else {
                let hidden = options.alphaCos > 0 ? try model.encode(batch).hidden : nil
                return (nil, hidden.map { HiddenTarget(states: $0, weight: options.alphaCos) })
            }
            let need = rows.count * model.config.vocabSize
            let had = logitsBuffer?.count ?? 0
            if had < need {   // grown by a quarter at least, the old one freed first
                logitsBuffer = nil
                logitsBuffer = try model.backend.makeBuffer(count: max(need, had * 5 / 4))
            }
            let out = try model.maskedLMLogitsOnDevice(batch, rows: rows, out: logitsBuffer)
            return (out.logits, options.alphaCos > 0 ? HiddenTarget(states: out.hidden, weight: options.alphaCos) : nil)
        }
    }
}

/// Masked-LM's evaluation: every block masked with the run's (or `--seed`'s) keyed draw at
/// epoch 0, so two models are scored on the same positions; `loss` is the mean cross-entropy
/// over the masked tokens, `accuracy` the share whose highest logit is the true token, and
/// `perplexity` exp(loss) (run_mlm.py's, which takes it from the mean loss).
enum MaskedLMEvaluation {
    static func run(_ model: EncoderModel, blocks: [MaskedLMBlocks.Block], masking: MLMMasking, maskId: Int,
                    tokenizerVocabulary: Int, batchSize: Int) throws -> Evaluation {
        guard model.heads.vocabProjector != nil else { throw ModelError.missingHead("masked language model") }
        var loss = 0.0, right = 0, masked = 0
        for first in stride(from: 0, to: blocks.count, by: max(1, batchSize)) {
            let rows = (first..<min(first + max(1, batchSize), blocks.count)).map { i in
                let (inputs, labels) = masking.mask(blocks[i], example: UInt64(i), epoch: 0, maskId: maskId,
                                                    vocabSize: tokenizerVocabulary)
                return (inputs: inputs, labels: labels.map { $0 < 0 ? Int32(-1) : Int32($0) })
            }
            let (batch, labels) = MaskedLMTaskState.batch(rows)
            let index = labels.indices.filter { labels[$0] >= 0 }
            guard !index.isEmpty else { continue }
            let v = model.heads.vocabProjector!.outFeatures
            let logits = try model.lock.withLock {
                let (device, _) = try model.maskedLMLogitsOnDevice(batch, rows: index.map { Int32($0) })
                return try model.backend.download(device, count: index.count * v)
            }
            for (k, i) in index.enumerated() {
                let row = Array(logits[(k * v)..<((k + 1) * v)]), label = Int(labels[i])
                loss += PipelineMath.crossEntropy(row, label: label)
                if PipelineMath.argmax(row) == label { right += 1 }
                masked += 1
            }
        }
        guard masked > 0 else { return Evaluation(loss: nil, metrics: []) }
        let mean = loss / Double(masked)
        return Evaluation(loss: mean, metrics: [("accuracy", Double(right) / Double(masked)), ("perplexity", exp(mean))])
    }
}
