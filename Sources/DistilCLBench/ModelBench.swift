import DistilCL
import Foundation

/// `distilcl bench model`: end-to-end throughput of a checkpoint on one backend: sequences/s,
/// tokens/s, achieved GFLOP/s, batch latency p50/p95, and where the time goes (tokenize,
/// upload, compute, head + download).
public struct ModelBench {
    /// What to run: a fixed batch shape of random real tokens, or texts from a file.
    public enum Workload: Sendable {
        case fixed(batchSize: Int, seqLen: Int, batches: Int)
        case texts([String], batchSize: Int, maxLength: Int)
    }

    public struct Result: Sendable, Codable {
        public var backend: String
        public var sequences: Int
        public var tokens: Int
        public var seconds: Double
        public var sequencesPerSecond: Double
        public var tokensPerSecond: Double
        /// FLOPs performed on the real tokens (padding excluded) per second, in 1e9.
        public var gflops: Double
        public var batchLatencyP50Milliseconds: Double
        public var batchLatencyP95Milliseconds: Double
        /// Seconds per stage: tokenize, upload, compute, head+download.
        public var stages: [String: Double]
        /// Logits (or pooled embeddings) of the first sequence, to compare backends.
        public var firstOutput: [Float]
        /// OpenCL only: device milliseconds per kernel over one profiled pass of the workload.
        public var kernelMilliseconds: [String: Double]?
        /// OpenCL only: the share of kernel time outside the GEMM kernels.
        public var nonGEMMShare: Double? {
            guard let k = kernelMilliseconds else { return nil }
            let total = k.values.reduce(0, +)
            let gemm = k.filter { $0.key.hasPrefix("kernel_gemm") }.values.reduce(0, +)
            return total > 0 ? (total - gemm) / total : nil
        }
    }

    public let checkpoint: Checkpoint
    public let tokenizer: BertTokenizer

    public init(directory: URL) throws {
        checkpoint = try Checkpoint(directory: directory)
        tokenizer = try BertTokenizer(modelDirectory: directory)
    }

    /// FLOPs performed for one sequence of `n` tokens through the encoder (GEMMs and attention
    /// products). With `firstTokenOnly` the last layer's attention output and feed-forward
    /// run over the `[CLS]` row alone, as they do for the classification head.
    public static func flops(config c: ModelConfig, tokens n: Int, firstTokenOnly: Bool = false) -> Double {
        let (d, f, l) = (Double(c.hidden), Double(c.ffn), Double(c.layers))
        let s = Double(n)
        let layer = 2 * s * (4 * d * d + 2 * d * f) + 4 * s * s * d
        guard firstTokenOnly, c.layers > 0 else { return l * layer }
        let last = 2 * s * 3 * d * d + 4 * s * s * d + 2 * (d * d + 2 * d * f)
        return (l - 1) * layer + last
    }

    /// Runs `workload` on `backend` after one warm-up batch.
    public func run(_ workload: Workload, on backend: any ComputeBackend) throws -> Result {
        let model = try EncoderModel(checkpoint: checkpoint, backend: backend)
        let timer = StageTimer()
        var batches: [TokenBatch] = []
        var tokenizeSeconds = 0.0
        switch workload {
        case .fixed(let b, let s, let count):
            var state: UInt64 = 42
            let vocab = checkpoint.config.vocabSize
            let ids: [[Int]] = (0..<b).map { _ in
                [tokenizer.clsId] + (0..<max(s - 2, 0)).map { _ in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    return 1000 + Int((state >> 33) % UInt64(max(vocab - 1000, 1)))
                } + [tokenizer.sepId]
            }
            let batch = TokenBatch(paddedIds: ids, attentionMask: ids.map { $0.map { _ in 1 } })
            batches = Array(repeating: batch, count: count)
        case .texts(let texts, let b, let maxLength):
            let t0 = DispatchTime.now().uptimeNanoseconds
            let encodings = texts.map { tokenizer.encode($0, maxLength: maxLength) }
            let order = encodings.indices.sorted { encodings[$0].count < encodings[$1].count }
            for start in stride(from: 0, to: order.count, by: b) {
                batches.append(TokenBatch(order[start..<min(start + b, order.count)].map { encodings[$0] }))
            }
            tokenizeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        guard let first = batches.first else { throw ModelError.emptyBatch }

        let classifies = checkpoint.heads.classifier != nil && checkpoint.config.task == .sequenceClassification
        func runHead(_ batch: TokenBatch) throws -> [Float] {
            if classifies { return try model.classificationLogits(batch)[0] }
            return try model.embeddings(batch, pooling: .mean, normalize: true)[0]
        }
        let firstOutput = try runHead(first)   // warm-up: kernels, workspace
        model.timer = timer
        timer.reset()
        var latencies: [Double] = []
        var sequences = 0, tokens = 0, flops = 0.0
        let start = DispatchTime.now().uptimeNanoseconds
        for batch in batches {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try runHead(batch)
            timer.mark("head+download")
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            sequences += batch.batch
            tokens += batch.lengths.reduce(0, +)
            flops += batch.lengths.reduce(0.0) {
                $0 + Self.flops(config: checkpoint.config, tokens: $1, firstTokenOnly: classifies)
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 + tokenizeSeconds
        var stages = timer.seconds
        stages["tokenize"] = tokenizeSeconds
        latencies.sort()
        // Where the device time goes, from profiling events over one more pass (not timed above).
        var kernels: [String: Double]? = nil
        if let cl = backend as? OpenCLBackend {
            model.timer = nil
            var sums: [String: Double] = [:]
            let events = try cl.profile { for batch in batches { _ = try runHead(batch) } }
            for e in events { sums[e.kernel, default: 0] += Double(e.nanoseconds) / 1e6 }
            kernels = sums
        }
        return Result(backend: backend.name, sequences: sequences, tokens: tokens, seconds: seconds,
                      sequencesPerSecond: Double(sequences) / seconds, tokensPerSecond: Double(tokens) / seconds,
                      gflops: flops / seconds / 1e9,
                      batchLatencyP50Milliseconds: latencies[latencies.count / 2],
                      batchLatencyP95Milliseconds: latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.95))],
                      stages: stages, firstOutput: firstOutput, kernelMilliseconds: kernels)
    }

    /// Peak resident memory of this process so far, in bytes.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024
        #else
        getrusage(RUSAGE_SELF, &usage)
        return usage.ru_maxrss
        #endif
    }
}
