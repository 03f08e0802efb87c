import Foundation

/// Why a student cannot be built from a teacher.
public enum StudentError: Error, CustomStringConvertible, Equatable {
    case notBert(String)
    case badLayers(String)

    public var description: String {
        switch self {
        case .notBert(let what), .badLayers(let what): return what
        }
    }
}

extension Checkpoint {
    /// Every other layer starting at 0 (0, 2, 4 of 6), the DistilBERT paper's choice.
    public static func defaultStudentLayers(teacherLayers: Int) -> [Int] { Array(stride(from: 0, to: teacherLayers, by: 2)) }

    /// A DistilBERT student built from this BERT checkpoint's own weights, as transformers'
    /// `extract_distilbert.py` builds one: the chosen `layers` (in order, each kept whole: its
    /// Q/K/V, attention output, FFN and both LayerNorms), the word embeddings and the
    /// embeddings' LayerNorm copied, and the position table with BERT's token-type row 0 folded
    /// in (DistilBERT has no token types, and BERT adds that row to every single-sentence input),
    /// so the student's embeddings equal the teacher's. A sequence-classification teacher gives its
    /// head: `pre_classifier` from the pooler's dense layer (followed by ReLU, not tanh: a start,
    /// not an equivalence) and `classifier` as is; a token-classification teacher its per-token
    /// `classifier` as is, a QA teacher its `qa_outputs`, a masked-LM teacher its
    /// `cls.predictions` head as `vocab_transform`, `vocab_layer_norm` and `vocab_projector`
    /// (tied to the student's word embeddings when the teacher's decoder is); otherwise the student has no head
    /// (training adds one).
    public func distilBertStudent(layers chosen: [Int]) throws -> Checkpoint {
        let c = config
        guard c.modelType == .bert else {
            throw StudentError.notBert("\(directory.path) is a \(c.modelType.rawValue) model: the teacher must be a BERT")
        }
        guard !chosen.isEmpty, chosen.allSatisfy({ (0..<c.layers).contains($0) }),
              zip(chosen, chosen.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw StudentError.badLayers("student layers \(chosen.map(String.init).joined(separator: ",")) must be "
                                         + "increasing indices of the teacher's 0..<\(c.layers)")
        }
        guard c.layerNormEps == 1e-12 else {
            throw StudentError.notBert("the teacher's layer_norm_eps is \(c.layerNormEps); DistilBERT's is fixed at 1e-12")
        }
        var student = self
        let e = encoder
        var positions = e.positionEmbeddings
        if let types = e.tokenTypeEmbeddings {
            let d = c.hidden
            for p in 0..<c.maxPositions {
                for j in 0..<d { positions.values[p * d + j] += types.values[j] }
            }
        }
        student.encoder = EncoderWeights(wordEmbeddings: e.wordEmbeddings, positionEmbeddings: positions,
                                         tokenTypeEmbeddings: nil, embeddingNorm: e.embeddingNorm,
                                         layers: chosen.map { e.layers[$0] })
        var h = HeadWeights()
        let classifies = c.task == .sequenceClassification && heads.pooler != nil && heads.classifier != nil
        let tags = c.task == .tokenClassification && heads.classifier != nil
        let answers = c.task == .questionAnswering && heads.qaOutputs != nil
        if answers { h.qaOutputs = heads.qaOutputs }
        // A masked-LM teacher gives its head (`extract_distilbert.py`: cls.predictions → vocab_*).
        let predicts = c.task == .maskedLM && heads.vocabTransform != nil && heads.vocabLayerNorm != nil
            && heads.vocabProjector != nil
        if predicts {
            (h.vocabTransform, h.vocabLayerNorm, h.vocabProjector) = (heads.vocabTransform, heads.vocabLayerNorm,
                                                                      heads.vocabProjector)
            h.vocabProjectorIsTied = heads.vocabProjectorIsTied
        }
        if classifies {
            h.preClassifier = heads.pooler
            h.classifier = heads.classifier
        } else if tags {
            h.classifier = heads.classifier
        }
        student.heads = h
        var sc = c
        sc.modelType = .distilbert
        sc.layers = chosen.count
        sc.typeVocabSize = 0
        sc.sinusoidalPositions = false
        sc.architectures = [classifies ? "DistilBertForSequenceClassification"
                            : tags ? "DistilBertForTokenClassification"
                            : answers ? "DistilBertForQuestionAnswering"
                            : predicts ? "DistilBertForMaskedLM" : "DistilBertModel"]
        student.config = sc
        return student
    }
}
