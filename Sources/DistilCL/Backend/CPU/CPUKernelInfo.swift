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

    /// Read once per process: oneDNN fixes its ISA at first use.
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
        isa = Self.isaNames[isaValue] ?? String(format: "isa 0x%x", isaValue)
        cKernels = String(cString: dcl_kernels_level())
    }

    /// `dnnl_cpu_isa_t` values of oneDNN 2.x. Each level's bits include those below it.
    static let isaNames: [Int32: String] = [
        0x0: "all", 0x1: "sse41", 0x3: "avx", 0x7: "avx2", 0xf: "avx512_mic", 0x1f: "avx512_mic_4ops",
        0x27: "avx512_core", 0x67: "avx512_core_vnni", 0xe7: "avx512_core_bf16", 0x3e7: "avx512_core_amx",
        0x407: "avx2_vnni",
    ]

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
                                type: precision.matmulType, has_bias: 0, act: 0, accumulate: 0, alpha: 1, packed_b: 1)
        var text = [CChar](repeating: 0, count: 256)
        guard dcl_matmul_impl(&d, &text, 256) == 0 else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
