import CCPUKernels
import Foundation
#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif

/// The CPU path: OpenBLAS (Accelerate on Apple platforms) for GEMM, vectorised C
/// (`CCPUKernels`: attention per text and head, activations, softmax, layernorm) for the rest,
/// on every core where that pays. It is also the reference the OpenCL kernels are tested
/// against. Operations run synchronously on the calling thread.
public final class CPUBackend: ComputeBackend, @unchecked Sendable {
    public var name: String { "CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores, OpenBLAS)" }

    public init() {}

    // MARK: - Memory

    public func makeBuffer(count: Int, type: ElementType) throws -> any DeviceBuffer {
        guard count >= 0 else { throw BackendError.invalidArgument("buffer count \(count) is negative") }
        return CPUBuffer(count: count, type: type)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer) throws {
        let b = cpu(buffer)
        try requireBuffer(b, values.count, .float32, "upload target")
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { b.floats.update(from: p, count: values.count) } }
    }

    public func upload(_ values: [Int32], to buffer: any DeviceBuffer) throws {
        let b = cpu(buffer)
        try requireBuffer(b, values.count, .int32, "upload target")
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { b.ints.update(from: p, count: values.count) } }
    }

    public func download(_ buffer: any DeviceBuffer, count: Int?) throws -> [Float] {
        let b = cpu(buffer)
        let n = count ?? b.count
        try requireBuffer(b, n, b.elementType, "download source")
        if b.elementType == .int32 { return (0..<n).map { Float(b.ints[$0]) } }
        return Array(UnsafeBufferPointer(start: b.floats, count: n))
    }

    public func synchronize() throws {}

    public func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) throws -> any DeviceLinear {
        try CPULinear(weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    func cpu(_ buffer: any DeviceBuffer) -> CPUBuffer {
        guard let b = buffer as? CPUBuffer else {
            preconditionFailure("a \(type(of: buffer)) was passed to the CPU backend")
        }
        return b
    }

    // MARK: - GEMM

    public func linear(_ x: any DeviceBuffer, _ weights: any DeviceLinear, rows: Int,
                       activation: Activation, out: any DeviceBuffer) throws {
        guard let w = weights as? CPULinear else { preconditionFailure("foreign DeviceLinear") }
        let (n, k) = (w.outFeatures, w.inFeatures)
        try checkLinear(x, w, rows: rows, out: out)
        let c = cpu(out).floats
        // The bias is written into C first and the GEMM adds to it (beta = 1): that pass
        // replaces OpenBLAS's own zeroing of C (beta = 0) and leaves no bias pass afterwards.
        if let bias = w.bias {
            bias.withUnsafeBufferPointer { pb in
                let b = pb.baseAddress!
                parallelChunks(rows, cost: rows * n) { range in
                    for r in range { (c + r * n).update(from: b, count: n) }
                }
            }
        }
        w.weight.withUnsafeBufferPointer { pw in
            sgemm(transposeB: true, m: rows, n: n, k: k, alpha: 1, a: cpu(x).floats, lda: k, b: pw.baseAddress!, ldb: k,
                  beta: w.bias == nil ? 0 : 1, c: c, ldc: n)
        }
        guard activation != .none else { return }
        let act = Int32(activation.rawValue)
        parallelChunks(rows, cost: rows * n * 16) { range in
            for r in range { dcl_bias_activation(c + r * n, nil, n, act) }
        }
    }

    public func batchedMatmul(a: MatrixView, b: MatrixView, c: MatrixView, m: Int, n: Int, k: Int,
                              transposeB: Bool, alpha: Float, batch: (Int, Int)) throws {
        try checkBatchedMatmul(a: a, b: b, c: c, m: m, n: n, k: k, transposeB: transposeB, batch: batch)
        let (pa, pb, pc) = (cpu(a.buffer).floats, cpu(b.buffer).floats, cpu(c.buffer).floats)
        for b1 in 0..<batch.0 {
            for b2 in 0..<batch.1 {
                sgemm(transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                      a: pa + a.offset + b1 * a.stride1 + b2 * a.stride2, lda: a.ld,
                      b: pb + b.offset + b1 * b.stride1 + b2 * b.stride2, ldb: b.ld,
                      beta: 0, c: pc + c.offset + b1 * c.stride1 + b2 * c.stride2, ldc: c.ld)
            }
        }
    }

    /// Row-major `C = alpha·A·op(B) + beta·C`, op(B) = Bᵀ when `transposeB`.
    private func sgemm(transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
