// MARK: - Tensor

/// A float32 tensor in host memory, row-major. Weight matrices keep Hugging Face's `nn.Linear`
/// layout, `[out, in]`: row `o` holds the weights that produce output feature `o`.
public struct WeightTensor: Sendable, Equatable {
    /// Dimensions, outermost first; `values.count == shape.reduce(1, *)`.
    public var shape: [Int]
    /// Elements, row-major.
    public var values: [Float]

    /// Wraps `values`; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "WeightTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    /// Number of elements.
    public var count: Int { values.count }
    /// `shape[0]`, the number of rows (output features of a weight matrix).
    public var rows: Int { shape.first ?? 1 }
    /// Elements per row, `count / rows` (input features of a weight matrix).
    public var columns: Int { rows == 0 ? 0 : count / rows }

    /// Stacks tensors of equal trailing shape along the first dimension.
    public static func concatenatingRows(_ parts: [WeightTensor]) -> WeightTensor {
        guard let first = parts.first else { return WeightTensor(shape: [0], values: []) }
        var values: [Float] = []
        values.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts {
            precondition(Array(part.shape.dropFirst()) == Array(first.shape.dropFirst()), "concatenatingRows: shapes differ")
            values += part.values
        }
        return WeightTensor(shape: [parts.reduce(0) { $0 + $1.rows }] + first.shape.dropFirst(), values: values)
    }
}

// MARK: - Building blocks

/// An affine map `y = x·Wᵀ + b`: `weight` is `[out, in]`, `bias` is `[out]`.
public struct LinearWeights: Sendable, Equatable {
    public var weight: WeightTensor
    public var bias: WeightTensor

    public init(weight: WeightTensor, bias: WeightTensor) {
        self.weight = weight
        self.bias = bias
    }

    /// `weight.shape[0]`.
    public var outFeatures: Int { weight.rows }
    /// `weight.shape[1]`.
    public var inFeatures: Int { weight.columns }
}

/// Layer normalisation over the last dimension: `gamma` (scale) and `beta` (shift), both `[dim]`.
/// Read from `*.weight`/`*.bias`, or `*.gamma`/`*.beta` in old checkpoints.
public struct LayerNormWeights: Sendable, Equatable {
    public var gamma: WeightTensor
    public var beta: WeightTensor

    public init(gamma: WeightTensor, beta: WeightTensor) {
        self.gamma = gamma
        self.beta = beta
    }
}

// MARK: - Encoder

/// One transformer block (post-norm, as in BERT and DistilBERT). `H` = hidden, `F` = ffn.
public struct LayerWeights: Sendable, Equatable {
    /// Q, K and V projections fused: weight `[3H, H]` with rows `0..<H` = Q, `H..<2H` = K,
    /// `2H..<3H` = V; bias `[3H]` in the same order. (DistilBERT `attention.{q,k,v}_lin`,
    /// BERT `attention.self.{query,key,value}`.)
    public var qkv: LinearWeights
    /// Attention output projection, `[H, H]` + `[H]` (`attention.out_lin` / `attention.output.dense`).
    public var attentionOutput: LinearWeights
    /// Norm after attention + residual, `[H]` (`sa_layer_norm` / `attention.output.LayerNorm`).
    public var attentionNorm: LayerNormWeights
    /// First feed-forward map, `[F, H]` + `[F]` (`ffn.lin1` / `intermediate.dense`).
    public var ffnIn: LinearWeights
    /// Second feed-forward map, `[H, F]` + `[H]` (`ffn.lin2` / `output.dense`).
    public var ffnOut: LinearWeights
    /// Norm after feed-forward + residual, `[H]` (`output_layer_norm` / `output.LayerNorm`).
    public var outputNorm: LayerNormWeights

    public init(qkv: LinearWeights, attentionOutput: LinearWeights, attentionNorm: LayerNormWeights,
                ffnIn: LinearWeights, ffnOut: LinearWeights, outputNorm: LayerNormWeights) {
        self.qkv = qkv
        self.attentionOutput = attentionOutput
        self.attentionNorm = attentionNorm
        self.ffnIn = ffnIn
        self.ffnOut = ffnOut
        self.outputNorm = outputNorm
    }
}

/// Embeddings and transformer blocks shared by every head.
public struct EncoderWeights: Sendable, Equatable {
    /// `[vocabSize, H]`.
    public var wordEmbeddings: WeightTensor
    /// `[maxPositions, H]` (DistilBERT's sinusoidal table included: it is stored in the file).
    public var positionEmbeddings: WeightTensor
    /// `[typeVocabSize, H]` for BERT; `nil` for DistilBERT.
    public var tokenTypeEmbeddings: WeightTensor?
    /// Norm applied to the summed embeddings, `[H]`.
    public var embeddingNorm: LayerNormWeights
    /// `config.layers` blocks, in order.
    public var layers: [LayerWeights]

    public init(wordEmbeddings: WeightTensor, positionEmbeddings: WeightTensor, tokenTypeEmbeddings: WeightTensor?,
                embeddingNorm: LayerNormWeights, layers: [LayerWeights]) {
        self.wordEmbeddings = wordEmbeddings
        self.positionEmbeddings = positionEmbeddings
        self.tokenTypeEmbeddings = tokenTypeEmbeddings
        self.embeddingNorm = embeddingNorm
        self.layers = layers
    }
}

// MARK: - Heads

/// Task heads found in the checkpoint; each is `nil` when absent. `H` = hidden, `L` = labels, `V` = vocab.
public struct HeadWeights: Sendable, Equatable {
    /// BERT pooler on `[CLS]`, `[H, H]` + `[H]`, followed by tanh (`pooler.dense`).
    public var pooler: LinearWeights?
    /// DistilBERT sequence classification, `[H, H]` + `[H]`, followed by ReLU (`pre_classifier`).
    public var preClassifier: LinearWeights?
    /// Sequence or token classifier, `[L, H]` + `[L]` (`classifier`).
    public var classifier: LinearWeights?
    /// Extractive QA, `[2, H]` + `[2]`: row 0 start logits, row 1 end logits (`qa_outputs`).
    public var qaOutputs: LinearWeights?
    /// MLM transform, `[H, H]` + `[H]`, followed by the config activation
    /// (`vocab_transform` / BERT `cls.predictions.transform.dense`).
    public var vocabTransform: LinearWeights?
    /// MLM norm, `[H]` (`vocab_layer_norm` / `cls.predictions.transform.LayerNorm`).
    public var vocabLayerNorm: LayerNormWeights?
    /// MLM decoder to vocabulary logits, `[V, H]` + `[V]`
    /// (`vocab_projector` / `cls.predictions.decoder` + `cls.predictions.bias`).
    public var vocabProjector: LinearWeights?
    /// True when the file had no projector weight and it was tied to `wordEmbeddings` (as HF does).
    public var vocabProjectorIsTied: Bool

    public init(pooler: LinearWeights? = nil, preClassifier: LinearWeights? = nil, classifier: LinearWeights? = nil,
                qaOutputs: LinearWeights? = nil, vocabTransform: LinearWeights? = nil,
                vocabLayerNorm: LayerNormWeights? = nil, vocabProjector: LinearWeights? = nil,
                vocabProjectorIsTied: Bool = false) {
        self.pooler = pooler
        self.preClassifier = preClassifier
        self.classifier = classifier
        self.qaOutputs = qaOutputs
        self.vocabTransform = vocabTransform
        self.vocabLayerNorm = vocabLayerNorm
        self.vocabProjector = vocabProjector
        self.vocabProjectorIsTied = vocabProjectorIsTied
    }
}
