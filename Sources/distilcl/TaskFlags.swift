import ArgumentParser
import DistilCL

/// `--task` and how its data is read, for `train` and `distill`.
struct TaskFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "text-classification, token-classification, question-answering or masked-lm.",
        discussion: "Default: the model's head (…ForTokenClassification, …ForQuestionAnswering, …ForMaskedLM), else text-classification.",
        valueName: "task"))
    var task: TrainingTask?

    @Option(name: .long, help: ArgumentHelp(
        "Token classification's data: jsonl ({\"tokens\": […], \"tags\": […]} a line) or conll (token<TAB>tag lines, a blank line between sentences).",
        valueName: "format"))
    var format: TaggedData.Format = .jsonl

    @Flag(name: .long, help: "Token classification: every piece of a word carries its tag (a B- word's later pieces its I- tag), as run_ner's --label_all_tokens; default: the first piece only.")
    var labelAllTokens = false

    @Option(name: .long, help: ArgumentHelp("Question answering: context tokens shared by consecutive windows.",
                                            valueName: "n"))
    var docStride = 128

    @Option(name: .long, help: ArgumentHelp("Question answering's evaluation: spans each window proposes.", valueName: "n"))
    var nBest = 20

    @Option(name: .long, help: ArgumentHelp("Question answering's evaluation: the longest answer, in tokens.",
                                            valueName: "n"))
    var maxAnswerLength = 30

    @Option(name: .long, help: ArgumentHelp(
        "SQuAD v2.0 data (unanswerable questions): no answer when its log score beats the best span's by more than this.",
        valueName: "x"))
    var nullScoreDiffThreshold: Float = 0

    @Flag(name: .long, help: ArgumentHelp(
        "Text classification: one number a text (\"label\": 3.5), a one-label head, mean squared error; metrics mse and pearson.",
        discussion: "Default: the model's config.json problem_type, else regression for a one-label head."))
    var regression = false

    @Flag(name: .long, help: "Text classification: any set of labels a text (\"label\": [\"a\", \"c\"], names or class indices), binary cross-entropy with logits, a label predicted above probability 0.5; metrics accuracy (every label right) and f1 (macro over the labels).")
    var multiLabel = false

    @Flag(name: .long, help: "Masked-LM: one text a block, cut at --max-length (run_mlm's --line_by_line); default: the texts concatenated and cut into blocks of --max-length, the remainder dropped.")
    var lineByLine = false

    @Option(name: .long, help: ArgumentHelp(
        "Masked-LM: the share of tokens predicted (of those, 80% read [MASK], 10% a random token, 10% themselves).",
        valueName: "p"))
    var mlmProbability = 0.15

    @Flag(name: .long, help: "Masked-LM: every piece of a chosen word is chosen with it.")
    var wholeWordMasking = false

    var settings: TaskSettings {
        TaskSettings(task: task, format: format, labelAllTokens: labelAllTokens, docStride: docStride, nBest: nBest,
                     maxAnswerLength: maxAnswerLength, nullScoreDiffThreshold: nullScoreDiffThreshold,
                     problemType: regression ? .regression : multiLabel ? .multiLabel : nil,
                     maskedLM: MaskedLMOptions(lineByLine: lineByLine, probability: mlmProbability,
                                               wholeWord: wholeWordMasking))
    }

    func validate() throws {
        if regression, multiLabel { throw ValidationError("--regression and --multi-label exclude each other") }
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
    }
}
