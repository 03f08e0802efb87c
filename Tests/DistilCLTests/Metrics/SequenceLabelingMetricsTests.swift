@testable import DistilCL
import Foundation
import Testing

/// Entity-level scores against seqeval 1.2.2 (metrics-golden.json) and worked cases.
@Suite("Sequence-labelling metrics (seqeval)")
struct SequenceLabelingMetricsTests {
    @Test("precision, recall, F1, accuracy and per-type rows equal seqeval's")
    func golden() throws {
        let cases = try MetricsGolden.load().seqeval
        #expect(cases.count >= 50)
        for c in cases {
            let m = try SequenceLabelingMetrics(true: c.y_true, predicted: c.y_pred)
            #expect(close(m.precision, c.precision), "\(c.name): precision \(m.precision) vs \(c.precision)")
            #expect(close(m.recall, c.recall), "\(c.name): recall \(m.recall) vs \(c.recall)")
            #expect(close(m.f1, c.f1), "\(c.name): f1 \(m.f1) vs \(c.f1)")
            #expect(close(m.accuracy, c.accuracy ?? 0), "\(c.name): accuracy \(m.accuracy)")
            #expect(Set(m.perType.keys) == Set(c.per_type.keys), "\(c.name): types \(m.perType.keys.sorted())")
            for (type, row) in c.per_type {
                let counts = m.perType[type] ?? EntityCounts()
                #expect(close(counts.precision, row.precision) && close(counts.recall, row.recall)
                        && close(counts.f1, row.f1) && counts.actual == row.support,
                        "\(c.name) \(type): \(counts) vs \(row)")
            }
        }
    }

    @Test("chunks: boundaries, I- after O, a type change inside a chunk, no chunk across sentences")
    func chunks() {
        func e(_ t: String, _ s: Int, _ end: Int) -> TaggedEntity { TaggedEntity(type: t, start: s, end: end) }
        #expect(SequenceLabelingMetrics.entities(in: [["B-PER", "I-PER", "O", "B-LOC"]])
                == [e("PER", 0, 1), e("LOC", 3, 3)])
        #expect(SequenceLabelingMetrics.entities(in: [["O", "I-PER", "I-PER"]]) == [e("PER", 1, 2)])
        #expect(SequenceLabelingMetrics.entities(in: [["B-PER", "I-LOC", "I-LOC"]]) == [e("PER", 0, 0), e("LOC", 1, 2)])
        // The O after each sentence: positions count it, and the chunk ends with its sentence.
        #expect(SequenceLabelingMetrics.entities(in: [["B-PER"], ["I-PER"]]) == [e("PER", 0, 0), e("PER", 2, 2)])
        #expect(SequenceLabelingMetrics.entities(in: [["B-geo-loc", "I-geo-loc"]]) == [e("geo-loc", 0, 1)])
        #expect(SequenceLabelingMetrics.entities(in: []) == [])
    }

    @Test("undefined ratios are 0 and accuracy of no tokens is 0")
    func undefined() throws {
        let none = try SequenceLabelingMetrics(true: [["O"]], predicted: [["O"]])
        #expect(none.precision == 0 && none.recall == 0 && none.f1 == 0 && none.accuracy == 1)
        let empty = try SequenceLabelingMetrics(true: [], predicted: [])
        #expect(empty.accuracy == 0 && empty.f1 == 0 && empty.perType.isEmpty)
    }

    @Test("different sentence counts or lengths are refused")
    func mismatch() {
        #expect(throws: MetricsError.lengthMismatch(what: "sentences", true: 1, predicted: 2)) {
            try SequenceLabelingMetrics(true: [["O"]], predicted: [["O"], ["O"]])
        }
        #expect(throws: MetricsError.lengthMismatch(what: "tags of sentence 1", true: 2, predicted: 1)) {
            try SequenceLabelingMetrics(true: [["O"], ["O", "O"]], predicted: [["O"], ["O"]])
        }
    }
}
