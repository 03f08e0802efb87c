import Foundation

/// `distilcl parity`: the same inputs through the CPU path at fp32 and another backend (an
/// OpenCL device, or the CPU path at bf16 or int8), compared stage by stage (embeddings, each
/// layer, the head's output): the drift of a reduced precision shows layer by layer.
public struct ParityCheck {
    /// Tolerances the report is judged by (printed with it).
    public struct Tolerance: Sendable, Codable {
        /// Max |device − CPU| allowed, relative to max(1, max |CPU|) of the stage; nil: reported only.
        public var relativeToScale: Double? = 1e-4
        /// Minimum cosine between the flattened outputs of a stage.
        public var cosine: Double = 0.99999
        /// Whether every prediction must agree for the check to pass.
        public var requireAgreement = true
        public init() {}

        /// What a backend at `precision` is held to: fp32 to float32 noise in every value;
        /// bf16 and int8 by the cosine of each stage to fp32 (0.999 and 0.99: the embedding
        /// targets of reduced precision), the largest difference and the predictions reported
        /// but not judged (a single value moves by several rounding steps of its row, and a
        /// random tiny checkpoint has near-ties that any rounding flips).
        public static func `for`(_ precision: Precision) -> Tolerance {
            var t = Tolerance()
            switch precision {
            case .fp32: break
            case .bf16: (t.relativeToScale, t.cosine, t.requireAgreement) = (nil, 0.999, false)
            case .int8: (t.relativeToScale, t.cosine, t.requireAgreement) = (nil, 0.99, false)
            }
            return t
        }
    }

    /// One compared stage.
    public struct Stage: Sendable, Codable {
        public var name: String
        public var maxAbsDiff: Double
        public var maxRelDiff: Double
        public var cosine: Double
        public var scale: Double
        public var withinTolerance: Bool
    }

    public struct Report: Sendable, Codable {
        public var model: String
        public var device: String
        public var inputs: Int
        public var tolerance: Tolerance
        public var stages: [Stage]
        /// The first stage outside tolerance, if any.
        public var firstFailure: String?
        /// Predictions (labels, token labels, answer starts/ends, or masked tokens) that agree.
        public var agreeing: Int
        public var predictions: Int
        public var passed: Bool { firstFailure == nil && (agreeing == predictions || !tolerance.requireAgreement) }
    }

    /// A varied built-in set: empty, short, long (truncated), accents, CJK, punctuation, [MASK].
    public static let builtInInputs: [String] = [
        "", "Great!", "The film was a complete waste of two hours.",
        "A beautifully acted, quietly devastating portrait of a marriage falling apart.",
        "naïve café résumé — Crème Brûlée à la française", "東京の映画は素晴らしい。", "I [MASK] this movie so much.",
        "Paris is the capital of [MASK].", "Barack Obama visited Paris with Angela Merkel in 2015.",
        String(repeating: "an overlong sentence that keeps going and going, ", count: 60),
        "What? Really?! ... I can't believe it -- wow.", "ok",
    ]

    public let directory: URL
    public let device: any ComputeBackend
    public var tolerance = Tolerance()
    public var batchSize = 8

    public init(directory: URL, device: any ComputeBackend) {
        self.directory = directory
        self.device = device
    }

    /// Runs `texts` (tab-separated pairs allowed: "text\tpair") on both backends.
    public func run(texts: [String]) throws -> Report {
        let checkpoint = try Checkpoint(directory: directory)
        let tokenizer = try BertTokenizer(modelDirectory: directory)
        let cpuModel = try EncoderModel(checkpoint: checkpoint, backend: CPUBackend())
        let devModel = try EncoderModel(checkpoint: checkpoint, backend: device)
        let maxLength = min(checkpoint.config.maxPositions, tokenizer.modelMaxLength ?? .max, 512)
        let encodings = texts.map { text -> Encoding in
            let parts = text.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return tokenizer.encode(parts[0], pair: parts.count > 1 ? parts[1] : nil, maxLength: maxLength)
        }

        var accumulators: [String: Accumulator] = [:]
        var order: [String] = []
        func add(_ name: String, _ cpu: [Float], _ dev: [Float]) {
            if accumulators[name] == nil { accumulators[name] = Accumulator(); order.append(name) }
            accumulators[name]!.add(cpu, dev)
        }
        var agreeing = 0, predictions = 0
        func agree(_ cpu: [Float], _ dev: [Float]) {
            predictions += 1
            if argmax(cpu) == argmax(dev) { agreeing += 1 }
        }

        for start in stride(from: 0, to: encodings.count, by: batchSize) {
            let batch = TokenBatch(Array(encodings[start..<min(start + batchSize, encodings.count)]))
            let (a, b) = (try cpuModel.allHiddenStates(batch), try devModel.allHiddenStates(batch))
            for (i, (x, y)) in zip(a, b).enumerated() {
                add(i == 0 ? "embeddings" : "layer \(i)", x, y)
            }
            switch checkpoint.config.task {
            case .sequenceClassification:
                let (x, y) = (try cpuModel.classificationLogits(batch), try devModel.classificationLogits(batch))
                add("classifier logits", x.flatMap { $0 }, y.flatMap { $0 })
                for (p, q) in zip(x, y) { agree(p, q) }
            case .tokenClassification, .questionAnswering:
                let head: TokenHead = checkpoint.config.task == .questionAnswering ? .questionAnswering : .tokenClassification
                let (x, y) = (try cpuModel.tokenLogits(batch, head: head), try devModel.tokenLogits(batch, head: head))
                add("\(head.rawValue) logits", x.flatMap { $0.flatMap { $0 } }, y.flatMap { $0.flatMap { $0 } })
                for (row, n) in batch.lengths.enumerated() {
                    if head == .questionAnswering {
                        agree(x[row].prefix(n).map { $0[0] }, y[row].prefix(n).map { $0[0] })
                        agree(x[row].prefix(n).map { $0[1] }, y[row].prefix(n).map { $0[1] })
                    } else {
                        for t in 0..<n { agree(x[row][t], y[row][t]) }
                    }
                }
            case .maskedLM:
                // Every [MASK], else each text's first token.
                var at: [(row: Int, position: Int)] = []
                for row in 0..<batch.batch {
                    let masks = (0..<batch.lengths[row]).filter { batch.ids[batch.offsets[row] + $0] == Int32(tokenizer.maskId) }
                    at += (masks.isEmpty ? [min(1, batch.lengths[row] - 1)] : masks).map { (row: row, position: $0) }
                }
                let (x, y) = (try cpuModel.maskedLMLogits(batch, at: at), try devModel.maskedLMLogits(batch, at: at))
                add("masked LM logits", x.flatMap { $0 }, y.flatMap { $0 })
                for (p, q) in zip(x, y) { agree(p, q) }
            case .encoder, .other:
                let (x, y) = (try cpuModel.embeddings(batch, pooling: .mean, normalize: true),
                              try devModel.embeddings(batch, pooling: .mean, normalize: true))
                add("mean-pooled embeddings", x.flatMap { $0 }, y.flatMap { $0 })
                for (p, q) in zip(x, y) {
                    predictions += 1
                    if cosineSimilarity(p, q) >= tolerance.cosine { agreeing += 1 }
                }
            }
        }

        let stages = order.compactMap { name in accumulators[name].map { $0.stage(name, tolerance) } }
        return Report(model: directory.path, device: device.name, inputs: texts.count, tolerance: tolerance,
                      stages: stages, firstFailure: stages.first { !$0.withinTolerance }?.name,
                      agreeing: agreeing, predictions: predictions)
    }
}

/// Running comparison of one stage over every batch.
private struct Accumulator {
    var maxAbs = 0.0, maxRel = 0.0, scale = 0.0, dot = 0.0, nx = 0.0, ny = 0.0

    mutating func add(_ x: [Float], _ y: [Float]) {
        for (a, b) in zip(x, y) {
            let (da, db) = (Double(a), Double(b))
            let d = abs(da - db)
            maxAbs = max(maxAbs, d.isNaN ? .infinity : d)
            maxRel = max(maxRel, d / max(abs(da), 1e-6))
            scale = max(scale, abs(da))
            dot += da * db; nx += da * da; ny += db * db
        }
        if x.count != y.count { maxAbs = .infinity }
    }

    func stage(_ name: String, _ t: ParityCheck.Tolerance) -> ParityCheck.Stage {
        let cos = nx == 0 && ny == 0 ? 1 : dot / max((nx * ny).squareRoot(), .leastNormalMagnitude)
        let ok = maxAbs <= (t.relativeToScale ?? .infinity) * max(1, scale) && cos >= t.cosine && !maxAbs.isNaN
        return ParityCheck.Stage(name: name, maxAbsDiff: maxAbs, maxRelDiff: maxRel, cosine: cos, scale: scale,
                                 withinTolerance: ok)
    }
}

private func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? -1 }

private func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x * x); nb += Double(y * y) }
    return na == 0 && nb == 0 ? 1 : dot / max((na * nb).squareRoot(), .leastNormalMagnitude)
}
