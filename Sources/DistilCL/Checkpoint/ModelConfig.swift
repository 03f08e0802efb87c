import Foundation

/// The architecture hyper-parameters of a Hugging Face BERT or DistilBERT checkpoint, read from its
/// `config.json`.
///
/// Reading is tolerant: unknown keys (dropouts, `transformers_version`, `label2id`, …) are ignored
/// and optional keys take Hugging Face's defaults. The keys that fix tensor shapes are required;
/// a missing one is `CheckpointError.missingConfigKey` naming the key and the file.
///
/// | field            | DistilBERT key (default)            | BERT key (default)              |
/// |------------------|-------------------------------------|---------------------------------|
/// | `hidden`         | `dim` (required)                    | `hidden_size` (required)        |
/// | `heads`          | `n_heads` (required)                | `num_attention_heads` (required)|
/// | `ffn`            | `hidden_dim` (required)             | `intermediate_size` (required)  |
/// | `layers`         | `n_layers` (required)               | `num_hidden_layers` (required)  |
/// | `vocabSize`      | `vocab_size` (required)             | `vocab_size` (required)         |
/// | `maxPositions`   | `max_position_embeddings` (512)     | `max_position_embeddings` (512) |
/// | `typeVocabSize`  | always 0                            | `type_vocab_size` (2)           |
/// | `layerNormEps`   | always 1e-12                        | `layer_norm_eps` (1e-12)        |
/// | `activation`     | `activation` ("gelu")               | `hidden_act` ("gelu")           |
/// | `sinusoidalPositions` | `sinusoidal_pos_embds` (false) | always false                    |
/// | `padTokenId`     | `pad_token_id` (0)                  | `pad_token_id` (0)              |
public struct ModelConfig: Sendable, Equatable {

    // MARK: - Kinds

    /// `model_type` of `config.json`.
    public enum ModelType: String, Sendable, CaseIterable {
        case distilbert
        case bert
    }

    /// Feed-forward (and MLM transform) activation.
    public enum Activation: String, Sendable, CaseIterable {
        /// Exact GELU, `0.5·x·(1 + erf(x/√2))` (`"gelu"`).
        case gelu
        /// Tanh approximation, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
        /// (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`).
        case geluTanh
        /// `max(0, x)` (`"relu"`).
        case relu

        /// Maps a Hugging Face activation name; `nil` for ones not implemented.
        public init?(huggingFaceName name: String) {
            switch name {
            case "gelu": self = .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
            case "relu": self = .relu
            default: return nil
            }
        }
    }

    /// Which head the checkpoint carries, from the first entry of `architectures`.
    public enum Task: String, Sendable, CaseIterable {
        /// `BertModel`, `DistilBertModel`, or no `architectures`: encoder only (BERT may add a pooler).
        case encoder
        /// `…ForSequenceClassification`: DistilBERT `pre_classifier` + `classifier`; BERT `pooler` + `classifier`.
        case sequenceClassification
        /// `…ForTokenClassification`: `classifier` on every token.
        case tokenClassification
        /// `…ForQuestionAnswering`: `qa_outputs` giving start/end logits.
        case questionAnswering
        /// `…ForMaskedLM`: `vocab_transform`, `vocab_layer_norm`, `vocab_projector` (BERT `cls.predictions.*`).
        case maskedLM
        /// Any other architecture; whatever head tensors exist are still loaded.
        case other

        init(architectures: [String]) {
            guard let first = architectures.first else { self = .encoder; return }
            if first.hasSuffix("ForSequenceClassification") { self = .sequenceClassification }
            else if first.hasSuffix("ForTokenClassification") { self = .tokenClassification }
            else if first.hasSuffix("ForQuestionAnswering") { self = .questionAnswering }
            else if first.hasSuffix("ForMaskedLM") { self = .maskedLM }
            else if first == "BertModel" || first == "DistilBertModel" { self = .encoder }
            else { self = .other }
        }
    }

    // MARK: - Fields

    public var modelType: ModelType
    /// Model width (`dim` / `hidden_size`).
    public var hidden: Int
    /// Attention heads; `hidden` is a multiple of it.
    public var heads: Int
    /// Feed-forward inner width (`hidden_dim` / `intermediate_size`).
    public var ffn: Int
    /// Transformer blocks.
    public var layers: Int
    public var vocabSize: Int
    /// Rows of the position-embedding table.
    public var maxPositions: Int
    /// Rows of the token-type table; 0 for DistilBERT, which has none.
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var activation: Activation
    /// DistilBERT's fixed sinusoidal position table (still stored in the checkpoint, so loaded like any other).
    public var sinusoidalPositions: Bool
    /// Label names by class id (`id2label`, or `LABEL_0…LABEL_{n-1}` with `num_labels`, default 2).
    public var labels: [String]
    /// `problem_type` (nil when absent: transformers then infers it, `ProblemType.inferred`).
    public var problemType: ProblemType?
    /// `architectures`, e.g. `["DistilBertForSequenceClassification"]`; may be empty.
    public var architectures: [String]
    public var padTokenId: Int
    /// Dropout probabilities in training (inference ignores them).
    public var dropout = DropoutRates()
    /// The standard deviation of a freshly initialised weight (`initializer_range`, default 0.02).
    public var initializerRange: Float = 0.02

    /// Where a model drops activations in training, as transformers' modules do.
    public struct DropoutRates: Sendable, Equatable {
        /// After the embeddings' LayerNorm and after the FFN (BERT: also after the attention
        /// output projection). DistilBERT `dropout`, BERT `hidden_dropout_prob`.
        public var hidden: Float = 0.1
        /// On the attention probabilities. `attention_dropout` / `attention_probs_dropout_prob`.
        public var attention: Float = 0.1
        /// Before the classifier. DistilBERT `seq_classif_dropout`; BERT `classifier_dropout`,
        /// else `hidden_dropout_prob`.
        public var classifier: Float = 0.1
        /// Before DistilBERT's `qa_outputs` (`qa_dropout`). BERT's question answering drops
        /// nothing there and ignores it; it holds `hidden_dropout_prob`, which a DistilBERT
        /// student cut from BERT inherits (DistilBERT's default, `qa_dropout` = `dropout`).
        public var questionAnswering: Float = 0.1

        public init(hidden: Float = 0.1, attention: Float = 0.1, classifier: Float = 0.1, questionAnswering: Float = 0.1) {
            self.hidden = hidden; self.attention = attention; self.classifier = classifier
            self.questionAnswering = questionAnswering
        }

        /// Every rate set to `p`.
        public static func all(_ p: Float) -> DropoutRates {
            DropoutRates(hidden: p, attention: p, classifier: p, questionAnswering: p)
        }
    }

    /// Width of one attention head, `hidden / heads`.
    public var headDim: Int { hidden / heads }
    /// The head named by `architectures`.
    public var task: Task { Task(architectures: architectures) }

    public init(modelType: ModelType, hidden: Int, heads: Int, ffn: Int, layers: Int, vocabSize: Int,
                maxPositions: Int = 512, typeVocabSize: Int? = nil, layerNormEps: Float = 1e-12,
                activation: Activation = .gelu, sinusoidalPositions: Bool = false,
                labels: [String] = ["LABEL_0", "LABEL_1"], architectures: [String] = [], padTokenId: Int = 0) {
        self.modelType = modelType
        self.hidden = hidden
        self.heads = heads
        self.ffn = ffn
        self.layers = layers
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize ?? (modelType == .bert ? 2 : 0)
        self.layerNormEps = layerNormEps
        self.activation = activation
        self.sinusoidalPositions = sinusoidalPositions
        self.labels = labels
        self.architectures = architectures
        self.padTokenId = padTokenId
    }

    // MARK: - Reading config.json

    /// Reads `config.json` at `url`.
    public init(contentsOf url: URL) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.fileNotFound(file: path) }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CheckpointError.unreadable(file: path, reason: error.localizedDescription)
        }
        try self.init(jsonData: data, file: path)
    }

    /// Parses the bytes of a `config.json`; `file` is the name errors give.
    public init(jsonData: Data, file: String) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: jsonData, options: [])
        } catch {
            throw CheckpointError.configNotJSON(file: file, reason: "cannot parse JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw CheckpointError.configNotJSON(file: file, reason: "top level is not an object")
        }
        let keys = ConfigKeys(values: dictionary, file: file)

        let typeName = try keys.string("model_type", default: nil)
        guard let modelType = ModelType(rawValue: typeName) else {
            throw CheckpointError.unsupportedModelType(file: file, modelType: typeName)
        }
        self.modelType = modelType
        switch modelType {
        case .distilbert:
            hidden = try keys.int("dim", default: nil, min: 1)
            heads = try keys.int("n_heads", default: nil, min: 1)
            ffn = try keys.int("hidden_dim", default: nil, min: 1)
            layers = try keys.int("n_layers", default: nil, min: 1)
            activation = try keys.activation("activation")
            sinusoidalPositions = try keys.bool("sinusoidal_pos_embds", default: false)
            typeVocabSize = 0
            layerNormEps = 1e-12
        case .bert:
            hidden = try keys.int("hidden_size", default: nil, min: 1)
            heads = try keys.int("num_attention_heads", default: nil, min: 1)
            ffn = try keys.int("intermediate_size", default: nil, min: 1)
            layers = try keys.int("num_hidden_layers", default: nil, min: 1)
            activation = try keys.activation("hidden_act")
            sinusoidalPositions = false
            typeVocabSize = try keys.int("type_vocab_size", default: 2, min: 1)
            layerNormEps = try keys.positiveFloat("layer_norm_eps", default: 1e-12)
            let positionKind = try keys.string("position_embedding_type", default: "absolute")
            guard positionKind == "absolute" else {
                throw CheckpointError.invalidConfigValue(file: file, key: "position_embedding_type",
                                                         reason: "'\(positionKind)' is not supported (only 'absolute')")
            }
        }
        guard hidden % heads == 0 else {
            let key = modelType == .bert ? "num_attention_heads" : "n_heads"
            throw CheckpointError.invalidConfigValue(file: file, key: key, reason: "\(heads) heads do not divide width \(hidden)")
        }
        vocabSize = try keys.int("vocab_size", default: nil, min: 1)
        maxPositions = try keys.int("max_position_embeddings", default: 512, min: 1)
        padTokenId = try keys.int("pad_token_id", default: 0, min: 0)
        architectures = try keys.strings("architectures")
        labels = try keys.labels()
        // An unknown value is left to transformers' inference, as any unknown key.
        problemType = ProblemType(rawValue: try keys.string("problem_type", default: ""))
        initializerRange = try keys.positiveFloat("initializer_range", default: 0.02)
        switch modelType {
        case .distilbert:
            dropout = DropoutRates(hidden: try keys.probability("dropout", default: 0.1),
                                   attention: try keys.probability("attention_dropout", default: 0.1),
                                   classifier: try keys.probability("seq_classif_dropout", default: 0.2),
                                   questionAnswering: try keys.probability("qa_dropout", default: 0.1))
        case .bert:
            let hiddenRate = try keys.probability("hidden_dropout_prob", default: 0.1)
            dropout = DropoutRates(hidden: hiddenRate,
                                   attention: try keys.probability("attention_probs_dropout_prob", default: 0.1),
                                   classifier: try keys.probability("classifier_dropout", default: hiddenRate),
                                   questionAnswering: hiddenRate)
        }
    }
}

// MARK: - Key reading

/// Typed, file-naming access to the keys of a parsed `config.json`. `null` counts as absent.
private struct ConfigKeys {
    let values: [String: Any]
    let file: String

    private func value(_ key: String) -> Any? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    private func invalid(_ key: String, _ reason: String) -> CheckpointError {
        .invalidConfigValue(file: file, key: key, reason: reason)
    }

    func int(_ key: String, default fallback: Int?, min: Int) throws -> Int {
        guard let raw = value(key) else {
            if let fallback { return fallback }
            throw CheckpointError.missingConfigKey(file: file, key: key)
        }
        guard let number = raw as? Int else { throw invalid(key, "expected an integer, found \(raw)") }
        guard number >= min else { throw invalid(key, "\(number) is less than \(min)") }
        return number
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let raw = value(key) else { return fallback }
        guard let flag = raw as? Bool else { throw invalid(key, "expected true or false, found \(raw)") }
        return flag
    }

    func string(_ key: String, default fallback: String?) throws -> String {
        guard let raw = value(key) else {
            if let fallback { return fallback }
            throw CheckpointError.missingConfigKey(file: file, key: key)
        }
        guard let text = raw as? String else { throw invalid(key, "expected a string, found \(raw)") }
        return text
    }

    /// A probability in [0, 1); null or absent gives `fallback`.
    func probability(_ key: String, default fallback: Float) throws -> Float {
        guard let raw = value(key) else { return fallback }
        guard let number = raw as? Double, number >= 0, number < 1 else {
            throw invalid(key, "expected a probability in [0, 1), found \(raw)")
        }
        return Float(number)
    }

    func positiveFloat(_ key: String, default fallback: Float) throws -> Float {
        guard let raw = value(key) else { return fallback }
        guard let number = raw as? Double, number.isFinite, number > 0 else {
            throw invalid(key, "expected a positive number, found \(raw)")
        }
        return Float(number)
    }

    func strings(_ key: String) throws -> [String] {
        guard let raw = value(key) else { return [] }
        guard let list = raw as? [Any] else { throw invalid(key, "expected a list of strings") }
        return try list.map { item in
            guard let text = item as? String else { throw invalid(key, "expected a list of strings, found \(item)") }
            return text
        }
    }

    func activation(_ key: String) throws -> ModelConfig.Activation {
        let name = try string(key, default: "gelu")
        guard let activation = ModelConfig.Activation(huggingFaceName: name) else {
            throw invalid(key, "activation '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)")
        }
        return activation
    }

    /// `id2label` (keys "0"…"n-1", each once) or else `LABEL_i` for `num_labels` (default 2) classes.
    func labels() throws -> [String] {
        if let raw = value("id2label") {
            guard let mapping = raw as? [String: Any] else { throw invalid("id2label", "expected an object") }
            var labels = [String?](repeating: nil, count: mapping.count)
            for (key, item) in mapping {
                guard let id = Int(key), id >= 0, id < mapping.count else {
                    throw invalid("id2label", "key '\(key)' is not a class id in 0..<\(mapping.count)")
                }
                guard let name = item as? String else { throw invalid("id2label", "label for id \(id) is not a string") }
                labels[id] = name
            }
            return labels.enumerated().map { $0.element ?? "LABEL_\($0.offset)" }
        }
        let count = try value("num_labels") != nil ? int("num_labels", default: nil, min: 1)
                                                   : int("_num_labels", default: 2, min: 1)
        guard count <= 1_000_000 else { throw invalid("num_labels", "\(count) is implausibly large") }
        return (0..<count).map { "LABEL_\($0)" }
    }
}
