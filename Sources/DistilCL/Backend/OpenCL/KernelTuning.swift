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
    /// Floats per global load and store of the tiled GEMMs (`GEMM_VW`: 1, 2 or 4).
    public var gemmVectorWidth = 4
    /// Two local buffers and one barrier per K slab in the tiled GEMMs (`GEMM_DB`).
    public var gemmDoubleBuffered = false
    /// The warp layout of the tiled GEMMs (`GEMM_WARP`): 32 consecutive work-items own a block of C.
    public var gemmWarpLayout = false
    /// K slices of `kernel_gemm_tiled` (`GEMM_SPLITK`; 1: none), summed by `kernel_gemm_splitk_reduce`.
    public var gemmSplitK = 1
    /// Work-items per row of layernorm (1 on CPUs: no barriers).
    public var rowGroup: Int
    /// Output tile per work-item of `kernel_bmm`.
    public var bmmTile: (m: Int, n: Int)
    /// Work-group size along dimension 0 for the kernels that need no particular one (the
    /// others along 1); 0 lets the driver choose. PoCL compiles a work-group function per
    /// local size, and its own choice follows the global size, which changes with every
    /// batch's token count: a fixed size on CPU devices compiles each kernel once.
    public var fixedGroup = 0
    /// Largest head size the attention kernels hold in registers (`ATT_DH_MAX`).
    public var attentionHeadMax = 128
    /// Keys scored per block before attention's running softmax is rescaled (`ATT_KB`), in the
    /// inference kernel and training's forward alike (one body, prelude.cl).
    public var attentionKeyBlock = 16
    /// Vector width over the head dimension of the attention kernels (`kernel_attention_v1`,
    /// `_v4`, `_v16`, and training's `kernel_attention_lse_v*`, `_dq_v*`, `_dkv_v*` alike); 0 for
    /// the heuristic (16 on CPU devices, else 4, else 1, as the head size allows). Chosen by
    /// `distilcl tune` on the inference kernel; not a build option.
    public var attentionVectorWidth = 0

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
         "-DWN_S=\(smallTile.wn)", "-DGEMM_VW=\(gemmVectorWidth)", "-DGEMM_DB=\(gemmDoubleBuffered ? 1 : 0)",
         "-DGEMM_WARP=\(gemmWarpLayout ? 1 : 0)", "-DGEMM_SPLITK=\(gemmSplitK)",
         "-DLN_WG=\(rowGroup)", "-DBM=\(bmmTile.m)", "-DBN=\(bmmTile.n)",
         "-DATT_DH_MAX=\(attentionHeadMax)", "-DATT_KB=\(attentionKeyBlock)"]
            .joined(separator: " ")
    }

    /// Sets the tunable the kernels call `macro`; false when no tunable has that name.
    mutating func set(macro: String, to v: Int) -> Bool {
        switch macro {
        case "PN": panelWidth = v
        case "MR": panelRows = v
        case "TM": tile.m = v
        case "TN": tile.n = v
        case "TK": tile.k = v
        case "WM": tile.wm = v
        case "WN": tile.wn = v
        case "TM_S": smallTile.m = v
        case "TN_S": smallTile.n = v
        case "TK_S": smallTile.k = v
        case "WM_S": smallTile.wm = v
        case "WN_S": smallTile.wn = v
        case "GEMM_VW": gemmVectorWidth = v
        case "GEMM_DB": gemmDoubleBuffered = v != 0
        case "GEMM_WARP": gemmWarpLayout = v != 0
        case "GEMM_SPLITK": gemmSplitK = v
        case "LN_WG": rowGroup = v
        case "BM": bmmTile.m = v
        case "BN": bmmTile.n = v
        case "ATT_DH_MAX": attentionHeadMax = v
        case "ATT_KB": attentionKeyBlock = v
        default: return false
        }
        return true
    }

    /// This configuration with the tunables that `options` (OpenCL build options, as in
    /// `DISTILCL_CL_OPTIONS`) defines with `-DNAME=VALUE` applied, so that the host sizes its
    /// grids from the same values the kernels are built with, and the other options, which
    /// pass to the build as they are. A tunable without an integer value is an error.
    public func applying(options: String) throws -> (KernelTuning, String) {
        var tuning = self, rest: [String] = []
        var words = options.split(whereSeparator: \.isWhitespace).map(String.init)[...]
        while let word = words.popFirst() {
            var definition: String
            if word == "-D", let next = words.first { definition = next; words = words.dropFirst() }
            else if word.hasPrefix("-D") { definition = String(word.dropFirst(2)) }
            else { rest.append(word); continue }
            let parts = definition.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let name = parts.first, !name.isEmpty, !name.hasPrefix("-") else {
                throw KernelTuningError.invalid("'\(word)\(word == "-D" ? " " + definition : "")': -D needs NAME or NAME=VALUE")
            }
            var probe = tuning
            guard probe.set(macro: name, to: 0) else { rest.append("-D" + definition); continue }
            guard parts.count == 2, let value = Int(parts[1]) else {
                throw KernelTuningError.invalid("-D\(definition): the tunable \(parts[0]) needs an integer value (-D\(parts[0])=N)")
            }
            _ = tuning.set(macro: parts[0], to: value)
        }
        return (tuning, rest.joined(separator: " "))
    }

    /// Checks that the kernels can be built and launched with these values on `device`.
    public func validate(for device: CLDeviceInfo) throws {
        func bad(_ what: String) -> KernelTuningError { .invalid(what + " (\(buildOptions))") }
        guard [8, 16, 32].contains(panelWidth) else { throw bad("PN must be 8, 16 or 32, got \(panelWidth)") }
        guard (1...32).contains(panelRows) else { throw bad("MR must be from 1 to 32, got \(panelRows)") }
        for (name, t) in [("", tile), ("_S", smallTile)] {
            guard t.m > 0, t.n > 0, t.k > 0, t.wm > 0, t.wn > 0, t.m % t.wm == 0, t.n % t.wn == 0,
                  t.k % 4 == 0, t.wm % 4 == 0, t.wn % 4 == 0 else {
                throw bad("the GEMM tile TM\(name)=\(t.m) TN\(name)=\(t.n) TK\(name)=\(t.k) WM\(name)=\(t.wm) WN\(name)=\(t.wn) "
                          + "needs WM, WN and TK multiples of 4, TM a multiple of WM and TN of WN")
            }
            let group = (t.m / t.wm) * (t.n / t.wn)
            let local = 4 * ((t.m + 4) * t.k + t.k * t.n) * (gemmDoubleBuffered ? 2 : 1)
            if gemm == .tiled, group > device.maxWorkGroupSize || UInt64(local) > device.localMemoryBytes {
                throw bad("the GEMM tile TM\(name)=\(t.m) TN\(name)=\(t.n) needs \(group) work-items and \(local) bytes of local memory; "
                          + "the device allows \(device.maxWorkGroupSize) and \(device.localMemoryBytes)")
            }
            if gemmWarpLayout, (t.n / t.wn) % 8 != 0 || (t.m / t.wm) % 4 != 0 {
                throw bad("GEMM_WARP=1 needs TN\(name)/WN\(name) a multiple of 8 and TM\(name)/WM\(name) of 4 "
                          + "(32 work-items as 4 × 8), got \(t.n / t.wn) × \(t.m / t.wm)")
            }
        }
        guard [1, 2, 4].contains(gemmVectorWidth) else { throw bad("GEMM_VW must be 1, 2 or 4, got \(gemmVectorWidth)") }
        guard (1...16).contains(gemmSplitK) else { throw bad("GEMM_SPLITK must be from 1 to 16, got \(gemmSplitK)") }
        guard rowGroup >= 1, rowGroup & (rowGroup - 1) == 0, rowGroup <= device.maxWorkGroupSize else {
            throw bad("LN_WG must be a power of two up to the device's \(device.maxWorkGroupSize), got \(rowGroup)")
        }
        guard bmmTile.m >= 1, bmmTile.n >= 1 else { throw bad("BM and BN must be at least 1") }
        guard attentionHeadMax >= 16, attentionHeadMax % 16 == 0 else {
            throw bad("ATT_DH_MAX must be a multiple of 16, got \(attentionHeadMax)")
        }
        guard attentionKeyBlock >= 1 else { throw bad("ATT_KB must be at least 1, got \(attentionKeyBlock)") }
        guard [0, 1, 4, 16].contains(attentionVectorWidth) else {
            throw bad("the attention vector width must be 1, 4 or 16 (0: heuristic), got \(attentionVectorWidth)")
        }
    }

    public static func == (l: KernelTuning, r: KernelTuning) -> Bool {
        l.buildOptions == r.buildOptions && l.gemm == r.gemm && l.fixedGroup == r.fixedGroup
            && l.attentionVectorWidth == r.attentionVectorWidth
    }
}

/// A kernel configuration the kernels cannot be built or launched with.
public enum KernelTuningError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let what): return "kernel tunables: \(what)"
        }
    }
}

/// The row kernels' tree reductions need a power-of-two work-group.
func largestPowerOfTwo(atMost n: Int) -> Int {
    var p = 1
    while p * 2 <= n { p *= 2 }
    return p
}
