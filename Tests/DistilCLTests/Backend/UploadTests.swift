@testable import DistilCL
import Dispatch
import Foundation
import Synchronization
import Testing

/// OpenCL uploads of batch-sized arrays do not block: their bytes go through a staging copy
/// the write's completion frees. The array may go away at once; writes to one buffer land in
/// order; large writes (weights) block and land too. And split-K GEMMs from several threads at
/// once each get their own result although they share the workspace.
@Suite("OpenCL uploads and shared GEMM workspace")
struct UploadTests {
    @Test("non-blocking uploads land in order, whatever happens to the array", arguments: BackendCase.openCLDevices)
    func uploadsLand(_ device: CLDeviceInfo) throws {
        let b = try OpenCLBackend(device: device, tunedGEMMs: [:])
        let small = try b.makeBuffer(count: 1000), ints = try b.makeBuffer(count: 1000, type: .int32)
        for round in 0..<20 {
            // Each array lives only inside its statement: the write reads the staging copy.
            try b.upload((0..<1000).map { Float($0 * 7 + round) }, to: small)
            try b.upload((0..<1000).map { Int32($0 - round) }, to: ints)
        }
        // The last write of each buffer wins (one in-order queue).
        #expect(try b.download(small) == (0..<1000).map { Float($0 * 7 + 19) })
        #expect(try b.download(ints) == (0..<1000).map { Float($0 - 19) })

        // Above the limit the write blocks; it lands the same.
        let n = OpenCLBackend.nonBlockingWriteLimit / 4 + 5
        let large = try b.makeBuffer(count: n)
        let values = (0..<n).map { Float($0 % 1013) }
        try b.upload(values, to: large)
        #expect(try b.download(large) == values)

        // A kernel enqueued right after a non-blocking upload reads the uploaded values.
        let out = try b.makeBuffer(count: 1000)
        try b.upload((0..<1000).map { Float($0) - 500 }, to: small)
        try b.activation(small, count: 1000, .relu, out: out)
        #expect(try b.download(out) == (0..<1000).map { max(0, Float($0) - 500) })
    }

    @Test("split-K GEMMs from several threads share the workspace safely", arguments: BackendCase.openCLDevices)
    func concurrentSplitK(_ device: CLDeviceInfo) throws {
        let b = try OpenCLBackend(device: device, tunedGEMMs: [:])
        let g = try b.gemmKernel(GEMMVariant.tiled(32, 32, 16, 4, 4, splitK: 3))
        let shapes = [(13, 40, 300), (40, 24, 260), (7, 64, 333), (33, 17, 290)]
        struct Case { let layer: any DeviceLinear; let x: any DeviceBuffer; let out: any DeviceBuffer; let want: [Double] }
        var rng = SeededRandom(seed: 53)
        let cases: [Case] = try shapes.map { (m, n, k) in
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
            return Case(layer: try b.makeLinear(weight: w, bias: bias, outFeatures: n, inFeatures: k), x: try b.buffer(a),
                        out: try b.makeBuffer(count: m * n), want: referenceLinear(a, w, bias, m: m, n: n, k: k, act: .none))
        }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: cases.count) { i in
            let (m, _, k) = shapes[i], c = cases[i]
            do {
                for _ in 0..<5 { try b.linear(c.x, c.layer, rows: m, activation: .none, out: c.out, using: g) }
                let got = try b.download(c.out)
                let tol = Precision.fp32.linearTolerance(k: k, sigmas: 5)
                if let j = got.indices.first(where: { !(abs(Double(got[$0]) - c.want[$0]) <= tol + 1e-5 * abs(c.want[$0])) }) {
                    failures.withLock { $0.append("case \(i) element \(j): \(got[j]) vs \(c.want[j])") }
                }
            } catch {
                failures.withLock { $0.append("case \(i): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
    }
}
