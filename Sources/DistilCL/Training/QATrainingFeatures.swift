import Foundation

// Question answering's features, as transformers' `run_qa.py` builds them: each question
// (left-stripped) with its context cut into windows by the QA pipeline's own window builder
// (`truncation="only_second"`, `stride=doc_stride`, unpadded), labelled for training with the
// first answer's start and end tokens (`prepare_train_features`), and decoded for evaluation by
// the QA pipeline's span selection.

/// One training window: what the model reads and where the answer lies in it.
public struct QATrainingFeature: Sendable, Equatable {
    /// `[CLS] question [SEP] context part [SEP]`: ids, type ids, offsets, `[seq]`.
    public var window: QAWindow
    /// Index of the example (in the list given) the window came from.
    public var example: Int
    /// Token index in the window of the answer's first and last token; both 0 (`[CLS]`) when
    /// the question is unanswerable or the window does not hold the whole first answer.
    public var startPosition: Int
    public var endPosition: Int

    public var encoding: Encoding { window.encoding }
}

/// How windows are cut (transformers' `--max_seq_length`, `--doc_stride`).
public struct QAWindowing: Sendable, Equatable {
    /// Most tokens in a window, special tokens included.
    public var maxLength: Int
    /// Context tokens shared by consecutive windows.
    public var docStride: Int

    public init(maxLength: Int = 384, docStride: Int = 128) {
        self.maxLength = maxLength
        self.docStride = docStride
    }

    var parameters: QAParameters { QAParameters(maxSeqLen: maxLength, docStride: docStride) }
}

public enum QATrainingFeatures {
    /// Every training window of `examples`, in order (`prepare_train_features`).
    ///
    /// - Throws: `LabeledDataError` naming `path` and the example's id or line when its
    ///   question leaves no room for context in `maxLength`, or `docStride` does not fit the room.
    public static func training(_ examples: [SquadExample], tokenizer: BertTokenizer,
                                windowing: QAWindowing = QAWindowing(), path: String) throws -> [QATrainingFeature] {
        var features: [QATrainingFeature] = []
        for (i, example) in examples.enumerated() {
            let answer = example.answers.first
            for window in try windows(example, tokenizer: tokenizer, windowing: windowing, path: path) {
                let (start, end) = positions(of: answer, in: window)
                features.append(QATrainingFeature(window: window, example: i, startPosition: start, endPosition: end))
            }
        }
        return features
    }

    /// The windows of one example, its question left-stripped as `run_qa.py` does.
    public static func windows(_ example: SquadExample, tokenizer: BertTokenizer, windowing: QAWindowing,
                               path: String) throws -> [QAWindow] {
        let question = String(String.UnicodeScalarView(example.question.unicodeScalars.drop(while: isPythonSpace)))
        do {
            return try QuestionAnswering.windows(question: question, context: example.context, tokenizer: tokenizer,
                                                 parameters: windowing.parameters)
        } catch let e as PipelineError {
            throw example.error(path, "\(e)")
        }
    }

    /// The answer's first and last token in `window`, as `prepare_train_features` finds them:
    /// (0, 0) unless the window's context runs from at or before the answer's first character
    /// to at or after its last; then the last token starting at or before the first character,
    /// and the first token ending at or after the end.
    ///
    /// One deliberate difference: `run_qa.py`'s start loop does not stop at the context's last
    /// token (its comment calls it an edge case), so an answer starting in that token gets the
    /// position of the final `[SEP]` (or of the last pad); here it gets that token.
    static func positions(of answer: SquadAnswer?, in window: QAWindow) -> (start: Int, end: Int) {
        let e = window.encoding
        guard let answer, let first = e.sequenceIds.firstIndex(of: 1), let last = e.sequenceIds.lastIndex(of: 1) else {
            return (0, 0)
        }
        let (startChar, endChar) = (answer.start, answer.end)
        guard e.offsets[first].start <= startChar, e.offsets[last].end >= endChar else { return (0, 0) }
        var start = first
        while start < last, e.offsets[start + 1].start <= startChar { start += 1 }
        var end = last
        while end > first, e.offsets[end - 1].end >= endChar { end -= 1 }
        return (start, end)
    }

    // MARK: - Evaluation

    /// Every example's windows for prediction (`prepare_validation_features`), `[examples][windows]`.
    public static func evaluation(_ examples: [SquadExample], tokenizer: BertTokenizer,
                                  windowing: QAWindowing = QAWindowing(), path: String) throws -> [[QAWindow]] {
        try examples.map { try windows($0, tokenizer: tokenizer, windowing: windowing, path: path) }
    }

    /// Each example's predicted answer: every window of every example through `model`'s QA head,
    /// `batchSize` windows at a time, then `prediction(…)` on each example's windows.
    public static func predictions(_ examples: [SquadExample], windows: [[QAWindow]], model: EncoderModel,
                                   batchSize: Int, settings: QAPredictionSettings = QAPredictionSettings())
        throws -> [QAPrediction] {
        let all = windows.flatMap { $0 }
        var starts: [[Float]] = [], ends: [[Float]] = []
        for first in stride(from: 0, to: all.count, by: max(1, batchSize)) {
            let part = all[first..<min(first + max(1, batchSize), all.count)].map(\.encoding)
            for row in try model.tokenLogits(TokenBatch(part), head: .questionAnswering) {
                starts.append(row.map { $0[0] })
                ends.append(row.map { $0[1] })
            }
        }
        var offset = 0
        return try zip(examples, windows).map { example, own in
            defer { offset += own.count }
            let range = offset..<offset + own.count
            return try prediction(windows: own, startLogits: Array(starts[range]), endLogits: Array(ends[range]),
                                  context: example.context, settings: settings)
        }
    }

    /// One example's answer from its windows' start and end logits (`[windows][seq]`), with the
    /// QA pipeline's decoding: per window the `nBest` best spans of at most `maxAnswerLength`
    /// tokens by start × end probability (softmax over the window), spans of the same text
    /// merged across windows, the best kept. With `nullScoreDiffThreshold` (SQuAD v2.0) the
    /// answer is empty when log(null score) − log(best span's score) exceeds it, the null score
    /// being the smallest `[CLS]` start × end probability over the windows: the difference of
    /// `run_qa.py`'s logit sums when the null and the best span come from one window (the
    /// softmax's normaliser cancels); threshold 0 gives the pipeline's `handle_impossible_answer`.
    ///
    /// `run_qa.py` ranks spans across windows by raw logit sums and does not merge equal texts;
    /// this ranks by each window's probabilities, as the pipeline does.
    public static func prediction(windows: [QAWindow], startLogits: [[Float]], endLogits: [[Float]], context: String,
                                  settings: QAPredictionSettings = QAPredictionSettings()) throws -> QAPrediction {
        let parameters = QAParameters(maxAnswerLen: settings.maxAnswerLength, topK: settings.nBest,
                                      handleImpossibleAnswer: settings.nullScoreDiffThreshold != nil,
                                      alignToWords: settings.alignToWords)
        let (spans, nullScore) = try QuestionAnswering.spans(windows: windows, startLogits: startLogits,
                                                             endLogits: endLogits, context: context,
                                                             parameters: parameters)
        // The first of the highest scores, as the pipeline's stable sort keeps it.
        let best = spans.indices.reduce(nil as Int?) { b, i in b.map { spans[i].score > spans[$0].score ? i : $0 } ?? i }
        let difference = best.map { log(nullScore) - log(spans[$0].score) } ?? .infinity
        if let threshold = settings.nullScoreDiffThreshold, best == nil || difference > Double(threshold) {
            return QAPrediction(text: "", start: 0, end: 0, score: nullScore, nullScoreDifference: difference)
        }
        guard let best else { return QAPrediction(text: "", start: 0, end: 0, score: 0, nullScoreDifference: nil) }
        let s = spans[best]
        return QAPrediction(text: s.answer, start: s.start, end: s.end, score: s.score,
                            nullScoreDifference: settings.nullScoreDiffThreshold == nil ? nil : difference)
    }
}

/// Evaluation's decoding settings (transformers' `run_qa.py` names in brackets).
public struct QAPredictionSettings: Sendable, Equatable {
    /// Spans each window proposes (`n_best_size`).
    public var nBest: Int
    /// Longest answer in tokens (`max_answer_length`).
    public var maxAnswerLength: Int
    /// SQuAD v2.0: the empty answer wins when its log score beats the best span's by more than
    /// this (`null_score_diff_threshold`); nil (v1.1): never empty.
    public var nullScoreDiffThreshold: Float?
    /// Whether answers widen to whole words, as the pipeline's default; `run_qa.py` cuts at the
    /// tokens' own offsets (false).
    public var alignToWords: Bool

    public init(nBest: Int = 20, maxAnswerLength: Int = 30, nullScoreDiffThreshold: Float? = nil,
                alignToWords: Bool = false) {
        self.nBest = nBest
        self.maxAnswerLength = maxAnswerLength
        self.nullScoreDiffThreshold = nullScoreDiffThreshold
        self.alignToWords = alignToWords
    }
}

/// One example's predicted answer.
public struct QAPrediction: Sendable, Equatable {
    /// The answer, `context[start..<end]` in code points; empty for "no answer".
    public var text: String
    public var start: Int
    public var end: Int
    /// Its score: start × end probability summed over spans of the same text (the null score
    /// for an empty answer).
    public var score: Double
    /// log(null score) − log(best span's score) (SQuAD v2.0's `scores_diff`), nil without a threshold.
    public var nullScoreDifference: Double?
}
