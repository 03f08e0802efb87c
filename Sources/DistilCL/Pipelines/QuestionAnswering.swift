// The question-answering pipeline's post-processing (transformers `QuestionAnsweringPipeline`
// with a fast tokenizer): per window, `select_starts_ends` and `decode_spans` propose
// `top_k * 2 + 10` spans (`top_k` without `align_to_words`); the spans are widened to whole words
// of the context, spans giving the same text are merged (scores summed) across windows, and the
// answers are sorted and cut to top_k.

/// One answer, as the pipeline's `{"score", "start", "end", "answer"}`.
public struct QAAnswer: Sendable, Equatable, Codable {
    /// The answer text, `context[start..<end]` in code points.
    public var answer: String
    /// Probability of the span (start probability × end probability), summed over windows and
    /// spans giving the same text (compared case-insensitively).
    public var score: Float
    /// First code point of the answer in the context.
    public var start: Int
    /// One past the last code point of the answer in the context.
    public var end: Int

    public init(answer: String, score: Float, start: Int, end: Int) {
        self.answer = answer
        self.score = score
        self.start = start
        self.end = end
    }

}

/// Question-answering pre- and post-processing.
public enum QuestionAnswering {
    /// One candidate span of one window: token indices and score.
    public struct Span: Sendable, Equatable {
        /// First token of the span in the window.
        public var start: Int
        /// Last token of the span in the window (inclusive).
        public var end: Int
        /// start probability × end probability.
        public var score: Float
    }

    /// Answers for several inputs (each its windows, from `windows(question:context:…)`, and
    /// its context): every window of every input run through `model`'s QA head `batchSize`
    /// windows at a time, then each input's answers from its windows' logits.
    public static func answers(_ inputs: [(windows: [QAWindow], context: String)], model: EncoderModel,
                               batchSize: Int, parameters: QAParameters) throws -> [[QAAnswer]] {
        let windows = inputs.flatMap(\.windows)
        var starts: [[Float]] = [], ends: [[Float]] = []
        for first in stride(from: 0, to: windows.count, by: max(1, batchSize)) {
            let part = windows[first..<min(first + max(1, batchSize), windows.count)].map(\.encoding)
            for row in try model.tokenLogits(TokenBatch(part), head: .questionAnswering) {
                starts.append(row.map { $0[0] })
                ends.append(row.map { $0[1] })
            }
        }
        var offset = 0
        return try inputs.map { input in
            defer { offset += input.windows.count }
            let range = offset..<offset + input.windows.count
            return try answers(windows: input.windows, startLogits: Array(starts[range]), endLogits: Array(ends[range]),
                               context: input.context, parameters: parameters)
        }
    }

    /// The answers for `context`, from the start and end logits of each of its windows.
    ///
    /// - Parameters:
    ///   - windows: the windows from `windows(question:context:tokenizer:parameters:)`.
    ///   - startLogits: `[windows][seq]`; a row may be longer than its window (padding), the
    ///     extra values are ignored.
    ///   - endLogits: `[windows][seq]`, likewise.
    ///   - context: the context the windows were built from.
    ///   - parameters: `maxAnswerLen`, `topK`, `handleImpossibleAnswer` and `alignToWords` are used.
    /// - Returns: at most `topK` answers, best first.
    /// - Throws: `PipelineError.shapeMismatch` when the logits do not cover the windows.
    public static func answers(windows: [QAWindow], startLogits: [[Float]], endLogits: [[Float]], context: String,
                               parameters: QAParameters = QAParameters()) throws -> [QAAnswer] {
        var (found, minNullScore) = try spans(windows: windows, startLogits: startLogits, endLogits: endLogits,
                                              context: context, parameters: parameters)
        if parameters.handleImpossibleAnswer {
            found.append(("", minNullScore, 0, 0))
        }
        // Python's `sorted(..., reverse=True)` is stable: equal scores keep their order.
        let order = found.indices.sorted { found[$0].score != found[$1].score ? found[$0].score > found[$1].score : $0 < $1 }
        return order.prefix(max(0, parameters.topK)).map {
            QAAnswer(answer: found[$0].answer, score: Float(found[$0].score), start: found[$0].start, end: found[$0].end)
        }
    }

    /// The spans `answers` ranks, before the null answer joins them and before sorting: each
    /// window's proposals, widened to words when `alignToWords` and merged by text (scores
    /// summed, first occurrence kept), in the order found; and the smallest null score
    /// (`[CLS]` start probability × end probability) over the windows.
    static func spans(windows: [QAWindow], startLogits: [[Float]], endLogits: [[Float]], context: String,
                      parameters: QAParameters)
        throws -> (spans: [(answer: String, score: Double, start: Int, end: Int)], nullScore: Double) {
        guard startLogits.count == windows.count, endLogits.count == windows.count else {
            throw PipelineError.shapeMismatch(what: "\(windows.count) windows but \(startLogits.count) start and "
                                              + "\(endLogits.count) end logit rows")
        }
        let contextScalars = Array(context.unicodeScalars)
        var found: [(answer: String, score: Double, start: Int, end: Int)] = []
        var minNullScore = 1_000_000.0
        // transformers asks each window for more spans than it returns, since several spans can
        // widen to the same words and be merged.
        let topK = min(parameters.topK, 1 << 20)   // no window has more spans; keeps the arithmetic in range
        let spansPerWindow = parameters.alignToWords ? topK * 2 + 10 : topK
        for (w, window) in windows.enumerated() {
            let n = window.count
            guard startLogits[w].count >= n, endLogits[w].count >= n else {
                throw PipelineError.shapeMismatch(what: "window \(w) has \(n) tokens but \(startLogits[w].count) "
                                                  + "start and \(endLogits[w].count) end logits")
            }
            let selected = selectStartsEnds(start: Array(startLogits[w].prefix(n)), end: Array(endLogits[w].prefix(n)),
                                            pMask: window.pMask, topK: spansPerWindow,
                                            maxAnswerLen: parameters.maxAnswerLen)
            minNullScore = min(minNullScore, Double(selected.nullScore))
            for span in selected.spans {
                let (startIndex, endIndex) = characterRange(of: span, in: window, alignToWords: parameters.alignToWords)
                let text = slice(contextScalars, startIndex, endIndex)
                let key = text.lowercased()
                if let existing = found.firstIndex(where: { $0.answer.lowercased().hasSameScalars(as: key) }) {
                    found[existing].score += Double(span.score)
                } else {
                    found.append((text, Double(span.score), startIndex, endIndex))
                }
            }
        }
        return (found, minNullScore)
    }

    /// `select_starts_ends` + `decode_spans` for one window.
    ///
    /// Tokens masked by `pMask` get logit -10000, start and end logits each go through a float32
    /// softmax, `[CLS]`'s probabilities are recorded (`nullScore`) and then zeroed, and the `topK`
    /// best spans with `start <= end < start + maxAnswerLen` are kept when both ends are unmasked.
    ///
    /// - Parameters:
    ///   - start: start logits, `[seq]`.
    ///   - end: end logits, `[seq]`.
    ///   - pMask: `[seq]`, `true` where a token cannot be part of an answer.
    /// - Returns: the spans, best first, and `start_prob[0] * end_prob[0]`.
    public static func selectStartsEnds(start: [Float], end: [Float], pMask: [Bool], topK: Int,
                                        maxAnswerLen: Int) -> (spans: [Span], nullScore: Float) {
        let n = min(start.count, end.count, pMask.count)
        guard n > 0 else { return ([], 0) }
        let masked = { (logits: [Float]) -> [Float] in
            (0..<n).map { pMask[$0] ? -10000 : logits[$0] }
        }
        var startProbabilities = PipelineMath.softmax(masked(start))
        var endProbabilities = PipelineMath.softmax(masked(end))
        let nullScore = startProbabilities[0] * endProbabilities[0]
        startProbabilities[0] = 0
        endProbabilities[0] = 0

        // Candidate cells of the (start, end) matrix kept by np.triu / np.tril(k = maxAnswerLen - 1),
        // in flat (row-major) order; numpy's top-k picks among ties arbitrarily, this keeps index order.
        var candidates: [Span] = []
        candidates.reserveCapacity(n * max(1, min(n, maxAnswerLen)))
        for s in 0..<n {
            let last = min(n - 1, s + min(n, max(maxAnswerLen, 0)) - 1)   // no overflow for huge maxAnswerLen
            guard s <= last else { continue }
            for e in s...last {
                candidates.append(Span(start: s, end: e, score: startProbabilities[s] * endProbabilities[e]))
            }
        }
        let best = PipelineMath.topK(candidates.map(\.score), max(1, topK))
        let spans = best.map { candidates[$0] }.filter { !pMask[$0.start] && !pMask[$0.end] }
        return (spans, nullScore)
    }

    /// `get_indices`: with `alignToWords`, the code point range of the whole words the span's
    /// first and last tokens belong to (within this window); otherwise, or when either token has
    /// no word (`[CLS]`), the tokens' own offsets.
    static func characterRange(of span: Span, in window: QAWindow, alignToWords: Bool) -> (Int, Int) {
        let encoding = window.encoding
        guard alignToWords, let startWord = encoding.wordIds[span.start], let endWord = encoding.wordIds[span.end],
              let startChars = wordCharacters(startWord, in: encoding),
              let endChars = wordCharacters(endWord, in: encoding)
        else {
            return (encoding.offsets[span.start].start, encoding.offsets[span.end].end)
        }
        return (startChars.start, endChars.end)
    }

    /// `Encoding.word_to_chars(word, sequence_index=1)`: from the first to the last context token of `word`.
    private static func wordCharacters(_ word: Int, in encoding: Encoding) -> CodePointRange? {
        let tokens = encoding.count
        var first: Int?
        var last: Int?
        for i in 0..<tokens where encoding.sequenceIds[i] == 1 && encoding.wordIds[i] == word {
            if first == nil { first = i }
            last = i
        }
        guard let first, let last else { return nil }
        return CodePointRange(encoding.offsets[first].start, encoding.offsets[last].end)
    }

    /// Python's `text[start:end]` on code points (empty when `end <= start`).
    private static func slice(_ scalars: [Unicode.Scalar], _ start: Int, _ end: Int) -> String {
        let lower = min(max(start, 0), scalars.count)
        let upper = min(max(end, lower), scalars.count)
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[lower..<upper])
        return String(view)
    }
}
