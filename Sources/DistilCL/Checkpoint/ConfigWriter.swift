import Foundation

extension ModelConfig {
    /// `config.json` for this configuration, in the keys transformers reads for its model type
    /// (DistilBERT: `dim`, `n_layers`, `hidden_dim`, …; BERT: `hidden_size`, `num_hidden_layers`,
    /// …), with `id2label`/`label2id` and the dropout rates.
    public func jsonObject() -> [String: Any] {
        let activationName: String
        switch activation {
        case .gelu: activationName = "gelu"
        case .geluTanh: activationName = "gelu_new"
        case .relu: activationName = "relu"
        }
        var o: [String: Any] = [
            "model_type": modelType.rawValue, "architectures": architectures, "vocab_size": vocabSize,
            "max_position_embeddings": maxPositions, "pad_token_id": padTokenId,
            "initializer_range": Double(initializerRange), "dtype": "float32",
            "id2label": Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), $1) }),
            "label2id": Dictionary(labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a }),
        ]
        if let problemType { o["problem_type"] = problemType.rawValue }
        switch modelType {
        case .distilbert:
            o.merge(["dim": hidden, "n_layers": layers, "n_heads": heads, "hidden_dim": ffn, "activation": activationName,
                     "sinusoidal_pos_embds": sinusoidalPositions, "dropout": Double(dropout.hidden),
                     "attention_dropout": Double(dropout.attention), "seq_classif_dropout": Double(dropout.classifier),
                     "qa_dropout": Double(dropout.questionAnswering), "tie_weights_": true]) { $1 }
        case .bert:
            o.merge(["hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                     "intermediate_size": ffn, "hidden_act": activationName, "type_vocab_size": typeVocabSize,
                     "layer_norm_eps": Double(layerNormEps), "hidden_dropout_prob": Double(dropout.hidden),
                     "attention_probs_dropout_prob": Double(dropout.attention),
                     "classifier_dropout": Double(dropout.classifier), "position_embedding_type": "absolute"]) { $1 }
        }
        return o
    }
}

extension Checkpoint {
    /// Writes this checkpoint as a Hugging Face folder `directory`: `config.json` (from
    /// `config.jsonObject()`), `model.safetensors` (float32, transformers' key names for a
    /// `*ForSequenceClassification` or bare model) and the tokenizer files of `tokenizer`'s
    /// folder. Every file is written under a temporary name and renamed when complete.
    public func write(to directory: URL, tokenizer: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = try EncoderModel(checkpoint: self, backend: CPUBackend(), trainable: true)
        try Checkpoint.write(model: model, config: config.jsonObject(), to: directory)
        for name in RunFolder.tokenizerFiles where fm.fileExists(atPath: tokenizer.appendingPathComponent(name).path) {
            let target = directory.appendingPathComponent(name)
            try writeAtomically(try Data(contentsOf: tokenizer.appendingPathComponent(name)), to: target)
        }
    }
}
