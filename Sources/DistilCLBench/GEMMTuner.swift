import Dispatch
import DistilCL
import Foundation

/// Finds the fastest member of the GEMM family for each shape on the device at hand, as
/// CLBlast's tuner and tinygrad's BEAM search do: every candidate is built, checked against the
/// CPU path, timed (device time, median of `repeats`) and dropped after one launch when that
/// launch is more than 3× slower than the best so far. Today's heuristic runs first, so the
/// winner is never slower than it in the same run. The candidates are built in parallel first;
/// each shape gets a share of the budget, and a candidate starts only while one as slow as the
/// slowest so far (a late build included) would end within it; built candidates are reused
/// across shapes.
public struct GEMMTuner {
    /// One shape's result.
    public struct Outcome: Sendable, Encodable {
        public var shape: String
        public var defaultVariant: String
        public var defaultGFLOPS: Double
        public var best: String
        public var bestGFLOPS: Double
        /// Candidates timed in full, dropped after one launch, that failed to build or gave
        /// wrong results, and not started because the budget had run out.
        public var timed = 0, droppedEarly = 0, invalid = 0, skipped = 0
        public var seconds = 0.0
        public var bestVariant: GEMMVariant

        public var speedup: Double { bestGFLOPS / max(defaultGFLOPS, 1e-9) }
    }

    public let backend: OpenCLBackend
    public var repeats = 5
    /// Threads that build the candidates before any is timed (a GPU driver compiles each
    /// variant for a second or more; the programs are independent).
    public var buildThreads = min(8, max(1, ProcessInfo.processInfo.activeProcessorCount))
    private let reference = CPUBackend()

    public init(backend: OpenCLBackend) { self.backend = backend }

    /// The family members worth trying on `backend`'s device, the heuristic's first: panel
    /// kernels with 1 to 16 rows per work-item, and every tiled tile the device can hold (on a
    /// CPU device, where local memory is emulated, only a few).
    public static func candidates(for backend: OpenCLBackend) -> [GEMMVariant] {
        var list: [GEMMVariant] = [.panel(rows: backend.tuning.panelRows)]
        let rows = backend.device.isGPU ? [4, 8] : [1, 2, 4, 8, 12, 16]
        list += rows.map { GEMMVariant.panel(rows: $0) }
        let tiles: [[Int]]
        if backend.device.isGPU {
            var grid: [[Int]] = []
            for tm in [32, 64, 128] { for tn in [32, 64, 128] { for tk in [8, 16, 32] {
                for wm in [4, 8] { for wn in [4, 8] where tm % wm == 0 && tn % wn == 0 && (tm / wm) * (tn / wn) >= 32 {
                    grid.append([tm, tn, tk, wm, wn])
                } }
            } } }
            tiles = grid
        } else {
            tiles = [[32, 32, 16, 4, 4], [64, 64, 16, 4, 4], [64, 64, 16, 8, 8]]
        }
        for t in tiles {
            let v = GEMMVariant.tiled(t[0], t[1], t[2], t[3], t[4])
            if (try? v.applied(to: backend.tuning).validate(for: backend.device)) != nil { list.append(v) }
        }
        var seen = Set<GEMMVariant>()
        return list.filter { seen.insert($0).inserted }
    }

    /// The options of the family tried on a tile that did well at `shape`: double buffering,
    /// the warp layout, both, narrower global loads and stores, and, when the shape has fewer
    /// output tiles than twice the compute units and K spans at least 8 slabs, 2, 4 or 8 K slices.
    public static func refinements(of v: GEMMVariant, shape: GEMMShape, on backend: OpenCLBackend) -> [GEMMVariant] {
        guard v.kernel == .tiled, v.tile.count == 5 else { return [] }
        var list = [v.with(doubleBuffered: true), v.with(warpLayout: true), v.with(doubleBuffered: true, warpLayout: true),
                    v.with(vectorWidth: 2), v.with(vectorWidth: 1)]
        let tiles = ((shape.m + v.tile[0] - 1) / v.tile[0]) * ((shape.n + v.tile[1] - 1) / v.tile[1])
        if tiles < 2 * max(1, backend.device.computeUnits) {
            for s in [2, 4, 8] where shape.k >= s * 8 * v.tile[2] { list.append(v.with(splitK: s)) }
        }
        return list.filter { $0 != v && (try? $0.applied(to: backend.tuning).validate(for: backend.device)) != nil }
    }

    /// Builds `variants` on `buildThreads` threads; none starts past `deadline`. Returns the
    /// built kernels and the variants that failed to build.
    func prebuild(_ variants: [GEMMVariant], deadline: ContinuousClock.Instant)
        -> (kernels: [GEMMVariant: GEMMKernel], broken: Set<GEMMVariant>) {
        final class Results: @unchecked Sendable {   // written under `lock` only
            let lock = NSLock()
            var kernels: [GEMMVariant: GEMMKernel] = [:]
            var broken = Set<GEMMVariant>()
            var next = 0
        }
        let results = Results(), backend = backend
        DispatchQueue.concurrentPerform(iterations: max(1, min(buildThreads, variants.count))) { _ in
            while true {
                let i: Int? = results.lock.withLock {
                    guard results.next < variants.count, ContinuousClock.now < deadline else { return nil }
                    results.next += 1
                    return results.next - 1
                }
                guard let i else { return }
                let built = try? backend.gemmKernel(variants[i])
                results.lock.withLock {
                    if let built { results.kernels[variants[i]] = built } else { results.broken.insert(variants[i]) }
                }
            }
        }
        return (results.kernels, results.broken)
    }

    /// Tunes each of `shapes` (rows = the bucket's size), calling `progress` after each: the
    /// candidates first, then the `refinements` of the three fastest tiled ones (within 1.5× of
    /// the best), when `refine`. The candidates are built first, in parallel, within half the
    /// budget; each shape then gets an equal share of what is left (a shape that ends early
    /// leaves its rest to the next), so the last shapes are tuned too.
    public func tune(_ shapes: [GEMMShape], candidates: [GEMMVariant]? = nil, refine: Bool = true, budget: Duration,
                     progress: (Outcome) -> Void = { _ in }) throws -> [Outcome] {
        let tuneStart = ContinuousClock.now
        let deadlineAll = tuneStart + budget
        let all = candidates ?? Self.candidates(for: backend)
        var (kernels, broken) = prebuild(all, deadline: tuneStart + budget / 2)
        var outcomes: [Outcome] = []
        var slowest = Duration.zero
        for (index, shape) in shapes.enumerated() {
            let start = ContinuousClock.now
            let deadline = start + (deadlineAll - start) / (shapes.count - index)
            let problem = try Problem(shape, backend: backend, reference: reference)
            let heuristic = GEMMVariant.heuristic(backend.tuning, rows: shape.m, n: shape.n)
            var order = [heuristic] + all.filter { $0 != heuristic }
            var outcome = Outcome(shape: shape.description, defaultVariant: heuristic.description, defaultGFLOPS: 0,
                                  best: heuristic.description, bestGFLOPS: 0, bestVariant: heuristic)
            var bestNanoseconds = Double.infinity
            var timedTiled: [(GEMMVariant, Double)] = []
            var refined = !refine
            var tried = Set(order)
            while !order.isEmpty || !refined {
                if order.isEmpty {
                    refined = true
                    let top = timedTiled.sorted { $0.1 < $1.1 }.prefix(3).filter { $0.1 <= 1.5 * bestNanoseconds }
                    order = top.flatMap { Self.refinements(of: $0.0, shape: shape, on: backend) }
                        .filter { tried.insert($0).inserted }
                    continue
                }
                let v = order.removeFirst()
                // A candidate starts only when one as slow as the slowest so far (its build
                // included) would still end within the budget.
                if v != heuristic, ContinuousClock.now + (kernels[v] == nil ? slowest : .zero) > deadline {
                    outcome.skipped += 1
                    continue
                }
                let began = ContinuousClock.now
                defer { slowest = max(slowest, ContinuousClock.now - began) }
                guard !broken.contains(v) else { outcome.invalid += 1; continue }
                do {
                    if kernels[v] == nil { kernels[v] = try backend.gemmKernel(v) }
                    let g = kernels[v]!
                    guard try problem.check(g) else { throw TunerError.wrongResult(v.description) }
                    let first = try problem.time(g, launches: 1)[0]
                    if v != heuristic, first > 3 * bestNanoseconds {
                        outcome.droppedEarly += 1
                        continue
                    }
                    let times = try problem.time(g, launches: repeats)
                    let ns = times.sorted()[times.count / 2]
                    outcome.timed += 1
                    let gflops = problem.flops / ns
                    if v.kernel == .tiled { timedTiled.append((v, ns)) }
                    if v == heuristic { outcome.defaultGFLOPS = gflops }
                    if ns < bestNanoseconds {
                        bestNanoseconds = ns
                        (outcome.best, outcome.bestGFLOPS, outcome.bestVariant) = (v.description, gflops, v)
                    }
                } catch {
                    if v == heuristic { throw error }   // the default must work
                    broken.insert(v)
                    outcome.invalid += 1
                }
            }
            outcome.seconds = (ContinuousClock.now - start).seconds
            outcomes.append(outcome)
            progress(outcome)
        }
        return outcomes
    }

    /// One shape's inputs, weights and CPU-path result.
    private struct Problem {
        let backend: OpenCLBackend
        let rows: Int, n: Int
        let flops: Double
        let x: any DeviceBuffer, out: any DeviceBuffer
        let weights: any DeviceLinear
        let expected: [Float]
        let scale: Float

        init(_ shape: GEMMShape, backend: OpenCLBackend, reference: CPUBackend) throws {
            self.backend = backend
            (rows, n) = (shape.m, shape.n)
            let k = shape.k
            flops = 2 * Double(rows) * Double(n) * Double(k)
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(rows * 31 + n * 7 + k)
            func next() -> Float {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
            }
            let xs = (0..<rows * k).map { _ in next() }
            let w = (0..<n * k).map { _ in next() * 0.1 }
            let b = (0..<n).map { _ in next() }
            x = try backend.buffer(xs)
            out = try backend.makeBuffer(count: rows * n)
            weights = try backend.makeLinear(weight: w, bias: b, outFeatures: n, inFeatures: k, role: .general,
                                             trainable: false)
            let cpuWeights = try reference.makeLinear(weight: w, bias: b, outFeatures: n, inFeatures: k,
                                                      role: .general, trainable: false)
            let cpuOut = try reference.makeBuffer(count: rows * n)
            try reference.linear(try reference.buffer(xs), cpuWeights, rows: rows, activation: .none, out: cpuOut)
            expected = try reference.download(cpuOut, count: rows * n)
            scale = max(1, expected.reduce(0) { max($0, abs($1)) })
        }

        /// Whether `g` gives the CPU path's result (within 1e-4 of the largest value) at the
        /// bucket's row count and at a ragged one inside it (the bucket holds every count
        /// from half its size up, and a tile that divides the top one may not divide those).
        func check(_ g: GEMMKernel) throws -> Bool {
            for r in Set([rows, rows / 2 + 1]) {
                try backend.linear(x, weights, rows: r, activation: .none, out: out, using: g)
                let got = try backend.download(out, count: r * n)
                for i in got.indices where !(abs(got[i] - expected[i]) <= 1e-4 * scale) { return false }
            }
            return true
        }

        /// Device nanoseconds of each of `launches` launches: from its first kernel's start to
        /// its last one's end (a split-K variant's slices and reduction, the gap between them included).
        func time(_ g: GEMMKernel, launches: Int) throws -> [Double] {
            let spans = try backend.profileSpans {
                for _ in 0..<launches {
                    try backend.linear(x, weights, rows: rows, activation: .none, out: out, using: g)
                }
            }
            let each = max(1, spans.count / launches)
            return stride(from: 0, to: spans.count, by: each).map { i in
                let launch = spans[i..<min(spans.count, i + each)]
                let (start, end) = (launch.map(\.start).min() ?? 0, launch.map(\.end).max() ?? 0)
                return Double(end >= start ? end - start : 0)
            }
        }
    }
}

/// Why a candidate was left out.
public enum TunerError: Error, CustomStringConvertible {
    case wrongResult(String)

    public var description: String {
        switch self {
        case .wrongResult(let v): return "\(v) gave a result that differs from the CPU path"
        }
    }
}
