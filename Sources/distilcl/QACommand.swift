import ArgumentParser
import DistilCL
import Foundation

struct QACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qa",
        abstract: "Extractive question answering with a …ForQuestionAnswering checkpoint.",
        discussion: """
        Input is always JSON Lines: {"question": "...", "context": "..."} (other fields are \
        ignored; --jsonl is implied). Output, one JSON object per input line: "answers", the best \
        --top-k spans of the context, each {"answer", "score", "start", "end"} with start and end \
        in Unicode code points of the context (context[start..<end] is the answer), best first, \
        as transformers' question-answering pipeline with a fast tokenizer: a context longer \
        than one window is read in windows of --max-seq-len tokens overlapping by --doc-stride, \
        spans are widened to whole words, and equal answers from several windows are merged.

        --max-question-len is accepted for compatibility and, as in transformers with a fast \
        tokenizer, does not cut the question. An empty question or context is a bad input line. \
        A question that leaves no room for context in a window, or a --doc-stride that is not \
        smaller than the context room of a window, is an error (status 4, naming the line).

        Example:
          echo '{"question": "Who?", "context": "Ada wrote it."}' | distilcl qa --model qa-checkpoint

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var io: IOOptions

    @Option(name: .long, help: ArgumentHelp("Answers per input.", valueName: "n"))
    var topK = 1

    @Option(name: .long, help: ArgumentHelp(
        "Tokens per window, special tokens included. Default: 384, or --max-length / the model's positions if fewer.",
        valueName: "n"))
    var maxSeqLen: Int?

    @Option(name: .long, help: ArgumentHelp("Context tokens shared by consecutive windows.", valueName: "n"))
    var docStride = 128

    @Option(name: .long, help: ArgumentHelp("Accepted for compatibility; a fast tokenizer does not cut the question.",
                                            valueName: "n"))
    var maxQuestionLen = 64

    @Option(name: .long, help: ArgumentHelp("Longest answer, in tokens.", valueName: "n"))
    var maxAnswerLen = 15

    @Flag(name: .long, help: "Let the empty answer (scored by [CLS]) compete, for questions the context may not answer.")
    var handleImpossibleAnswer = false

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        if let maxSeqLen, maxSeqLen < 4 { throw ValidationError("--max-seq-len must be at least 4, got \(maxSeqLen)") }
        if docStride < 0 { throw ValidationError("--doc-stride must not be negative, got \(docStride)") }
        if maxQuestionLen < 1 { throw ValidationError("--max-question-len must be at least 1, got \(maxQuestionLen)") }
        if maxAnswerLen < 1 { throw ValidationError("--max-answer-len must be at least 1, got \(maxAnswerLen)") }
    }

    struct Output: Encodable {
        var answers: [QAAnswer]
    }

    func run() throws {
        try runReportingErrors {
            let session = try Session(model)
            try session.require([.questionAnswering], for: "qa")
            let seqLen = maxSeqLen ?? session.folder.defaultQAWindow
            guard seqLen <= session.config.maxPositions else {
                throw CLIError.usage("--max-seq-len \(seqLen) is more than the model's \(session.config.maxPositions) positions")
            }
            let parameters = QAParameters(maxSeqLen: seqLen, docStride: docStride, maxQuestionLen: maxQuestionLen,
                                          maxAnswerLen: maxAnswerLen, topK: topK,
                                          handleImpossibleAnswer: handleImpossibleAnswer)
            var flow = try CommandFlow(io: io)
            let source = flow.reader.sourceName
            let inputs = try flow.reader.checked(try flow.reader.questions(), line: \.line) { input in
                if input.question.isEmpty { return "the question is empty" }
                if input.context.isEmpty { return "the context is empty" }
                return nil
            }
            let encoder = try session.start(device)
            let tokenizer = session.tokenizer
            let batchSize = device.batchSize

            try flow.run(inputs, batchSize: batchSize, session: nil, prepare: { input -> (QAInput, [QAWindow]) in
                do {
                    return (input, try QuestionAnswering.windows(question: input.question, context: input.context,
                                                                 tokenizer: tokenizer, parameters: parameters))
                } catch let e as PipelineError {
                    throw CLIError.input("\(source) line \(input.line): \(e)")
                }
            }, length: { $0.1.reduce(0) { $0 + $1.count } }) { items in
                try QuestionAnswering.answers(items.map { ($0.1, $0.0.context) }, model: encoder, batchSize: batchSize,
                                              parameters: parameters).map { Output(answers: $0) }
            }
        }
    }
}
