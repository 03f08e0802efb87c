@testable import DistilCL
import Foundation
import Testing

/// `GradientReducer`: the buckets of a data-parallel step start while the backward pass runs,
/// each only once every gradient in it is final, in the same order on every process.
@Suite("Gradient buckets")
struct GradientReducerTests {
    /// A group of one standing for two identical processes: every float sum doubles the values
    /// (exact in binary floating point), as soon as it starts. It counts the reductions started
    /// and, at each `poll` (called only from the backward's reports), how many had started.
    final class DoublingGroup: ProcessGroup, @unchecked Sendable {
        let rank = 0, size = 1
        var starts: [Int] = []
        var startedAtPolls: [Int] = []
        var waits = 0
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { for i in values.indices { values[i] *= 2 } }
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
        func allGather(_ value: UInt64) throws -> [UInt64] { [value] }
        func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            try allReduceSum(values)
            starts.append(values.count)
        }
        func poll() throws { startedAtPolls.append(starts.count) }
        func waitAll() throws { waits += 1 }
    }

    /// This process and a second one whose gradient is zero but for the word-embedding rows
    /// `rows`, all ones. The mask's sum adds the other rank's rows; the packed rows' sum (the
    /// start right after it) adds its ones at their places in the union; every other sum
    /// adds its zeros.
    final class OtherRankGroup: ProcessGroup, @unchecked Sendable {
        let rank = 0, size = 2
        let rows: Set<Int>
        let width: Int
        private var union: [Int]?
        private var tableRows = 0
        init(rows: Set<Int>, width: Int) { (self.rows, self.width) = (rows, width) }
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            for r in rows { values[r] += 1 }
            union = values.indices.filter { values[$0] > 0 }
            tableRows = values.count
        }
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
        func allGather(_ value: UInt64) throws -> [UInt64] { [value, value] }
        func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            guard var union, values.count == union.count * width || values.count == tableRows * width else { return }
            if values.count == tableRows * width { union = Array(0..<tableRows) }   // the whole table
            for (k, r) in union.enumerated() where rows.contains(r) {
                for j in 0..<width { values[k * width + j] += 1 }
            }
            self.union = nil
        }
        func poll() throws {}
        func waitAll() throws {}
    }

    /// One optimiser step of the tiny DistilBERT classifier (32 texts in 4 micro-batches of 8,
    /// dropout on) under `group`, its gradients left in the returned trainer's table.
    static func step(_ folder: TemporaryFolder, _ out: String, group: (any ProcessGroup)?,
                     backend: any ComputeBackend = CPUBackend(), bucketBytes: Int = 25 << 20,
                     freezeEncoder: Bool = false) throws -> Trainer {
        var o = GradientAccumulationTests.options(batch: 8, accumulate: 4)
        o.freezeEncoder = freezeEncoder
        let t = try Trainer(model: Fixtures.model("tiny-distilbert-sst"), train: GradientAccumulationTests.data(folder),
                            eval: nil, labels: nil, output: folder.file(out), backend: backend, options: o,
                            resume: false, group: group, bucketBytes: bucketBytes)
        _ = try t.accumulateStep(order: o.order(32, epoch: 1), texts: 0..<32, epoch: 1)
        return t
    }

    /// The word-embedding table's slot in `t`'s gradients.
    static func tableSlot(_ t: Trainer) throws -> Int {
        try #require(t.grads.parameters.firstIndex { $0.names[0].hasSuffix("word_embeddings.weight") })
    }

    /// Rows only the other process touched travel (the mask's sum puts them in the union) and
    /// come back with its values; where the union passes half the table, the whole table goes.
    @Test("rows another process touched join the union; over half the table, all of it is summed",
          arguments: BackendCase.all)
    func unionAcrossProcesses(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        func step(_ others: Set<Int>, width: Int) throws -> (table: [Float], summed: Int?, rows: Int) {
            let t = try Self.step(folder, "out-\(others.count)", group: OtherRankGroup(rows: others, width: width),
                                  backend: bc.backend)
            let p = t.grads.parameters[try Self.tableSlot(t)]
            return (try bc.backend.download(t.grads[p.value], count: p.count), t.reducer?.rowsSummed, p.shape[0])
        }
        let width = try #require(try Fixtures.json("tiny-distilbert-sst/config.json")["dim"] as? Int)
        let alone = try step([], width: width)
        #expect(alone.table.count == alone.rows * width)
        let untouched = (0..<alone.rows).filter { r in alone.table[(r * width)..<((r + 1) * width)].allSatisfy { $0 == 0 } }
        let touched = alone.rows - untouched.count
        #expect(alone.summed == touched && touched > 0)
        for others in [Set(untouched.prefix(3)), Set(untouched.prefix(alone.rows / 2 + 1))] {
            let r = try step(others, width: width)
            let all = touched + others.count > alone.rows / 2
            #expect(r.summed == (all ? alone.rows : touched + others.count), "\(bc.name)")
            for row in 0..<alone.rows {
                let got = Array(r.table[(row * width)..<((row + 1) * width)])
                let want = others.contains(row) ? [Float](repeating: 1, count: width)
                                                : Array(alone.table[(row * width)..<((row + 1) * width)])
                #expect(got == want, "\(bc.name) row \(row)")
            }
        }
    }

    @Test("a parameter's bucket waits for its layer's backward: head, then layers from the last, then embeddings")
    func readiness() {
        #expect(GradientReducer.readyAt("bert.encoder.layer.3.attention.self.query.weight", layers: 6) == 3)
        #expect(GradientReducer.readyAt("distilbert.transformer.layer.0.ffn.lin1.bias", layers: 6) == 0)
        #expect(GradientReducer.readyAt("distilbert.embeddings.word_embeddings.weight", layers: 6) == -1)
        #expect(GradientReducer.readyAt("bert.embeddings.LayerNorm.weight", layers: 6) == -1)
        for head in ["classifier.weight", "bert.pooler.dense.weight", "qa_outputs.bias", "vocab_projector.bias",
                     "cls.predictions.transform.dense.weight", "pre_classifier.weight"] {
            #expect(GradientReducer.readyAt(head, layers: 6) == 6, "\(head)")
        }
    }

    /// One step of the tiny DistilBERT classifier (4 micro-batches of 8, dropout on) alone and
    /// under the doubling group with one bucket per tensor: every gradient must come out exactly
    /// twice the lone run's. A bucket copied before its backward had finished would hold a
    /// partial gradient. The encoder's and head's buckets all start during the last
    /// micro-batch's backward; only the embeddings' wait for `finish`.
    @Test("one bucket per tensor: every sum starts during the backward yet holds the final gradient",
          arguments: BackendCase.all)
    func bucketsHoldFinalGradients(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        let group = DoublingGroup()
        var grads: [[[Float]]] = []
        for (out, g) in [("alone", nil), ("grouped", group)] as [(String, DoublingGroup?)] {
            let t = try Self.step(folder, out, group: g, backend: bc.backend, bucketBytes: 1)
            grads.append(try t.grads.parameters.indices.map {
                try bc.backend.download(t.grads.gradients[$0], count: t.grads.parameters[$0].count)
            })
            if g != nil {
                let names = t.grads.parameters.map { $0.names[0] }
                let embeddings = names.filter { $0.contains("embeddings.") }.count
                // Every tensor its own bucket, but the word embeddings: their touched rows travel at finish.
                #expect(t.reducer?.bucketCount == names.count - 1)
                #expect(group.starts.count == names.count && group.waits == 1)
                // The last report (layer 0 done) comes with every bucket but the embeddings' started.
                #expect(group.startedAtPolls.last == names.count - embeddings, "\(group.startedAtPolls)")
                #expect(group.startedAtPolls.count == t.model.config.layers + 1, "a report before the layers and after each")
                #expect(Set(group.startedAtPolls).count > 2, "the buckets start layer by layer: \(group.startedAtPolls)")
            }
        }
        #expect(grads[0].joined().contains { $0 != 0 })
        for (i, (alone, grouped)) in zip(grads[0], grads[1]).enumerated() {
            #expect(grouped == alone.map { 2 * $0 }, "\(bc.name) gradient \(i)")
        }
    }

    @Test("25 MB buckets: a small model's gradients travel as one sum, at finish")
    func oneBucket() throws {
        let group = DoublingGroup()
        let t = try Self.step(try TemporaryFolder(), "out", group: group)
        #expect(t.reducer?.bucketCount == 1)
        let table = t.grads.parameters[try Self.tableSlot(t)]
        let all = t.grads.parameters.reduce(0) { $0 + $1.count }
        let rows = try #require(t.reducer?.rowsSummed)
        #expect(group.starts == [all - table.count, rows * table.shape[1]])
        #expect(group.startedAtPolls.allSatisfy { $0 == 0 }, "nothing starts before the embeddings are done")
    }

    @Test("a frozen encoder's gradients are not summed: the head's travel alone")
    func frozenEncoder() throws {
        let group = DoublingGroup()
        let t = try Self.step(try TemporaryFolder(), "out", group: group, freezeEncoder: true)
        let head = t.grads.parameters.filter { !$0.names[0].hasPrefix("distilbert.") }
        #expect(!head.isEmpty && head.count < t.grads.parameters.count)
        #expect(group.starts == [head.reduce(0) { $0 + $1.count }])
        #expect(t.reducer?.rowsSummed == nil)
    }

    /// The word-embedding table's gradient is zero but at the rows of the step's tokens: only
    /// those rows travel (the union over the processes: the mask's sum), and the gradient that
    /// comes back is the dense sum's, zero rows included.
    @Test("only the word-embedding rows a step touched are summed", arguments: BackendCase.all)
    func touchedRowsOnly(_ bc: BackendCase) throws {
        let folder = try TemporaryFolder()
        var tables: [[Float]] = []
        var touched = Set<Int>()
        for g in [nil, DoublingGroup()] as [DoublingGroup?] {
            let t = try Self.step(folder, g == nil ? "alone" : "grouped", group: g, backend: bc.backend)
            let order = t.options.order(32, epoch: 1)
            let slot = try Self.tableSlot(t)
            tables.append(try bc.backend.download(t.grads.gradients[slot], count: t.grads.parameters[slot].count))
            if g != nil {
                touched = Set(order[0..<32].flatMap { t.train[$0].0.ids })
                #expect(t.reducer?.rowsSummed == touched.count, "the rows of the step's distinct tokens")
                #expect(touched.count * 2 < t.grads.parameters[slot].shape[0])
            }
        }
        #expect(tables[1] == tables[0].map { 2 * $0 }, "\(bc.name)")
        #expect(tables[0].contains { $0 != 0 })
    }
}
