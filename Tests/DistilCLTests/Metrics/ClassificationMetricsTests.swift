@testable import DistilCL
import Foundation
import Testing

/// Accuracy, macro-F1, MSE, Pearson's r and the multi-label forms against scikit-learn and SciPy
/// (metrics-golden.json).
@Suite("Classification metrics (scikit-learn)")
struct ClassificationMetricsTests {
    @Test("accuracy and macro-F1 (labels: the union of true and predicted, absent classes 0)")
    func singleLabel() throws {
        for c in try MetricsGolden.load().classification {
            let accuracy = try ClassificationMetrics.accuracy(true: c.y_true, predicted: c.y_pred)
            let f1 = try ClassificationMetrics.macroF1(true: c.y_true, predicted: c.y_pred)
            #expect(close(accuracy, c.accuracy), "\(c.name): accuracy \(accuracy) vs \(c.accuracy)")
            #expect(close(f1, c.macro_f1), "\(c.name): macro-F1 \(f1) vs \(c.macro_f1)")
        }
    }

    @Test("regression: MSE and Pearson's r")
    func regression() throws {
        for c in try MetricsGolden.load().regression {
            let mse = try ClassificationMetrics.meanSquaredError(true: c.y_true, predicted: c.y_pred)
            let r = try ClassificationMetrics.pearson(true: c.y_true, predicted: c.y_pred)
            #expect(close(mse, c.mse), "\(c.name): MSE \(mse) vs \(c.mse)")
            #expect(close(r, c.pearson), "\(c.name): r \(r) vs \(c.pearson)")
        }
        // Undefined as in SciPy: a constant side, or a single example.
        #expect(try ClassificationMetrics.pearson(true: [1, 1, 1], predicted: [1, 2, 3]).isNaN)
        #expect(try ClassificationMetrics.pearson(true: [1], predicted: [2]).isNaN)
    }

    @Test("multi-label: subset accuracy and macro-F1 over every column")
    func multiLabel() throws {
        for c in try MetricsGolden.load().multilabel {
            let t = c.y_true.map { $0.map { $0 == 1 } }, p = c.y_pred.map { $0.map { $0 == 1 } }
            let subset = try ClassificationMetrics.subsetAccuracy(true: t, predicted: p)
            let f1 = try ClassificationMetrics.multiLabelMacroF1(true: t, predicted: p)
            #expect(close(subset, c.subset_accuracy), "\(c.name): subset accuracy \(subset) vs \(c.subset_accuracy)")
            #expect(close(f1, c.macro_f1), "\(c.name): macro-F1 \(f1) vs \(c.macro_f1)")
        }
    }

    @Test("refusals: different counts or row widths")
    func refusals() {
        #expect(throws: MetricsError.lengthMismatch(what: "examples", true: 2, predicted: 1)) {
            try ClassificationMetrics.macroF1(true: [0, 1], predicted: [0])
        }
        #expect(throws: MetricsError.lengthMismatch(what: "columns of row 1", true: 2, predicted: 3)) {
            try ClassificationMetrics.subsetAccuracy(true: [[true, false], [true, true]],
                                                     predicted: [[true, false], [true, true, false]])
        }
    }
}
