import DistilCL
import Foundation
import Testing

/// A backend every op test runs on. The CPU path always exists; OpenCL variants exist when
/// the machine has an OpenCL device (PoCL in CI, where `DISTILCL_REQUIRE_OPENCL=1` makes their
/// absence a failure rather than a skip).
struct BackendCase: Sendable, CustomTestStringConvertible {
    let name: String
    let backend: any ComputeBackend
    var isReference: Bool { backend is CPUBackend }
    var testDescription: String { name }

    static let cpu = BackendCase(name: "cpu", backend: CPUBackend())

    /// Every OpenCL device, once with its default tuning and once with the other GEMM
    /// variant, so the GPU kernels are checked on PoCL too.
    static let openCL: [BackendCase] = {
        // scripts/test.sh's reruns at capped CPU instruction sets test the CPU path alone.
        if ProcessInfo.processInfo.environment["DISTILCL_TEST_CPU_ONLY"] == "1" { return [] }
        guard let devices = try? listOpenCLDevices() else { return [] }
        var cases: [BackendCase] = []
        for d in devices {
            let defaults = KernelTuning.default(for: d)
            var other = defaults
            other.gemm = defaults.gemm == .panel ? .tiled : .panel
            other.rowGroup = defaults.rowGroup == 1 ? 16 : 1
            // Both tiled GEMM kernels: the small tile below 4 large output tiles.
            other.smallTileBelow = 4
            var variants = [defaults, other]
            if d.isGPU {   // the large tiled GEMM, which the default reserves for big shapes
                var large = defaults
                large.smallTileBelow = 0
                variants.append(large)
            }
            for t in variants {
                do {
                    cases.append(BackendCase(name: "opencl:\(d.index)/\(t.gemm.rawValue)/wg\(t.rowGroup)"
                                             + (t.smallTileBelow == 0 && t.gemm == .tiled && d.isGPU ? "/large" : ""),
                                             backend: try OpenCLBackend(device: d, tuning: t)))
                } catch {
                    Issue.record("OpenCL backend on \(d.name) failed to start: \(error)")
                }
            }
        }
        return cases
    }()

    static let all: [BackendCase] = [cpu] + openCL

    /// Every OpenCL device (none under `DISTILCL_TEST_CPU_ONLY`), for tests that build their own backends.
    static let openCLDevices: [CLDeviceInfo] = {
        if ProcessInfo.processInfo.environment["DISTILCL_TEST_CPU_ONLY"] == "1" { return [] }
        return (try? listOpenCLDevices()) ?? []
    }()

    /// The tiled GEMM on every OpenCL device built with `-DGEMM_PREFETCH=0` (both tile kernels).
    static let noPrefetch: [BackendCase] = {
        if ProcessInfo.processInfo.environment["DISTILCL_TEST_CPU_ONLY"] == "1" { return [] }
        guard let devices = try? listOpenCLDevices() else { return [] }
        return devices.compactMap { d in
            var t = KernelTuning.default(for: d)
            t.gemm = .tiled
            t.smallTileBelow = 4
            do {
                return BackendCase(name: "opencl:\(d.index)/tiled/no-prefetch",
                                   backend: try OpenCLBackend(device: d, tuning: t, extraOptions: "-DGEMM_PREFETCH=0"))
            } catch {
                Issue.record("OpenCL backend on \(d.name) failed to start: \(error)")
                return nil
            }
        }
    }()

    /// The CPU path and each OpenCL device with its default tuning: for the slow
    /// whole-model tests, where the alternate kernel variants add nothing new.
    static let primary: [BackendCase] = {
        var seen = Set<String>()
        return [cpu] + openCL.filter { seen.insert(String($0.name.split(separator: "/")[0])).inserted }
    }()
}

/// Seeded SplitMix64: the same inputs on every run and machine.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `range`.
    mutating func float(_ range: ClosedRange<Float> = -1...1) -> Float {
        let u = Float(next() >> 40) / Float(1 << 24)
        return range.lowerBound + u * (range.upperBound - range.lowerBound)
    }

    mutating func floats(_ count: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in float(range) }
    }

    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
}

/// A buffer of `count` NaNs, so an element a kernel forgets to write fails the comparison.
func poisoned(_ backend: any ComputeBackend, _ count: Int) throws -> any DeviceBuffer {
    try backend.buffer([Float](repeating: .nan, count: count))
}

/// Expects `got` to match `want` element-wise within `atol + rtol·|want|`: NaN/Inf checked
/// first, the first ten mismatches printed.
func expectClose(_ got: [Float], _ want: [Double], atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)",
            sourceLocation: sourceLocation)
    var bad: [String] = []
    var badCount = 0
    var worst = 0.0
    for i in 0..<min(got.count, want.count) {
        let g = Double(got[i]), w = want[i]
        let ok: Bool
        if w.isNaN { ok = g.isNaN } else if w.isInfinite { ok = g == w } else {
            ok = g.isFinite && abs(g - w) <= atol + rtol * abs(w)
            if g.isFinite { worst = max(worst, abs(g - w)) }
        }
        if !ok {
            badCount += 1
            if bad.count < 10 { bad.append("[\(i)] got \(g), want \(w)") }
        }
    }
    #expect(badCount == 0, "\(what): \(badCount) of \(want.count) outside atol \(atol) rtol \(rtol) (worst finite |diff| \(worst)): \(bad.joined(separator: "; "))",
            sourceLocation: sourceLocation)
}

func expectClose(_ got: [Float], _ want: [Float], atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(got, want.map(Double.init), atol: atol, rtol: rtol, what, sourceLocation: sourceLocation)
}

@Suite("Backends available")
struct BackendAvailabilityTests {
    /// CI sets DISTILCL_REQUIRE_OPENCL=1: there the OpenCL variants must exist, so the op
    /// tests cannot pass by running on the CPU path alone.
    @Test("an OpenCL device is present when required")
    func openCLPresentWhenRequired() throws {
        if ProcessInfo.processInfo.environment["DISTILCL_REQUIRE_OPENCL"] == "1" {
            #expect(!BackendCase.openCL.isEmpty, "DISTILCL_REQUIRE_OPENCL=1 but no OpenCL backend started")
        }
        #expect(BackendCase.all.first?.isReference == true)
    }
}
