@testable import DistilCL
@testable import DistilCLBench
import Foundation
import Testing

/// The GEMM family and `distilcl tune`'s machinery on PoCL: every member gives the CPU path's
/// product at odd shapes, the tuner's winners go to the tuning file, a backend runs them for
/// their shapes, and a corrupt, stale or malformed file is ignored with a warning.
@Suite("GEMM family and tuning", .serialized)
struct GEMMTuningTests {
    /// An environment whose tuning file is `file` (and no other tuning).
    static func environment(_ file: URL) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(["DISTILCL_TUNING_FILE": file.path, "DISTILCL_NO_TUNING": ""]) { $1 }
    }

    /// A sample of the family every run (the heuristic, a panel and a tiled member); every
    /// member with DISTILCL_TEST_ALL_GEMM_VARIANTS=1.
    @Test("family members equal the CPU path at odd shapes", arguments: BackendCase.openCLDevices)
    func familyAtOddShapes(_ device: CLDeviceInfo) throws {
        let backend = try OpenCLBackend(device: device, tunedGEMMs: [:])
        let all = GEMMTuner.candidates(for: backend)
        #expect(all.contains { $0.kernel == .panel } && all.contains { $0.kernel == .tiled })
        // Each option of the tiled kernel at least once, on a tile whose work-group the warp
        // layout can split (8 × 8 work-items) and a shape that gives split-K several slices.
        let small = GEMMVariant.tiled(32, 32, 16, 4, 4)
        let options = [small.with(doubleBuffered: true), small.with(warpLayout: true), small.with(vectorWidth: 1),
                       small.with(vectorWidth: 2, doubleBuffered: true, warpLayout: true), small.with(splitK: 3),
                       small.with(vectorWidth: 2, splitK: 2)]
        let everything = all + all.flatMap { GEMMTuner.refinements(of: $0, shape: GEMMShape(rows: 16, n: 32, k: 4096), on: backend) }
        let sample = ProcessInfo.processInfo.environment["DISTILCL_TEST_ALL_GEMM_VARIANTS"] == "1" ? everything + options
            : [all[0]] + [all.first { $0.kernel == .panel && $0 != all[0] }, all.first { $0.kernel == .tiled }].compactMap { $0 }
              + options
        var rng = SeededRandom(seed: 11)
        for variant in sample {
            let g = try backend.gemmKernel(variant)
            for (m, n, k) in [(37, 77, 53), (130, 33, 200), (1, 96, 17), (5, 30, 300)] {
                let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
                let want = referenceLinear(a, w, bias, m: m, n: n, k: k, act: .gelu)
                let layer = try backend.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k)
                let out = try poisoned(backend, m * n)
                try backend.linear(try backend.buffer(a), layer, rows: m, activation: .gelu, out: out, using: g)
                expectClose(try backend.download(out), want, atol: Precision.fp32.linearTolerance(k: k, sigmas: 5),
                            rtol: 1e-5, "\(variant) M\(m) N\(n) K\(k)")
            }
        }
    }

    /// The backward GEMMs of the family (`kernel_gemm_nn`, `kernel_gemm_tn`: what the tiled
    /// backends run for dX = dZ·W and dW += dZᵀ·X) at odd shapes, with offsets, padded rows,
    /// alpha and beta (0 with C poisoned: not read), built plain and with every option.
    @Test("backward GEMMs of the family equal the reference", arguments: BackendCase.openCLDevices)
    func backwardMembers(_ device: CLDeviceInfo) throws {
        var plain = KernelTuning.default(for: device)
        plain.gemm = .tiled
        plain.tile = (32, 32, 16, 4, 4)
        var options = plain
        (options.gemmVectorWidth, options.gemmDoubleBuffered, options.gemmWarpLayout) = (2, true, true)
        var rng = SeededRandom(seed: 29)
        for tuning in [plain, options] {
            let b = try OpenCLBackend(device: device, tuning: tuning, tunedGEMMs: [:])
            for (m, n, k) in [(1, 1, 1), (37, 77, 53), (64, 30, 130), (5, 33, 7)] {
                for transposeA in [false, true] {
                    for beta: Float in [0, 1, 0.5] {
                        let lda = (transposeA ? m : k) + 3, ldb = n + 1, ldc = n + 2
                        let (offA, offB, offC) = (4, 3, 6)
                        let a = rng.floats(offA + (transposeA ? k : m) * lda), bv = rng.floats(offB + k * ldb)
                        let c0: [Float] = beta == 0 ? [Float](repeating: .nan, count: offC + m * ldc) : rng.floats(offC + m * ldc)
                        let alpha: Float = 0.75
                        let cBuffer = try b.buffer(c0)
                        try b.batchedMatmul(a: MatrixView(try b.buffer(a), offset: offA, stride1: 0, stride2: 0, ld: lda),
                                            b: MatrixView(try b.buffer(bv), offset: offB, stride1: 0, stride2: 0, ld: ldb),
                                            c: MatrixView(cBuffer, offset: offC, stride1: 0, stride2: 0, ld: ldc),
                                            m: m, n: n, k: k, transposeA: transposeA, transposeB: false,
                                            alpha: alpha, beta: beta, batch: (1, 1))
                        var want = c0.map(Double.init)
                        for i in 0..<m {
                            for j in 0..<n {
                                var acc = 0.0
                                for p in 0..<k {
                                    let av = transposeA ? a[offA + p * lda + i] : a[offA + i * lda + p]
                                    acc += Double(av) * Double(bv[offB + p * ldb + j])
                                }
                                let at = offC + i * ldc + j
                                want[at] = Double(alpha) * acc + (beta == 0 ? 0 : Double(beta) * Double(c0[at]))
                            }
                        }
                        expectClose(try b.download(cBuffer), want, atol: Precision.fp32.linearTolerance(k: k, sigmas: 5),
                                    rtol: 1e-5, "\(tuning.buildOptions) M\(m) N\(n) K\(k) tA \(transposeA) beta \(beta)")
                    }
                }
            }
            // The tiled backend runs them (not kernel_bmm) for a linear layer's backward.
            let x = try b.buffer(rng.floats(9 * 5)), dOut = try b.buffer(rng.floats(9 * 4))
            let layer = try b.makeLinear(weight: rng.floats(4 * 5), bias: rng.floats(4), outFeatures: 4, inFeatures: 5,
                                         role: .general, trainable: true)
            let gw = try b.makeBuffer(count: 20), gb = try b.makeBuffer(count: 4), dx = try b.makeBuffer(count: 45)
            let ran = try b.profile {
                try b.linearBackward(dOut: dOut, input: x, layer, rows: 9, activation: .none, preActivation: nil,
                                     dInput: dx, accumulateInput: false, gradWeight: gw, gradBias: gb)
            }.map(\.kernel)
            #expect(ran.contains("kernel_gemm_tn") && ran.contains("kernel_gemm_nn") && !ran.contains("kernel_bmm"), "\(ran)")
        }
    }

    @Test("refinements: double buffering, warp layout, vector widths, split-K where tiles are few",
          arguments: BackendCase.openCLDevices)
    func refinements(_ device: CLDeviceInfo) throws {
        let backend = try OpenCLBackend(device: device, tunedGEMMs: [:])
        let v = GEMMVariant.tiled(32, 32, 16, 4, 4)
        let few = GEMMTuner.refinements(of: v, shape: GEMMShape(rows: 16, n: 32, k: 4096), on: backend)
        #expect(few.contains(v.with(doubleBuffered: true)) && few.contains(v.with(warpLayout: true))
                && few.contains(v.with(vectorWidth: 1)) && few.contains(v.with(splitK: 8)), "\(few)")
        // Many output tiles, or K too short for 2 slices of 8 slabs: no split-K.
        let many = GEMMTuner.refinements(of: v, shape: GEMMShape(rows: 4096, n: 4096, k: 4096), on: backend)
        #expect(!many.contains { $0.splitK > 1 } && !many.isEmpty)
        #expect(!GEMMTuner.refinements(of: v, shape: GEMMShape(rows: 16, n: 32, k: 128), on: backend).contains { $0.splitK > 1 })
        #expect(GEMMTuner.refinements(of: .panel(rows: 4), shape: GEMMShape(rows: 16, n: 32, k: 4096), on: backend).isEmpty)

        // The tuner's second stage: on a backend whose heuristic is this tile, every refinement
        // of it is built, checked and timed (or dropped early), split-K launches included.
        var tiledTuning = KernelTuning.default(for: device)
        tiledTuning.gemm = .tiled
        tiledTuning.tile = (32, 32, 16, 4, 4)
        tiledTuning.smallTileBelow = 0
        let tiled = try OpenCLBackend(device: device, tuning: tiledTuning, tunedGEMMs: [:])
        let shape = GEMMShape(rows: 16, n: 32, k: 4096)
        #expect(GEMMVariant.heuristic(tiled.tuning, rows: shape.m, n: shape.n) == v)
        var tuner = GEMMTuner(backend: tiled)
        tuner.repeats = 2
        let o = try #require(try tuner.tune([shape], candidates: [v], budget: .seconds(600)).first)
        let expected = GEMMTuner.refinements(of: v, shape: shape, on: tiled).count
        #expect(expected >= 8 && o.timed + o.droppedEarly == 1 + expected && o.invalid == 0 && o.skipped == 0, "\(o)")
        let plain = try #require(try tuner.tune([shape], candidates: [v], refine: false, budget: .seconds(600)).first)
        #expect(plain.timed == 1 && plain.droppedEarly == 0)

        // The parallel build: what builds is kept, what cannot is marked broken, and nothing
        // starts past the deadline.
        let unbuildable = GEMMVariant.tiled(4096, 4096, 16, 4, 4)
        let built = tuner.prebuild([v, v.with(warpLayout: true), unbuildable], deadline: .now + .seconds(600))
        #expect(Set(built.kernels.keys) == [v, v.with(warpLayout: true)] && built.broken == [unbuildable])
        let late = tuner.prebuild([v], deadline: .now - .seconds(1))
        #expect(late.kernels.isEmpty && late.broken.isEmpty)
        // A stored entry from before the options existed reads as the plain variant.
        let old = try JSONDecoder().decode(GEMMVariant.self, from: Data(#"{"kernel": "tiled", "rows": 0, "tile": [32, 32, 16, 4, 4]}"#.utf8))
        #expect(old == v)
        let round = try JSONDecoder().decode(GEMMVariant.self, from: JSONEncoder().encode(v.with(warpLayout: true, splitK: 4)))
        #expect(round == v.with(warpLayout: true, splitK: 4))
    }

    /// Attention's key block: every candidate checked and timed, the stored block is what a
    /// backend then builds attention.cl with (and attention stays right); a bad stored block is
    /// ignored with a warning. (A `-DATT_KB` override is applied after it: KernelTuningTests.)
    @Test("attention's key block is tuned, stored and used", arguments: BackendCase.openCLDevices)
    func attentionKeyBlock(_ device: CLDeviceInfo) throws {
        let folder = try TemporaryFolder()
        let file = folder.file("tuning.json")
        let backend = try OpenCLBackend(device: device, tunedGEMMs: [:])
        var tuner = AttentionTuner(backend: backend)
        tuner.repeats = 2
        let o = try tuner.tune(sequences: 3, length: 37, heads: 2, headDim: 16, deadline: .now + .seconds(600))
        // Every key block at widths 1, 4 and 16 (16 divides the head size).
        #expect(o.timed == AttentionTuner.keyBlocks.count * 3 && o.invalid == 0 && o.skipped == 0)
        #expect(o.defaultKeyBlock == backend.tuning.attentionKeyBlock && o.defaultGFLOPS > 0)
        #expect(o.defaultVectorWidth == (device.isGPU ? 4 : 16))
        // Past the deadline only the current choice runs; a head size of 12 allows widths 1 and 4.
        let late = try tuner.tune(sequences: 1, length: 9, heads: 1, headDim: 12, deadline: .now)
        #expect(late.timed == 1 && late.skipped == AttentionTuner.keyBlocks.count * 2 - 1 && late.defaultVectorWidth == 4)

        let cache = TuningCache(url: file)
        try cache.store([:], attention: .init(keyBlock: 5, vectorWidth: 1, headDim: 16, gflops: 1, defaultGFLOPS: 1),
                        for: device)
        let tuned = try OpenCLBackend(device: device, environment: Self.environment(file))
        #expect(tuned.tuning.attentionKeyBlock == 5 && tuned.tuning.attentionVectorWidth == 1)
        var rng = SeededRandom(seed: 41)
        let offsets = [0, 7, 19, 20], qkvValues = rng.floats(20 * 3 * 32)
        let cpu = CPUBackend(), cpuOut = try cpu.makeBuffer(count: 20 * 32)
        try cpu.attention(qkv: try cpu.buffer(qkvValues), sequences: try PackedSequences.upload(offsets, to: cpu), heads: 2,
                          headDim: 16, scale: 0.25, out: cpuOut)
        let out = try poisoned(tuned, 20 * 32)
        let qkv = try tuned.buffer(qkvValues), packed = try PackedSequences.upload(offsets, to: tuned)
        let ran = try tuned.profile {
            try tuned.attention(qkv: qkv, sequences: packed, heads: 2, headDim: 16, scale: 0.25, out: out)
        }
        #expect(ran.map(\.kernel) == ["kernel_attention_v1"])
        expectClose(try tuned.download(out), try cpu.download(cpuOut).map(Double.init), atol: 1e-5, rtol: 0, "ATT_KB=5 v1")
        #expect(try OpenCLBackend(device: device, environment: Self.environment(file).merging(["DISTILCL_NO_TUNING": "1"]) { $1 })
            .tuning.attentionKeyBlock == 16)

        try cache.store([:], attention: .init(keyBlock: 0, headDim: 16, gflops: 1, defaultGFLOPS: 1), for: device)
        var (stored, warning) = cache.attention(for: device)
        #expect(stored == nil && warning != nil)
        try cache.store([:], attention: .init(keyBlock: 8, vectorWidth: 3, headDim: 16, gflops: 1, defaultGFLOPS: 1), for: device)
        (stored, warning) = cache.attention(for: device)
        #expect(stored == nil && warning != nil)
        #expect(try OpenCLBackend(device: device, environment: Self.environment(file)).tuning.attentionKeyBlock == 16)

        // A tiled variant's options survive the file.
        let v = GEMMVariant.tiled(32, 32, 16, 4, 4, vectorWidth: 2, doubleBuffered: true, warpLayout: true, splitK: 3)
        try cache.store([GEMMShape(rows: 64, n: 48, k: 40): .init(v, gflops: 1, defaultGFLOPS: 1)], for: device)
        #expect(cache.variants(for: device).variants == [GEMMShape(rows: 64, n: 48, k: 40): v])
    }

    @Test("the tuner's winners are stored and run for their shapes", arguments: BackendCase.openCLDevices)
    func tunedShapesAreRun(_ device: CLDeviceInfo) throws {
        let folder = try TemporaryFolder()
        let file = folder.file("tuning.json")
        let backend = try OpenCLBackend(device: device, tunedGEMMs: [:])
        let shape = GEMMShape(rows: 20, n: 48, k: 40)
        #expect(shape.m == 32)
        let heuristic = GEMMVariant.heuristic(backend.tuning, rows: shape.m, n: shape.n)
        // Another kernel than the heuristic's, so the profile shows which one ran.
        let other = heuristic.kernel == .panel ? GEMMVariant.tiled(32, 32, 16, 4, 4) : .panel(rows: 4)
        var tuner = GEMMTuner(backend: backend)
        tuner.repeats = 3
        let outcomes = try tuner.tune([shape], candidates: [heuristic, other], budget: .seconds(600))
        let o = try #require(outcomes.first)
        #expect(o.defaultVariant == heuristic.description && o.defaultGFLOPS > 0)
        #expect(o.bestGFLOPS >= o.defaultGFLOPS)
        #expect(o.timed + o.droppedEarly == 2 && o.invalid == 0 && o.skipped == 0)

        // Store a variant that is not the heuristic, so the test sees it used.
        try TuningCache(url: file).store([shape: .init(other, gflops: 1, defaultGFLOPS: 1)], for: device)
        let tuned = try OpenCLBackend(device: device, environment: Self.environment(file))
        #expect(tuned.tunedShapes == [shape: other])
        var rng = SeededRandom(seed: 3)
        for m in [17, 20, 32] {   // every row count of the bucket
            let (n, k) = (shape.n, shape.k)
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
            let layer = try tuned.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k)
            let out = try poisoned(tuned, m * n)
            try tuned.linear(try tuned.buffer(a), layer, rows: m, activation: .none, out: out)
            expectClose(try tuned.download(out), referenceLinear(a, w, bias, m: m, n: n, k: k, act: .none),
                        atol: Precision.fp32.linearTolerance(k: k, sigmas: 5), rtol: 1e-5, "tuned M\(m)")
        }
        // Which kernel ran: the tuned variant's launch, named in the profile.
        let layer = try tuned.makeLinear(weight: rng.floats(48 * 40), bias: nil, outFeatures: 48, inFeatures: 40)
        let x = try tuned.buffer(rng.floats(20 * 40)), out = try tuned.makeBuffer(count: 20 * 48)
        let launched = try tuned.profile { try tuned.linear(x, layer, rows: 20, activation: .none, out: out) }
        #expect(launched.map(\.kernel) == [other.kernel == .panel ? "kernel_gemm_panel" : "kernel_gemm_tiled"])
        #expect(try OpenCLBackend(device: device, environment: Self.environment(file).merging(["DISTILCL_NO_TUNING": "1"]) { $1 })
            .tunedShapes.isEmpty)
    }

    @Test("a corrupt, stale or malformed tuning file is ignored with a warning", arguments: BackendCase.openCLDevices)
    func badFilesAreIgnored(_ device: CLDeviceInfo) throws {
        let folder = try TemporaryFolder()
        let file = folder.file("tuning.json")
        let cache = TuningCache(url: file)
        try Data("{not json".utf8).write(to: file)
        var (variants, warnings) = cache.variants(for: device)
        #expect(variants.isEmpty && warnings.count == 1)
        #expect(try OpenCLBackend(device: device, environment: Self.environment(file)).tunedShapes.isEmpty)

        // Another gemm.cl or attention.cl (a stale hash): nothing used, and a warning says so.
        let prefix = "\(device.platformName)|\(device.name)|\(device.driverVersion)"
        let stale = #"{"version": 1, "devices": {"\#(prefix)|0": {"M32_N48_K40": {"kernel": "panel", "rows": 2, "tile": [], "gflops": 1, "default_gflops": 1}}}, "attention": {"\#(prefix)|0": {"key_block": 8, "head_dim": 64, "gflops": 1, "default_gflops": 1}}}"#
        try Data(stale.utf8).write(to: file)
        (variants, warnings) = cache.variants(for: device)
        #expect(variants.isEmpty && warnings.count == 1 && warnings[0].contains("distilcl tune"), "\(warnings)")
        let attention = cache.attention(for: device)
        #expect(attention.stored == nil && attention.warning?.contains("distilcl tune") == true)
        // Another device's entries are no concern of this one.
        try Data(#"{"version": 1, "devices": {"other|device|1|0": {}}}"#.utf8).write(to: file)
        (variants, warnings) = cache.variants(for: device)
        #expect(variants.isEmpty && warnings.isEmpty)

        // This device's key with a bad shape and a bad variant beside a good entry.
        let key = TuningCache.key(for: device)
        let mixed = #"{"version": 1, "devices": {"\#(key)": {"M33_N48_K40": {"kernel": "panel", "rows": 2, "tile": [], "gflops": 1, "default_gflops": 1}, "M32_N48_K40": {"kernel": "panel", "rows": 99, "tile": [], "gflops": 1, "default_gflops": 1}, "M64_N48_K40": {"kernel": "panel", "rows": 2, "tile": [], "gflops": 1, "default_gflops": 1}}}}"#
        try Data(mixed.utf8).write(to: file)
        (variants, warnings) = cache.variants(for: device)
        #expect(variants == [GEMMShape(rows: 64, n: 48, k: 40): .panel(rows: 2)])
        #expect(warnings.count == 2)
        // A stored entry for a tile the device cannot build is skipped when the backend starts.
        try cache.store([GEMMShape(rows: 64, n: 48, k: 40): .init(.tiled(4096, 4096, 16, 4, 4), gflops: 1, defaultGFLOPS: 1)],
                        for: device)
        #expect(try OpenCLBackend(device: device, environment: Self.environment(file)).tunedShapes.isEmpty)
    }

    @Test("shape buckets and cache keys")
    func buckets() {
        #expect(GEMMShape(rows: 1, n: 2, k: 3).m == 16)
        #expect(GEMMShape(rows: 1024, n: 2, k: 3).m == 1024 && GEMMShape(rows: 1025, n: 2, k: 3).m == 2048)
        #expect(GEMMShape(key: "M1024_N2304_K768") == GEMMShape(rows: 1000, n: 2304, k: 768))
        for bad in ["M1000_N1_K1", "M8_N1_K1", "N1_M16_K1", "M16_N0_K1", "M16_N1"] { #expect(GEMMShape(key: bad) == nil, "\(bad)") }
        #expect(GEMMShape.encoder(hidden: 768, ffn: 3072, tokens: [100, 128]).count == 4)
    }
}
