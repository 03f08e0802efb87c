/// One trainable tensor of a model on the device, under the key names transformers gives it.
public struct ModelParameter {
    /// The tensor's keys in a `*ForSequenceClassification` checkpoint. The fused Q, K, V
    /// projection lists three: its rows split into three equal blocks, in that order.
    public let names: [String]
    /// The buffer's shape (the fused projection: `[3H, H]` or `[3H]`).
    public let shape: [Int]
    public let value: any DeviceBuffer
    /// The linear layer whose packed layout must be rebuilt after `value` changes.
    let owner: (any DeviceLinear)?
    /// transformers' Trainer decays every parameter but biases and LayerNorm weights.
    public let decays: Bool

    public var count: Int { shape.reduce(1, *) }

    /// Each saved key with its shape and the range of `value` it covers.
    public var parts: [(name: String, shape: [Int], range: Range<Int>)] {
        let per = count / names.count
        return names.enumerated().map { i, name in
            (name, [shape[0] / names.count] + shape.dropFirst(), (i * per)..<((i + 1) * per))
        }
    }
}

extension EncoderModel {
    /// Every trainable parameter, in the order of transformers' `named_parameters()`: the
    /// encoder (prefixed `bert.` or `distilbert.`), then the classification or QA head. DistilBERT's
    /// sinusoidal position table is fixed, as in transformers.
    func trainableParameters() throws -> [ModelParameter] {
        guard trainable else { throw TrainingError.backendCannotTrain("a model loaded for inference (trainable: false)") }
        let c = config, bert = c.modelType == .bert
        let prefix = bert ? "bert." : "distilbert."
        var list: [ModelParameter] = []
        func tensor(_ name: String, _ shape: [Int], _ value: any DeviceBuffer, decays: Bool = true) {
            list.append(ModelParameter(names: [name], shape: shape, value: value, owner: nil, decays: decays))
        }
        func linear(_ names: [String], _ l: any DeviceLinear) throws {
            list.append(ModelParameter(names: names.map { $0 + ".weight" }, shape: [l.outFeatures, l.inFeatures],
                                       value: try l.trainableWeight(), owner: l, decays: true))
            if let bias = l.bias {
                list.append(ModelParameter(names: names.map { $0 + ".bias" }, shape: [l.outFeatures], value: bias,
                                           owner: l, decays: false))
            }
        }
        func norm(_ name: String, _ n: DeviceNorm) {
            tensor(name + ".weight", [c.hidden], n.gamma, decays: false)
            tensor(name + ".bias", [c.hidden], n.beta, decays: false)
        }
        let d = c.hidden
        // A decoder tied to the table owns it: the table's update rebuilds the decoder's layout.
        let tied = heads.vocabProjector.flatMap { $0.weight === embeddings.word ? $0 : nil }
        list.append(ModelParameter(names: [prefix + "embeddings.word_embeddings.weight"], shape: [c.vocabSize, d],
                                   value: embeddings.word, owner: tied, decays: true))
        if !c.sinusoidalPositions {
            tensor(prefix + "embeddings.position_embeddings.weight", [c.maxPositions, d], embeddings.position)
        }
        if let types = embeddings.tokenType {
            tensor(prefix + "embeddings.token_type_embeddings.weight", [c.typeVocabSize, d], types)
        }
        norm(prefix + "embeddings.LayerNorm", embeddingNorm)
        for (i, layer) in layers.enumerated() {
            if bert {
                let p = prefix + "encoder.layer.\(i)."
                try linear(["query", "key", "value"].map { p + "attention.self." + $0 }, layer.qkv)
                try linear([p + "attention.output.dense"], layer.attentionOutput)
                norm(p + "attention.output.LayerNorm", layer.attentionNorm)
                try linear([p + "intermediate.dense"], layer.ffnIn)
                try linear([p + "output.dense"], layer.ffnOut)
                norm(p + "output.LayerNorm", layer.outputNorm)
            } else {
                let p = prefix + "transformer.layer.\(i)."
                try linear(["q_lin", "k_lin", "v_lin"].map { p + "attention." + $0 }, layer.qkv)
                try linear([p + "attention.out_lin"], layer.attentionOutput)
                norm(p + "sa_layer_norm", layer.attentionNorm)
                try linear([p + "ffn.lin1"], layer.ffnIn)
                try linear([p + "ffn.lin2"], layer.ffnOut)
                norm(p + "output_layer_norm", layer.outputNorm)
            }
        }
        if let pooler = heads.pooler { try linear([prefix + "pooler.dense"], pooler) }
        if let pre = heads.preClassifier { try linear(["pre_classifier"], pre) }
        if let classifier = heads.classifier { try linear(["classifier"], classifier) }
        if let qa = heads.qaOutputs { try linear(["qa_outputs"], qa) }
        if let transform = heads.vocabTransform, let vocabNorm = heads.vocabNorm, let projector = heads.vocabProjector {
            // The masked-LM head; a tied decoder's weight is the word embeddings (listed once,
            // as named_parameters() lists it), its bias BERT's `cls.predictions.bias`.
            try linear([bert ? "cls.predictions.transform.dense" : "vocab_transform"], transform)
            norm(bert ? "cls.predictions.transform.LayerNorm" : "vocab_layer_norm", vocabNorm)
            if tied == nil {
                list.append(ModelParameter(names: [bert ? "cls.predictions.decoder.weight" : "vocab_projector.weight"],
                                           shape: [projector.outFeatures, d], value: try projector.trainableWeight(),
                                           owner: projector, decays: true))
            }
            if let bias = projector.bias {
                list.append(ModelParameter(names: [bert ? "cls.predictions.bias" : "vocab_projector.bias"],
                                           shape: [projector.outFeatures], value: bias, owner: projector, decays: false))
            }
        }
        return list
    }
}

/// A gradient buffer beside every parameter, found by the parameter's buffer.
final class GradientTable {
    let parameters: [ModelParameter]
    let gradients: [any DeviceBuffer]
    private let index: [ObjectIdentifier: Int]
    /// Called by `backwardEncoder` as the gradients become final: with the layer count before
    /// the encoder's backward (the head's are done), then with `i` after layer `i`'s. A
    /// data-parallel step sets it for the process's last micro-batch (`GradientReducer`).
    var layerDone: ((Int) throws -> Void)?

    /// Per parameter: whether it is the frozen encoder's (`--freeze-encoder`), kept out of
    /// the optimiser and the clipping norm.
    let frozen: [Bool]
    /// Whether the encoder is frozen: `backwardEncoder` stops at the last hidden state.
    var freezesEncoder: Bool { frozen.contains(true) }

    /// - Parameter freezeEncoder: freeze the encoder's parameters (transformers' names under
    ///   `bert.` or `distilbert.`: the embeddings, the layers, BERT's pooler).
    init(_ parameters: [ModelParameter], backend: any ComputeBackend, freezeEncoder: Bool = false) throws {
        self.parameters = parameters
        frozen = parameters.map { p in
            freezeEncoder && (p.names[0].hasPrefix("bert.") || p.names[0].hasPrefix("distilbert."))
        }
        gradients = try parameters.map { try backend.makeBuffer(count: $0.count) }
        index = Dictionary(uniqueKeysWithValues: parameters.enumerated().map { (ObjectIdentifier($1.value), $0) })
    }

    /// The gradient of `value`.
    subscript(_ value: any DeviceBuffer) -> any DeviceBuffer {
        guard let i = index[ObjectIdentifier(value)] else { preconditionFailure("no gradient for a buffer") }
        return gradients[i]
    }

    /// The slot (index in `parameters` and `gradients`) of `value`, nil when it is not a parameter.
    func slot(of value: any DeviceBuffer) -> Int? { index[ObjectIdentifier(value)] }


    func zero(on backend: any TrainingBackend) throws {
        for (p, g) in zip(parameters, gradients) { try backend.fill(g, value: 0, count: p.count) }
    }
}
