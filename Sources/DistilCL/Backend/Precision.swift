/// The number format of the linear layers' GEMMs. Layernorm, softmax, GELU, attention and the
/// residual stream stay float32 at every precision.
public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// float32 weights and activations.
    case fp32
    /// Weights stored in bfloat16, activations rounded to bfloat16 at the GEMM's input,
    /// float32 accumulation (AVX512-BF16 or AMX).
    case bf16
    /// Dynamic quantisation: int8 weights with a scale per output channel, activations
    /// quantised to uint8 per row at run time, int32 accumulation (VNNI or AMX).
    case int8

    public var description: String { rawValue }

    public init(parsing text: String) throws {
        guard let p = Precision(rawValue: text.lowercased()) else { throw PrecisionError.unknown(text) }
        self = p
    }
}

public enum PrecisionError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    /// The CPU lacks the instruction set a precision needs (or ONEDNN_MAX_CPU_ISA caps it).
    case unsupportedCPU(Precision, needs: String, has: String)
    /// Only the CPU path implements reduced precision.
    case notOnOpenCL(Precision)

    public var description: String {
        switch self {
        case .unknown(let t): return "unknown precision '\(t)': use fp32, bf16 or int8"
        case .unsupportedCPU(let p, let needs, let has):
            return "--precision \(p) needs \(needs); this CPU path runs at \(has) (see `distilcl devices`)"
        case .notOnOpenCL(let p):
            return "--precision \(p) runs on the CPU path only (--device cpu); OpenCL devices run fp32"
        }
    }
}
