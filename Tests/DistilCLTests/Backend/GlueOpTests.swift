import DistilCL
import Foundation
import Testing

/// Embedding gather, row gather and masked mean pooling on every backend. These only move
/// and add a handful of values, so they must match the double reference to float rounding.
@Suite("Embedding and pooling ops")
struct GlueOpTests {
    @Test("embedding gather with positions and token types", arguments: BackendCase.all)
    func embed(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 13)
        let (vocab, maxPos, types, dim, tokens) = (101, 37, 2, 13, 29)
        let word = rng.floats(vocab * dim), pos = rng.floats(maxPos * dim), type = rng.floats(types * dim)
        let ids = (0..<tokens).map { _ in Int32(rng.int(0..<vocab)) }
        let positions = (0..<tokens).map { Int32($0 % maxPos) }
        let typeIds = (0..<tokens).map { _ in Int32(rng.int(0..<types)) }
        let b = bc.backend
        for withTypes in [false, true] {
            var want = [Double](repeating: 0, count: tokens * dim)
            for t in 0..<tokens {
                for d in 0..<dim {
                    want[t * dim + d] = Double(word[Int(ids[t]) * dim + d]) + Double(pos[Int(positions[t]) * dim + d])
                        + (withTypes ? Double(type[Int(typeIds[t]) * dim + d]) : 0)
                }
            }
            let out = try poisoned(b, tokens * dim)
            try b.embed(ids: try b.buffer(ids), positions: try b.buffer(positions),
                        typeIds: withTypes ? try b.buffer(typeIds) : nil, word: try b.buffer(word),
                        position: try b.buffer(pos), tokenType: withTypes ? try b.buffer(type) : nil,
                        tokens: tokens, dim: dim, out: out)
            expectClose(try b.download(out), want, atol: 1e-6, rtol: 1e-6, "\(bc.name) embed types \(withTypes)")
        }
    }

    @Test("gather rows and masked mean pooling", arguments: BackendCase.all)
    func gatherAndPool(_ bc: BackendCase) throws {
        var rng = SeededRandom(seed: 17)
        let (batch, seq, dim) = (5, 7, 19)
        let hidden = rng.floats(batch * seq * dim)
        let b = bc.backend
        let hBuf = try b.buffer(hidden)

        let index: [Int32] = (0..<batch).map { Int32($0 * seq) }   // the [CLS] rows
        let rows = try poisoned(b, batch * dim)
        try b.gatherRows(hBuf, index: try b.buffer(index), rows: batch, dim: dim, out: rows)
        let wantRows = (0..<batch * dim).map { Double(hidden[Int(index[$0 / dim]) * dim + $0 % dim]) }
        expectClose(try b.download(rows), wantRows, atol: 0, rtol: 0, "\(bc.name) gatherRows")

        // An index outside the source never reads past it: the CPU path refuses it, OpenCL's
        // kernel clamps it to the first or last row. A source without a whole row is refused.
        let s = batch * seq
        let wild: [Int32] = [-3, Int32(s + 5), 2]
        let clamped = try poisoned(b, 3 * dim)
        if b is CPUBackend {
            #expect(throws: BackendError.self) {
                try b.gatherRows(hBuf, index: try b.buffer(wild), rows: 3, dim: dim, out: clamped)
            }
        } else {
            try b.gatherRows(hBuf, index: try b.buffer(wild), rows: 3, dim: dim, out: clamped)
            let want = [0, s - 1, 2].flatMap { r in (0..<dim).map { Double(hidden[r * dim + $0]) } }
            expectClose(try b.download(clamped), want, atol: 0, rtol: 0, "\(bc.name) gatherRows clamped")
        }
        #expect(throws: BackendError.self) {
            try b.gatherRows(try b.makeBuffer(count: dim - 1), index: try b.buffer(index), rows: batch, dim: dim, out: rows)
        }

        // packed sequences of 7, 3, 1, 0 (no tokens: zeros) and 5 rows of hidden
        let lengths = [7, 3, 1, 0, 5]
        var offsets = [0]
        for n in lengths { offsets.append(offsets.last! + n) }
        var want = [Double](repeating: 0, count: batch * dim)
        for bi in 0..<batch where lengths[bi] > 0 {
            for d in 0..<dim {
                want[bi * dim + d] = (offsets[bi]..<offsets[bi + 1]).map { Double(hidden[$0 * dim + d]) }.reduce(0, +) / Double(lengths[bi])
            }
        }
        let pooled = try poisoned(b, batch * dim)
        try b.meanPool(hBuf, sequences: try PackedSequences.upload(offsets, to: b), dim: dim, out: pooled)
        expectClose(try b.download(pooled), want, atol: 1e-6, rtol: 1e-6, "\(bc.name) meanPool")
    }
}
