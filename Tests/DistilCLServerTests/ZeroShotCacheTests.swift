import DistilCL
@testable import DistilCLServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `/zero_shot` embeds a label set's descriptions once: a later request with the same labels
/// embeds only its texts. The cache keeps at most its capacity of label sets, least recently
/// used out first.
@Suite struct ZeroShotCacheTests {
    /// Inputs the runner has embedded so far (every pass's inputs).
    func embedded(_ runner: GatedRunner) -> Int { runner.passes.reduce(0) { $0 + $1.count } }

    @Test func aSecondRequestWithTheSameLabelsEmbedsOnlyItsTexts() async throws {
        let runner = GatedRunner()
        let m = try served(runner: runner)
        let labels = ["POS=This is great.", "NEG=This is terrible.", "MEH=It is fine."]
        try await application(ServerState(serving: m)).test(.router) { client in
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": ["one text", "and another"], "labels": labels])) { r in
                #expect(r.status == .ok)
            }
            #expect(embedded(runner) == 2 + 3)
            #expect(m.zeroShotCache.count == 1)
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": "a third text", "labels": labels])) { r in
                #expect(r.status == .ok)
                let result = try #require(try json(r) as? [String: Any])
                #expect((result["scores"] as? [Any])?.count == 3)
            }
            #expect(embedded(runner) == 2 + 3 + 1)
            // The same labels in the other notation are the same set.
            let objects: [[String: String]] = [["label": "POS", "description": "This is great."],
                                               ["label": "NEG", "description": "This is terrible."],
                                               ["label": "MEH", "description": "It is fine."]]
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": "x", "labels": objects])) { #expect($0.status == .ok) }
            #expect(embedded(runner) == 2 + 3 + 1 + 1)
            // Another description is another set.
            try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                     body: body(["inputs": "x", "labels": ["POS=Great.", "NEG=This is terrible."]])) {
                #expect($0.status == .ok)
            }
            #expect(embedded(runner) == 2 + 3 + 1 + 1 + 1 + 2)
            #expect(m.zeroShotCache.count == 2)
        }
    }

    /// With the real model the cached ranking equals the first, uncached one.
    @Test func cachedAnswersEqualTheFirst() async throws {
        let m = try served("tiny-distilbert-sst")
        let request = body(["inputs": ["what a wonderful story", "I want my money back"],
                             "labels": ["POS=This is great.", "NEG=This is terrible."]])
        try await application(ServerState(serving: m)).test(.router) { client in
            var answers: [[[String: Any]]] = []
            for _ in 0..<2 {
                let answer = try await client.execute(uri: "/zero_shot", method: .post, headers: jsonHeaders,
                                                      body: request) { r in try json(r) as? [[String: Any]] }
                answers.append(try #require(answer))
            }
            #expect(answers.count == 2)
            // The same texts in another batch (with, then without the descriptions): equal
            // within the GEMM's rounding across batch sizes, every label's score.
            func scores(_ answer: [String: Any]) -> [(String, Double)] {
                ((answer["scores"] as? [[String: Any]]) ?? []).map {
                    ($0["label"] as? String ?? "", ($0["score"] as? NSNumber)?.doubleValue ?? .nan)
                }
            }
            for (first, second) in zip(answers[0], answers[1]) {
                #expect(first["label"] as? String == second["label"] as? String)
                let (x, y) = ((first["score"] as? NSNumber)?.doubleValue ?? .nan, (second["score"] as? NSNumber)?.doubleValue ?? .nan)
                #expect(abs(x - y) < 1e-5)
                let (a, b) = (scores(first), scores(second))
                #expect(a.count == 2 && a.map(\.0) == b.map(\.0))
                for (p, q) in zip(a, b) { #expect(abs(p.1 - q.1) < 1e-5, "\(p) vs \(q)") }
            }
        }
    }

    func classifier(_ names: String...) -> ZeroShotClassifier {
        ZeroShotClassifier(labels: names.map { .init(name: $0, description: "about \($0)") },
                           anchors: names.map { _ in [1, 0] }, pooling: .mean)
    }

    @Test func boundedLeastRecentlyUsedFirst() {
        let cache = ZeroShotCache(capacity: 2)
        let (x, y, z) = (classifier("A", "B"), classifier("C"), classifier("D", "E"))
        cache.insert(x)
        cache.insert(y)
        #expect(cache.classifier(for: x.labels) != nil)   // x is now more recent than y
        cache.insert(z)
        #expect(cache.count == 2)
        #expect(cache.contains(x.labels) && cache.contains(z.labels) && !cache.contains(y.labels))
        cache.insert(z)   // again: replaces, drops nothing
        #expect(cache.count == 2 && cache.contains(x.labels))
    }

    @Test func theServersCacheHoldsSixtyFourSets() {
        let cache = ZeroShotCache()
        #expect(cache.capacity == 64)
        for i in 0..<100 { cache.insert(classifier("L\(i)")) }
        #expect(cache.count == 64)
        #expect(cache.contains(classifier("L99").labels) && !cache.contains(classifier("L35").labels))
        #expect(cache.contains(classifier("L36").labels))
    }
}
