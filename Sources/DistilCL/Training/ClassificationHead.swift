import Foundation

extension Checkpoint {
    /// This checkpoint as a `*ForSequenceClassification` over `labels`, as transformers'
    /// `from_pretrained` makes one: a sequence-classification checkpoint keeps its head (its
    /// label count must match); any other encoder gets a new head, initialised N(0,
    /// `initializer_range`) with zero biases from `seed`: BERT the pooler (kept from the
    /// checkpoint when present) then `classifier`, DistilBERT `pre_classifier` then
    /// `classifier`. Other heads (QA, masked LM) are dropped; a token-classification checkpoint
    /// is refused, its `classifier` being per-token. `newHead` gives a sequence-classification
    /// checkpoint a fresh head too (`--new-head`: other labels than its own). `problem` goes to
    /// the config (`problem_type`); regression's head has one label, the others at least two.
    public func forSequenceClassification(labels: [String], seed: UInt64, newHead: Bool = false,
                                          problem: ProblemType = .singleLabel) throws -> Checkpoint {
        guard labels.count >= (problem == .regression ? 1 : 2) else {
            throw TrainingError.headMismatch("a classification head needs at least 2 labels, got \(labels.count)")
        }
        var out = self
        let h = config.hidden, arch = config.modelType == .bert ? "BertForSequenceClassification"
                                                                : "DistilBertForSequenceClassification"
        switch config.task {
        case .sequenceClassification where !newHead:
            let have = heads.classifier?.outFeatures ?? 0
            guard have == labels.count else {
                throw TrainingError.headMismatch("""
                    \(directory.path) classifies into \(have) labels (\(config.labels.joined(separator: ", "))) \
                    but the data has \(labels.count) (\(labels.joined(separator: ", "))); \
                    pass --new-head for a fresh head over these labels
                    """)
            }
        case .tokenClassification:
            throw TrainingError.headMismatch("""
                \(directory.path) is a token-classification model (\(config.architectures.first ?? "")); \
                its classifier labels tokens, not texts: it cannot take a sequence-classification head
                """)
        default:
            var rng = NormalSampler(seed: seed)
            func fresh(_ out: Int, _ inFeatures: Int) -> LinearWeights {
                LinearWeights(weight: WeightTensor(shape: [out, inFeatures],
                                                   values: rng.samples(out * inFeatures, std: config.initializerRange)),
                              bias: WeightTensor(shape: [out], values: [Float](repeating: 0, count: out)))
            }
            var newHeads = HeadWeights()
            if config.modelType == .bert {
                newHeads.pooler = heads.pooler ?? fresh(h, h)
            } else {
                newHeads.preClassifier = fresh(h, h)
            }
            newHeads.classifier = fresh(labels.count, h)
            out.heads = newHeads
        }
        out.config.architectures = [arch]
        out.config.labels = labels
        out.config.problemType = problem
        return out
    }
}

/// Seeded normal samples (SplitMix64 and the Box–Muller transform).
struct NormalSampler {
    private var state: UInt64

    init(seed: UInt64) { state = seed ^ 0x5DEE_CE66_D1CE_5EED }

    private mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (Double(z >> 11) + 0.5) / Double(1 << 53)   // in (0, 1)
    }

    mutating func samples(_ count: Int, std: Float) -> [Float] {
        (0..<count).map { _ in
            let r = (-2 * log(uniform())).squareRoot(), theta = 2 * Double.pi * uniform()
            return Float(r * cos(theta)) * std
        }
    }
}
