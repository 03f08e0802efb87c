import DistilCL
import Foundation

/// `distilcl bench kernels`: each operation at DistilBERT-base shapes, validated against the
/// CPU path first, then timed (warm-up, then the median of repeated runs) on the chosen
/// backend and on the CPU path in the same run. OpenCL times come from profiling events,
/// CPU times from the wall clock.
public struct KernelBench {
    /// One measured case.
    public struct Row: Sendable, Codable {
        public var op: String
        public var shape: String
        /// Floating-point operations (GEMMs) or bytes moved (the rest) per run.
        public var work: Double
        public var unit: String            // "GFLOP/s" or "GB/s"
        public var deviceMilliseconds: Double
        public var cpuMilliseconds: Double?
        /// Largest |device − CPU| over the output, and the tolerance it was held to.
        public var maxAbsDiff: Double
        public var tolerance: Double
        public var deviceRate: Double { work / deviceMilliseconds / 1e6 }
        public var cpuRate: Double? { cpuMilliseconds.map { work / $0 / 1e6 } }
        public var valid: Bool { maxAbsDiff <= tolerance }
    }

    public let device: any ComputeBackend
    public let cpu = CPUBackend()
    public var repeats: Int
    public var tokenCounts: [Int]

    public init(device: any ComputeBackend, repeats: Int = 10, tokenCounts: [Int] = [128, 1024, 4096]) {
        self.device = device; self.repeats = repeats; self.tokenCounts = tokenCounts
    }

    /// The DistilBERT-base weight shapes (N, K): fused QKV, attention output, FFN in, FFN out.
    public static let gemmShapes: [(n: Int, k: Int, what: String)] =
        [(2304, 768, "qkv"), (768, 768, "attn-out"), (3072, 768, "ffn-in"), (768, 3072, "ffn-out")]

    /// Runs every case, calling `progress` after each.
    public func run(progress: (Row) -> Void = { _ in }) throws -> [Row] {
        var rows: [Row] = []
        func add(_ r: Row) { rows.append(r); progress(r) }
        var rng = BenchRandom(seed: 1)

        // One GEMM on each backend first, so thread pools and one-time set-up fall outside the
        // first measured row.
        for b in [device, cpu] as [any ComputeBackend] {
            let layer = try b.makeLinear(weight: rng.floats(256 * 256), bias: nil, outFeatures: 256, inFeatures: 256)
            let x = try b.buffer(rng.floats(256 * 256)), out = try b.makeBuffer(count: 256 * 256)
            for _ in 0..<3 { try b.linear(x, layer, rows: 256, activation: .none, out: out) }
            try b.synchronize()
        }

        for m in tokenCounts {
            for (n, k, what) in Self.gemmShapes {
                let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
                let act: Activation = what == "ffn-in" ? .gelu : .none
                add(try measure(op: "linear \(what)\(act == .gelu ? "+gelu" : "")", shape: "M\(m) N\(n) K\(k)",
                                work: 2 * Double(m * n * k), unit: "GFLOP/s", tolerance: 1e-7 * Double(k) + 1e-5) { b in
                    let x = try b.buffer(a), out = try b.makeBuffer(count: m * n)
                    let layer = try b.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k)
                    return ({ try b.linear(x, layer, rows: m, activation: act, out: out) }, out)
                })
            }
        }
        // The CPU path's ffn-in GEMM at each reduced precision this CPU runs, checked against
        // its fp32 output within the rounding's bound at 7σ (about 10⁷ outputs are compared).
        for precision in [Precision.bf16, .int8] {
            guard let lowered = try? CPUBackend(precision: precision) else { continue }
            for m in tokenCounts {
                let (n, k) = (3072, 768)
                let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
                func layer(_ b: CPUBackend) throws -> (() throws -> Void, any DeviceBuffer) {
                    let x = try b.buffer(a), out = try b.makeBuffer(count: m * n)
                    let l = try b.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k)
                    return ({ try b.linear(x, l, rows: m, activation: .gelu, out: out) }, out)
                }
                let (run, out) = try layer(lowered), (runRef, outRef) = try layer(cpu)
                try runRef()
                let ms = try median(repeats, run)
                let diff = zip(try lowered.download(out), try cpu.download(outRef)).map { abs(Double($0 - $1)) }.max() ?? 0
                add(Row(op: "cpu linear ffn-in+gelu \(precision)", shape: "M\(m) N\(n) K\(k)", work: 2 * Double(m * n * k),
                        unit: precision == .int8 ? "GOP/s" : "GFLOP/s", deviceMilliseconds: ms, cpuMilliseconds: ms,
                        maxAbsDiff: diff, tolerance: precision.linearTolerance(k: k, sigmas: 7)))
            }
        }
        // The same GEMM through OpenBLAS, the library the CPU path used before oneDNN, with the
        // core its dynamic dispatch picked (OPENBLAS_CORETYPE overrides it): the comparison
        // BENCHMARKS.md's choice of oneDNN rests on.
        if let blas = OpenBLAS.shared {
            for m in tokenCounts {
                let (n, k) = (3072, 768)
                let a = rng.floats(m * k), w = rng.floats(n * k)
                var c = [Float](repeating: 0, count: m * n)
                let ms = try median(repeats) { blas.gemmTransposedB(m: m, n: n, k: k, a: a, w: w, c: &c) }
                // Checked like every other row: against the CPU path's linear on the same operands.
                let x = try cpu.buffer(a), out = try cpu.makeBuffer(count: m * n)
                let layer = try cpu.makeLinear(weight: w, bias: nil, outFeatures: n, inFeatures: k)
                try cpu.linear(x, layer, rows: m, activation: .none, out: out)
                let diff = zip(c, try cpu.download(out)).map { abs(Double($0 - $1)) }.max() ?? .infinity
                add(Row(op: "openblas sgemm (\(blas.core))", shape: "M\(m) N\(n) K\(k)", work: 2 * Double(m * n * k),
                        unit: "GFLOP/s", deviceMilliseconds: ms, cpuMilliseconds: ms,
                        maxAbsDiff: diff.isNaN ? .infinity : diff, tolerance: 1e-7 * Double(k) + 1e-5))
            }
        }

        // Attention as the model runs it: the fused kernel over packed sequences, 12 heads of 64,
        // Q, K and V read from the fused QKV projection; 8 texts of 128 down to 72 tokens (no
        // padding: each text's own length). Work: Q·Kᵀ and P·V, 4·S²·dh per text and head.
        let (heads, dh) = (12, 64)
        let lengths = (0..<8).map { 128 - 8 * $0 }
        var offsets = [0]
        for n in lengths { offsets.append(offsets.last! + n) }
        let tokens = offsets.last!
        let qkv = rng.floats(tokens * 3 * heads * dh)
        let attentionWork = lengths.reduce(0.0) { $0 + 4 * Double($1 * $1 * heads * dh) }
        add(try measure(op: "attention (fused)", shape: "B\(lengths.count) S72…128 H\(heads) dh\(dh)", work: attentionWork,
                        unit: "GFLOP/s", tolerance: 1e-5) { b in
            let q = try b.buffer(qkv), out = try b.makeBuffer(count: tokens * heads * dh)
            let packed = try PackedSequences.upload(offsets, to: b)
            return ({ try b.attention(qkv: q, sequences: packed, heads: heads, headDim: dh, scale: 0.125, out: out) }, out)
        })

        // Row and element-wise ops over M × 768 and M × 3072.
        for m in tokenCounts {
            for cols in [768, 3072] {
                let x = rng.floats(m * cols, -4...4), r = rng.floats(m * cols)
                let gamma = rng.floats(cols), beta = rng.floats(cols)
                let shape = "M\(m) × \(cols)"
                let bytes = Double(m * cols * 4)
                add(try measure(op: "layernorm+residual", shape: shape, work: 3 * bytes, unit: "GB/s", tolerance: 1e-4) { b in
                    let xb = try b.buffer(x), rb = try b.buffer(r), g = try b.buffer(gamma), be = try b.buffer(beta)
                    let out = try b.makeBuffer(count: x.count)
                    return ({ try b.layerNorm(xb, residual: rb, gamma: g, beta: be, rows: m, cols: cols, eps: 1e-12, out: out) }, out)
                })
                add(try measure(op: "gelu", shape: shape, work: 2 * bytes, unit: "GB/s", tolerance: 1e-5) { b in
                    let xb = try b.buffer(x), out = try b.makeBuffer(count: x.count)
                    return ({ try b.activation(xb, count: x.count, .gelu, out: out) }, out)
                })
            }
        }
        return rows
    }

    // MARK: - Measuring

    /// Builds the case on both backends, compares one run's outputs, then times each.
    private func measure(op: String, shape: String, work: Double, unit: String, tolerance: Double,
                         _ setup: (any ComputeBackend) throws -> (() throws -> Void, any DeviceBuffer)) throws -> Row {
        let (runDevice, outDevice) = try setup(device)
        try runDevice()
        let got = try device.download(outDevice)
        let deviceMs = try time(device, runDevice)

        let (runCPU, outCPU) = try setup(cpu)
        try runCPU()
        let want = try cpu.download(outCPU)
        var diff = 0.0
        for i in 0..<min(got.count, want.count) {
            let dd = abs(Double(got[i]) - Double(want[i]))
            diff = max(diff, dd.isNaN ? .infinity : dd)
        }
        let cpuMs: Double? = device is CPUBackend ? deviceMs : try time(cpu, runCPU)
        return Row(op: op, shape: shape, work: work, unit: unit, deviceMilliseconds: deviceMs, cpuMilliseconds: cpuMs,
                   maxAbsDiff: diff, tolerance: tolerance)
    }

    /// Median milliseconds of `repeats` runs after a warm-up: kernel event time on OpenCL.
    private func time(_ backend: any ComputeBackend, _ run: () throws -> Void) throws -> Double {
        if let cl = backend as? OpenCLBackend {
            try run()
            var samples: [Double] = []
            for _ in 0..<repeats {
                let events = try cl.profile { try run() }
                samples.append(Double(events.reduce(0) { $0 + $1.nanoseconds }) / 1e6)
            }
            return samples.sorted()[samples.count / 2]
        }
        return try median(repeats) { try run() }
    }

    /// Median wall-clock milliseconds of `repeats` runs after one warm-up.
    private func median(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        var samples: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return samples.sorted()[samples.count / 2]
    }
}

/// SplitMix64 inputs for the benchmark.
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func floats(_ n: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            let u = Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
            return range.lowerBound + u * (range.upperBound - range.lowerBound)
        }
    }
}
