import Foundation

/// Test fixtures: copies of `shared/reference` (golden outputs from transformers 4.57.6).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func model(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// `golden.json` of a tiny model folder, or any JSON file under Fixtures.
    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(relative))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    /// The repository's `models/all-MiniLM-L6-v2`, fetched by scripts/fetch-models.sh.
    static let miniLM = root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/all-MiniLM-L6-v2")
    static let data = root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data")

    /// Throws, failing the test that needs them, unless scripts/fetch-models.sh has put the real
    /// model and the movie-review data in place: a missing download never passes as a skip.
    static func requireRealData() throws {
        for file in [miniLM.appendingPathComponent("model.safetensors"),
                     data.appendingPathComponent("movieReviewSnippets_GroundTruth.txt")]
        where !FileManager.default.fileExists(atPath: file.path) {
            throw MissingFixture(path: file.path)
        }
    }

    struct MissingFixture: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) is missing: run scripts/fetch-models.sh (scripts/test.sh does)" }
    }
}

/// Numbers out of decoded JSON.
func floats(_ any: Any?) -> [Float] { (any as? [Any])?.map { Float(($0 as? NSNumber)?.doubleValue ?? .nan) } ?? [] }
func ints(_ any: Any?) -> [Int] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }
func floatRows(_ any: Any?) -> [[Float]] { (any as? [Any])?.map(floats) ?? [] }
func intRows(_ any: Any?) -> [[Int]] { (any as? [Any])?.map(ints) ?? [] }
