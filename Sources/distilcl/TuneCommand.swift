import ArgumentParser
import DistilCL
import DistilCLBench
import Foundation

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Find the fastest GEMM variant for each shape on an OpenCL device and cache it.",
        discussion: """
        For each GEMM shape the model runs (its four linear layers per encoder layer, at each \
        --tokens count rounded up to a power of two), every member of the GEMM family \
        (Kernels/gemm.cl: the panel kernel at 1–16 rows per work-item, the local-memory tiled \
        kernel at every tile the device holds) is built, checked against the CPU path, and timed \
        (device time, median of --repeats); a candidate more than 3× slower than the best so far \
        after one launch is dropped. Today's heuristic is measured first, so the winner is never \
        slower in the same run. The three fastest tiles are then tried with each option of the \
        family: double-buffered local memory, the warp layout, narrower global loads, and split-K \
        where the shape has few output tiles. Candidates stop once --budget-seconds have passed (the shapes \
        still finish with what was measured).

        The winners go to the tuning file (tuning.json in the program cache folder, or \
        $DISTILCL_TUNING_FILE), keyed by platform, device, driver and gemm.cl's hash: inference, \
        bench kernels and bench model on that device then run them; shapes without an entry use \
        the heuristic. DISTILCL_NO_TUNING=1 ignores the file. A corrupt or stale entry is ignored \
        with a warning.

        Then (unless --no-attention or --shapes) the fused attention kernel's key block \
        (ATT_KB: 4–64 keys scored per rescale of the running softmax) and vector width over the \
        head dimension (1, 4, 16) are tuned the same way on \
        texts of 128 tokens (fewer when the largest --tokens count is smaller) with the model's \
        heads, and stored for the device.

        Examples:
          distilcl tune --model models/all-MiniLM-L6-v2
          distilcl tune --shapes "1024,2304,768;128,768,3072" --budget-seconds 60 --json
        """)

    @Option(help: "opencl, opencl:N or gpu (the device to tune). Default: $DISTILCL_DEVICE, else opencl.")
    var device: String?

    @Option(help: ArgumentHelp("Tune the GEMMs of this checkpoint folder's config.", valueName: "dir"))
    var model: String?

    @Option(help: ArgumentHelp("Shapes M,N,K separated by ';' instead of a model's.", valueName: "shapes"))
    var shapes: String?

    @Option(help: "Token counts per batch (M), comma-separated; with --model or the DistilBERT-base default.")
    var tokens = "128,1024,4096"

    @Option(help: "Seconds after which no new candidate starts.")
    var budgetSeconds = 300.0

    @Option(help: "Timed launches per candidate (the median counts).")
    var repeats = 5

    @Flag(help: "Tune only the GEMMs, not attention's key block.")
    var noAttention = false

    @Flag(help: "Print JSON instead of the table.")
    var json = false

    @Flag(help: "Measure only; do not write the tuning file.")
    var dryRun = false

    func validate() throws {
        guard budgetSeconds > 0, budgetSeconds <= 86_400 else { throw ValidationError("--budget-seconds must be from 0 to 86400") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        if model != nil, shapes != nil { throw ValidationError("give --model or --shapes, not both") }
        _ = try parsedShapes()
    }

    /// `--shapes`, or the model's (DistilBERT-base's without --model) at `--tokens`.
    func parsedShapes() throws -> [GEMMShape]? {
        guard let shapes else { return nil }
        return try shapes.split(separator: ";").map { item in
            let v = item.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 3, let m = v[0], let n = v[1], let k = v[2], m > 0, n > 0, k > 0 else {
                throw ValidationError("--shapes takes M,N,K;M,N,K…, got '\(item)'")
            }
            return GEMMShape(rows: m, n: n, k: k)
        }
    }

    func run() throws {
        try runReportingErrors {
            let choice: DeviceChoice = try device.map { try DeviceChoice(parsing: $0) }
                ?? ProcessInfo.processInfo.environment[DeviceChoice.environmentVariable].map { try DeviceChoice(parsing: $0) }
                ?? .opencl(nil)
            let devices = try listOpenCLDevices()
            guard choice != .cpu, let info = try choice.resolve(among: devices) else {
                throw CLIError.usage("tune measures OpenCL kernels; --device \(device ?? "cpu") names no OpenCL device "
                                     + "(the CPU path is oneDNN's; `distilcl devices` lists them)")
            }
            // The heuristic is the baseline: earlier results do not take part.
            let backend = try OpenCLBackend(device: info, tunedGEMMs: [:])
            let counts = tokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw CLIError.usage("--tokens needs positive integers") }
            var list = try parsedShapes() ?? GEMMShape.encoder(hidden: 768, ffn: 3072, tokens: counts)
            var (heads, headDim) = (12, 64)   // DistilBERT-base's
            if let model {
                let config = try Checkpoint(directory: URL(fileURLWithPath: model)).config
                list = GEMMShape.encoder(config, tokens: counts)
                (heads, headDim) = (config.heads, config.headDim)
            }
            let started = ContinuousClock.now
            let budget = Duration.milliseconds(Int64(budgetSeconds * 1000))
            var attention: AttentionTuner.Outcome?
            if !noAttention, shapes == nil {
                var tuner = AttentionTuner(backend: backend)
                tuner.repeats = repeats
                let length = min(128, counts.max()!), sequences = max(1, counts.max()! / length)
                let o = try tuner.tune(sequences: sequences, length: length, heads: heads, headDim: headDim,
                                       deadline: started + budget / 10)   // the GEMMs keep the rest
                writeStderr("attention \(o.shape): ATT_KB=\(o.defaultKeyBlock) v\(o.defaultVectorWidth) \(fmt(o.defaultGFLOPS)) GFLOP/s -> "
                            + "ATT_KB=\(o.bestKeyBlock) v\(o.bestVectorWidth) \(fmt(o.bestGFLOPS)) GFLOP/s (\(String(format: "%.2f", o.speedup))x; "
                            + "\(o.timed) timed, \(o.invalid) invalid, \(o.skipped) over budget; \(String(format: "%.1f", o.seconds)) s)\n")
                attention = o
            }
            var tuner = GEMMTuner(backend: backend)
            tuner.repeats = repeats
            let candidates = GEMMTuner.candidates(for: backend)
            writeStderr("tuning \(list.count) GEMM shapes on \(backend.name): \(candidates.count) candidates "
                        + "(then refinements of the best tiles), budget \(Int(budgetSeconds)) s\n")
            let outcomes = try tuner.tune(list, candidates: candidates, budget: budget - (ContinuousClock.now - started)) { o in
                writeStderr("  \(o.shape): \(o.defaultVariant) \(fmt(o.defaultGFLOPS)) GFLOP/s -> \(o.best) "
                            + "\(fmt(o.bestGFLOPS)) GFLOP/s (\(String(format: "%.2f", o.speedup))x; \(o.timed) timed, "
                            + "\(o.droppedEarly) dropped early, \(o.invalid) invalid, \(o.skipped) over budget; "
                            + "\(String(format: "%.1f", o.seconds)) s)\n")
            }
            let elapsed = (ContinuousClock.now - started)
            if !dryRun {
                let cache = TuningCache()
                var entries: [GEMMShape: TuningCache.Entry] = [:]
                // Only winners other than the heuristic: where it won, it keeps choosing by row count.
                for (shape, o) in zip(list, outcomes) where o.best != o.defaultVariant {
                    entries[shape] = .init(o.bestVariant, gflops: o.bestGFLOPS, defaultGFLOPS: o.defaultGFLOPS)
                }
                let attentionEntry = attention.map {
                    TuningCache.AttentionEntry(keyBlock: $0.bestKeyBlock, vectorWidth: $0.bestVectorWidth, headDim: headDim,
                                               gflops: $0.bestGFLOPS,
                                               defaultGFLOPS: $0.defaultGFLOPS)
                }
                do { try cache.store(entries, attention: attentionEntry, for: info) } catch {
                    throw CLIError(.failure, "cannot write \(cache.url.path): \(error)")
                }
                writeStderr("wrote \(entries.count) GEMM entries\(attentionEntry == nil ? "" : " and attention's key block") "
                            + "to \(cache.url.path)\n")
            }
            if json {
                struct Report: Encodable {
                    var device: String; var cpu: String; var seconds: Double; var budgetSeconds: Double
                    var shapes: [GEMMTuner.Outcome]
                    var attention: AttentionTuner.Outcome?
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let seconds = elapsed.seconds
                print(String(decoding: try encoder.encode(Report(device: backend.name, cpu: CPUKernelInfo.current.cpuSummary,
                                                                 seconds: seconds, budgetSeconds: budgetSeconds,
                                                                 shapes: outcomes, attention: attention)), as: UTF8.self))
            } else {
                print("device: \(backend.name)   \(elapsed) in all, budget \(Int(budgetSeconds)) s")
                print(pad("shape", 20) + pad("default", 34) + lpad("GFLOP/s", 9) + "  " + pad("tuned", 34)
                      + lpad("GFLOP/s", 9) + lpad("speed-up", 10))
                for o in outcomes {
                    print(pad(o.shape, 20) + pad(o.defaultVariant, 34) + lpad(fmt(o.defaultGFLOPS), 9) + "  "
                          + pad(o.best, 34) + lpad(fmt(o.bestGFLOPS), 9) + lpad(String(format: "%.2fx", o.speedup), 10))
                }
                if let a = attention {
                    print("attention \(a.shape): ATT_KB=\(a.defaultKeyBlock) v\(a.defaultVectorWidth) \(fmt(a.defaultGFLOPS)) GFLOP/s -> "
                          + "ATT_KB=\(a.bestKeyBlock) v\(a.bestVectorWidth) \(fmt(a.bestGFLOPS)) GFLOP/s (\(String(format: "%.2fx", a.speedup)))")
                }
            }
        }
    }
}
