import ArgumentParser
import DistilCL
import DistilCLBench
import Foundation

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "End-to-end throughput of a model on the chosen device and, in the same run, on the CPU path.",
        discussion: """
        Fixed workload (default): --batches batches of --batch-size sequences of exactly --seq-len \
        real tokens. With --input FILE: its lines, tokenized (timed), cut to --max-length, sorted \
        by length into batches of --batch-size. Runs the classification head when the checkpoint \
        has one, else mean-pooled embeddings. Reports sequences/s, tokens/s, achieved GFLOP/s \
        (FLOPs performed on real tokens), batch latency p50/p95, seconds per stage (tokenize, \
        upload, compute, head+download) and peak resident memory. One warm-up batch is not timed.
        """)

    @Option(help: ArgumentHelp("Hugging Face checkpoint folder. Default: $DISTILCL_MODEL, else models/all-MiniLM-L6-v2.", valueName: "dir"))
    var model: String?

    @Option(help: "auto, cpu, opencl or opencl:N. Default: opencl when a device exists, else cpu.")
    var device: String?

    @Option(help: "Sequences per batch.")
    var batchSize = 32

    @Option(help: "Tokens per sequence in the fixed workload ([CLS] and [SEP] included).")
    var seqLen = 128

    @Option(help: "Batches in the fixed workload.")
    var batches = 10

    @Option(help: ArgumentHelp("Texts, one a line, instead of the fixed workload.", valueName: "file"))
    var input: String?

    @Option(help: "Read at most this many lines of --input.")
    var limit: Int?

    @Option(help: "Most tokens per text with --input.")
    var maxLength = 128

    @Option(help: ArgumentHelp("fp32, bf16 or int8 for the linear layers (bf16 and int8: CPU path only; the CPU path's fp32 run is then the comparison).", valueName: "p"))
    var precision: Precision = .fp32

    @Flag(help: "Skip the CPU path's run.")
    var noCpu = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        try runReportingErrors { try measure() }
    }

    private func measure() throws {
        guard batchSize > 0, seqLen >= 2, batches > 0, maxLength >= 2 else {
            throw ValidationError("--batch-size and --batches must be positive, --seq-len and --max-length at least 2")
        }
        let directory = ModelOptions.directory(model)
        let choice: DeviceChoice = try device.map(DeviceChoice.init(parsing:))
            ?? (try ProcessInfo.processInfo.environment[DeviceChoice.environmentVariable].map(DeviceChoice.init(parsing:)))
            ?? (precision != .fp32 || (try listOpenCLDevices()).isEmpty ? .cpu : .opencl(nil))
        let bench = try ModelBench(directory: directory)
        let workload: ModelBench.Workload
        if let input {
            var lines = try readLines(input)
            if let limit { lines = Array(lines.prefix(limit)) }
            workload = .texts(lines, batchSize: batchSize, maxLength: maxLength)
        } else {
            workload = .fixed(batchSize: batchSize, seqLen: seqLen, batches: batches)
        }

        var results = [try bench.run(workload, on: try makeBackend(choice, precision: precision))]
        if !noCpu && (choice != .cpu || precision != .fp32) { results.append(try bench.run(workload, on: CPUBackend())) }
        let kernels = CPUKernelInfo.current
        let peak = ModelBench.peakResidentBytes()
        let maxDiff = results.count > 1
            ? zip(results[0].firstOutput, results[1].firstOutput).map { abs(Double($0) - Double($1)) }.max() ?? 0 : 0

        if json {
            struct Out: Encodable {
                var model: String; var results: [ModelBench.Result]; var peakResidentBytes: Int; var maxAbsDiffFirstOutput: Double
                var cpu: String; var cpuKernels: String
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Out(model: directory.path, results: results, peakResidentBytes: peak,
                                                            maxAbsDiffFirstOutput: maxDiff, cpu: kernels.cpuSummary,
                                                            cpuKernels: kernels.summary)), as: UTF8.self))
            return
        }
        print("model: \(directory.path)   workload: \(input.map { "\($0), max length \(maxLength)" } ?? "\(batches) × \(batchSize) × \(seqLen) tokens")")
        print("cpu: \(kernels.cpuSummary)\ncpu kernels: \(kernels.summary)")
        print(pad("backend", 46) + lpad("seq/s", 9) + lpad("tok/s", 10) + lpad("GFLOP/s", 9) + lpad("p50 ms", 9) + lpad("p95 ms", 9)
              + "   tokenize / upload / compute / head+download (s)")
        for r in results {
            let st = ["tokenize", "upload", "compute", "head+download"].map { String(format: "%.3f", r.stages[$0] ?? 0) }
            print(pad(String(r.backend.prefix(45)), 46) + lpad(fmt(r.sequencesPerSecond), 9) + lpad(fmt(r.tokensPerSecond), 10)
                  + lpad(fmt(r.gflops), 9) + lpad(fmt(r.batchLatencyP50Milliseconds), 9) + lpad(fmt(r.batchLatencyP95Milliseconds), 9)
                  + "   " + st.joined(separator: " / "))
        }
        for r in results {
            guard let k = r.kernelMilliseconds, let share = r.nonGEMMShare else { continue }
            let top = k.sorted { $0.value > $1.value }.prefix(6).map { String(format: "%@ %.1f ms", $0.key, $0.value) }
            print(String(format: "kernel time outside GEMM: %.1f%%  (", share * 100) + top.joined(separator: ", ") + ")")
        }
        if results.count > 1 { print(String(format: "max |diff| of the first output between backends: %.2e", maxDiff)) }
        print("peak resident memory: \(peak >> 20) MiB")
    }
}
