import DistilCL
import Foundation
import Hummingbird

/// DistilCL's other heads in TEI's style: `inputs` is one item or a list, the answer is the
/// CLI's output object for it (or a list of those).
extension API {
    struct ZeroShotOutput: Encodable {
        var label: String
        var score: Float
        var scores: [LabelScore]
    }

    /// `POST /zero_shot`: `{"inputs": text | [text, …], "labels": ["NAME=description", …] or
    /// [{"label", "description"}, …], "truncate"}` → `{label, score, scores}` per text: the
    /// cosine of the text's embedding with each description's (as `distilcl classify --labels`:
    /// `ZeroShotClassifier`'s ranking). The descriptions' embeddings are cached per label set, so
    /// a request with labels seen before embeds only its texts.
    func zeroShot(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        let (inputs, isBatch) = try body.texts("inputs")
        try checkBatch(inputs.count)
        let labels = try zeroShotLabels(body)
        let truncate = try truncate(body)
        let texts = try inputs.map { try m.encode($0, truncate: truncate, for: .embedding) }
        let cached = m.zeroShotCache.classifier(for: labels)
        // Descriptions are cut at the maximum length as the CLI cuts them, and embedded in the
        // texts' job when the label set is new.
        let descriptions = cached == nil
            ? ZeroShotClassifier.descriptionEncodings(labels, tokenizer: m.tokenizer, maxLength: m.embeddingMaxLength) : []
        let outputs = try await m.engine.submit(ForwardJob(.embed(m.pooling, normalize: true), texts + descriptions,
                                                           clientGone: await context.clientGone()))
        let vectors = outputs.map { $0.first ?? [] }
        let classifier = cached ?? ZeroShotClassifier(labels: labels, anchors: Array(vectors[texts.count...]), pooling: m.pooling)
        if cached == nil { m.zeroShotCache.insert(classifier) }
        let results = vectors[..<texts.count].map { v in
            let ranked = classifier.rank(v)
            return ZeroShotOutput(label: ranked[0].label, score: ranked[0].score, scores: ranked)
        }
        return isBatch ? jsonResponse(results) : jsonResponse(results[0])
    }

    private func zeroShotLabels(_ body: JSONRequest) throws -> [ZeroShotClassifier.Label] {
        guard body.has("labels") else { throw APIError.empty("`labels` is missing: [\"NAME=description\", …]") }
        guard let list = body.object["labels"] as? [Any], !list.isEmpty else {
            throw APIError.malformed("`labels` must be a non-empty list of \"NAME=description\" strings or {\"label\", \"description\"} objects")
        }
        var entries: [String] = []
        for (i, item) in list.enumerated() {
            if let s = item as? String {
                entries.append(s)
            } else if let o = item as? [String: Any], let name = o["label"] as? String, let d = o["description"] as? String {
                guard !name.contains("="), !name.contains(",") else {
                    throw APIError.validation("`labels[\(i)].label` may not contain '=' or ','")
                }
                entries.append("\(name)=\(d)")
            } else {
                throw APIError.malformed("`labels[\(i)]` must be a \"NAME=description\" string or a {\"label\", \"description\"} object")
            }
        }
        let labels: [ZeroShotClassifier.Label]
        do { labels = try ZeroShotClassifier.parseLabels(entries) } catch {
            throw APIError.validation("`labels`: \(error)".replacingOccurrences(of: "--labels: ", with: ""))
        }
        try checkBatch(labels.count)
        for label in labels where label.description.isEmpty {
            throw APIError.empty("The description of label '\(label.name)' is empty")
        }
        return labels
    }

    struct AnswersOutput: Encodable { var answers: [QAAnswer] }

    /// `POST /qa`: `{"inputs": {"question", "context"} | [{…}, …], "top_k", "doc_stride",
    /// "max_answer_len", "max_seq_len", "max_question_len", "handle_impossible_answer"}` →
    /// `{"answers": [{answer, score, start, end}]}` per input (as `distilcl qa`). Long contexts
    /// are split into overlapping windows, never refused.
    func questionAnswering(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        try m.require(.questionAnswering, for: "/qa")
        let (inputs, isBatch) = try body.objects("inputs")
        try checkBatch(inputs.count)
        let defaults = QAParameters()
        let seqLen = try body.int("max_seq_len", atLeast: 4) ?? ModelFolder.defaultQAWindow(taskMaxLength: m.taskMaxLength)
        guard seqLen <= m.config.maxPositions else {
            throw APIError.validation("`max_seq_len` \(seqLen) is more than the model's \(m.config.maxPositions) positions")
        }
        let parameters = QAParameters(
            maxSeqLen: seqLen, docStride: try body.int("doc_stride", atLeast: 1) ?? defaults.docStride,
            maxQuestionLen: try body.int("max_question_len", atLeast: 1) ?? defaults.maxQuestionLen,
            maxAnswerLen: try body.int("max_answer_len", atLeast: 1) ?? defaults.maxAnswerLen,
            topK: try body.int("top_k", atLeast: 1) ?? defaults.topK,
            handleImpossibleAnswer: try body.bool("handle_impossible_answer") ?? defaults.handleImpossibleAnswer)
        var pairs: [(question: String, context: String)] = []
        var estimated = 0
        for (i, input) in inputs.enumerated() {
            let which = isBatch ? "`inputs[\(i)]`" : "`inputs`"
            guard let question = input.object["question"] as? String, let text = input.object["context"] as? String else {
                throw APIError.malformed("\(which) must hold the strings \"question\" and \"context\"")
            }
            pairs.append((question, text))
            // Count the windows before building them: a long context with a small step would
            // otherwise build (and hold) hundreds of thousands.
            estimated += QuestionAnswering.windowCount(question: question, context: text, tokenizer: m.tokenizer,
                                                       parameters: parameters)
        }
        let limit = 4 * configuration.maxClientBatchSize
        guard estimated <= limit else {
            throw APIError.validation("the contexts make about \(estimated) windows, more than \(limit) "
                                      + "(4 × --max-client-batch-size): send fewer or shorter contexts, or a smaller doc_stride")
        }
        let items = try pairs.map { pair in
            (windows: try QuestionAnswering.windows(question: pair.question, context: pair.context, tokenizer: m.tokenizer,
                                                    parameters: parameters), context: pair.context)
        }
        let windows = items.flatMap(\.windows)
        guard windows.count <= limit else {
            throw APIError.validation("the contexts make \(windows.count) windows, more than \(limit) "
                                      + "(4 × --max-client-batch-size): send fewer or shorter contexts")
        }
        let outputs = try await m.engine.submit(ForwardJob(.tokens(.questionAnswering), windows.map(\.encoding),
                                                           clientGone: await context.clientGone()))
        var offset = 0
        let answers = try items.map { item in
            defer { offset += item.windows.count }
            let rows = outputs[offset..<offset + item.windows.count]
            return AnswersOutput(answers: try QuestionAnswering.answers(
                windows: item.windows, startLogits: rows.map { $0.map { $0[0] } }, endLogits: rows.map { $0.map { $0[1] } },
                context: item.context, parameters: parameters))
        }
        return isBatch ? jsonResponse(answers) : jsonResponse(answers[0])
    }

    struct EntitiesOutput: Encodable { var entities: [Entity] }

    /// `POST /ner`: `{"inputs": text | [text, …], "aggregation_strategy": "none" | "simple" |
    /// "first" | "max" | "average", "truncate"}` → `{"entities": […]}` per text (as `distilcl ner`).
    func ner(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        try m.require(.tokenClassification, for: "/ner")
        let (inputs, isBatch) = try body.texts("inputs")
        try checkBatch(inputs.count)
        let name = try body.string("aggregation_strategy") ?? "none"
        guard let strategy = AggregationStrategy(rawValue: name) else {
            throw APIError.validation("`aggregation_strategy` must be one of \(AggregationStrategy.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
        }
        let truncate = try truncate(body)
        let encodings = try inputs.map { try m.encode($0, truncate: truncate, for: .task) }
        let outputs = try await m.engine.submit(ForwardJob(.tokens(.tokenClassification), encodings,
                                                           clientGone: await context.clientGone()))
        let results = try zip(zip(inputs, encodings), outputs).map { pair, logits in
            EntitiesOutput(entities: try TokenClassification.entities(
                text: pair.0.text, encoding: pair.1, logits: logits, labels: m.config.labels, strategy: strategy,
                tokenizer: m.tokenizer))
        }
        return isBatch ? jsonResponse(results) : jsonResponse(results[0])
    }

    struct PredictionsOutput: Encodable { var predictions: [[FillMaskPrediction]] }

    /// The most fill-mask predictions (masks × top_k) one request may ask for.
    static let maxPredictions = 10_000

    /// `POST /fill_mask`: `{"inputs": text | [text, …], "top_k" (default 5), "truncate"}` →
    /// `{"predictions": [[{token, token_str, score, sequence}]]}` per text, one list per mask
    /// (as `distilcl fill-mask`). A text without a mask token within the maximum length is 422.
    func fillMask(_ body: JSONRequest, _ m: ServedModel, _ context: ServerContext) async throws -> Response {
        try m.require(.maskedLM, for: "/fill_mask")
        let (inputs, isBatch) = try body.texts("inputs")
        try checkBatch(inputs.count)
        let topK = try body.int("top_k", atLeast: 1) ?? 5
        let truncate = try truncate(body)
        var masks = 0
        let encodings = try inputs.enumerated().map { i, input in
            let e = try m.encode(input, truncate: truncate, for: .task)
            let n = FillMask.maskPositions(in: e, tokenizer: m.tokenizer).count
            guard n > 0 else {
                let which = isBatch ? " (input \(i))" : ""
                throw APIError.validation("The text\(which) has no \(m.tokenizer.specialTokenNames.mask) token within \(m.taskMaxLength) tokens")
            }
            masks += n
            return e
        }
        // Each prediction decodes its whole sequence: bound the work one request can ask for.
        guard masks * min(topK, m.tokenizer.vocabSize) <= Self.maxPredictions else {
            throw APIError.validation("\(masks) masks × top_k \(topK) is more than \(Self.maxPredictions) predictions per request")
        }
        let outputs = try await m.engine.submit(ForwardJob(.maskedLM, encodings, clientGone: await context.clientGone()))
        let results = try zip(encodings, outputs).map { e, logits in
            PredictionsOutput(predictions: try FillMask.predictions(maskLogits: logits, encoding: e, topK: topK,
                                                                    tokenizer: m.tokenizer))
        }
        return isBatch ? jsonResponse(results) : jsonResponse(results[0])
    }
}
