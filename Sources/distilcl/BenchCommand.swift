import ArgumentParser
import DistilCL
import DistilCLBench
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: the kernels at DistilBERT-base shapes, and a model end to end.",
        subcommands: [BenchKernelsCommand.self, BenchModelCommand.self])
}

struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Validate each kernel against the CPU path, then time it at DistilBERT-base shapes.",
        discussion: """
        GEMMs for tokens M in {128, 1024, 4096} and weights N×K in {2304×768, 768×768, 3072×768, \
        768×3072}; attention for batch 8 × 12 heads × seq 128; softmax, layernorm and GELU over \
        M×768 and M×3072. OpenCL times are kernel event times; the CPU path's figures for the \
        same shapes come from the same run. Exits 1 if a kernel disagrees with the CPU path.
        """)

    @Option(help: "auto, cpu, opencl or opencl:N. Default: opencl when a device exists, else cpu.")
    var device: String?

    @Option(help: "Timed runs per case (the median is reported).")
    var repeats = 10

    @Option(help: "Token counts M, comma-separated.")
    var tokens = "128,1024,4096"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        try runReportingErrors { try measure() }
    }

    private func measure() throws {
        let choice: DeviceChoice
        if let device { choice = try DeviceChoice(parsing: device) }
        else if let env = ProcessInfo.processInfo.environment[DeviceChoice.environmentVariable] {
            choice = try DeviceChoice(parsing: env)
        } else {
            choice = (try listOpenCLDevices()).isEmpty ? .cpu : .opencl(nil)
        }
        let backend = try makeBackend(choice)
        let counts = tokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--tokens needs positive integers, e.g. 128,1024")
        }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
        let bench = KernelBench(device: backend, repeats: repeats, tokenCounts: counts)
        if !json {
            print("device: \(backend.name)   CPU path: \(bench.cpu.name)   median of \(repeats) runs")
            print("cpu: \(CPUKernelInfo.current.cpuSummary)\ncpu kernels: \(CPUKernelInfo.current.summary)")
            print(pad("op", 26) + pad("shape", 22) + lpad("device ms", 11) + lpad("rate", 10) + lpad("CPU ms", 10)
                  + lpad("CPU rate", 10) + "  unit     max|diff|")
        }
        let rows = try bench.run { r in
            guard !json else { return }
            print(pad(r.op, 26) + pad(r.shape, 22) + lpad(fmt(r.deviceMilliseconds), 11) + lpad(fmt(r.deviceRate), 10)
                  + lpad(r.cpuMilliseconds.map(fmt) ?? "-", 10) + lpad(r.cpuRate.map(fmt) ?? "-", 10)
                  + "  " + pad(r.unit, 8) + " " + String(format: "%.1e", r.maxAbsDiff) + (r.valid ? "" : "  MISMATCH"))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Report: Encodable {
                var device: String; var cpu: String; var cpuModel: String; var cpuKernels: String; var repeats: Int
                var rows: [KernelBench.Row]
            }
            let k = CPUKernelInfo.current
            let data = try encoder.encode(Report(device: backend.name, cpu: bench.cpu.name, cpuModel: k.cpuSummary,
                                                 cpuKernels: k.summary, repeats: repeats, rows: rows))
            print(String(decoding: data, as: UTF8.self))
        }
        if rows.contains(where: { !$0.valid }) {
            FileHandle.standardError.write(Data("error: a kernel disagrees with the CPU path (MISMATCH rows)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : (v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)) }
