@testable import DistilCL
import Foundation
import Testing

/// SQuAD normalisation, exact match and F1 against the official v1.1 script and transformers' v2.0 port
/// of the official v2.0 script (metrics-golden.json).
@Suite("SQuAD metrics (official scripts)")
struct SquadMetricsTests {
    @Test("normalize_answer equals both official scripts' on punctuation, articles, Unicode and whitespace")
    func normalize() throws {
        let cases = try MetricsGolden.load().normalize
        #expect(cases.count >= 40)
        for c in cases {
            #expect(c.v1 == c.v2)
            let got = SquadMetrics.normalizeAnswer(c.text)
            #expect(got == c.v1, "\(c.text.debugDescription): \(got.debugDescription) vs \(c.v1.debugDescription)")
        }
    }

    @Test("v1.1: exact_match and f1, and every question's best scores")
    func v1() throws {
        for c in try MetricsGolden.load().squad_v1 {
            let s = try SquadMetrics.evaluateV1(predictions: c.predictions, references: c.references)
            #expect(close(s.exactMatch, c.exact_match), "\(c.name): exact_match \(s.exactMatch) vs \(c.exact_match)")
            #expect(close(s.f1, c.f1), "\(c.name): f1 \(s.f1) vs \(c.f1)")
            #expect(s.dictionary == ["exact_match": s.exactMatch, "f1": s.f1])
            for (q, want) in c.per_question.enumerated() {
                let prediction = c.predictions[q], answers = c.references[q]
                let exact: Double = answers.contains { SquadMetrics.exactMatch(prediction, $0) } ? 1 : 0
                let f1 = answers.map { SquadMetrics.f1(prediction, $0, emptyAgrees: false) }.max() ?? -1
                #expect(exact == want.exact && close(f1, want.f1), "\(c.name) question \(q)")
            }
        }
    }

    @Test("v2.0: exact, f1, total and the HasAns / NoAns split")
    func v2() throws {
        for c in try MetricsGolden.load().squad_v2 {
            let s = try SquadMetrics.evaluateV2(predictions: c.predictions, references: c.references)
            #expect(close(s.all.exact, c.exact) && close(s.all.f1, c.f1) && s.all.total == c.total,
                    "\(c.name): \(s.all) vs \(c.exact) \(c.f1) \(c.total)")
            #expect(s.hasAnswer?.total == c.HasAns_total && s.noAnswer?.total == c.NoAns_total, "\(c.name)")
            if let h = s.hasAnswer, let exact = c.HasAns_exact, let f1 = c.HasAns_f1 {
                #expect(close(h.exact, exact) && close(h.f1, f1), "\(c.name): HasAns \(h)")
            }
            if let n = s.noAnswer, let exact = c.NoAns_exact, let f1 = c.NoAns_f1 {
                #expect(close(n.exact, exact) && close(n.f1, f1), "\(c.name): NoAns \(n)")
            }
            let keys = Set(s.dictionary.keys)
            #expect(keys.isSuperset(of: ["exact", "f1", "total"]))
            #expect(keys.contains("HasAns_f1") == (c.HasAns_f1 != nil) && keys.contains("NoAns_f1") == (c.NoAns_f1 != nil))
        }
    }

    @Test("worked cases: v1.1 and v2.0 differ where an answer normalises to nothing")
    func emptyAnswers() throws {
        // v1.1: no shared word scores 0, even two empty answers; v2.0: two empty answers agree.
        #expect(SquadMetrics.f1("the", "a", emptyAgrees: false) == 0)
        #expect(SquadMetrics.f1("the", "a", emptyAgrees: true) == 1)
        #expect(SquadMetrics.f1("", "Denver", emptyAgrees: true) == 0)
        // Token multisets: "x x y" against "x y y" shares x and y.
        #expect(abs(SquadMetrics.f1("x x y", "x y y", emptyAgrees: false) - 2.0 / 3.0) < 1e-15)
        let v2 = try SquadMetrics.evaluateV2(predictions: ["", "1976"], references: [[], ["1976."]])
        #expect(v2.all == SquadMetrics.Split(exact: 100, f1: 100, total: 2))
        #expect(v2.noAnswer?.total == 1 && v2.hasAnswer?.total == 1)
    }

    @Test("refusals: different counts, a v1.1 question without references")
    func refusals() {
        #expect(throws: MetricsError.lengthMismatch(what: "questions", true: 2, predicted: 1)) {
            try SquadMetrics.evaluateV1(predictions: ["a"], references: [["a"], ["b"]])
        }
        #expect(throws: MetricsError.noReferences(question: 1)) {
            try SquadMetrics.evaluateV1(predictions: ["a", "b"], references: [["a"], []])
        }
    }
}
