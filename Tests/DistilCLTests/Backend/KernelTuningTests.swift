@testable import DistilCL
import Foundation
import Testing

/// The kernels' tunables come from one place, `KernelTuning`: a `-DNAME=VALUE` build option
/// (`DISTILCL_CL_OPTIONS`) that names one changes the configuration the host sizes its grids
/// from, and a value the kernels cannot run with is refused before any build.
@Suite("Kernel tunables")
struct KernelTuningTests {
    static let device = CLDeviceInfo(index: 0, platformName: "test", name: "test", vendor: "test", driverVersion: "0",
                                     deviceVersion: "OpenCL 1.2", isGPU: true, isCPU: false, computeUnits: 8,
                                     globalMemoryBytes: 1 << 30, maxWorkGroupSize: 1024, localMemoryBytes: 48 << 10,
                                     platform: nil, device: nil)

    /// The process's environment (its cache settings) with `DISTILCL_CL_OPTIONS` set.
    static func environment(_ options: String) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(["DISTILCL_CL_OPTIONS": options]) { $1 }
    }

    @Test("-D options that name a tunable set it; the others pass through to the build")
    func applying() throws {
        let base = KernelTuning.default(for: Self.device, environment: [:])
        let (t, rest) = try base.applying(options: "-DMR=4 -DGEMM_PREFETCH=0 -D TM=64 -cl-mad-enable -DLN_WG=32")
        #expect(t.panelRows == 4 && t.tile.m == 64 && t.rowGroup == 32)
        #expect(rest == "-DGEMM_PREFETCH=0 -cl-mad-enable")
        #expect(t.buildOptions.contains("-DMR=4") && t.buildOptions.contains("-DTM=64"))
        #expect(try base.applying(options: "") == (base, ""))
        let (g, _) = try base.applying(options: "-DGEMM_VW=2 -DGEMM_DB=1 -DGEMM_WARP=1 -DGEMM_SPLITK=4")
        #expect(g.gemmVectorWidth == 2 && g.gemmDoubleBuffered && g.gemmWarpLayout && g.gemmSplitK == 4)
        try g.validate(for: Self.device)
        #expect(g.buildOptions.contains("-DGEMM_VW=2 -DGEMM_DB=1 -DGEMM_WARP=1 -DGEMM_SPLITK=4"))
        for bad in ["-DMR", "-DMR=four", "-DLN_WG", "-D", "-DMR=4 -D", "-D=3", "-D -DMR=4"] {
            #expect(throws: KernelTuningError.self, "\(bad)") { try base.applying(options: bad) }
        }
    }

    @Test("values the kernels cannot run with are refused")
    func validation() throws {
        let base = KernelTuning.default(for: Self.device, environment: [:])
        try base.validate(for: Self.device)
        for options in ["-DPN=12", "-DMR=0", "-DTM=100", "-DWN=6 -DTN=120", "-DTK=18", "-DLN_WG=48", "-DLN_WG=2048",
                        "-DTM=256 -DTN=256 -DWM=4 -DWN=4", "-DATT_DH_MAX=100", "-DBM=0", "-DGEMM_VW=3",
                        "-DGEMM_SPLITK=0", "-DGEMM_SPLITK=17",
                        // the warp layout needs 8 work-items across and 4 down: TM/WM = 16/8 = 2 down…
                        "-DGEMM_WARP=1 -DTM=16 -DWM=8",
                        // … and TN/WN = 4 across is too few
                        "-DGEMM_WARP=1 -DTN=32 -DWN=8",
                        // two buffers of a tile that fits once: 2·4·((128+4)·32 + 32·128) bytes > 48 KiB
                        "-DGEMM_DB=1 -DTK=32"] {
            let (t, _) = try base.applying(options: options)
            #expect(throws: KernelTuningError.self, "\(options)") { try t.validate(for: Self.device) }
        }
    }

    /// The README's example: `DISTILCL_CL_OPTIONS=-DMR=4` once built the panel GEMM with 4 rows
    /// per work-item while the host launched one work-item per 8 rows (half the rows unwritten).
    /// Now the host launches what the kernel computes: the same product as the CPU path, at odd
    /// shapes, for several overrides; and an override the kernels cannot take fails to start.
    @Test("an override changes host and kernel together", arguments: BackendCase.openCLDevices)
    func overrideOnDevice(_ device: CLDeviceInfo) throws {
        var rng = SeededRandom(seed: 7)
        for options in ["-DMR=4", "-DMR=3 -DPN=16", "-DPN=8 -DBM=2 -DBN=3"] {
            let backend = try OpenCLBackend(device: device, environment: Self.environment(options))
            #expect(backend.tuning.buildOptions.contains(options.split(separator: " ")[0]))
            for (m, n, k) in [(37, 45, 29), (5, 70, 64), (130, 33, 17)] {
                let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
                let want = referenceLinear(a, w, bias, m: m, n: n, k: k, act: .none)
                let layer = try backend.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k)
                let out = try poisoned(backend, m * n)
                try backend.linear(try backend.buffer(a), layer, rows: m, activation: .none, out: out)
                expectClose(try backend.download(out), want, atol: Precision.fp32.linearTolerance(k: k, sigmas: 5),
                            rtol: 1e-5, "\(device.name) \(options) linear M\(m) N\(n) K\(k)")
            }
        }
        #expect(throws: KernelTuningError.self) {
            try OpenCLBackend(device: device, environment: Self.environment("-DPN=12"))
        }
    }
}
