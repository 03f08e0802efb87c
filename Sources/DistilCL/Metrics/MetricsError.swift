/// Why a metric could not be computed from the given true and predicted values.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// The true and predicted collections differ in length (`what` names the collection: "sentences",
    /// "tags of sentence 3", "questions", "rows", …).
    case lengthMismatch(what: String, true: Int, predicted: Int)
    /// SQuAD v1.1 needs at least one reference answer per question (the official script fails without).
    case noReferences(question: Int)

    public var description: String {
        switch self {
        case .lengthMismatch(let what, let t, let p):
            return "\(what): \(t) true value\(t == 1 ? "" : "s") but \(p) predicted"
        case .noReferences(let q):
            return "question \(q) has no reference answer (SQuAD v1.1 needs one; use v2.0 for unanswerable questions)"
        }
    }

    /// Throws `lengthMismatch` unless the two counts agree.
    static func requireSameCount(_ what: String, _ t: Int, _ p: Int) throws {
        guard t == p else { throw MetricsError.lengthMismatch(what: what, true: t, predicted: p) }
    }
}
