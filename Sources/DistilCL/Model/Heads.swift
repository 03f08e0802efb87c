/// The task heads over the encoder's last hidden state, as transformers' `*For*` classes.
extension EncoderModel {
    /// Sequence classification logits, `[batch][labels]`. DistilBERT: `[CLS]` →
    /// `pre_classifier` → ReLU → `classifier`; BERT: `[CLS]` → pooler (tanh) → `classifier`.
    public func classificationLogits(_ batch: TokenBatch) throws -> [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        let labels = heads.classifier?.outFeatures ?? 0
        let logits = try classificationLogitsOnDevice(batch, keepingHidden: false).logits
        return rows(try backend.download(logits, count: batch.batch * labels), width: labels)
    }

    /// The logits `[batch, labels]` on the device and, when `keepingHidden`, the last hidden
    /// state of every token `[tokens, dim]` (else the [CLS] rows'): the workspace's buffers,
    /// valid until the model runs again. Nothing comes down to the host (a teacher's logits
    /// stay on the device for the distillation loss). Call with `lock` held.
    func classificationLogitsOnDevice(_ batch: TokenBatch, keepingHidden: Bool) throws
        -> (logits: any DeviceBuffer, hidden: any DeviceBuffer) {
        guard let classifier = heads.classifier else { throw ModelError.missingHead("sequence classification") }
        let pooled = try clsVectors(batch, pooled: config.modelType == .bert, everyToken: keepingHidden)
        let ws = try workspaceAfterEncode()
        var x = pooled
        if let pre = heads.preClassifier {
            try backend.linear(x, pre, rows: batch.batch, activation: .relu, out: ws.context)
            x = ws.context
        }
        try backend.linear(x, classifier, rows: batch.batch, activation: .none, out: ws.qkv)
        return (ws.qkv, ws.hidden)
    }

    /// The last hidden state of every token, `[tokens, dim]` on the device (the workspace's,
    /// valid until the model runs again).
    func lastHiddenStateOnDevice(_ batch: TokenBatch) throws -> any DeviceBuffer {
        lock.lock()
        defer { lock.unlock() }
        return try encode(batch).hidden
    }

    /// BERT's pooler output (`tanh(W·h[CLS] + b)`), `[batch][dim]`.
    public func poolerOutput(_ batch: TokenBatch) throws -> [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        guard heads.pooler != nil else { throw ModelError.missingHead("pooler") }
        let pooled = try clsVectors(batch, pooled: true)
        return rows(try backend.download(pooled, count: batch.batch * config.hidden), width: config.hidden)
    }

    /// A per-token head over every real token, `[batch][length][outputs]`: token classification
    /// (`classifier`) or question answering (`qa_outputs`: start and end logits).
    public func tokenLogits(_ batch: TokenBatch, head: TokenHead) throws -> [[[Float]]] {
        lock.lock()
        defer { lock.unlock() }
        let layer: (any DeviceLinear)?
        switch head {
        case .tokenClassification: layer = heads.classifier
        case .questionAnswering: layer = heads.qaOutputs
        }
        guard let layer else { throw ModelError.missingHead(head.rawValue) }
        let ws = try encode(batch)
        let width = layer.outFeatures
        // The workspace's qkv [tokens, 3·dim] holds the logits unless a head is wider.
        let out = width <= 3 * config.hidden ? ws.qkv : try backend.makeBuffer(count: batch.tokens * width)
        try backend.linear(ws.hidden, layer, rows: batch.tokens, activation: .none, out: out)
        return batch.split(rows(try backend.download(out, count: batch.tokens * width), width: width))
    }

    /// Masked-LM logits at the given `(row, position)` pairs, `[pairs][vocab]`:
    /// `vocab_transform` → activation → `vocab_layer_norm` → `vocab_projector`.
    public func maskedLMLogits(_ batch: TokenBatch, at positions: [(row: Int, position: Int)]) throws -> [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        guard !positions.isEmpty else { return [] }
        for p in positions where !(batch.lengths.indices.contains(p.row) && (0..<batch.lengths[p.row]).contains(p.position)) {
            throw ModelError.positionOutOfRange(row: p.row, position: p.position)
        }
        let index = positions.map { Int32(batch.offsets[$0.row] + $0.position) }
        let (logits, _) = try maskedLMLogitsOnDevice(batch, rows: index)
        let v = heads.vocabProjector?.outFeatures ?? 0
        return rows(try backend.download(logits, count: index.count * v), width: v)
    }

    /// The masked-LM logits of the packed token rows `index` (in range: the caller checks),
    /// `[index.count, vocab]` on the device, and the last hidden state of every token
    /// `[tokens, dim]`: the workspace's buffers (or `out`, when given and large enough, for the
    /// logits), valid until the model runs again. Call with `lock` held.
    func maskedLMLogitsOnDevice(_ batch: TokenBatch, rows index: [Int32], out: (any DeviceBuffer)? = nil) throws
        -> (logits: any DeviceBuffer, hidden: any DeviceBuffer) {
        guard let transform = heads.vocabTransform, let norm = heads.vocabNorm, let projector = heads.vocabProjector else {
            throw ModelError.missingHead("masked language model")
        }
        let ws = try encode(batch)
        let p = index.count, d = config.hidden, v = projector.outFeatures
        // Scratch from the workspace when it is large enough (p ≤ tokens unless rows repeat).
        let fits = p <= ws.tokens
        let indexBuffer = try backend.buffer(index)
        let picked = fits ? ws.context : try backend.makeBuffer(count: p * d)
        let transformed = fits ? ws.scratch : try backend.makeBuffer(count: p * d)
        try backend.gatherRows(ws.hidden, index: indexBuffer, rows: p, dim: d, out: picked)
        try backend.linear(picked, transform, rows: p, activation: Activation(config.activation), out: transformed)
        try backend.layerNorm(transformed, residual: nil, gamma: norm.gamma, beta: norm.beta, rows: p, cols: d,
                              eps: config.layerNormEps, out: transformed)
        let logits = if let out, out.count >= p * v { out }
            else if p * v <= ws.tokens * config.ffn { ws.ffn } else { try backend.makeBuffer(count: p * v) }
        try backend.linear(transformed, projector, rows: p, activation: .none, out: logits)
        return (logits, ws.hidden)
    }

    /// Sentence embeddings, `[batch][dim]`: mean over real tokens or the `[CLS]` vector,
    /// optionally L2-normalised (divided by max(‖v‖, 1e-12), as torch's `normalize`).
    public func embeddings(_ batch: TokenBatch, pooling: SentencePooling, normalize: Bool) throws -> [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        let d = config.hidden
        let vectors: [[Float]]
        switch pooling {
        case .cls:
            let pooled = try clsVectors(batch, pooled: false)
            vectors = rows(try backend.download(pooled, count: batch.batch * d), width: d)
        case .mean:
            let ws = try encode(batch)
            guard let packed = ws.packed else { throw ModelError.emptyBatch }
            try backend.meanPool(ws.hidden, sequences: packed, dim: d, out: ws.context)
            vectors = rows(try backend.download(ws.context, count: batch.batch * d), width: d)
        }
        guard normalize else { return vectors }
        return vectors.map { v in
            let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return v.map { $0 / norm }
        }
    }

    /// The last hidden state, `[batch][length][dim]`.
    public func lastHiddenState(_ batch: TokenBatch) throws -> [[[Float]]] {
        lock.lock()
        defer { lock.unlock() }
        let ws = try encode(batch)
        return batch.split(rows(try backend.download(ws.hidden, count: batch.tokens * config.hidden), width: config.hidden))
    }

    /// Every hidden state: the embeddings' output, then each layer's, packed `[layers + 1][tokens·dim]`.
    public func allHiddenStates(_ batch: TokenBatch) throws -> [[Float]] {
        lock.lock()
        defer { lock.unlock() }
        var states: [[Float]] = []
        try encode(batch) { _, h in states.append(h) }
        return states
    }

    // MARK: - Helpers

    /// Each text's [CLS] vector `[batch, dim]`: the last layer over the `[CLS]` rows only
    /// (`ws.hidden`), or with `everyToken` over every token (its hidden state stays whole) and
    /// the `[CLS]` rows gathered into `ws.scratch`; through BERT's pooler (tanh) into `ws.ffn`
    /// when `pooled`.
    private func clsVectors(_ batch: TokenBatch, pooled: Bool, everyToken: Bool = false) throws -> any DeviceBuffer {
        let ws = try encode(batch, rows: everyToken ? .everyToken : .firstToken)
        var cls = ws.hidden
        if everyToken {
            try backend.gatherRows(ws.hidden, index: ws.offsets, rows: batch.batch, dim: config.hidden, out: ws.scratch)
            cls = ws.scratch
        }
        guard pooled else { return cls }
        guard let pooler = heads.pooler else { throw ModelError.missingHead("pooler") }
        try backend.linear(cls, pooler, rows: batch.batch, activation: .tanh, out: ws.ffn)
        return ws.ffn
    }

    private func workspaceAfterEncode() throws -> Workspace {
        guard let ws = workspace else { throw ModelError.emptyBatch }
        return ws
    }
}

/// Which per-token head `tokenLogits` runs.
public enum TokenHead: String, Sendable {
    case tokenClassification = "token classification"
    case questionAnswering = "question answering"
}

/// How `embeddings` pools the token vectors.
public enum SentencePooling: String, Sendable, CaseIterable {
    case mean, cls
}

func rows(_ flat: [Float], width: Int) -> [[Float]] {
    stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<min($0 + width, flat.count)]) }
}
