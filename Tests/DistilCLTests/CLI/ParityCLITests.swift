import DistilCL
import Foundation
import Testing

/// `distilcl parity` on every reference checkpoint (and MiniLM when fetched): exit 0; and
/// exit 1 when a kernel is deliberately broken through a test-only build option.
@Suite("distilcl parity", .enabled(if: !((try? listOpenCLDevices()) ?? []).isEmpty))
struct ParityCLITests {
    static let models = ["tiny-distilbert-sst", "tiny-distilbert-qa", "tiny-distilbert-mlm", "tiny-distilbert-ner",
                         "tiny-bert-pairs"]

    @Test("exits 0 on every reference checkpoint", arguments: models)
    func passes(_ name: String) throws {
        let r = try CLI.run(["parity", "--model", Fixtures.model(name).path])
        #expect(r.status == 0, "\(name): \(r.out)\n\(r.stderr)")
        #expect(r.out.contains("PASS"))
        #expect(r.out.contains("layer 3") && r.out.contains("logits"))
    }

    @Test("exits 0 on all-MiniLM-L6-v2, JSON report")
    func miniLM() throws {
        try Fixtures.requireRealData()
        let r = try CLI.run(["parity", "--model", Fixtures.miniLM.path, "--json"])
        #expect(r.status == 0, "\(r.out)\n\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
        #expect(json?["passed"] as? Bool == true)
        let stages = (json?["report"] as? [String: Any])?["stages"] as? [[String: Any]] ?? []
        #expect(stages.count == 8)   // embeddings, 6 layers, pooled embeddings
    }

    @Test("a broken layernorm kernel is caught: exit 1, first failing stage named")
    func injectedFault() throws {
        let r = try CLI.run(["parity", "--model", Fixtures.model("tiny-distilbert-sst").path],
                            environment: ["DISTILCL_CL_OPTIONS": "-DDISTILCL_INJECT_FAULT", "DISTILCL_NO_CACHE": "1"])
        #expect(r.status == 1, "\(r.out)\n\(r.stderr)")
        #expect(r.out.contains("FAIL: first stage outside tolerance: embeddings"), "\(r.out)")
    }

    @Test("bad arguments: the CPU as the device, a missing model")
    func badArguments() throws {
        let cpu = try CLI.run(["parity", "--model", Fixtures.model("tiny-distilbert-sst").path, "--device", "cpu"])
        #expect(cpu.status != 0 && cpu.stderr.contains("OpenCL device"))
        let missing = try CLI.run(["parity", "--model", "/nonexistent/model"])
        #expect(missing.status == 3, "\(missing.stderr)")
        #expect(missing.stderr.contains("/nonexistent/model"))
    }
}
