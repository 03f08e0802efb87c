import CCPUKernels
import COneDNN
import Foundation

/// What the CPU path runs on: the processor, the instruction set oneDNN dispatches to (after any
/// `ONEDNN_MAX_CPU_ISA` cap) and the matmul kernel it picks per precision. `distilcl devices`
/// and the benchmarks print it beside every figure.
public struct CPUKernelInfo: Sendable {
    /// The model name `/proc/cpuinfo` reports (e.g. `AMD EPYC 9R14`), or "unknown CPU".
    public let cpuModel: String
    /// The instruction-set flags that matter here, of those the CPU reports.
    public let cpuFlags: [String]
    /// e.g. `oneDNN 2.6.3`.
    public let library: String
    /// oneDNN's ISA name, e.g. `avx512_core_bf16`.
    public let isa: String
    /// The copy of the C kernels (attention, layernorm, softmax, conversions) in use, e.g.
    /// `x86-64-v4 (AVX-512)`: picked from the same flags, under the same cap.
    public let cKernels: String
    let isaValue: Int32

    /// Read once per process (oneDNN fixes its ISA at first use); every `CPUBackend` reads it
    /// first, which also caps the C kernels to oneDNN's level.
    public static let current = CPUKernelInfo()

    static let relevantFlags = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                                "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8"]

    private init() {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ key: String) -> String? {
            for line in info.split(separator: "\n") where line.hasPrefix(key) {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
        cpuModel = field("model name") ?? "unknown CPU"
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        cpuFlags = Self.relevantFlags.filter(flags.contains)
        var (major, minor, patch): (Int32, Int32, Int32) = (0, 0, 0)
        dcl_onednn_version(&major, &minor, &patch)
        library = "oneDNN \(major).\(minor).\(patch)"
        isaValue = dcl_onednn_isa()
        isa = String(cString: dcl_onednn_isa_name())
        // The C kernels run at the level of oneDNN's ISA (so ONEDNN_MAX_CPU_ISA caps both):
        // dnnl_cpu_isa_t's bits 0x27 mark AVX-512 (core), 0x7 AVX2.
        dcl_cap_kernels_level(isaValue & 0x27 == 0x27 ? 4 : isaValue & 0x7 == 0x7 ? 3 : 0)
        cKernels = String(cString: dcl_kernels_level())
    }

    private func has(_ bits: Int32) -> Bool { isaValue & bits == bits }

    /// Throws unless this CPU path can run `precision`.
    public func require(_ precision: Precision) throws {
        switch precision {
        case .fp32: return
        case .bf16:
            if !has(0xe7) { throw PrecisionError.unsupportedCPU(.bf16, needs: "AVX512-BF16 or AMX", has: isa) }
        case .int8:
            if !has(0x67) && !has(0x407) {
                throw PrecisionError.unsupportedCPU(.int8, needs: "AVX512-VNNI, AVX-VNNI or AMX", has: isa)
            }
        }
    }

    /// The kernel oneDNN picks for a typical linear layer (`[128, 768] · [768, 768]ᵀ`) at
    /// `precision`, e.g. `brg:avx512_core_bf16`; nil where the precision is not available.
    public func matmulImplementation(_ precision: Precision) -> String? {
        guard (try? require(precision)) != nil else { return nil }
        var d = dcl_matmul_desc(m: 128, n: 768, k: 768, lda: 768, ldb: 768, ldc: 768, trans_a: 0, trans_b: 1,
                                type: precision.matmulType, has_bias: 0, act: 0, beta: 0, alpha: 1, packed_b: 1)
        var text = [CChar](repeating: 0, count: 256)
        guard dcl_matmul_impl(&d, &text, 256) == 0 else { return nil }
        return string(text)
    }

    /// One line: library, ISA, the fp32 matmul kernel and the C kernels' level.
    public var summary: String {
        "\(library), ISA \(isa), matmul \(matmulImplementation(.fp32) ?? "unavailable"); C kernels \(cKernels)"
    }

    /// One line: the CPU's model and the flags above that it has.
    public var cpuSummary: String {
        "\(cpuModel) [\(cpuFlags.joined(separator: " "))]"
    }
}

extension Precision {
    /// The operand type code of `dcl_matmul`.
    var matmulType: Int32 {
        switch self {
        case .fp32: return Int32(DCL_MM_F32)
        case .bf16: return Int32(DCL_MM_BF16)
        case .int8: return Int32(DCL_MM_U8S8)
        }
    }
}

extension Precision {
    /// A bound on |linear at this precision − exact| for one output of a K-term dot product of
    /// values uniform in [-1, 1], after an activation of slope ≤ 1.13 (GELU's steepest): the
    /// smaller of the worst case and `sigmas` standard deviations of the rounding's random walk.
    /// - fp32: each of K additions rounds by ε/2·|partial sum| (partial sums ≈ 0.33·√K), a random
    ///   walk of σ ≈ 2e-8·K; 1e-7·K + 1e-6 whatever `sigmas` says (the op tests' bound).
    /// - bf16 keeps 8 significant bits: a factor in [2⁻ᵏ, 2¹⁻ᵏ) moves by at most 2⁻⁽⁸⁺ᵏ⁾, uniformly,
    ///   so by 2⁻⁷/√84 = 8.5e-4 rms over [-1, 1]; a product a·w by at most 2⁻⁸ and by
    ///   √(⅓·σ² + ⅓·σ²) = 6.9e-4 rms.
    /// - int8 moves an activation by at most half its row's step (range/255 ≤ 2/255) and a weight
    ///   by half its channel's (max |w|/127 ≤ 1/127), each uniformly (σ = step/√12): a product
    ///   by at most 7.9e-3 and by √(⅓·2.26e-3² + ⅓·2.27e-3²) = 1.85e-3 rms.
    public func linearTolerance(k: Int, sigmas: Double) -> Double {
        let (worst, rms): (Double, Double)
        switch self {
        case .fp32: return 1e-7 * Double(k) + 1e-6
        case .bf16: (worst, rms) = (1.0 / 256, 6.9e-4)
        case .int8: (worst, rms) = (1.0 / 255 + 1.0 / 254, 1.85e-3)
        }
        return 1.13 * min(worst * Double(k), sigmas * rms * Double(k).squareRoot()) + 1e-6
    }
}
