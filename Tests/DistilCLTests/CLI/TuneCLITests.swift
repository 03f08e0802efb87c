import DistilCL
import Foundation
import Testing

/// `distilcl tune` end to end on PoCL: a model's GEMM shapes and attention's key block are
/// measured within the budget, the table or JSON report printed, the winners written to the
/// tuning file (which `classify` then reads and still gives the CPU path's labels); bad
/// arguments are usage errors.
@Suite("distilcl tune", .enabled(if: !((try? listOpenCLDevices()) ?? []).isEmpty))
struct TuneCLITests {
    @Test("tunes a model's GEMMs and attention within the budget and writes the tuning file")
    func tunesModel() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("tuning.json")
        let model = Fixtures.model("tiny-distilbert-sst").path
        let env = ["DISTILCL_TUNING_FILE": file.path, "DISTILCL_NO_TUNING": ""]
        let r = try CLI.run(["tune", "--device", "opencl", "--model", model, "--tokens", "70", "--budget-seconds", "20",
                             "--repeats", "2", "--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let shapes = json["shapes"] as? [[String: Any]] ?? []
        // The tiny checkpoint's four GEMMs per layer at 128 rows.
        #expect(shapes.count == 4, "\(shapes.map { $0["shape"] ?? "" })")
        #expect(shapes.allSatisfy { ($0["defaultGFLOPS"] as? Double ?? 0) > 0 && ($0["timed"] as? Int ?? 0) >= 1 })
        let attention = try #require(json["attention"] as? [String: Any])
        // texts of min(128, 70) = 70 tokens, 70 / 70 = 1 of them, the checkpoint's heads
        #expect((attention["shape"] as? String ?? "").hasPrefix("B1 S70 H"), "\(attention)")
        #expect((attention["timed"] as? Int ?? 0) >= 1 && (attention["invalid"] as? Int) == 0)
        // No candidate starts past the budget; the one running then finishes (a cold PoCL
        // compiles a new gemm.cl build for tens of seconds).
        #expect((json["seconds"] as? Double ?? 1e9) < 20 + 90)
        #expect(r.stderr.contains("attention ") && r.stderr.contains("to \(file.path)"))
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        #expect((stored["attention"] as? [String: Any])?.count == 1)

        // What it wrote is used, and the labels are still the CPU path's.
        let texts = Data("a good film\nterrible, boring and long\n".utf8)
        let cpu = try CLI.run(["classify", "--model", model, "--device", "cpu"], stdin: texts)
        let tuned = try CLI.run(["classify", "--model", model, "--device", "opencl"], stdin: texts, environment: env)
        #expect(cpu.status == 0 && tuned.status == 0, "\(tuned.stderr)")
        #expect(cpu.jsonLines().map { $0["label"] as? String } == tuned.jsonLines().map { $0["label"] as? String })
    }

    @Test("the table, --shapes without attention, --dry-run writes nothing")
    func shapesTable() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("tuning.json")
        let r = try CLI.run(["tune", "--device", "opencl", "--shapes", "20,48,40;5,30,300", "--budget-seconds", "15",
                             "--repeats", "2", "--dry-run"],
                            environment: ["DISTILCL_TUNING_FILE": file.path, "DISTILCL_NO_TUNING": ""])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.out.contains("M32_N48_K40") && r.out.contains("M16_N30_K300") && r.out.contains("speed-up"))
        #expect(!r.out.contains("attention") && !FileManager.default.fileExists(atPath: file.path))
    }

    @Test("bad arguments are usage errors")
    func badArguments() throws {
        for args in [["--shapes", "1,2"], ["--shapes", "0,2,3"], ["--budget-seconds", "0"], ["--repeats", "0"],
                     ["--model", "x", "--shapes", "1,2,3"], ["--device", "cpu"]] {
            let r = try CLI.run(["tune"] + args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
        }
    }
}
