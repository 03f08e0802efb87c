import DistilCL
import Foundation
import Testing

/// The CPU path's reduced-precision linear layers against the double-precision reference, and
/// the instruction set they run at. scripts/test.sh runs this suite again with
/// `ONEDNN_MAX_CPU_ISA=AVX512_CORE` and `=AVX2`: there bf16 and int8 must refuse with a clear error.
@Suite("Reduced precision and the CPU path's ISA")
struct PrecisionTests {
    /// Whether this CPU path runs `precision` (bf16 needs AVX512-BF16 or AMX, int8 VNNI or AMX,
    /// at the ISA oneDNN runs at): the tests that need it are skipped, and reported so, where not;
    /// `refusal` checks the other side.
    static func supports(_ precision: Precision) -> Bool { (try? CPUKernelInfo.current.require(precision)) != nil }

    /// `Precision.linearTolerance` at 6σ: the suite compares about 10⁶ outputs, among which a 5σ
    /// excursion is likely.
    static func tolerance(_ precision: Precision, k: Int) -> Double { precision.linearTolerance(k: k, sigmas: 6) }

    @Test("bf16 and int8 start exactly where the ISA has their instructions, and refuse clearly elsewhere")
    func refusal() throws {
        let info = CPUKernelInfo.current
        for precision in [Precision.bf16, .int8] {
            let needs = precision == .bf16 ? ["bf16", "amx"] : ["vnni", "bf16", "amx"]
            let expected = needs.contains { info.isa.contains($0) }
            do {
                let b = try CPUBackend(precision: precision)
                #expect(expected, "\(precision) started at ISA \(info.isa)")
                #expect(b.name.hasSuffix(", \(precision))"))
            } catch let e as PrecisionError {
                #expect(!expected, "\(precision) refused at ISA \(info.isa): \(e)")
                guard case .unsupportedCPU(let p, _, let has) = e else { throw e }
                #expect(p == precision && has == info.isa)
            }
        }
    }

    @Test("linear at bf16 and int8 against the double reference",
          arguments: [Precision.bf16, .int8].filter(PrecisionTests.supports))
    func linear(_ precision: Precision) throws {
        let b = try CPUBackend(precision: precision)
        var rng = SeededRandom(seed: 11)
        for (m, n, k) in GEMMTests.shapes {
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
            for act in [Activation.none, .gelu, .relu] {
                let want = referenceLinear(a, w, act == .relu ? nil : bias, m: m, n: n, k: k, act: act)
                let layer = try b.makeLinear(weight: w, bias: act == .relu ? nil : bias, outFeatures: n, inFeatures: k)
                let out = try poisoned(b, m * n)
                try b.linear(try b.buffer(a), layer, rows: m, activation: act, out: out)
                expectClose(try b.download(out), want, atol: Self.tolerance(precision, k: k), rtol: 1e-5,
                            "\(precision) linear M\(m) N\(n) K\(k) \(act)")
            }
        }
    }

    @Test("bf16 rounds activations and weights to nearest, ties to even", .enabled(if: supports(.bf16)))
    func bf16Rounding() throws {
        let b = try CPUBackend(precision: .bf16)
        // bf16 keeps 7 fraction bits: 1 + 2⁻⁸ is a tie between 1 and 1 + 2⁻⁷ (even: 1), and
        // 1 + 3·2⁻⁸ a tie between 1 + 2⁻⁷ and 1 + 2⁻⁶ (even: 1 + 2⁻⁶); 1 + 2⁻⁸ + 2⁻¹⁶ rounds up.
        let x: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-16, -(1 + 0x1p-8)]
        let layer = try b.makeLinear(weight: [1 + 0x1p-8], bias: nil, outFeatures: 1, inFeatures: 1)
        let out = try poisoned(b, 4)
        try b.linear(try b.buffer(x), layer, rows: 4, activation: .none, out: out)
        #expect(try b.download(out) == [1, 1 + 0x1p-6, 1 + 0x1p-7, -1])
    }

    @Test("int8 scales each activation row on its own", .enabled(if: supports(.int8)))
    func int8PerRow() throws {
        let b = try CPUBackend(precision: .int8)
        var rng = SeededRandom(seed: 5)
        let (n, k) = (19, 64)
        // Row 0 spans ±1000, row 1 ±1: a scale shared by the rows would round row 1 to zero.
        let a = rng.floats(k).map { $0 * 1000 } + rng.floats(k)
        let w = rng.floats(n * k)
        let want = referenceLinear(a, w, nil, m: 2, n: n, k: k, act: .none)
        let out = try poisoned(b, 2 * n)
        try b.linear(try b.buffer(a), try b.makeLinear(weight: w, bias: nil, outFeatures: n, inFeatures: k), rows: 2,
                     activation: .none, out: out)
        let got = try b.download(out)
        expectClose(Array(got[n...]), Array(want[n...]), atol: Self.tolerance(.int8, k: k), rtol: 0, "int8 row of ±1")
        expectClose(Array(got[..<n]), Array(want[..<n]), atol: 1000 * Self.tolerance(.int8, k: k), rtol: 0,
                    "int8 row of ±1000")
    }

    @Test("int8 QKV projections take their input in two uint8 terms: only the weights' rounding remains",
          .enabled(if: supports(.int8)))
    func int8TwoTermInput() throws {
        let b = try CPUBackend(precision: .int8)
        var rng = SeededRandom(seed: 9)
        let (m, n, k) = (13, 96, 384)
        let a = rng.floats(m * k), w = rng.floats(n * k)
        // The weights as int8 rounds them (symmetric, a scale per output channel), in double:
        // what remains against this reference is the activations' rounding alone.
        var rounded = [Float](repeating: 0, count: n * k)
        for r in 0..<n {
            let scale = (w[(r * k)..<((r + 1) * k)].map(abs).max() ?? 1) / 127
            for c in 0..<k { rounded[r * k + c] = Float((Double(w[r * k + c]) / Double(scale)).rounded(.toNearestOrEven)) * scale }
        }
        let want = referenceLinear(a, rounded, nil, m: m, n: n, k: k, act: .none)
        for (role, atol) in [(LinearRole.attentionQKV, 6e-4), (.general, 4e-2)] {
            let out = try poisoned(b, m * n)
            try b.linear(try b.buffer(a), try b.makeLinear(weight: w, bias: nil, outFeatures: n, inFeatures: k, role: role),
                         rows: m, activation: .none, out: out)
            let worst = zip(try b.download(out), want).map { abs(Double($0) - $1) }.max() ?? .infinity
            // One uint8 term leaves σ ≈ √(K/3)·2.26e-3 ≈ 0.026 of activation rounding (worst of
            // 1,248 outputs ≈ 3.3σ ≈ 0.086, so above 0.04); two leave 1/255 of it, σ ≈ 1.0e-4
            // (bound: 6σ). Weight scales in float32 add ~1e-5.
            if role == .attentionQKV {
                #expect(worst <= atol, "two-term input: worst |diff| \(worst) against the int8-rounded weights")
            } else {
                #expect(worst > atol, "one-term input: worst |diff| \(worst), expected the activations' rounding to show")
            }
        }
    }

    @Test("oneDNN runs at the ISA ONEDNN_MAX_CPU_ISA allows, and precisions follow it")
    func isa() throws {
        let info = CPUKernelInfo.current
        let levels = ["avx2", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"]
        let flags = Set(info.cpuFlags)
        // The highest level this CPU reports flags for.
        var best = flags.contains("avx2") ? (flags.contains("avx_vnni") ? "avx2_vnni" : "avx2") : "below avx2"
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) { best = "avx512_core" }
        if best == "avx512_core", flags.contains("avx512_vnni") { best = "avx512_core_vnni" }
        if best == "avx512_core_vnni", flags.contains("avx512_bf16") { best = "avx512_core_bf16" }
        if best == "avx512_core_bf16", flags.isSuperset(of: ["amx_bf16", "amx_int8"]) { best = "avx512_core_amx" }
        var want = best
        if let cap = ProcessInfo.processInfo.environment["ONEDNN_MAX_CPU_ISA"]?.lowercased(),
           let c = levels.firstIndex(of: cap), let b = levels.firstIndex(of: best), c < b {
            want = cap
        }
        // AMX also needs the kernel's permission (arch_prctl), which a VM may withhold.
        let accepted = want == "avx512_core_amx" ? [want, "avx512_core_bf16"] : [want]
        if levels.contains(want) || want == "avx2_vnni" {
            #expect(accepted.contains(info.isa),
                    "oneDNN runs at \(info.isa); the CPU's flags \(info.cpuFlags) and the cap allow \(want)")
        }
        #expect(info.library.hasPrefix("oneDNN "))
        // The C kernels follow the same flags and cap: AVX-512 copy with oneDNN at AVX-512.
        let cLevel = info.isa.hasPrefix("avx512_core") ? "x86-64-v4" : info.isa.hasPrefix("avx2") ? "x86-64-v3" : "x86-64 baseline"
        #expect(info.cKernels.hasPrefix(cLevel), "C kernels \(info.cKernels) with oneDNN at \(info.isa)")
        #expect(((try? info.require(.bf16)) != nil) == (info.isa.contains("bf16") || info.isa.contains("amx")))
        #expect(((try? info.require(.int8)) != nil) == (info.isa.contains("vnni") || info.isa.contains("bf16")
                                                        || info.isa.contains("amx")))
        #expect(info.matmulImplementation(.fp32) != nil)
    }

    @Test("tiny DistilBERT and BERT at bf16 and int8 stay close to transformers' logits",
          arguments: [Precision.bf16, .int8].filter(PrecisionTests.supports))
    func goldenLogits(_ precision: Precision) throws {
        let b = try CPUBackend(precision: precision)
        for name in ["tiny-distilbert-sst", "tiny-bert-pairs"] {
            let golden = try Fixtures.json("\(name)/golden.json")
            let model = try EncoderModel(directory: Fixtures.model(name), backend: b)
            let batch = TokenBatch(paddedIds: intRows(golden["input_ids"]), attentionMask: intRows(golden["attention_mask"]),
                                   typeIds: golden["token_type_ids"] == nil ? nil : intRows(golden["token_type_ids"]))
            let got = try model.classificationLogits(batch).flatMap { $0 }
            let want = floatRows(golden["logits"]).flatMap { $0 }
            let cos = cosine(got, want)   // DistilCL's, in float32
            #expect(cos >= (precision == .bf16 ? 0.999 : 0.99), "\(name) at \(precision): logits cosine \(cos)")
        }
    }

    @Test("all-MiniLM-L6-v2 at bf16 and int8: 64 embeddings within the cosine targets of fp32's",
          arguments: [Precision.bf16, .int8].filter(PrecisionTests.supports))
    func miniLMEmbeddings(_ precision: Precision) throws {
        try Fixtures.requireRealData()
        let b = try CPUBackend(precision: precision)
        let golden = try Fixtures.json("minilm-golden.json")
        let texts = golden["texts"] as? [String] ?? []
        let want = floatRows(golden["embeddings"])
        let got = try MiniLMTests.embed(texts, model: try EncoderModel(directory: Fixtures.miniLM, backend: b),
                                        tokenizer: try BertTokenizer(modelDirectory: Fixtures.miniLM))
        #expect(texts.count == 64 && got.count == want.count)
        let worst = zip(got, want).map { cosine($0, $1) }.min() ?? 0   // DistilCL's, in float32
        #expect(worst >= (precision == .bf16 ? 0.999 : 0.99), "\(precision): lowest cosine \(worst)")
    }

    @Test("reduced precision is refused on OpenCL and named in the backend")
    func openCLRefuses() throws {
        #expect(throws: PrecisionError.notOnOpenCL(.int8)) { _ = try makeBackend(.opencl(nil), precision: .int8) }
        #expect(CPUBackend().name.contains("oneDNN") && CPUBackend().precision == .fp32)
    }
}
