import DistilCL
import DistilCLServer
import Foundation
import Synchronization
import Testing

/// The server's dynamic batcher: concurrent requests run together within the limits, each gets
/// exactly its own result, a cancelled request never runs, and one request's failure stays its own.
@Suite("Dynamic batching")
struct DynamicBatcherTests {
    /// Records every batch `run` was given.
    final class Log: Sendable {
        private let batches = Mutex<[[Int]]>([])
        func record(_ batch: [Int]) { batches.withLock { $0.append(batch) } }
        var all: [[Int]] { batches.withLock { $0 } }
    }

    /// The first batch holds the device until every request is queued, so the later batches
    /// are cut from a full queue whatever the scheduling: 5 requests of 10 tokens fit 55.
    @Test("batches stay within the token and request limits; an oversized request runs alone")
    func limits() async throws {
        let log = Log(), gate = Mutex(false)
        let batcher = DynamicBatcher<Int, Int>(
            limits: .init(maxBatchTokens: 55, maxBatchRequests: 8, maxDelay: .milliseconds(20)),
            cost: { $0 == 999 ? 100 : 10 },
            run: { inputs in
                log.record(inputs)
                while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) }
                return inputs.map { .success($0 * 2) }
            })
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for i in 0..<60 { group.addTask { (i, try await batcher.submit(i)) } }
            group.addTask { (999, try await batcher.submit(999)) }
            while await batcher.queued + log.all.joined().count < 61 { try await Task.sleep(for: .milliseconds(1)) }
            gate.withLock { $0 = true }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 61 && results.allSatisfy { $0.value == 2 * $0.key })
        let batches = log.all
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<60) + [999])
        for b in batches {
            let tokens = b.reduce(0) { $0 + ($1 == 999 ? 100 : 10) }
            #expect(b == [999] || (b.count <= 8 && tokens <= 55), "batch \(b)")
        }
        // At least 55 requests after the first batch, in at most two runs around 999: 9 full batches.
        #expect(batches.dropFirst().filter { $0.count == 5 }.count >= 9, "batches \(batches.map(\.count))")
        let counters = await batcher.counters
        #expect(counters.requests == 61 && counters.batches == batches.count && counters.largestBatch <= 8)
    }

    @Test("a lone request runs once its delay has passed")
    func delay() async throws {
        let batcher = DynamicBatcher<Int, Int>(limits: .init(maxDelay: .milliseconds(30)), cost: { _ in 1 },
                                               run: { $0.map { .success($0 + 1) } })
        let start = ContinuousClock.now
        #expect(try await batcher.submit(41) == 42)
        let waited = ContinuousClock.now - start
        // A lower bound only: when other suites' blocking work fills Swift's cooperative threads,
        // the wait can be much longer, and speed is not what this test is about.
        #expect(waited >= .milliseconds(25), "waited \(waited)")
    }

    @Test("a cancelled request is dropped before it runs; a failure stays with its request")
    func cancellationAndFailure() async throws {
        let log = Log()
        let gate = Mutex(false)
        let batcher = DynamicBatcher<Int, Int>(
            limits: .init(maxBatchTokens: 1, maxBatchRequests: 1, maxDelay: .zero), cost: { _ in 1 },
            run: { inputs in
                log.record(inputs)
                while inputs == [0] && !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(2)) }
                return inputs.map { $0 == 3 ? .failure(CancellationError()) : .success($0) }
            })
        let first = Task { try await batcher.submit(0) }            // holds the device
        while log.all.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        let doomed = Task { try await batcher.submit(1) }           // queued behind it
        let kept = Task { try await batcher.submit(2) }
        let failing = Task { try await batcher.submit(3) }
        while await batcher.queued < 3 { try await Task.sleep(for: .milliseconds(1)) }
        doomed.cancel()
        while await batcher.queued > 2 { try await Task.sleep(for: .milliseconds(1)) }
        gate.withLock { $0 = true }
        let (a, b) = (try await first.value, try await kept.value)
        #expect(a == 0 && b == 2)
        await #expect(throws: CancellationError.self) { try await doomed.value }
        await #expect(throws: CancellationError.self) { try await failing.value }
        #expect(!log.all.flatMap { $0 }.contains(1), "the cancelled request ran: \(log.all)")
        let cancelled = await batcher.counters.cancelled
        #expect(cancelled == 1)
    }

    /// With the real model: the SST golden texts as concurrent requests, batched and packed, each get the logits the
    /// text gets alone (within float32 noise of a different packing, as InvarianceTests holds).
    /// On the CPU path: the batcher is the same whatever device runs the batches.
    @Test("concurrent classification requests get their own logits")
    func classification() async throws {
        let dir = ServerFixtures.model("tiny-distilbert-sst")
        let model = try EncoderModel(directory: dir, backend: CPUBackend())
        let tokenizer = try BertTokenizer(modelDirectory: dir)
        let data = try Data(contentsOf: dir.appendingPathComponent("golden.json"))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let texts = Array((golden["texts"] as? [String] ?? []).prefix(40))
        let entered = Mutex(0), gate = Mutex(false)
        let batcher = DynamicBatcher<Encoding, [Float]>(
            limits: .init(maxBatchTokens: 256, maxBatchRequests: 16, maxDelay: .milliseconds(5)), cost: { $0.count },
            run: { encodings in
                // The first batch waits until every request is queued: later batches are full ones.
                entered.withLock { $0 += encodings.count }
                while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) }
                // Length-sorted and packed, as the CLI batches; results back in request order.
                let order = encodings.indices.sorted { encodings[$0].count < encodings[$1].count }
                do {
                    let logits = try model.classificationLogits(TokenBatch(order.map { encodings[$0] }))
                    var out = [[Float]](repeating: [], count: encodings.count)
                    for (k, i) in order.enumerated() { out[i] = logits[k] }
                    return out.map { .success($0) }
                } catch {
                    return encodings.map { _ in .failure(error) }
                }
            })
        let encodings = texts.map { tokenizer.encode($0, maxLength: 64) }
        let got = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, e) in encodings.enumerated() { group.addTask { (i, try await batcher.submit(e)) } }
            while await batcher.queued + entered.withLock({ $0 }) < encodings.count { try await Task.sleep(for: .milliseconds(1)) }
            gate.withLock { $0 = true }
            return try await group.reduce(into: [Int: [Float]]()) { $0[$1.0] = $1.1 }
        }
        for (i, e) in encodings.enumerated() {
            let alone = try model.classificationLogits(TokenBatch([e]))[0]
            let diff = zip(got[i] ?? [], alone).map { abs($0 - $1) }.max() ?? .infinity
            #expect(diff <= 1e-5, "text \(i): \(diff)")
        }
        let counters = await batcher.counters
        #expect(texts.count >= 20 && counters.requests == texts.count, "\(counters)")
        #expect(counters.batches < texts.count && counters.largestBatch <= 16, "\(counters)")
    }
}
