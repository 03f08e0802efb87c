// The question-answering pipeline's pre-processing with a fast tokenizer: the question and the
// context encoded as a pair, the context cut into overlapping windows (`truncation="only_second"`,
// `stride=doc_stride`, `return_overflowing_tokens=True`), and `p_mask` marking what cannot be
// part of an answer.

/// Settings of the question-answering pipeline (transformers' names in brackets).
public struct QAParameters: Sendable, Equatable {
    /// Most tokens in a window, special tokens included (`max_seq_len`).
    public var maxSeqLen: Int
    /// Context tokens shared by consecutive windows (`doc_stride`).
    public var docStride: Int
    /// Unused with a fast tokenizer, as in transformers (`max_question_len` only affects the slow path).
    public var maxQuestionLen: Int
    /// Longest answer in tokens (`max_answer_len`).
    public var maxAnswerLen: Int
    /// Number of answers returned (`top_k`).
    public var topK: Int
    /// Whether the empty answer competes, scored by `[CLS]` (`handle_impossible_answer`).
    public var handleImpossibleAnswer: Bool
    /// Whether answers are widened to whole words (`align_to_words`). It also makes each window
    /// propose `topK * 2 + 10` spans before answers with the same text are merged.
    public var alignToWords: Bool

    public init(maxSeqLen: Int = 384, docStride: Int = 128, maxQuestionLen: Int = 64, maxAnswerLen: Int = 15,
                topK: Int = 1, handleImpossibleAnswer: Bool = false, alignToWords: Bool = true) {
        self.maxSeqLen = maxSeqLen
        self.docStride = docStride
        self.maxQuestionLen = maxQuestionLen
        self.maxAnswerLen = maxAnswerLen
        self.topK = topK
        self.handleImpossibleAnswer = handleImpossibleAnswer
        self.alignToWords = alignToWords
    }
}

/// One window the model reads: `[CLS] question [SEP] context part [SEP]`, unpadded.
public struct QAWindow: Sendable, Equatable {
    /// Ids, tokens, type ids (0 question, 1 context), code point offsets into the question or the
    /// context, sequence ids (0 question, 1 context, `nil` special) and word ids of the window, `[seq]`.
    public var encoding: Encoding
    /// `p_mask`, `[seq]`: `true` for tokens that cannot be part of an answer (question and special
    /// tokens), `false` for context tokens and `[CLS]`.
    public var pMask: [Bool]
    /// Index, among all the context's tokens, of this window's first context token.
    public var contextTokenStart: Int

    public init(encoding: Encoding, pMask: [Bool], contextTokenStart: Int) {
        self.encoding = encoding
        self.pMask = pMask
        self.contextTokenStart = contextTokenStart
    }

    /// Token ids, `[seq]`.
    public var ids: [Int] { encoding.ids }
    /// Token type ids, `[seq]`.
    public var typeIds: [Int] { encoding.typeIds }
    /// Attention mask, `[seq]` (all ones: windows are not padded).
    public var attentionMask: [Int] { Array(repeating: 1, count: encoding.count) }
    /// Number of tokens.
    public var count: Int { encoding.count }
}

extension QuestionAnswering {
    /// The windows transformers builds for `question` and `context`.
    ///
    /// When question and context fit in `maxSeqLen` there is one window. Otherwise the context's
    /// tokens are cut into parts of `room = maxSeqLen - questionTokens - 3` tokens, each starting
    /// `room - docStride` tokens after the previous one, until a part reaches the end (the
    /// `Encoding::truncate` of `tokenizers`).
    ///
    /// - Throws: `PipelineError.emptyInput` for an empty question or context,
    ///   `.questionTooLong` when no context token fits beside the question,
    ///   `.strideTooLarge` when `docStride >= room` (both errors in transformers too).
    public static func windows(question: String, context: String, tokenizer: BertTokenizer,
                               parameters: QAParameters = QAParameters()) throws -> [QAWindow] {
        guard !question.isEmpty else { throw PipelineError.emptyInput(what: "question") }
        guard !context.isEmpty else { throw PipelineError.emptyInput(what: "context") }
        let full = tokenizer.encode(question, pair: context)
        let questionIndices = full.sequenceIds.indices.filter { full.sequenceIds[$0] == 0 }
        let contextIndices = full.sequenceIds.indices.filter { full.sequenceIds[$0] == 1 }

        var parts: [Range<Int>] = []
        let total = questionIndices.count + contextIndices.count + 3
        if total <= parameters.maxSeqLen {
            parts = [0..<contextIndices.count]
        } else {
            let room = parameters.maxSeqLen - questionIndices.count - 3
            guard room >= 1 else {
                throw PipelineError.questionTooLong(questionTokens: questionIndices.count,
                                                    maxSeqLen: parameters.maxSeqLen)
            }
            guard parameters.docStride >= 0, parameters.docStride < room else {
                throw PipelineError.strideTooLarge(stride: parameters.docStride, contextTokensPerWindow: room)
            }
            let step = room - parameters.docStride
            var start = 0
            while true {
                let stop = min(start + room, contextIndices.count)
                parts.append(start..<stop)
                if stop == contextIndices.count { break }
                start += step
            }
        }
        return parts.map { part in
            window(full: full, question: questionIndices, context: contextIndices[part],
                   contextTokenStart: part.lowerBound, tokenizer: tokenizer)
        }
    }

    /// How many windows `windows(question:context:…)` builds for a question of `questionTokens`
    /// and a context of `contextTokens` (special tokens not counted), without building them: 1
    /// when both fit in `maxSeqLen`, else one per step of `room - docStride` context tokens until a
    /// window reaches the end. 0 when `windows` would throw (no room, or a stride too large).
    public static func windowCount(questionTokens: Int, contextTokens: Int, parameters: QAParameters) -> Int {
        if questionTokens + contextTokens + 3 <= parameters.maxSeqLen { return 1 }
        let room = parameters.maxSeqLen - questionTokens - 3
        guard room >= 1, parameters.docStride >= 0, parameters.docStride < room else { return 0 }
        let step = room - parameters.docStride
        return 1 + (contextTokens - room + step - 1) / step
    }

    /// `windowCount` for `question` and `context` as `tokenizer` reads them (a server's bound on
    /// the work one request asks for, before any window is built).
    public static func windowCount(question: String, context: String, tokenizer: BertTokenizer,
                                   parameters: QAParameters) -> Int {
        windowCount(questionTokens: tokenizer.tokenize(question).count, contextTokens: tokenizer.tokenize(context).count,
                    parameters: parameters)
    }

    /// `[CLS] question [SEP] context[part] [SEP]` with `p_mask`.
    private static func window(full: Encoding, question: [Int], context: ArraySlice<Int>,
                               contextTokenStart: Int, tokenizer: BertTokenizer) -> QAWindow {
        var encoding = Encoding(ids: [], tokens: [], offsets: [], typeIds: [], sequenceIds: [], wordIds: [])
        var pMask: [Bool] = []
        func appendSpecial(_ id: Int, _ token: String, typeID: Int) {
            encoding.appendSpecial(id: id, token: token, typeId: typeID)
            pMask.append(true)
        }
        func appendToken(at index: Int, typeID: Int, isContext: Bool) {
            encoding.ids.append(full.ids[index])
            encoding.tokens.append(full.tokens[index])
            encoding.offsets.append(full.offsets[index])
            encoding.typeIds.append(typeID)
            encoding.sequenceIds.append(full.sequenceIds[index])
            encoding.wordIds.append(full.wordIds[index])
            pMask.append(!isContext)
        }
        let names = tokenizer.specialTokenNames
        appendSpecial(tokenizer.clsId, names.cls, typeID: 0)
        for index in question { appendToken(at: index, typeID: 0, isContext: false) }
        appendSpecial(tokenizer.sepId, names.sep, typeID: 0)
        for index in context { appendToken(at: index, typeID: 1, isContext: true) }
        appendSpecial(tokenizer.sepId, names.sep, typeID: 1)
        // transformers keeps every [CLS] id unmasked (some models answer "impossible" there).
        for i in encoding.ids.indices where encoding.ids[i] == tokenizer.clsId { pMask[i] = false }
        return QAWindow(encoding: encoding, pMask: pMask, contextTokenStart: contextTokenStart)
    }
}
