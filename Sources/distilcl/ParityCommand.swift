import ArgumentParser
import DistilCL
import Foundation

struct ParityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Run a model on the CPU path and on an OpenCL device (or the CPU path at --precision bf16/int8) over the same inputs and compare them.",
        discussion: """
        Reports, for the embeddings, every layer and the head's output, the max absolute and \
        relative difference and the cosine between the two backends, the first stage outside \
        tolerance, and how many predictions (labels, token labels, answer starts/ends, masked \
        tokens, or embeddings) agree. Without --input a built-in varied set of texts is used; \
        an input line "text<TAB>pair" is a sentence pair. With --precision bf16 or int8 the \
        CPU path at that precision is compared with the CPU path at fp32 (--device cpu, the \
        default then), judged by each stage's cosine to fp32 (bf16 ≥ 0.999, int8 ≥ 0.99); the \
        largest differences and differing predictions are reported without failing the check.

        Exit status: 0 within tolerance and (at fp32) every prediction agreeing, 1 otherwise; \
        3 the model cannot be loaded; 4 --input unreadable or not UTF-8; 5 no OpenCL device, an \
        OpenCL failure, or a CPU without the instructions --precision needs; 64 a bad flag.
        """)

    @Option(help: ArgumentHelp("Hugging Face checkpoint folder. Default: $DISTILCL_MODEL, else models/all-MiniLM-L6-v2.", valueName: "dir"))
    var model: String?

    @Option(help: ArgumentHelp("Texts, one a line (default: a built-in varied set).", valueName: "file"))
    var input: String?

    @Option(help: "The device to check: opencl or opencl:N (default: opencl; cpu with --precision bf16/int8).")
    var device: String?

    @Option(help: ArgumentHelp("fp32, bf16 or int8 for the checked backend's linear layers.", valueName: "p"))
    var precision: Precision = .fp32

    @Option(help: "Sequences per batch.")
    var batchSize = 8

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        try runReportingErrors {
            guard batchSize > 0 else { throw CLIError.usage("--batch-size must be positive") }
            let device = self.device ?? (precision == .fp32 ? "opencl" : "cpu")
            let choice = try DeviceChoice(parsing: device)
            switch (choice, precision) {
            case (.opencl, .fp32), (.gpu, .fp32), (.cpu, .bf16), (.cpu, .int8): break
            case (_, .fp32):
                throw CLIError.usage("--device must name an OpenCL device (opencl, opencl:N or gpu), got '\(device)'")
            default:
                throw CLIError.usage("--precision \(precision) checks the CPU path (--device cpu), got '\(device)'")
            }
            let texts = try input.map { try readLines($0) } ?? ParityCheck.builtInInputs
            var check = ParityCheck(directory: ModelOptions.directory(model),
                                    device: try makeBackend(choice, precision: precision))
            check.tolerance = .for(precision)
            check.batchSize = batchSize
            try report(try check.run(texts: texts))
        }
    }

    private func report(_ report: ParityCheck.Report) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Out: Encodable { var report: ParityCheck.Report; var passed: Bool }
            print(String(decoding: try encoder.encode(Out(report: report, passed: report.passed)), as: UTF8.self))
        } else {
            print("model: \(report.model)\ndevice: \(report.device) vs the CPU path at fp32; \(report.inputs) inputs")
            let t = report.tolerance
            print("tolerance: " + (t.relativeToScale.map { "max |diff| ≤ \($0) × max(1, max |CPU|) and " } ?? "")
                  + "cosine ≥ \(t.cosine)")
            print(pad("stage", 28) + lpad("max |diff|", 12) + lpad("max rel", 12) + lpad("cosine", 14) + lpad("scale", 10) + "  ok")
            for s in report.stages {
                print(pad(s.name, 28) + lpad(String(format: "%.2e", s.maxAbsDiff), 12) + lpad(String(format: "%.2e", s.maxRelDiff), 12)
                      + lpad(String(format: "%.9f", s.cosine), 14) + lpad(String(format: "%.3g", s.scale), 10)
                      + (s.withinTolerance ? "  yes" : "  NO"))
            }
            print("predictions agreeing: \(report.agreeing)/\(report.predictions)"
                  + (report.tolerance.requireAgreement ? "" : " (reported, not required at this precision)"))
            print(report.passed ? "PASS" : "FAIL: first stage outside tolerance: \(report.firstFailure ?? "none (a prediction differs)")")
        }
        if !report.passed { throw ExitCode(1) }
    }
}

/// The lines of a text file (`\n` or `\r\n`), UTF-8 checked, through the commands' input reader.
func readLines(_ path: String) throws -> [String] {
    var reader = InputReader(try IOOptions.parse(["--input", path]))
    return try reader.lines().map(\.text)
}
