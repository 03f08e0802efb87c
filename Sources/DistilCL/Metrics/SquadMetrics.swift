// The official SQuAD evaluation: answers normalised (lower case, ASCII punctuation removed, the articles
// a/an/the removed, whitespace collapsed), exact match and token F1, each the best over a question's
// reference answers, averaged and ×100. v1.1 as `evaluate-v1.1.py` (Hugging Face `evaluate`'s `squad`);
// v2.0 as the official v2.0 script (transformers' `squad_metrics`, `evaluate`'s `squad_v2`), where an
// unanswerable question's only reference is "" and a prediction of "" is the null answer.

/// SQuAD exact match and F1.
///
/// ```swift
/// let v1 = try SquadMetrics.evaluateV1(predictions: ["Denver Broncos"], references: [["the Denver Broncos"]])
/// v1.exactMatch   // 100
/// let v2 = try SquadMetrics.evaluateV2(predictions: ["", "1976"], references: [[], ["1976"]])
/// v2.noAnswer?.exact   // 100: the null answer to the unanswerable question
/// ```
public enum SquadMetrics {
    /// Python's `string.punctuation`.
    public static let punctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)

    // MARK: Normalisation

    /// `normalize_answer`: lower-cased (Python's `str.lower`), `string.punctuation` removed, every whole
    /// word (a maximal run of `\w` code points) that is `a`, `an` or `the` removed, whitespace collapsed
    /// to single spaces and trimmed.
    public static func normalizeAnswer(_ text: String) -> String {
        tokens(text).joined(separator: " ")
    }

    /// The words of the normalised answer (`normalize_answer(s).split()`).
    public static func tokens(_ text: String) -> [String] {
        let lowered = PythonText.lower(Array(text.unicodeScalars)).filter { !punctuation.contains($0) }
        var kept: [Unicode.Scalar] = []
        kept.reserveCapacity(lowered.count)
        var i = 0
        while i < lowered.count {
            guard PythonText.isWordCharacter(lowered[i]) else { kept.append(lowered[i]); i += 1; continue }
            var j = i
            while j < lowered.count && PythonText.isWordCharacter(lowered[j]) { j += 1 }
            let word = lowered[i..<j]
            if word.elementsEqual("a".unicodeScalars) || word.elementsEqual("an".unicodeScalars)
                || word.elementsEqual("the".unicodeScalars) {
                kept.append(" ")
            } else {
                kept.append(contentsOf: word)
            }
            i = j
        }
        return PythonText.split(kept)
    }

    // MARK: One answer

    /// Whether the two answers normalise to the same text.
    public static func exactMatch(_ prediction: String, _ reference: String) -> Bool {
        tokens(prediction) == tokens(reference)
    }

    /// Token F1 of the normalised answers (word multisets). `emptyAgrees` picks the rule when either side
    /// has no words: v2.0 scores 1 when both are empty and 0 otherwise; v1.1 (false) scores 0 whenever no
    /// word is shared, so two empty answers score 0 there.
    public static func f1(_ prediction: String, _ reference: String, emptyAgrees: Bool) -> Double {
        let predicted = tokens(prediction), wanted = tokens(reference)
        if emptyAgrees && (predicted.isEmpty || wanted.isEmpty) { return predicted == wanted ? 1 : 0 }
        var counts: [String: Int] = [:]
        for w in wanted { counts[w, default: 0] += 1 }
        var shared = 0
        for w in predicted where counts[w, default: 0] > 0 {
            counts[w]! -= 1
            shared += 1
        }
        guard shared > 0 else { return 0 }
        let precision = Double(shared) / Double(predicted.count)
        let recall = Double(shared) / Double(wanted.count)
        return 2 * precision * recall / (precision + recall)
    }

    // MARK: v1.1

    /// SQuAD v1.1 scores, ×100.
    public struct V1Scores: Sendable, Equatable {
        /// `exact_match`.
        public var exactMatch: Double
        /// `f1`.
        public var f1: Double
        /// Questions scored.
        public var total: Int
        /// The names `evaluate`'s `squad` metric returns.
        public var dictionary: [String: Double] { ["exact_match": exactMatch, "f1": f1] }
    }

    /// Scores one prediction per question against the question's reference answers (v1.1 script).
    ///
    /// - Throws: `MetricsError.lengthMismatch` when the counts differ, `MetricsError.noReferences` for a
    ///   question without references (the official script cannot score it).
    public static func evaluateV1(predictions: [String], references: [[String]]) throws -> V1Scores {
        try MetricsError.requireSameCount("questions", references.count, predictions.count)
        var exact = 0.0, f1Sum = 0.0
        for (q, (prediction, answers)) in zip(predictions, references).enumerated() {
            guard !answers.isEmpty else { throw MetricsError.noReferences(question: q) }
            exact += answers.contains { exactMatch(prediction, $0) } ? 1 : 0
            f1Sum += answers.map { f1(prediction, $0, emptyAgrees: false) }.max() ?? 0
        }
        let n = Double(max(predictions.count, 1))
        return V1Scores(exactMatch: 100 * exact / n, f1: 100 * f1Sum / n, total: predictions.count)
    }

    // MARK: v2.0

    /// Exact match and F1 (×100) over a set of questions.
    public struct Split: Sendable, Equatable {
        public var exact: Double
        public var f1: Double
        public var total: Int
    }

    /// SQuAD v2.0 scores: all questions, and the answerable (`HasAns`) and unanswerable (`NoAns`) ones
    /// apart (`nil` when there are none, as the official script leaves them out).
    public struct V2Scores: Sendable, Equatable {
        public var all: Split
        public var hasAnswer: Split?
        public var noAnswer: Split?

        /// The official script's names: `exact`, `f1`, `total`, `HasAns_exact`, …, `NoAns_total`.
        public var dictionary: [String: Double] {
            var d = ["exact": all.exact, "f1": all.f1, "total": Double(all.total)]
            for (prefix, split) in [("HasAns", hasAnswer), ("NoAns", noAnswer)] {
                guard let split else { continue }
                d["\(prefix)_exact"] = split.exact
                d["\(prefix)_f1"] = split.f1
                d["\(prefix)_total"] = Double(split.total)
            }
            return d
        }
    }

    /// Scores one prediction per question (v2.0 script). A question is answerable when it has reference
    /// answers; its references are those that normalise to some text, and when none does, or it has none,
    /// its only reference is "", which only the null answer "" (or one normalising to nothing) matches.
    ///
    /// - Throws: `MetricsError.lengthMismatch` when the counts differ.
    public static func evaluateV2(predictions: [String], references: [[String]]) throws -> V2Scores {
        try MetricsError.requireSameCount("questions", references.count, predictions.count)
        var exact: [Double] = [], f1s: [Double] = [], hasAnswer: [Bool] = []
        for (prediction, answers) in zip(predictions, references) {
            var gold = answers.filter { !tokens($0).isEmpty }
            if gold.isEmpty { gold = [""] }
            exact.append(gold.contains { exactMatch(prediction, $0) } ? 1 : 0)
            f1s.append(gold.map { f1(prediction, $0, emptyAgrees: true) }.max() ?? 0)
            hasAnswer.append(!answers.isEmpty)
        }
        func split(_ keep: (Int) -> Bool) -> Split? {
            let picked = exact.indices.filter(keep)
            guard !picked.isEmpty else { return nil }
            let n = Double(picked.count)
            return Split(exact: 100 * picked.reduce(0) { $0 + exact[$1] } / n,
                         f1: 100 * picked.reduce(0) { $0 + f1s[$1] } / n, total: picked.count)
        }
        return V2Scores(all: split { _ in true } ?? Split(exact: 0, f1: 0, total: 0),
                        hasAnswer: split { hasAnswer[$0] }, noAnswer: split { !hasAnswer[$0] })
    }
}
