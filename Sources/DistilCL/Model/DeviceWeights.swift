/// The checkpoint's weights uploaded once to a backend, where they stay for the model's life.

/// A LayerNorm's `gamma` and `beta`, each `[dim]`, on the device.
struct DeviceNorm {
    let gamma: any DeviceBuffer
    let beta: any DeviceBuffer

    init(_ w: LayerNormWeights, on backend: any ComputeBackend) throws {
        gamma = try backend.buffer(w.gamma.values)
        beta = try backend.buffer(w.beta.values)
    }
}

/// One transformer block on the device: fused QKV `[3·dim, dim]`, attention output
/// `[dim, dim]`, FFN `[ffn, dim]` and `[dim, ffn]`, two LayerNorms.
struct DeviceLayer {
    let qkv: any DeviceLinear
    let attentionOutput: any DeviceLinear
    let attentionNorm: DeviceNorm
    let ffnIn: any DeviceLinear
    let ffnOut: any DeviceLinear
    let outputNorm: DeviceNorm

    init(_ w: LayerWeights, on b: any ComputeBackend, trainable: Bool) throws {
        qkv = try b.linear(w.qkv, role: .attentionQKV, trainable: trainable)
        attentionOutput = try b.linear(w.attentionOutput, trainable: trainable)
        attentionNorm = try DeviceNorm(w.attentionNorm, on: b)
        ffnIn = try b.linear(w.ffnIn, trainable: trainable)
        ffnOut = try b.linear(w.ffnOut, trainable: trainable)
        outputNorm = try DeviceNorm(w.outputNorm, on: b)
    }
}

/// The task heads present in the checkpoint, on the device.
struct DeviceHeads {
    var pooler: (any DeviceLinear)?
    var preClassifier: (any DeviceLinear)?
    var classifier: (any DeviceLinear)?
    var qaOutputs: (any DeviceLinear)?
    var vocabTransform: (any DeviceLinear)?
    var vocabNorm: DeviceNorm?
    var vocabProjector: (any DeviceLinear)?

    /// Uploads `w`; a trainable masked-LM decoder tied to the word embeddings
    /// (`vocabProjectorIsTied`) reads `wordEmbeddings` `[vocab, dim]` itself, so the table's
    /// update is the decoder's and its gradient lands in the table's.
    init(_ w: HeadWeights, on b: any ComputeBackend, trainable: Bool, wordEmbeddings: any DeviceBuffer) throws {
        pooler = try w.pooler.map { try b.linear($0, trainable: trainable) }
        preClassifier = try w.preClassifier.map { try b.linear($0, trainable: trainable) }
        classifier = try w.classifier.map { try b.linear($0, trainable: trainable) }
        qaOutputs = try w.qaOutputs.map { try b.linear($0, trainable: trainable) }
        vocabTransform = try w.vocabTransform.map { try b.linear($0, trainable: trainable) }
        vocabNorm = try w.vocabLayerNorm.map { try DeviceNorm($0, on: b) }
        if let p = w.vocabProjector, trainable, w.vocabProjectorIsTied {
            guard let tb = b as? any TrainingBackend else { throw TrainingError.backendCannotTrain(b.name) }
            vocabProjector = try tb.tiedLinear(weight: wordEmbeddings, bias: p.bias.values, outFeatures: p.outFeatures,
                                               inFeatures: p.inFeatures)
        } else {
            vocabProjector = try w.vocabProjector.map { try b.linear($0, trainable: trainable) }
        }
    }
}

extension ComputeBackend {
    /// Uploads a checkpoint linear layer (`[out, in]` weight, `[out]` bias).
    func linear(_ w: LinearWeights, role: LinearRole = .general, trainable: Bool = false) throws -> any DeviceLinear {
        try makeLinear(weight: w.weight.values, bias: w.bias.values, outFeatures: w.outFeatures, inFeatures: w.inFeatures,
                       role: role, trainable: trainable)
    }
}

extension Activation {
    /// The backend activation for a config's `activation` / `hidden_act`.
    init(_ a: ModelConfig.Activation) {
        switch a {
        case .gelu: self = .gelu
        case .geluTanh: self = .geluTanh
        case .relu: self = .relu
        }
    }
}
