import DistilCL
import Foundation
import Testing

/// `--precision` and the ISA cap through the built binary. Each run sets ONEDNN_MAX_CPU_ISA
/// itself (ALL when not testing a cap), so a capped CI pass does not change what these expect.
@Suite("CLI: precision and the CPU path's instruction set")
struct PrecisionCLITests {
    static let sst = fixturePath("tiny-distilbert-sst")
    static let flags = Set(CPUKernelInfo.current.cpuFlags)
    static let hasAVX512 = flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"])

    /// `classify --logits` on the SST golden texts, on the CPU path.
    static func classify(_ extra: [String], isa: String) throws -> CLI.Result {
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let texts = (golden["texts"] as? [String] ?? []).map { $0.replacingOccurrences(of: "\n", with: " ") }
        return try CLI.run(["classify", "--model", sst, "--device", "cpu", "--logits", "--max-length", "64"] + extra,
                           stdin: Data((texts.joined(separator: "\n") + "\n").utf8),
                           environment: ["ONEDNN_MAX_CPU_ISA": isa])
    }

    @Test("fp32 logits match transformers at every ISA level the CPU has", arguments: ["AVX2", "AVX512_CORE", "ALL"])
    func levels(_ isa: String) throws {
        let devices = try CLI.run(["devices"], environment: ["ONEDNN_MAX_CPU_ISA": isa])
        #expect(devices.status == 0, "\(devices.stderr)")
        if isa == "AVX2" || (isa == "AVX512_CORE" && Self.hasAVX512) {
            #expect(devices.out.contains("ISA \(isa.lowercased()); C kernels x86-64-v\(isa == "AVX2" ? 3 : 4)"),
                    "\(devices.out)")
        }
        let r = try Self.classify([], isa: isa)
        #expect(r.status == 0, "\(r.stderr)")
        let golden = try Fixtures.json("tiny-distilbert-sst/golden.json")
        let want = floatRows(golden["logits"]).flatMap { $0 }
        let got = r.jsonLines().flatMap { floats($0["logits"]) }
        expectClose(got, want.map(Double.init), atol: 1e-4, rtol: 0, "logits at ONEDNN_MAX_CPU_ISA=\(isa)")
    }

    @Test("bf16 and int8 below their instruction sets: status 5, naming what is missing")
    func refusedBelowISA() throws {
        let bf16 = try Self.classify(["--precision", "bf16"], isa: "AVX2")
        #expect(bf16.status == 5 && bf16.stderr.contains("AVX512-BF16") && bf16.out.isEmpty, "\(bf16.stderr)")
        let int8 = try Self.classify(["--precision", "int8"], isa: "AVX512_CORE")
        #expect(int8.status == 5 && int8.stderr.contains("VNNI") && int8.out.isEmpty, "\(int8.stderr)")
    }

    @Test("reduced precision on OpenCL, or an unknown precision, is a usage error")
    func usage() throws {
        let opencl = try CLI.run(["classify", "--model", Self.sst, "--device", "opencl", "--precision", "int8"],
                                 stdin: Data("fine\n".utf8))
        #expect(opencl.status == 64 && opencl.stderr.contains("CPU path only"), "\(opencl.stderr)")
        let unknown = try CLI.run(["classify", "--model", Self.sst, "--precision", "fp8"], stdin: Data("fine\n".utf8))
        #expect(unknown.status == 64 && unknown.stderr.contains("fp8"), "\(unknown.stderr)")
        let upper = try CLI.run(["classify", "--model", Self.sst, "--device", "cpu", "--precision", "FP32"],
                                stdin: Data("fine\n".utf8))
        #expect(upper.status == 0, "\(upper.stderr)")
        let parity = try CLI.run(["parity", "--model", Self.sst, "--device", "opencl", "--precision", "bf16"])
        #expect(parity.status == 64, "\(parity.stderr)")
    }

    @Test("classify at bf16 and int8 keeps the logits close to fp32's", arguments: [Precision.bf16, .int8])
    func classifyReduced(_ precision: Precision) throws {
        guard (try? CPUKernelInfo.current.require(precision)) != nil else {
            let r = try Self.classify(["--precision", precision.rawValue], isa: "ALL")
            #expect(r.status == 5, "\(r.stderr)")
            return
        }
        let full = try Self.classify([], isa: "ALL"), reduced = try Self.classify(["--precision", precision.rawValue], isa: "ALL")
        #expect(full.status == 0 && reduced.status == 0, "\(reduced.stderr)")
        let a = full.jsonLines().flatMap { doubles($0["logits"]) }, b = reduced.jsonLines().flatMap { doubles($0["logits"]) }
        #expect(a.count == 48 && cosineSimilarity(a, b) >= (precision == .bf16 ? 0.999 : 0.99))
        #expect(a != b, "\(precision) gave fp32's logits bit for bit: the precision was not applied")
    }

    @Test("parity --precision reports the drift layer by layer and passes on the cosine targets",
          arguments: [Precision.bf16, .int8].filter(PrecisionTests.supports))
    func parity(_ precision: Precision) throws {
        let r = try CLI.run(["parity", "--model", Self.sst, "--precision", precision.rawValue, "--json"],
                            environment: ["ONEDNN_MAX_CPU_ISA": "ALL"])
        #expect(r.status == 0, "\(r.out)\n\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
        let report = json?["report"] as? [String: Any] ?? [:]
        let stages = report["stages"] as? [[String: Any]] ?? []
        #expect(stages.map { $0["name"] as? String ?? "" } == ["embeddings", "layer 1", "layer 2", "layer 3", "classifier logits"])
        #expect((report["device"] as? String ?? "").hasSuffix(", \(precision))"))
        // Rounding starts at the first GEMM: exact embeddings, drift from layer 1 on.
        #expect(stages.first?["maxAbsDiff"] as? Double == 0)
        #expect((stages[1]["maxAbsDiff"] as? Double ?? 0) > 0)
    }

    @Test("bench model --precision names the CPU and its kernels")
    func bench() throws {
        let r = try CLI.run(["bench", "model", "--model", Self.sst, "--precision", "int8", "--batches", "2",
                             "--batch-size", "4", "--seq-len", "16", "--json"], environment: ["ONEDNN_MAX_CPU_ISA": "ALL"])
        guard (try? CPUKernelInfo.current.require(.int8)) != nil else {
            #expect(r.status == 5, "\(r.stderr)")
            return
        }
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
        let results = json?["results"] as? [[String: Any]] ?? []
        #expect(results.count == 2)   // int8, then the fp32 CPU path for comparison
        #expect((results.first?["backend"] as? String ?? "").hasSuffix(", int8)"))
        #expect((json?["cpuKernels"] as? String ?? "").contains("oneDNN"))
        #expect((json?["cpu"] as? String ?? "").contains(CPUKernelInfo.current.cpuModel))
    }
}
