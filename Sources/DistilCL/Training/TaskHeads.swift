extension Checkpoint {
    /// This checkpoint as a `*ForTokenClassification` over `labels`, as transformers'
    /// `from_pretrained` makes one: a token-classification checkpoint keeps its `classifier`
    /// (its label count must match) unless `newHead`; any other encoder gets a fresh one,
    /// N(0, `initializer_range`) with zero biases from `seed`. Every other head (a pooler
    /// included: transformers' token classifiers have none) is dropped.
    public func forTokenClassification(labels: [String], seed: UInt64, newHead: Bool = false) throws -> Checkpoint {
        guard labels.count >= 2 else {
            throw TrainingError.headMismatch("a token classifier needs at least 2 labels, got \(labels.count)")
        }
        var out = self
        var kept = HeadWeights()
        if config.task == .tokenClassification, !newHead {
            let have = heads.classifier?.outFeatures ?? 0
            guard have == labels.count, let classifier = heads.classifier else {
                throw TrainingError.headMismatch("""
                    \(directory.path) tags tokens with \(have) labels (\(config.labels.joined(separator: ", "))) \
                    but the data has \(labels.count) (\(labels.joined(separator: ", "))); \
                    pass --new-head for a fresh head over these labels
                    """)
            }
            kept.classifier = classifier
        } else {
            var rng = NormalSampler(seed: seed)
            kept.classifier = freshLinear(labels.count, config.hidden, &rng)
        }
        out.heads = kept
        out.config.architectures = [config.modelType == .bert ? "BertForTokenClassification"
                                                               : "DistilBertForTokenClassification"]
        out.config.labels = labels
        return out
    }

    /// This checkpoint as a `*ForQuestionAnswering`: a QA checkpoint keeps its `qa_outputs`,
    /// any other encoder gets a fresh one (`[2, hidden]`, as `forTokenClassification`).
    public func forQuestionAnswering(seed: UInt64) -> Checkpoint {
        var out = self
        var kept = HeadWeights()
        if config.task == .questionAnswering, let qa = heads.qaOutputs {
            kept.qaOutputs = qa
        } else {
            var rng = NormalSampler(seed: seed)
            kept.qaOutputs = freshLinear(2, config.hidden, &rng)
        }
        out.heads = kept
        out.config.architectures = [config.modelType == .bert ? "BertForQuestionAnswering"
                                                               : "DistilBertForQuestionAnswering"]
        out.config.labels = ["LABEL_0", "LABEL_1"]
        return out
    }

    /// This checkpoint as a `*ForMaskedLM`: a checkpoint with a masked-LM head keeps it, any
    /// other encoder gets transformers' fresh one (`vocab_transform` / BERT's
    /// `cls.predictions.transform.dense` N(0, `initializer_range`), its LayerNorm 1 and 0, the
    /// decoder tied to the word embeddings with a zero bias). Every other head is dropped.
    public func forMaskedLM(seed: UInt64) -> Checkpoint {
        var out = self
        var kept = HeadWeights()
        if let t = heads.vocabTransform, let n = heads.vocabLayerNorm, let p = heads.vocabProjector {
            (kept.vocabTransform, kept.vocabLayerNorm, kept.vocabProjector) = (t, n, p)
            kept.vocabProjectorIsTied = heads.vocabProjectorIsTied
        } else {
            var rng = NormalSampler(seed: seed)
            let d = config.hidden, v = config.vocabSize
            kept.vocabTransform = freshLinear(d, d, &rng)
            kept.vocabLayerNorm = LayerNormWeights(gamma: WeightTensor(shape: [d], values: [Float](repeating: 1, count: d)),
                                                   beta: WeightTensor(shape: [d], values: [Float](repeating: 0, count: d)))
            kept.vocabProjector = LinearWeights(weight: encoder.wordEmbeddings,
                                                bias: WeightTensor(shape: [v], values: [Float](repeating: 0, count: v)))
            kept.vocabProjectorIsTied = true
        }
        out.heads = kept
        out.config.architectures = [config.modelType == .bert ? "BertForMaskedLM" : "DistilBertForMaskedLM"]
        return out
    }

    /// A new linear layer `[out, in]` drawn N(0, initializer_range), biases 0 (transformers'
    /// `_init_weights`).
    func freshLinear(_ out: Int, _ inFeatures: Int, _ rng: inout NormalSampler) -> LinearWeights {
        LinearWeights(weight: WeightTensor(shape: [out, inFeatures],
                                           values: rng.samples(out * inFeatures, std: config.initializerRange)),
                      bias: WeightTensor(shape: [out], values: [Float](repeating: 0, count: out)))
    }
}
