import CCPUKernels
import Foundation

// MARK: - Row kernels (vectorised with SIMD16, the AVX-512 width)

typealias V16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}

@inline(__always) func store16(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}

/// `row[i] += add[i]` for `i < n`.
func addInPlace(_ row: UnsafeMutablePointer<Float>, _ add: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store16(load16(row + i) + load16(add + i), row + i); i += 16 }
    while i < n { row[i] += add[i]; i += 1 }
}

/// `y[i] = act(x[i])` for `i < n` (y may be x): the C loops in CCPUKernels.
func applyActivation(_ act: Activation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    dcl_activation(x, y, n, Int32(act.rawValue))
}

extension CPUBackend {
    // MARK: - LayerNorm

    public func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                          beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer) throws {
        try checkLayerNorm(x, residual: residual, gamma: gamma, beta: beta, rows: rows, cols: cols, out: out)
        let (px, pr, pg, pb, py) = (cpu(x).floats, residual.map { cpu($0).floats }, cpu(gamma).floats,
                                    cpu(beta).floats, cpu(out).floats)
        parallelChunks(rows, cost: rows * cols * 6) { range in
            let sum = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { sum.deallocate() }
            for r in range {
                dcl_layernorm_row(px + r * cols, pr.map { $0 + r * cols }, pg, pb, eps, py + r * cols, cols, sum)
            }
        }
    }

    // MARK: - Element-wise and glue

    public func activation(_ x: any DeviceBuffer, count: Int, _ kind: Activation, out: any DeviceBuffer) throws {
        try checkActivation(x, count: count, out: out)
        let (px, py) = (cpu(x).floats, cpu(out).floats)
        parallelChunks((count + 1023) / 1024, cost: count * 16) { range in
            let lo = range.lowerBound * 1024, hi = min(count, range.upperBound * 1024)
            applyActivation(kind, px + lo, py + lo, hi - lo)
        }
    }

    public func embed(ids: any DeviceBuffer, positions: any DeviceBuffer, typeIds: (any DeviceBuffer)?,
                      word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
                      tokens: Int, dim: Int, out: any DeviceBuffer) throws {
        try checkEmbed(ids: ids, positions: positions, typeIds: typeIds, tokenType: tokenType, tokens: tokens, dim: dim, out: out)
        let (vocab, maxPos, types) = (word.count / dim, position.count / dim, (tokenType?.count ?? 0) / dim)
        let (pi, pp, pt) = (cpu(ids).ints, cpu(positions).ints, typeIds.map { cpu($0).ints })
        let (pw, ppe, pte, py) = (cpu(word).floats, cpu(position).floats, tokenType.map { cpu($0).floats },
                                  cpu(out).floats)
        for t in 0..<tokens {
            let row = py + t * dim
            row.update(from: pw + clampIndex(pi[t], vocab) * dim, count: dim)
            addInPlace(row, ppe + clampIndex(pp[t], maxPos) * dim, dim)
            if let pt, let pte { addInPlace(row, pte + clampIndex(pt[t], types) * dim, dim) }
        }
    }

    public func gatherRows(_ src: any DeviceBuffer, index: any DeviceBuffer, rows: Int, dim: Int,
                           out: any DeviceBuffer) throws {
        try checkGatherRows(src, index: index, rows: rows, dim: dim, out: out)
        let (ps, pi, py) = (cpu(src).floats, cpu(index).ints, cpu(out).floats)
        let srcRows = src.count / dim
        for r in 0..<rows {
            let i = Int(pi[r])
            guard i >= 0, i < srcRows else {
                throw BackendError.invalidArgument("gatherRows index \(i) outside 0..<\(srcRows)")
            }
            (py + r * dim).update(from: ps + i * dim, count: dim)
        }
    }

    public func meanPool(_ hidden: any DeviceBuffer, sequences: PackedSequences, dim: Int, out: any DeviceBuffer) throws {
        try checkMeanPool(hidden, sequences: sequences, dim: dim, out: out)
        let (ph, py) = (cpu(hidden).floats, cpu(out).floats)
        for b in 0..<sequences.count {
            let row = py + b * dim
            row.update(repeating: 0, count: dim)
            let (start, end) = (sequences.offsets[b], sequences.offsets[b + 1])
            for t in start..<end { addInPlace(row, ph + t * dim, dim) }
            let inv: Float = end > start ? 1 / Float(end - start) : 0
            for d in 0..<dim { row[d] *= inv }
        }
    }

    // MARK: - Attention

    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                          out: any DeviceBuffer) throws {
        try checkAttention(qkv: qkv, sequences: sequences, heads: heads, headDim: headDim, out: out)
        let (pq, po) = (cpu(qkv).floats, cpu(out).floats)
        let dim = heads * headDim, ld = 3 * dim
        // One work item per (text, head) with tokens, longest text first so the last items are short.
        let offsets = sequences.offsets
        let length: (Int) -> Int = { offsets[$0 + 1] - offsets[$0] }
        let texts: [Int] = (0..<sequences.count).filter { length($0) > 0 }.sorted { length($0) > length($1) }
        let work: [(Int, Int)] = texts.flatMap { s in (0..<heads).map { (s, $0) } }
        let cost: Int = texts.reduce(0) { $0 + 4 * heads * headDim * length($1) * length($1) }
        parallelItems(work.count, cost: cost) { item in
            let (s, h) = work[item]
            let (start, n) = (offsets[s], length(s))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dcl_attention_scratch(n, headDim))
            defer { scratch.deallocate() }
            let q = pq + start * ld + h * headDim
            dcl_attention_head(q, q + dim, q + 2 * dim, ld, n, headDim, scale, po + start * dim + h * headDim, dim, scratch)
        }
    }
}

@inline(__always) private func clampIndex(_ i: Int32, _ n: Int) -> Int { min(max(Int(i), 0), n - 1) }
