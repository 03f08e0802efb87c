import ArgumentParser
import DistilCL

/// `--task` and how its data is read, for `train` and `distill`.
struct TaskFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "text-classification, token-classification or question-answering.",
        discussion: "Default: the model's head (…ForTokenClassification, …ForQuestionAnswering), else text-classification.",
        valueName: "task"))
    var task: TrainingTask?

    @Option(name: .long, help: ArgumentHelp(
        "Token classification's data: jsonl ({\"tokens\": […], \"tags\": […]} a line) or conll (token<TAB>tag lines, a blank line between sentences).",
        valueName: "format"))
    var format: TaggedData.Format = .jsonl

    @Flag(name: .long, help: "Token classification: every piece of a word carries its tag (a B- word's later pieces its I- tag), as run_ner's --label_all_tokens; default: the first piece only.")
    var labelAllTokens = false

    var settings: TaskSettings { TaskSettings(task: task, format: format, labelAllTokens: labelAllTokens) }
}
