import CCPUKernels
import COneDNN
import Foundation

/// The CPU path: oneDNN's matmul for GEMM (kernels chosen from the instruction sets the CPU
/// reports: AVX2, AVX-512, AVX512-BF16, VNNI, AMX), vectorised C (`CCPUKernels`: attention per
/// text and head, activations, softmax, layernorm, the int8 and bf16 conversions) for the rest,
/// on every core where that pays. At fp32 it is also the reference the OpenCL kernels are
/// tested against. Operations run synchronously on the calling thread.
public final class CPUBackend: ComputeBackend, @unchecked Sendable {
    /// The number format of the linear layers (`makeLinear`); everything else is float32.
    public let precision: Precision
    /// Temporaries of the bf16 and int8 GEMMs, kept between calls.
    let scratch = ScratchPool()

    public var name: String {
        let kernels = CPUKernelInfo.current
        return "CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores, oneDNN \(kernels.isa)"
            + (precision == .fp32 ? ")" : ", \(precision))")
    }

    /// The threads the CPU path's GEMMs and loops use (OpenMP's: `OMP_NUM_THREADS`, else the
    /// cores this process may run on).
    public static var threads: Int {
        get { Int(dcl_threads()) }
        set { dcl_set_threads(Int32(max(1, newValue))) }
    }

    /// The float32 CPU path.
    public init() {
        _ = CPUKernelInfo.current   // caps the C kernels to oneDNN's ISA before any runs
        precision = .fp32
    }

    /// The CPU path with linear layers at `precision`; throws when the CPU (or an
    /// `ONEDNN_MAX_CPU_ISA` cap) lacks the instructions it needs.
    public init(precision: Precision) throws {
        try CPUKernelInfo.current.require(precision)
        self.precision = precision
    }

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

    public func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int,
                           role: LinearRole, trainable: Bool) throws -> any DeviceLinear {
        try CPULinear(weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures, precision: precision,
                      twoTermInput: precision == .int8 && role == .attentionQKV, trainable: trainable)
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
        try checkLinear(x, w, rows: rows, out: out)
        let (n, k) = (w.outFeatures, w.inFeatures)
        let (a, c) = (cpu(x).floats, cpu(out).floats)
        var d = dcl_matmul_desc(m: rows, n: n, k: k, lda: k, ldb: k, ldc: n, trans_a: 0, trans_b: 1,
                                type: w.precision.matmulType, has_bias: w.plainBias == nil ? 0 : 1,
                                act: Int32(activation.rawValue), beta: 0, alpha: 1, packed_b: 1)
        let bias = w.plainBias.map { UnsafePointer($0.floats) }
        switch w.precision {
        case .fp32: try matmul(&d, a, w.packed, bias, c)
        case .bf16: try linearBF16(&d, a, w, bias, c)
        case .int8: try linearInt8(&d, a, w, bias, activation, c)
        }
    }
}

/// One oneDNN matmul (see `onednn_matmul.h`); its error becomes `BackendError.kernelFailure`.
func matmul(_ d: inout dcl_matmul_desc, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                    _ bias: UnsafePointer<Float>?, _ c: UnsafeMutableRawPointer) throws {
    var message = [CChar](repeating: 0, count: 512)
    guard dcl_matmul(&d, a, b, bias, c, &message, 512) != 0 else { return }
    throw BackendError.kernelFailure(string(message))
}

/// The text of a NUL-terminated C character buffer a C call filled in.
func string(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
