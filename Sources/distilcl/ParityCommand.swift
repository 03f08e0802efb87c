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
        cannot be loaded; 4 --input unreadable or not UTF-8; 5 no OpenCL device or an OpenCL \
        failure; 64 a bad flag.
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
        try runReportingErrors {
            guard batchSize > 0 else { throw CLIError.usage("--batch-size must be positive") }
            let choice = try DeviceChoice(parsing: device)
            guard case .opencl = choice else {
                throw CLIError.usage("--device must name an OpenCL device (opencl or opencl:N), got '\(device)'")
            }
            let texts = try input.map { try readLines($0) } ?? ParityCheck.builtInInputs
            var check = ParityCheck(directory: ModelOptions.directory(model), device: try makeBackend(choice))
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
}

/// The lines of a text file (`\n` or `\r\n`), UTF-8 checked, through the commands' input reader.
func readLines(_ path: String) throws -> [String] {
    var reader = InputReader(try IOOptions.parse(["--input", path]))
    return try reader.lines().map(\.text)
}
