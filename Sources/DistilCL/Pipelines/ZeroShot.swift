import Foundation

/// Zero-shot classification by embedding similarity, as sentence-transformers does it: each
/// label's description and each text are embedded (pooled, L2-normalised), and a text's scores
/// are the cosines with the descriptions, highest first. Works with any encoder, no head.
public struct ZeroShotClassifier: Sendable {
    /// A label and the text that describes it ("POSITIVE", "This movie is great.").
    public struct Label: Sendable, Equatable {
        public var name: String
        public var description: String

        public init(name: String, description: String) {
            self.name = name
            self.description = description
        }
    }

    public let labels: [Label]
    public let pooling: SentencePooling
    /// `[labels][dim]`: each description's normalised embedding.
    public let anchors: [[Float]]

    /// Embeds the descriptions, cut at `maxLength` tokens, `batchSize` at a time.
    public init(labels: [Label], model: EncoderModel, tokenizer: BertTokenizer, maxLength: Int,
                pooling: SentencePooling = .mean, batchSize: Int = 32) throws {
        guard !labels.isEmpty else { throw PipelineError.emptyInput(what: "labels") }
        let encodings = Self.descriptionEncodings(labels, tokenizer: tokenizer, maxLength: maxLength)
        var anchors: [[Float]] = []
        for start in stride(from: 0, to: encodings.count, by: max(1, batchSize)) {
            let slice = Array(encodings[start..<min(start + max(1, batchSize), encodings.count)])
            anchors += try model.embeddings(TokenBatch(slice), pooling: pooling, normalize: true)
        }
        self.init(labels: labels, anchors: anchors, pooling: pooling)
    }

    /// A classifier over descriptions embedded elsewhere (a server's batcher): `anchors`,
    /// `[labels][dim]`, are the normalised embeddings of `descriptionEncodings(labels, …)`.
    public init(labels: [Label], anchors: [[Float]], pooling: SentencePooling) {
        self.labels = labels
        self.pooling = pooling
        self.anchors = anchors
    }

    /// The descriptions as the classifier embeds them: cut at `maxLength` tokens, in label order.
    public static func descriptionEncodings(_ labels: [Label], tokenizer: BertTokenizer, maxLength: Int) -> [Encoding] {
        labels.map { tokenizer.encode($0.description, maxLength: maxLength) }
    }

    /// Every label's cosine with each text of `batch`, highest first (ties in label order).
    public func scores(_ batch: TokenBatch, model: EncoderModel) throws -> [[LabelScore]] {
        try model.embeddings(batch, pooling: pooling, normalize: true).map(rank)
    }

    /// Every label's cosine with one text's `embedding`, `[dim]`, highest first (ties in label order).
    public func rank(_ embedding: [Float]) -> [LabelScore] {
        let sims = anchors.map { cosine(embedding, $0) }
        return PipelineMath.topK(sims, sims.count).map { LabelScore(label: labels[$0].name, score: sims[$0]) }
    }

    /// `NAME=description` entries separated by commas; a piece without `=` continues the
    /// previous description (so descriptions may contain commas). Each argument is one such
    /// list (a flag given several times). Names must be unique and non-empty.
    public static func parseLabels(_ arguments: [String]) throws -> [Label] {
        var result: [Label] = []
        for argument in arguments {
            var current: Label?
            for piece in argument.split(separator: ",", omittingEmptySubsequences: false) {
                if let eq = piece.firstIndex(of: "=") {
                    if let current { result.append(current) }
                    let name = piece[..<eq].trimmingCharacters(in: .whitespaces)
                    guard !name.isEmpty else { throw PipelineError.badLabels("an entry has no name before '=': '\(piece)'") }
                    current = Label(name: name, description: String(piece[piece.index(after: eq)...])
                        .trimmingCharacters(in: .whitespaces))
                } else if let previous = current {
                    current = Label(name: previous.name, description: previous.description + "," + piece)
                } else if !piece.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw PipelineError.badLabels("takes NAME=description entries, got '\(piece)'")
                }
            }
            if let current { result.append(current) }
        }
        guard !result.isEmpty else { throw PipelineError.badLabels("no NAME=description entries") }
        var seen = Set<String>()
        for entry in result where !seen.insert(entry.name).inserted {
            throw PipelineError.badLabels("label '\(entry.name)' appears twice")
        }
        return result
    }
}
