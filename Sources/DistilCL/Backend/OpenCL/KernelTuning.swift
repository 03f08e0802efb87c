import Foundation

/// Compile-time parameters for the kernels in `Kernels/`, passed as `-D` options; the
/// defaults in the `.cl` files are what a build without options gets.
public struct KernelTuning: Sendable, Equatable {
    public enum GEMM: String, Sendable, CaseIterable {
        /// `kernel_gemm_panel`: register tiles, no local memory (CPU devices).
        case panel
        /// `kernel_gemm_tiled`: local-memory tiles (GPUs).
        case tiled
    }

    public var gemm: GEMM
    /// Panel width of the repacked weights (8, 16 or 32).
    public var panelWidth: Int
    /// Rows per work-item in `kernel_gemm_panel`.
    public var panelRows: Int
    /// Tile of `kernel_gemm_tiled`: rows, columns, K step, rows and columns per work-item.
    public var tile: (m: Int, n: Int, k: Int, wm: Int, wn: Int)
    /// Tile of `kernel_gemm_tiled_small`, used when the large tile gives fewer output tiles
    /// than `smallTileBelow` (the GPU would sit partly idle).
    public var smallTile: (m: Int, n: Int, k: Int, wm: Int, wn: Int) = (64, 64, 16, 4, 4)
    public var smallTileBelow = 0
    /// Work-items per row of softmax and layernorm (1 on CPUs: no barriers).
    public var rowGroup: Int
    /// Output tile per work-item of `kernel_bmm`.
    public var bmmTile: (m: Int, n: Int)
    /// Work-group size along dimension 0 for the kernels that need no particular one (the
    /// others along 1); 0 lets the driver choose. PoCL compiles a work-group function per
    /// local size, and its own choice follows the global size, which changes with every
    /// batch's token count: a fixed size on CPU devices compiles each kernel once.
    public var fixedGroup = 0

    public init(gemm: GEMM, panelWidth: Int = 32, panelRows: Int = 8,
                tile: (m: Int, n: Int, k: Int, wm: Int, wn: Int) = (128, 128, 16, 8, 8),
                rowGroup: Int = 1, bmmTile: (m: Int, n: Int) = (4, 4)) {
        self.gemm = gemm; self.panelWidth = panelWidth; self.panelRows = panelRows
        self.tile = tile; self.rowGroup = rowGroup; self.bmmTile = bmmTile
    }

    /// What suits a device: register tiles on CPUs, local-memory tiles on GPUs.
    /// `DISTILCL_GEMM_TILE=m,n,k,wm,wn` sets the tiled GEMM's tile for every shape (for tuning
    /// runs; the small tile is then not used).
    public static func `default`(for device: CLDeviceInfo,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) -> KernelTuning {
        var tuning: KernelTuning
        if device.isGPU {
            tuning = KernelTuning(gemm: .tiled, panelWidth: 32, tile: (128, 128, 16, 8, 8),
                                  rowGroup: largestPowerOfTwo(atMost: min(128, max(1, device.maxWorkGroupSize))),
                                  bmmTile: (4, 4))
            tuning.smallTileBelow = 4 * device.computeUnits
        } else {
            tuning = KernelTuning(gemm: .panel, panelWidth: 32, panelRows: 8, rowGroup: 1, bmmTile: (4, 4))
            tuning.fixedGroup = min(8, max(1, device.maxWorkGroupSize))
        }
        let t = (environment["DISTILCL_GEMM_TILE"] ?? "").split(separator: ",").compactMap { Int($0) }
        if t.count == 5, t.allSatisfy({ $0 > 0 }), t[0] % t[3] == 0, t[1] % t[4] == 0, t[2] % 4 == 0,
           t[3] % 4 == 0, t[4] % 4 == 0 {
            tuning.tile = (t[0], t[1], t[2], t[3], t[4])
            tuning.smallTileBelow = 0   // a tuning run measures the one tile at every shape
        }
        return tuning
    }

    /// The `-D` options for the program build.
    var buildOptions: String {
        ["-DPN=\(panelWidth)", "-DMR=\(panelRows)",
         "-DTM=\(tile.m)", "-DTN=\(tile.n)", "-DTK=\(tile.k)", "-DWM=\(tile.wm)", "-DWN=\(tile.wn)",
         "-DTM_S=\(smallTile.m)", "-DTN_S=\(smallTile.n)", "-DTK_S=\(smallTile.k)", "-DWM_S=\(smallTile.wm)",
         "-DWN_S=\(smallTile.wn)",
         "-DSM_WG=\(rowGroup)", "-DLN_WG=\(rowGroup)", "-DBM=\(bmmTile.m)", "-DBN=\(bmmTile.n)"]
            .joined(separator: " ")
    }

    public static func == (l: KernelTuning, r: KernelTuning) -> Bool {
        l.buildOptions == r.buildOptions && l.gemm == r.gemm && l.fixedGroup == r.fixedGroup
    }
}

/// The row kernels' tree reductions need a power-of-two work-group.
func largestPowerOfTwo(atMost n: Int) -> Int {
    var p = 1
    while p * 2 <= n { p *= 2 }
    return p
}
