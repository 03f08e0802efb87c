import Foundation

/// `Tests/Fixtures/metrics-golden.json` (scripts/make_metric_golden.py): seqeval, the official SQuAD
/// scripts, scikit-learn and SciPy on fixed and seeded random inputs. Decoded with `JSONDecoder`, which
/// keeps every code point of the SQuAD strings (`JSONSerialization` drops a leading U+FEFF on Linux).
struct MetricsGolden: Decodable {
    struct TypeRow: Decodable { var precision, recall, f1: Double; var support: Int }
    struct Seqeval: Decodable {
        var name: String
        var y_true, y_pred: [[String]]
        var precision, recall, f1: Double
        var accuracy: Double?
        var per_type: [String: TypeRow]
    }
    struct Normalize: Decodable { var text, v1, v2: String }
    struct QuestionScore: Decodable { var exact, f1: Double }
    struct SquadV1: Decodable {
        var name: String
        var predictions: [String]
        var references: [[String]]
        var exact_match, f1: Double
        var per_question: [QuestionScore]
    }
    struct SquadV2: Decodable {
        var name: String
        var predictions: [String]
        var references: [[String]]
        var exact, f1: Double
        var total: Int
        var HasAns_exact, HasAns_f1, NoAns_exact, NoAns_f1: Double?
        var HasAns_total, NoAns_total: Int?
    }
    struct Classification: Decodable { var name: String; var y_true, y_pred: [Int]; var accuracy, macro_f1: Double }
    struct Regression: Decodable { var name: String; var y_true, y_pred: [Double]; var mse, pearson: Double }
    struct MultiLabel: Decodable {
        var name: String
        var y_true, y_pred: [[Int]]
        var subset_accuracy, macro_f1: Double
    }

    var seqeval: [Seqeval]
    var normalize: [Normalize]
    var squad_v1: [SquadV1]
    var squad_v2: [SquadV2]
    var classification: [Classification]
    var regression: [Regression]
    var multilabel: [MultiLabel]

    static let shared: Result<MetricsGolden, any Error> = Result {
        try JSONDecoder().decode(MetricsGolden.self,
                                 from: Data(contentsOf: Fixtures.root.appendingPathComponent("metrics-golden.json")))
    }

    static func load() throws -> MetricsGolden { try shared.get() }

    /// The tolerance every golden value is held to: the Python values are float64 computed in the same
    /// order of operations, so only the last bits may differ.
    static let tolerance = 1e-9
}

/// |a − b| within `MetricsGolden.tolerance`.
func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= MetricsGolden.tolerance }
