// Entity-level precision, recall and F1 of tag sequences, exactly as `seqeval` (1.2.2) computes them with its
// defaults: conlleval-style chunking (`get_entities`), an entity counts when its type, first and last token
// all match, micro average over entity types, 0 where a ratio is undefined; plus seqeval's token accuracy.

// MARK: - Entities

/// A chunk of a tag sequence: its type and the tokens it spans, `[start, end]` inclusive, counted over the
/// sentences laid end to end with one `O` after each (so no chunk crosses a sentence), as seqeval counts.
public struct TaggedEntity: Sendable, Hashable {
    public var type: String
    public var start: Int
    public var end: Int

    public init(type: String, start: Int, end: Int) {
        self.type = type; self.start = start; self.end = end
    }
}

/// How many entities of one type (or of all types) were found, predicted and both.
public struct EntityCounts: Sendable, Equatable {
    /// Entities in both the true and the predicted tags (same type, start and end).
    public var correct = 0
    /// Entities in the predicted tags.
    public var predicted = 0
    /// Entities in the true tags (seqeval's `support`).
    public var actual = 0

    public init(correct: Int = 0, predicted: Int = 0, actual: Int = 0) {
        self.correct = correct; self.predicted = predicted; self.actual = actual
    }

    /// correct / predicted, 0 when nothing was predicted.
    public var precision: Double { predicted == 0 ? 0 : Double(correct) / Double(predicted) }
    /// correct / actual, 0 when there is nothing to find.
    public var recall: Double { actual == 0 ? 0 : Double(correct) / Double(actual) }
    /// 2PR / (P + R) from the two ratios (seqeval's order of operations), 0 when both are 0.
    public var f1: Double {
        let p = precision, r = recall
        let denominator = p + r
        return 2 * p * r / (denominator == 0 ? 1 : denominator)
    }
}

// MARK: - Scores

/// seqeval's scores of predicted tag sequences against the true ones.
///
/// ```swift
/// let m = try SequenceLabelingMetrics(true: [["B-PER", "I-PER", "O"]], predicted: [["B-PER", "O", "O"]])
/// m.f1   // 0: the predicted entity ends one token early
/// ```
public struct SequenceLabelingMetrics: Sendable, Equatable {
    /// All entity types together (seqeval's micro average).
    public var overall: EntityCounts
    /// Each entity type's counts, by type name (the rows of seqeval's `classification_report`).
    public var perType: [String: EntityCounts]
    /// Tokens whose predicted tag equals the true tag, over all tokens (0 when there are none, where
    /// seqeval's `accuracy_score` divides by zero).
    public var accuracy: Double

    /// Entity precision (`seqeval.metrics.precision_score`).
    public var precision: Double { overall.precision }
    /// Entity recall (`seqeval.metrics.recall_score`).
    public var recall: Double { overall.recall }
    /// Entity F1 (`seqeval.metrics.f1_score`).
    public var f1: Double { overall.f1 }

    /// Scores `predicted` against `trueTags`, sentence by sentence.
    ///
    /// - Throws: `MetricsError.lengthMismatch` unless both have the same number of sentences and every
    ///   sentence the same number of tags (seqeval's `check_consistent_length`).
    public init(true trueTags: [[String]], predicted: [[String]]) throws {
        try MetricsError.requireSameCount("sentences", trueTags.count, predicted.count)
        var tokens = 0, matching = 0
        for (i, (t, p)) in zip(trueTags, predicted).enumerated() {
            try MetricsError.requireSameCount("tags of sentence \(i)", t.count, p.count)
            tokens += t.count
            matching += zip(t, p).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        }
        accuracy = tokens == 0 ? 0 : Double(matching) / Double(tokens)

        let trueEntities = Set(Self.entities(in: trueTags))
        let predictedEntities = Set(Self.entities(in: predicted))
        var perType: [String: EntityCounts] = [:]
        for e in trueEntities {
            perType[e.type, default: EntityCounts()].actual += 1
            if predictedEntities.contains(e) { perType[e.type, default: EntityCounts()].correct += 1 }
        }
        for e in predictedEntities { perType[e.type, default: EntityCounts()].predicted += 1 }
        self.perType = perType
        overall = perType.values.reduce(into: EntityCounts()) {
            $0.correct += $1.correct; $0.predicted += $1.predicted; $0.actual += $1.actual
        }
    }

    // MARK: Chunking

    /// seqeval's `get_entities` over the sentences laid end to end, one `O` after each.
    ///
    /// A tag's first code point is its prefix (`B`, `I`, `E`, `S`, `O`, or anything else) and the rest,
    /// after its first `-` when it has one, its type (`_` when empty): `B-geo-loc` is `B` + `geo-loc`,
    /// `O` and `B` have type `_`. Chunks end and start by conlleval's rules, so an `I-` after `O` or
    /// after another type starts a new chunk.
    public static func entities(in sentences: [[String]]) -> [TaggedEntity] {
        var chunks: [TaggedEntity] = []
        var previousPrefix = "O", previousType = "", begin = 0, index = 0
        func visit(_ tag: String) {
            let (prefix, type) = split(tag)
            if endsChunk(previousPrefix, prefix, previousType, type) {
                chunks.append(TaggedEntity(type: previousType, start: begin, end: index - 1))
            }
            if startsChunk(previousPrefix, prefix, previousType, type) { begin = index }
            previousPrefix = prefix
            previousType = type
            index += 1
        }
        for sentence in sentences {
            sentence.forEach(visit)
            visit("O")
        }
        visit("O")   // get_entities appends one more O to the whole sequence
        return chunks
    }

    /// `chunk[0]` and `chunk[1:].split('-', maxsplit=1)[-1] or '_'`, by code points.
    static func split(_ tag: String) -> (prefix: String, type: String) {
        let scalars = tag.unicodeScalars
        guard let first = scalars.first else { return ("", "_") }
        var rest = Substring(scalars.dropFirst())
        if let dash = rest.unicodeScalars.firstIndex(of: "-") {
            rest = Substring(rest.unicodeScalars[rest.unicodeScalars.index(after: dash)...])
        }
        return (String(first), rest.isEmpty ? "_" : String(rest))
    }

    /// seqeval's `end_of_chunk`.
    static func endsChunk(_ prevPrefix: String, _ prefix: String, _ prevType: String, _ type: String) -> Bool {
        if prevPrefix == "E" || prevPrefix == "S" { return true }
        if (prevPrefix == "B" || prevPrefix == "I") && (prefix == "B" || prefix == "S" || prefix == "O") { return true }
        return prevPrefix != "O" && prevPrefix != "." && prevType != type
    }

    /// seqeval's `start_of_chunk`.
    static func startsChunk(_ prevPrefix: String, _ prefix: String, _ prevType: String, _ type: String) -> Bool {
        if prefix == "B" || prefix == "S" { return true }
        if (prevPrefix == "E" || prevPrefix == "S" || prevPrefix == "O") && (prefix == "E" || prefix == "I") { return true }
        return prefix != "O" && prefix != "." && prevType != type
    }
}
