import Foundation

/// A Hugging Face BERT or DistilBERT checkpoint folder loaded into float32 host memory.
///
/// Reads `config.json` and `model.safetensors`, normalises key names (drops the `distilbert.` /
/// `bert.` prefix, accepts LayerNorm `gamma`/`beta`, maps BERT `cls.predictions.*` onto the MLM
/// head), checks that every tensor the config implies is present with the right shape, fuses
/// Q/K/V, ties a missing `vocab_projector.weight` to the word embeddings, and widens F16/BF16 to
/// float32. Buffers and tensors it does not need (`embeddings.position_ids`, NSP heads, …) are
/// listed in `unusedTensors`. The safetensors mapping is released when loading returns.
public struct Checkpoint: Sendable {
    /// The folder the checkpoint was read from (`vocab.txt` and the tokenizer config live here too).
    public var directory: URL
    public var config: ModelConfig
    public var encoder: EncoderWeights
    public var heads: HeadWeights
    /// Storage type of the word embeddings in the file (F32, F16 or BF16), before widening.
    public var storedDType: SafeTensorsDType
    /// File keys that were not loaded, sorted (e.g. `embeddings.position_ids`).
    public var unusedTensors: [String]

    /// Loads `directory/config.json` and `directory/model.safetensors`.
    public init(directory: URL) throws {
        let config = try ModelConfig(contentsOf: directory.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        try self.init(config: config, weights: file, directory: directory)
    }

    /// Loads the tensors of `weights` that `config` describes.
    public init(config: ModelConfig, weights: SafeTensorsFile, directory: URL? = nil) throws {
        var source = try TensorSource(file: weights)
        let encoder = try source.encoder(config)
        let heads = try source.heads(config, wordEmbeddings: encoder.wordEmbeddings)
        self.directory = directory ?? URL(fileURLWithPath: weights.path).deletingLastPathComponent()
        self.config = config
        self.encoder = encoder
        self.heads = heads
        self.storedDType = source.wordEmbeddingDType
        self.unusedTensors = source.unused
    }
}

// MARK: - Key normalisation and checked reads

/// Tensors of one safetensors file under normalised names, with shape-checked float32 reads.
struct TensorSource {
    /// Prefixes that wrap the encoder in task models; removed from every key that has one.
    static let modelPrefixes = ["distilbert.", "bert."]

    let file: SafeTensorsFile
    /// Normalised name → name in the file.
    private var original: [String: String] = [:]
    /// File names that were read.
    private var used: Set<String> = []
    /// Prefix the file puts before encoder keys, used to name missing tensors as the file would.
    private var encoderPrefix = ""
    private(set) var wordEmbeddingDType: SafeTensorsDType = .f32

    init(file: SafeTensorsFile) throws {
        self.file = file
        for name in file.names {
            var normal = name
            for prefix in Self.modelPrefixes where name.hasPrefix(prefix) {
                normal = String(name.dropFirst(prefix.count))
                encoderPrefix = prefix
                break
            }
            if let other = original[normal] {
                throw CheckpointError.duplicateTensor(file: file.path, tensor: other, other: name)
            }
            original[normal] = name
        }
    }

    /// File keys never read, sorted.
    var unused: [String] { file.names.filter { !used.contains($0) } }

    func has(_ key: String) -> Bool { original[key] != nil }

    /// Reads normalised `key`, checking its shape; `missingName` is how an absent key is reported.
    mutating func tensor(_ key: String, _ shape: [Int], missingName: String? = nil) throws -> WeightTensor {
        guard let name = original[key] else {
            throw CheckpointError.tensorNotFound(file: file.path, tensor: missingName ?? key)
        }
        let entry = try file.entry(name)
        guard entry.shape == shape else {
            throw CheckpointError.shapeMismatch(file: file.path, tensor: name, expected: shape, actual: entry.shape)
        }
        let values = try file.floats(of: entry)
        used.insert(name)
        return WeightTensor(shape: shape, values: values)
    }

    /// The first of `candidates` present, or the first one (so that the error names it).
    private func pick(_ candidates: [String]) -> String {
        candidates.first(where: has) ?? candidates[0]
    }

    /// An encoder tensor; a missing one is reported with the file's model prefix.
    mutating func encoderTensor(_ key: String, _ shape: [Int]) throws -> WeightTensor {
        try tensor(key, shape, missingName: encoderPrefix + key)
    }

    /// `prefix.weight` `[out, in]` and `prefix.bias` `[out]`.
    mutating func linear(_ prefix: String, out: Int, in inFeatures: Int, encoder: Bool = false) throws -> LinearWeights {
        let missingPrefix = encoder ? encoderPrefix : ""
        return LinearWeights(
            weight: try tensor(prefix + ".weight", [out, inFeatures], missingName: missingPrefix + prefix + ".weight"),
            bias: try tensor(prefix + ".bias", [out], missingName: missingPrefix + prefix + ".bias"))
    }

    /// `prefix.weight`/`prefix.bias`, or `prefix.gamma`/`prefix.beta`, both `[dim]`.
    mutating func layerNorm(_ prefix: String, dim: Int, encoder: Bool = false) throws -> LayerNormWeights {
        let missingPrefix = encoder ? encoderPrefix : ""
        let gammaKey = pick([prefix + ".weight", prefix + ".gamma"])
        let betaKey = pick([prefix + ".bias", prefix + ".beta"])
        return LayerNormWeights(gamma: try tensor(gammaKey, [dim], missingName: missingPrefix + gammaKey),
                                beta: try tensor(betaKey, [dim], missingName: missingPrefix + betaKey))
    }

    // MARK: - Encoder

    mutating func encoder(_ config: ModelConfig) throws -> EncoderWeights {
        let h = config.hidden
        let words = try encoderTensor("embeddings.word_embeddings.weight", [config.vocabSize, h])
        wordEmbeddingDType = original["embeddings.word_embeddings.weight"].flatMap { file.entries[$0]?.dtype } ?? .f32
        let positions = try encoderTensor("embeddings.position_embeddings.weight", [config.maxPositions, h])
        let types = config.modelType == .bert
            ? try encoderTensor("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h]) : nil
        let norm = try layerNorm("embeddings.LayerNorm", dim: h, encoder: true)
        var layers: [LayerWeights] = []
        for index in 0..<config.layers {
            layers.append(config.modelType == .bert ? try bertLayer(index, config) : try distilBertLayer(index, config))
        }
        return EncoderWeights(wordEmbeddings: words, positionEmbeddings: positions, tokenTypeEmbeddings: types,
                              embeddingNorm: norm, layers: layers)
    }

    private mutating func distilBertLayer(_ index: Int, _ config: ModelConfig) throws -> LayerWeights {
        let p = "transformer.layer.\(index)."
        let h = config.hidden, f = config.ffn
        return LayerWeights(
            qkv: try fusedQKV(["q_lin", "k_lin", "v_lin"].map { p + "attention." + $0 }, hidden: h),
            attentionOutput: try linear(p + "attention.out_lin", out: h, in: h, encoder: true),
            attentionNorm: try layerNorm(p + "sa_layer_norm", dim: h, encoder: true),
            ffnIn: try linear(p + "ffn.lin1", out: f, in: h, encoder: true),
            ffnOut: try linear(p + "ffn.lin2", out: h, in: f, encoder: true),
            outputNorm: try layerNorm(p + "output_layer_norm", dim: h, encoder: true))
    }

    private mutating func bertLayer(_ index: Int, _ config: ModelConfig) throws -> LayerWeights {
        let p = "encoder.layer.\(index)."
        let h = config.hidden, f = config.ffn
        return LayerWeights(
            qkv: try fusedQKV(["query", "key", "value"].map { p + "attention.self." + $0 }, hidden: h),
            attentionOutput: try linear(p + "attention.output.dense", out: h, in: h, encoder: true),
            attentionNorm: try layerNorm(p + "attention.output.LayerNorm", dim: h, encoder: true),
            ffnIn: try linear(p + "intermediate.dense", out: f, in: h, encoder: true),
            ffnOut: try linear(p + "output.dense", out: h, in: f, encoder: true),
            outputNorm: try layerNorm(p + "output.LayerNorm", dim: h, encoder: true))
    }

    /// Q, K, V (`[H, H]` + `[H]` each) stacked into `[3H, H]` + `[3H]`, in that order.
    private mutating func fusedQKV(_ prefixes: [String], hidden h: Int) throws -> LinearWeights {
        var parts: [LinearWeights] = []
        for prefix in prefixes { parts.append(try linear(prefix, out: h, in: h, encoder: true)) }
        return LinearWeights(weight: .concatenatingRows(parts.map(\.weight)),
                             bias: .concatenatingRows(parts.map(\.bias)))
    }

    // MARK: - Heads

    /// The first prefix with any of `suffixes` present, or the first prefix (so that errors name it).
    private func pickPrefix(_ prefixes: [String], _ suffixes: [String] = [".weight"]) -> String {
        prefixes.first { prefix in suffixes.contains { has(prefix + $0) } } ?? prefixes[0]
    }

    /// A linear head under the first present prefix; `nil` when absent and not `required`.
    private mutating func head(_ prefixes: [String], out: Int, in inFeatures: Int, required: Bool,
                               encoder: Bool = false) throws -> LinearWeights? {
        let prefix = pickPrefix(prefixes)
        guard required || has(prefix + ".weight") || has(prefix + ".bias") else { return nil }
        return try linear(prefix, out: out, in: inFeatures, encoder: encoder)
    }

    /// Loads every head present, then checks that the ones `config.task` needs are there.
    mutating func heads(_ config: ModelConfig, wordEmbeddings: WeightTensor) throws -> HeadWeights {
        let h = config.hidden, v = config.vocabSize
        let task = config.task, bert = config.modelType == .bert, mlm = task == .maskedLM
        var heads = HeadWeights()
        // The pooler belongs to BertModel, so a missing one is named with the `bert.` prefix.
        heads.pooler = try head(["pooler.dense"], out: h, in: h, required: task == .sequenceClassification && bert,
                                encoder: true)
        heads.preClassifier = try head(["pre_classifier"], out: h, in: h,
                                       required: task == .sequenceClassification && !bert)
        heads.classifier = try head(["classifier"], out: config.labels.count, in: h,
                                    required: task == .sequenceClassification || task == .tokenClassification)
        heads.qaOutputs = try head(["qa_outputs"], out: 2, in: h, required: task == .questionAnswering)

        // MLM: DistilBERT names first for DistilBERT, BERT's `cls.predictions.*` first for BERT.
        func order(_ names: [String]) -> [String] { bert ? names.reversed() : names }
        heads.vocabTransform = try head(order(["vocab_transform", "cls.predictions.transform.dense"]),
                                        out: h, in: h, required: mlm)
        let normPrefix = pickPrefix(order(["vocab_layer_norm", "cls.predictions.transform.LayerNorm"]),
                                    [".weight", ".gamma", ".bias", ".beta"])
        if mlm || has(normPrefix + ".weight") || has(normPrefix + ".gamma") {
            heads.vocabLayerNorm = try layerNorm(normPrefix, dim: h)
        }
        let weightKey = order(["vocab_projector.weight", "cls.predictions.decoder.weight"]).first(where: has)
        let biasKeys = bert ? ["cls.predictions.bias", "cls.predictions.decoder.bias", "vocab_projector.bias"]
                            : ["vocab_projector.bias", "cls.predictions.bias", "cls.predictions.decoder.bias"]
        let biasKey = biasKeys.first(where: has) ?? biasKeys[0]
        if mlm || weightKey != nil || has(biasKey) {
            let bias = try tensor(biasKey, [v])
            if let weightKey {
                let weight = try tensor(weightKey, [v, h])
                heads.vocabProjector = LinearWeights(weight: weight, bias: bias)
                // A file that stores the tied copy too (older save_pretrained): still one tensor.
                heads.vocabProjectorIsTied = weight == wordEmbeddings
            } else {
                // Hugging Face ties the decoder to the input embeddings and omits it from the file.
                heads.vocabProjector = LinearWeights(weight: wordEmbeddings, bias: bias)
                heads.vocabProjectorIsTied = true
            }
        }
        return heads
    }
}
