import ArgumentParser
import DistilCL
import Foundation

struct ParityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Run a model on the CPU path and on an OpenCL device over the same inputs and compare them.",
        discussion: """
        Reports, for the embeddings, every layer and the head's output, the max absolute and \
        relative difference and the cosine between the two backends, the first stage outside \
        tolerance, and how many predictions (labels, token labels, answer starts/ends, masked \
        tokens, or embeddings) agree. Without --input a built-in varied set of texts is used; \
        an input line "text<TAB>pair" is a sentence pair.

        Exit status: 0 within tolerance and every prediction agreeing, 1 otherwise; 3 the model \
        cannot be loaded; 5 no OpenCL device or an OpenCL failure.
        """)

    @Option(help: ArgumentHelp("Hugging Face checkpoint folder. Default: $DISTILCL_MODEL, else models/all-MiniLM-L6-v2.", valueName: "dir"))
    var model: String?

    @Option(help: ArgumentHelp("Texts, one a line (default: a built-in varied set).", valueName: "file"))
    var input: String?

    @Option(help: "The OpenCL device to check: opencl or opencl:N (default: opencl).")
    var device = "opencl"

    @Option(help: "Sequences per batch.")
    var batchSize = 8

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let directory = URL(fileURLWithPath: model ?? ProcessInfo.processInfo.environment["DISTILCL_MODEL"]
            .flatMap { $0.isEmpty ? nil : $0 } ?? "models/all-MiniLM-L6-v2")
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        let texts: [String]
        if let input {
            guard let data = FileManager.default.contents(atPath: input) else {
                throw fail("cannot read --input \(input)", code: 4)
            }
            guard let text = String(data: data, encoding: .utf8) else { throw fail("--input \(input) is not valid UTF-8", code: 4) }
            texts = text.split(separator: "\n", omittingEmptySubsequences: false).map {
                String($0.hasSuffix("\r") ? $0.dropLast() : $0)
            }.dropLast(text.hasSuffix("\n") ? 1 : 0)
        } else {
            texts = ParityCheck.builtInInputs
        }
        let backend: any ComputeBackend
        do {
            let choice = try DeviceChoice(parsing: device)
            guard case .opencl = choice else { throw ValidationError("--device must name an OpenCL device (opencl or opencl:N)") }
            backend = try makeBackend(choice)
        } catch let e as ValidationError { throw e } catch { throw fail("\(error)", code: 5) }

        var check = ParityCheck(directory: directory, device: backend)
        check.batchSize = batchSize
        let report: ParityCheck.Report
        do { report = try check.run(texts: texts) } catch let e as CheckpointError { throw fail("\(e)", code: 3) }
        catch let e as TokenizerError { throw fail("\(e)", code: 3) }
        catch let e as CLError { throw fail("\(e)", code: 5) }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Out: Encodable { var report: ParityCheck.Report; var passed: Bool }
            print(String(decoding: try encoder.encode(Out(report: report, passed: report.passed)), as: UTF8.self))
        } else {
            print("model: \(report.model)\ndevice: \(report.device) vs the CPU path; \(report.inputs) inputs")
            print("tolerance: max |diff| ≤ \(report.tolerance.relativeToScale) × max(1, max |CPU|) and cosine ≥ \(report.tolerance.cosine)")
            print(pad("stage", 28) + lpad("max |diff|", 12) + lpad("max rel", 12) + lpad("cosine", 14) + lpad("scale", 10) + "  ok")
            for s in report.stages {
                print(pad(s.name, 28) + lpad(String(format: "%.2e", s.maxAbsDiff), 12) + lpad(String(format: "%.2e", s.maxRelDiff), 12)
                      + lpad(String(format: "%.9f", s.cosine), 14) + lpad(String(format: "%.3g", s.scale), 10)
                      + (s.withinTolerance ? "  yes" : "  NO"))
            }
            print("predictions agreeing: \(report.agreeing)/\(report.predictions)")
            print(report.passed ? "PASS" : "FAIL: first stage outside tolerance: \(report.firstFailure ?? "none (a prediction differs)")")
        }
        if !report.passed { throw ExitCode(1) }
    }

    private func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode(code)
    }
}
