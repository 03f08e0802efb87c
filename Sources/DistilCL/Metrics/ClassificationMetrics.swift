// Text-classification metrics as scikit-learn and SciPy compute them: accuracy and macro-F1 of class ids,
// MSE and Pearson's r for regression, subset accuracy and column macro-F1 for multi-label indicator rows.

/// Accuracy, macro-F1, MSE, Pearson's r and their multi-label forms.
///
/// ```swift
/// try ClassificationMetrics.macroF1(true: [0, 1, 2, 2], predicted: [0, 1, 1, 1])   // 0.5555…
/// ```
public enum ClassificationMetrics {
    // MARK: Single label

    /// The share of predictions equal to the true class (`sklearn.metrics.accuracy_score`); 0 for no examples.
    public static func accuracy(true trueLabels: [Int], predicted: [Int]) throws -> Double {
        try MetricsError.requireSameCount("examples", trueLabels.count, predicted.count)
        guard !trueLabels.isEmpty else { return 0 }
        let right = zip(trueLabels, predicted).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(right) / Double(trueLabels.count)
    }

    /// `sklearn.metrics.f1_score(average="macro", zero_division=0)`: the unweighted mean over the classes
    /// that occur in either list of each class's F1, 2·TP / (2·TP + FP + FN). 0 for no examples.
    public static func macroF1(true trueLabels: [Int], predicted: [Int]) throws -> Double {
        try MetricsError.requireSameCount("examples", trueLabels.count, predicted.count)
        let classes = Set(trueLabels).union(predicted).sorted()
        guard !classes.isEmpty else { return 0 }
        var scores: [Double] = []
        for c in classes {
            var tp = 0, actual = 0, guessed = 0
            for (t, p) in zip(trueLabels, predicted) {
                if t == c { actual += 1 }
                if p == c { guessed += 1 }
                if t == c && p == c { tp += 1 }
            }
            scores.append(f1(tp: tp, actual: actual, predicted: guessed))
        }
        return scores.reduce(0, +) / Double(scores.count)
    }

    /// 2·TP / (actual + predicted), 0 when both are 0 (scikit-learn's form since 1.3).
    static func f1(tp: Int, actual: Int, predicted: Int) -> Double {
        actual + predicted == 0 ? 0 : Double(2 * tp) / Double(actual + predicted)
    }

    // MARK: Regression

    /// Mean squared error (`sklearn.metrics.mean_squared_error`); 0 for no examples.
    public static func meanSquaredError(true trueValues: [Double], predicted: [Double]) throws -> Double {
        try MetricsError.requireSameCount("examples", trueValues.count, predicted.count)
        guard !trueValues.isEmpty else { return 0 }
        return zip(trueValues, predicted).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(trueValues.count)
    }

    /// Pearson's correlation coefficient (`scipy.stats.pearsonr`), clipped to [−1, 1]. NaN, as SciPy
    /// returns, when there are fewer than 2 examples or either side is constant.
    public static func pearson(true trueValues: [Double], predicted: [Double]) throws -> Double {
        try MetricsError.requireSameCount("examples", trueValues.count, predicted.count)
        guard trueValues.count >= 2 else { return .nan }
        let n = Double(trueValues.count)
        let meanT = trueValues.reduce(0, +) / n, meanP = predicted.reduce(0, +) / n
        var cross = 0.0, varT = 0.0, varP = 0.0
        for (t, p) in zip(trueValues, predicted) {
            cross += (t - meanT) * (p - meanP)
            varT += (t - meanT) * (t - meanT)
            varP += (p - meanP) * (p - meanP)
        }
        guard varT > 0 && varP > 0 else { return .nan }
        return min(1, max(-1, cross / (varT.squareRoot() * varP.squareRoot())))
    }

    // MARK: Multi-label

    /// The share of rows whose every column matches (`accuracy_score` on indicator rows); 0 for no rows.
    public static func subsetAccuracy(true trueRows: [[Bool]], predicted: [[Bool]]) throws -> Double {
        try checkRows(trueRows, predicted)
        guard !trueRows.isEmpty else { return 0 }
        let right = zip(trueRows, predicted).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(right) / Double(trueRows.count)
    }

    /// `f1_score(average="macro", zero_division=0)` on indicator rows: each column's F1 of its set entries,
    /// averaged over every column (a column set nowhere, in either, scores 0). 0 for no rows or columns.
    public static func multiLabelMacroF1(true trueRows: [[Bool]], predicted: [[Bool]]) throws -> Double {
        try checkRows(trueRows, predicted)
        guard let columns = trueRows.first?.count, columns > 0 else { return 0 }
        var total = 0.0
        for c in 0..<columns {
            var tp = 0, actual = 0, guessed = 0
            for (t, p) in zip(trueRows, predicted) {
                if t[c] { actual += 1 }
                if p[c] { guessed += 1 }
                if t[c] && p[c] { tp += 1 }
            }
            total += f1(tp: tp, actual: actual, predicted: guessed)
        }
        return total / Double(columns)
    }

    /// The same number of rows, and every row of both as wide as the first true row.
    private static func checkRows(_ trueRows: [[Bool]], _ predicted: [[Bool]]) throws {
        try MetricsError.requireSameCount("rows", trueRows.count, predicted.count)
        let width = trueRows.first?.count ?? 0
        for (i, (t, p)) in zip(trueRows, predicted).enumerated() {
            try MetricsError.requireSameCount("columns of true row \(i) (the first row's width)", width, t.count)
            try MetricsError.requireSameCount("columns of row \(i)", t.count, p.count)
        }
    }
}
