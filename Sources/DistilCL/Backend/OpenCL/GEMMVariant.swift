import Foundation

/// One member of the GEMM family of `Kernels/gemm.cl`: which kernel and the compile-time tile
/// it is built with. The panel width (`PN`) is the backend's, since the weights were packed
/// with it; every variant reads the same packed weights and gives the same result.
public struct GEMMVariant: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Kernel: String, Codable, Sendable {
        /// `kernel_gemm_panel`: `rows` (MR) rows of A per work-item, no local memory.
        case panel
        /// `kernel_gemm_tiled`: a `tile` = [TM, TN, TK, WM, WN] work-group tile through local memory.
        case tiled
    }

    public var kernel: Kernel
    /// MR of the panel kernel.
    public var rows: Int
    /// [TM, TN, TK, WM, WN] of the tiled kernel.
    public var tile: [Int]
    /// Tiled only: floats per global load and store (`GEMM_VW`: 1, 2 or 4).
    public var vectorWidth = 4
    /// Tiled only: two local buffers, one barrier per K slab (`GEMM_DB`).
    public var doubleBuffered = false
    /// Tiled only: 32 consecutive work-items own a 4·WM × 8·WN block of C (`GEMM_WARP`).
    public var warpLayout = false
    /// Tiled only: K slices summed by a reduction kernel (`GEMM_SPLITK`; 1: none).
    public var splitK = 1

    public init(kernel: Kernel, rows: Int, tile: [Int], vectorWidth: Int = 4, doubleBuffered: Bool = false,
                warpLayout: Bool = false, splitK: Int = 1) {
        self.kernel = kernel; self.rows = rows; self.tile = tile
        self.vectorWidth = vectorWidth; self.doubleBuffered = doubleBuffered; self.warpLayout = warpLayout
        self.splitK = splitK
    }

    public static func panel(rows: Int) -> GEMMVariant { GEMMVariant(kernel: .panel, rows: rows, tile: []) }
    public static func tiled(_ m: Int, _ n: Int, _ k: Int, _ wm: Int, _ wn: Int, vectorWidth: Int = 4,
                             doubleBuffered: Bool = false, warpLayout: Bool = false, splitK: Int = 1) -> GEMMVariant {
        GEMMVariant(kernel: .tiled, rows: 0, tile: [m, n, k, wm, wn], vectorWidth: vectorWidth,
                    doubleBuffered: doubleBuffered, warpLayout: warpLayout, splitK: splitK)
    }

    /// This tiled variant with other options.
    public func with(vectorWidth: Int? = nil, doubleBuffered: Bool? = nil, warpLayout: Bool? = nil,
                     splitK: Int? = nil) -> GEMMVariant {
        var v = self
        v.vectorWidth = vectorWidth ?? v.vectorWidth
        v.doubleBuffered = doubleBuffered ?? v.doubleBuffered
        v.warpLayout = warpLayout ?? v.warpLayout
        v.splitK = splitK ?? v.splitK
        return v
    }

    private enum CodingKeys: String, CodingKey { case kernel, rows, tile, vectorWidth, doubleBuffered, warpLayout, splitK }

    /// Entries written before the options existed read as the plain variant.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kernel = try c.decode(Kernel.self, forKey: .kernel)
        rows = try c.decode(Int.self, forKey: .rows)
        tile = try c.decode([Int].self, forKey: .tile)
        vectorWidth = try c.decodeIfPresent(Int.self, forKey: .vectorWidth) ?? 4
        doubleBuffered = try c.decodeIfPresent(Bool.self, forKey: .doubleBuffered) ?? false
        warpLayout = try c.decodeIfPresent(Bool.self, forKey: .warpLayout) ?? false
        splitK = try c.decodeIfPresent(Int.self, forKey: .splitK) ?? 1
    }

    public var description: String {
        switch kernel {
        case .panel: return "panel MR=\(rows)"
        case .tiled:
            guard tile.count == 5 else { return "tiled \(tile)" }
            var s = "tiled \(tile[0])x\(tile[1]) TK=\(tile[2]) \(tile[3])x\(tile[4])/item"
            if vectorWidth != 4 { s += " vw\(vectorWidth)" }
            if doubleBuffered { s += " db" }
            if warpLayout { s += " warp" }
            if splitK > 1 { s += " splitK=\(splitK)" }
            return s
        }
    }

    /// `base` with this variant's kernel and tile (the large tiled tile for every shape).
    public func applied(to base: KernelTuning) -> KernelTuning {
        var t = base
        switch kernel {
        case .panel:
            t.gemm = .panel
            t.panelRows = rows
        case .tiled:
            t.gemm = .tiled
            if tile.count == 5 { t.tile = (tile[0], tile[1], tile[2], tile[3], tile[4]) }
            t.smallTileBelow = 0
            t.gemmVectorWidth = vectorWidth
            t.gemmDoubleBuffered = doubleBuffered
            t.gemmWarpLayout = warpLayout
            t.gemmSplitK = splitK
        }
        return t
    }

    /// The variant today's heuristic picks for `rows × n` on a backend tuned as `tuning`.
    public static func heuristic(_ tuning: KernelTuning, rows: Int, n: Int) -> GEMMVariant {
        switch tuning.gemm {
        case .panel: return .panel(rows: tuning.panelRows)
        case .tiled:
            let l = tuning.tile
            let tiles = ((n + l.n - 1) / l.n) * ((rows + l.m - 1) / l.m)
            let t = tiles < tuning.smallTileBelow ? tuning.smallTile : l
            return .tiled(t.m, t.n, t.k, t.wm, t.wn, vectorWidth: tuning.gemmVectorWidth,
                          doubleBuffered: tuning.gemmDoubleBuffered, warpLayout: tuning.gemmWarpLayout,
                          splitK: tiles < tuning.smallTileBelow ? 1 : tuning.gemmSplitK)
        }
    }
}

/// A GEMM shape as the tuner buckets it: rows rounded up to a power of two (at least 16),
/// the layer's output and input features exact. `C[M, N] = A[M, K] · Wᵀ`.
public struct GEMMShape: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var m: Int
    public var n: Int
    public var k: Int

    /// The bucket of a GEMM with `rows` rows.
    public init(rows: Int, n: Int, k: Int) {
        var m = 16
        while m < rows { m *= 2 }
        self.m = m
        self.n = n
        self.k = k
    }

    /// "M1024_N2304_K768", the cache's key.
    public var description: String { "M\(m)_N\(n)_K\(k)" }

    public init?(key: String) {
        let parts = key.split(separator: "_")
        guard parts.count == 3, parts[0].first == "M", parts[1].first == "N", parts[2].first == "K",
              let m = Int(parts[0].dropFirst()), let n = Int(parts[1].dropFirst()), let k = Int(parts[2].dropFirst()),
              m >= 16, m & (m - 1) == 0, n > 0, k > 0 else { return nil }
        (self.m, self.n, self.k) = (m, n, k)
    }

    public static func < (a: GEMMShape, b: GEMMShape) -> Bool { (a.m, a.n, a.k) < (b.m, b.n, b.k) }

    /// The four GEMMs of every encoder layer of `config` (Q·K·V fused, attention output,
    /// feed-forward in and out), at each row count of `tokens`.
    public static func encoder(_ config: ModelConfig, tokens: [Int]) -> [GEMMShape] {
        encoder(hidden: config.hidden, ffn: config.ffn, tokens: tokens)
    }

    /// The same for a model of `hidden` and `ffn` features (DistilBERT-base: 768 and 3072).
    public static func encoder(hidden d: Int, ffn f: Int, tokens: [Int]) -> [GEMMShape] {
        var shapes = Set<GEMMShape>()
        for t in tokens {
            for (n, k) in [(3 * d, d), (d, d), (f, d), (d, f)] { shapes.insert(GEMMShape(rows: t, n: n, k: k)) }
        }
        return shapes.sorted()
    }
}
