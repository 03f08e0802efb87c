// The token-classification (NER) pipeline's post-processing (transformers
// `TokenClassificationPipeline`): softmax per token, special tokens skipped, sub-words found by
// comparing token and text lengths, then `aggregate` / `aggregate_words` / `group_entities`
// for each `aggregation_strategy`, and the "O" label dropped.

/// transformers' `aggregation_strategy`.
public enum AggregationStrategy: String, CaseIterable, Sendable {
    /// One entity per token, with its B-/I- label and token index.
    case none
    /// Tokens grouped by label (B- starts a group, I- continues one).
    case simple
    /// Words take the label of their first token, then are grouped.
    case first
    /// Words take the label of their most confident token, then are grouped.
    case max
    /// Words take the label with the best mean probability over their tokens, then are grouped.
    case average
}

/// One entity of the pipeline's output. With `AggregationStrategy.none` it has `entity` and
/// `index`; otherwise `entityGroup` (the label without its B-/I- prefix). JSON keys are the
/// pipeline's: `entity` or `entity_group`, `score`, `index` (only for `none`), `word`, `start`, `end`.
public struct Entity: Sendable, Equatable, Codable {
    /// The token's label (`entity`), only with aggregation `none`.
    public var entity: String?
    /// The group's label (`entity_group`), with every other aggregation.
    public var entityGroup: String?
    /// The label's probability (mean over the group for grouped entities).
    public var score: Float
    /// The token's index in the encoding, only with aggregation `none`.
    public var index: Int?
    /// The decoded text (`##` pieces glued, lower-cased as the tokenizer saw it).
    public var word: String
    /// First code point of the entity in the text.
    public var start: Int
    /// One past its last code point.
    public var end: Int

    public init(entity: String? = nil, entityGroup: String? = nil, score: Float, index: Int? = nil,
                word: String, start: Int, end: Int) {
        self.entity = entity
        self.entityGroup = entityGroup
        self.score = score
        self.index = index
        self.word = word
        self.start = start
        self.end = end
    }

    /// `entity` or `entityGroup`, whichever is set.
    public var label: String { entity ?? entityGroup ?? "" }

    // Synthesized Codable: absent optionals are left out, so the keys are the pipeline's.
    private enum CodingKeys: String, CodingKey {
        case entity, entityGroup = "entity_group", score, index, word, start, end
    }
}

/// Token-classification post-processing.
public enum TokenClassification {
    /// A token with its probabilities, before aggregation (`gather_pre_entities`).
    struct PreEntity {
        var word: String
        var scores: [Float]
        var start: Int
        var end: Int
        var index: Int
        var isSubword: Bool
    }

    /// The pipeline's entities for one text.
    ///
    /// - Parameters:
    ///   - text: the text that was encoded (offsets index its code points).
    ///   - encoding: `tokenizer.encode(text)`, `[seq]`.
    ///   - logits: `[seq][labels]`; extra rows (padding) are ignored.
    ///   - labels: label names by id (`ModelConfig.labels`), `[labels]`.
    ///   - strategy: the aggregation strategy.
    ///   - tokenizer: decodes words (`convert_tokens_to_string`).
    ///   - ignoreLabels: labels dropped from the output (the pipeline's `ignore_labels`, default `["O"]`).
    /// - Throws: `PipelineError.shapeMismatch` when `logits` has fewer rows than tokens or a row
    ///   whose width is not `labels.count`.
    public static func entities(text: String, encoding: Encoding, logits: [[Float]], labels: [String],
                                strategy: AggregationStrategy, tokenizer: BertTokenizer,
                                ignoreLabels: Set<String> = ["O"]) throws -> [Entity] {
        guard logits.count >= encoding.count else {
            throw PipelineError.shapeMismatch(what: "\(encoding.count) tokens but \(logits.count) logit rows")
        }
        for row in logits.prefix(encoding.count) where row.count != labels.count {
            throw PipelineError.shapeMismatch(what: "a logit row has \(row.count) values for \(labels.count) labels")
        }
        let pre = preEntities(text: text, encoding: encoding, logits: logits, tokenizer: tokenizer)
        let entities: [Entity]
        switch strategy {
        case .none, .simple:
            let tokens = pre.compactMap { token -> Entity? in
                guard let best = PipelineMath.argmax(token.scores) else { return nil }
                return Entity(entity: labels[best], score: token.scores[best], index: token.index,
                              word: token.word, start: token.start, end: token.end)
            }
            entities = strategy == .none ? tokens : groupEntities(tokens, tokenizer: tokenizer)
        case .first, .max, .average:
            entities = groupEntities(aggregateWords(pre, strategy: strategy, labels: labels, tokenizer: tokenizer),
                                     tokenizer: tokenizer)
        }
        return entities.filter { entity in
            !(entity.entity.map(ignoreLabels.contains) ?? false)
                && !(entity.entityGroup.map(ignoreLabels.contains) ?? false)
        }
    }

    /// `gather_pre_entities`: every non-special token with its softmax, its vocabulary token as
    /// `word`, and `isSubword` when the token's length differs from the text it covers (the
    /// `continuing_subword_prefix` rule). `[UNK]` tokens take the text they cover and start a word.
    static func preEntities(text: String, encoding: Encoding, logits: [[Float]],
                            tokenizer: BertTokenizer) -> [PreEntity] {
        let scalars = Array(text.unicodeScalars)
        var result: [PreEntity] = []
        for index in 0..<encoding.count where encoding.sequenceIds[index] != nil {
            let id = encoding.ids[index]
            let offset = encoding.offsets[index]
            let lower = min(max(offset.start, 0), scalars.count)
            let upper = min(max(offset.end, lower), scalars.count)
            var reference = String.UnicodeScalarView()
            reference.append(contentsOf: scalars[lower..<upper])
            var word = tokenizer.token(of: id) ?? encoding.tokens[index]
            var isSubword = word.unicodeScalars.count != upper - lower
            if id == tokenizer.unkId {
                word = String(reference)
                isSubword = false
            }
            result.append(PreEntity(word: word, scores: PipelineMath.softmax(logits[index]), start: offset.start,
                                    end: offset.end, index: index, isSubword: isSubword))
        }
        return result
    }

    /// `aggregate_words`: tokens joined into words (a word is a token plus the sub-word tokens after it).
    static func aggregateWords(_ tokens: [PreEntity], strategy: AggregationStrategy, labels: [String],
                               tokenizer: BertTokenizer) -> [Entity] {
        var words: [[PreEntity]] = []
        for token in tokens {
            if token.isSubword, !words.isEmpty {
                words[words.count - 1].append(token)
            } else {
                words.append([token])
            }
        }
        return words.compactMap { aggregateWord($0, strategy: strategy, labels: labels, tokenizer: tokenizer) }
    }

    /// `aggregate_word`: one word's label and score under `first`, `max` or `average`.
    static func aggregateWord(_ tokens: [PreEntity], strategy: AggregationStrategy, labels: [String],
                              tokenizer: BertTokenizer) -> Entity? {
        guard let first = tokens.first, let last = tokens.last else { return nil }
        let scores: [Float]
        switch strategy {
        case .max:
            // Python's max(): the first token holding the largest probability.
            var best = first
            var bestValue = first.scores.max() ?? -.infinity
            for token in tokens.dropFirst() {
                let value = token.scores.max() ?? -.infinity
                if value > bestValue { best = token; bestValue = value }
            }
            scores = best.scores
        case .average:
            // np.nanmean over axis 0: float32 sums token by token, divided by the count.
            var sums = [Float](repeating: 0, count: first.scores.count)
            for token in tokens {
                for j in sums.indices where j < token.scores.count { sums[j] += token.scores[j] }
            }
            scores = sums.map { $0 / Float(tokens.count) }
        default:
            scores = first.scores
        }
        guard let best = PipelineMath.argmax(scores) else { return nil }
        return Entity(entity: labels[best], score: scores[best], word: tokenizer.convertTokensToString(tokens.map(\.word)),
                      start: first.start, end: last.end)
    }

    /// `get_tag`: `("B", tag)` for `B-tag`, `("I", tag)` for `I-tag`, `("I", label)` otherwise.
    static func tag(of label: String) -> (bi: String, tag: String) {
        let scalars = label.unicodeScalars
        for prefix in ["B", "I"] where scalars.starts(with: (prefix + "-").unicodeScalars) {
            return (prefix, String(scalars.dropFirst(2)))
        }
        return ("I", label)
    }

    /// `group_entities`: consecutive entities with the same tag are merged unless the next one is a B-.
    static func groupEntities(_ entities: [Entity], tokenizer: BertTokenizer) -> [Entity] {
        var groups: [Entity] = []
        var current: [Entity] = []
        for entity in entities {
            if let previous = current.last {
                let (bi, tag) = Self.tag(of: entity.label)
                let (_, lastTag) = Self.tag(of: previous.label)
                if tag.hasSameScalars(as: lastTag) && bi != "B" {
                    current.append(entity)
                    continue
                }
                if let group = groupSubEntities(current, tokenizer: tokenizer) { groups.append(group) }
                current = [entity]
            } else {
                current = [entity]
            }
        }
        if let group = groupSubEntities(current, tokenizer: tokenizer) { groups.append(group) }
        return groups
    }

    /// `group_sub_entities`: the group's label is the first entity's label after its first "-",
    /// its score the float32 mean of the scores, its word the decoded words.
    static func groupSubEntities(_ entities: [Entity], tokenizer: BertTokenizer) -> Entity? {
        guard let first = entities.first, let last = entities.last else { return nil }
        let label = first.label
        let scalars = label.unicodeScalars
        let group = scalars.firstIndex(of: "-").map { String(scalars[scalars.index(after: $0)...]) } ?? label
        return Entity(entityGroup: group, score: PipelineMath.mean(entities.map(\.score)),
                      word: tokenizer.convertTokensToString(entities.map(\.word)), start: first.start, end: last.end)
    }
}
