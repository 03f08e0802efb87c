import DistilCL
import Foundation

/// What a forward pass computes for each input of a batch. Requests of the same kind share
/// forward passes; the batcher groups a batch's requests by kind.
public enum ForwardKind: Hashable, Sendable {
    /// Sequence-classification logits: `[1][labels]` per input.
    case classify
    /// A pooled sentence embedding: `[1][dim]` per input (L2-normalised when `normalize`).
    case embed(SentencePooling, normalize: Bool)
    /// A per-token head over every real token: `[length][outputs]` per input (NER: labels; QA:
    /// start and end logits).
    case tokens(TokenHead)
    /// Masked-LM logits at each mask token: `[masks][vocab]` per input.
    case maskedLM
}

/// Runs one packed batch of one kind; the server calls it on one thread, one batch at a time.
public protocol ForwardRunner: Sendable {
    /// One output per encoding, in order (shapes as `ForwardKind` gives them).
    func run(_ kind: ForwardKind, _ encodings: [Encoding]) throws -> [[[Float]]]
}

/// The real runner: an `EncoderModel` and its tokenizer (for the mask token's id).
public struct ModelRunner: ForwardRunner {
    public let model: EncoderModel
    public let tokenizer: BertTokenizer

    public init(model: EncoderModel, tokenizer: BertTokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    public func run(_ kind: ForwardKind, _ encodings: [Encoding]) throws -> [[[Float]]] {
        let batch = TokenBatch(encodings)
        switch kind {
        case .classify:
            return try model.classificationLogits(batch).map { [$0] }
        case .embed(let pooling, let normalize):
            return try model.embeddings(batch, pooling: pooling, normalize: normalize).map { [$0] }
        case .tokens(let head):
            return try model.tokenLogits(batch, head: head)
        case .maskedLM:
            return try FillMask.maskLogits(encodings, model: model, tokenizer: tokenizer)
        }
    }
}
