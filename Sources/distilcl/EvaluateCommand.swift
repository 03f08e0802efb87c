import ArgumentParser
import DistilCL
import Foundation

extension TrainingTask: ExpressibleByArgument {}
extension TaggedData.Format: ExpressibleByArgument {}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "A model's metrics on a labelled file, as a training run's --eval computes them.",
        discussion: """
        --task (default: the model's head): text-classification reads JSON Lines {"text", "label"} \
        (optional "text_pair") and gives eval_loss, accuracy and f1 (macro); a regression model \
        (problem_type, or --regression) reads numbers as labels and gives eval_loss = mse and \
        pearson; a multi-label one (--multi-label) lists of labels, and gives the mean binary \
        cross-entropy, accuracy (every label right) and f1 (macro over labels); token-classification \
        reads JSON Lines {"tokens": […], "tags": […]} or, with --format conll, token<TAB>tag lines \
        with a blank line between sentences, and gives eval_loss and seqeval's entity-level \
        precision, recall and f1 with the token accuracy, scored on each word's first piece as \
        transformers' run_ner.py does (--label-all-tokens: on every piece); question-answering reads \
        SQuAD JSON (v1.1, or v2.0 with unanswerable questions) or JSON Lines {"question", \
        "context", "answers": {"text": […], "answer_start": […]}}, cuts each context into windows of \
        --max-length (default 384) with --doc-stride, decodes the QA pipeline's way (--n-best, \
        --max-answer-length; v2.0 data: no answer beyond --null-score-diff-threshold) and gives the \
        official SQuAD scores: exact_match and f1 (v2.0: exact, f1, HasAns_*, NoAns_*), with the \
        windows' mean start/end loss; masked-lm reads text (a text a line, or JSON Lines with \
        "text"), cut into blocks as training does (--line-by-line, --max-length), masks each \
        block from --seed (--mlm-probability, --whole-word-masking) and gives eval_loss (the mean \
        cross-entropy over the masked tokens), accuracy (the share predicted exactly) and \
        perplexity (exp of the loss). Labels are read under the model's id2label.

        Output: one line per metric on stdout, or with --json one object with transformers' names \
        ({"eval_loss": …, "eval_accuracy": …, …}).

        Example:
          distilcl evaluate --model models/minilm-ner --data data/ner/dev.jsonl --json

        Exit status: 0 success; 1 other failure; 3 model folder missing or broken, or without the \
        task's head; 4 bad data (the message gives file and line); 5 device or OpenCL failure; 64 \
        bad flag or flag value.
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @Option(name: .long, help: ArgumentHelp("The labelled file to evaluate on.", valueName: "file"))
    var data: String

    @OptionGroup var taskFlags: TaskFlags

    @Option(name: .long, help: ArgumentHelp(
        "Masked-LM: the masks' seed; two models evaluated with one seed are scored on the same positions.",
        valueName: "n"))
    var seed: UInt64 = 0

    @Flag(name: .long, help: "One JSON object with transformers' metric names.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let session = try Session(model)
            let task = try TrainingTask.resolve(taskFlags.task, model: session.directory)
            let encoder = try session.start(device)
            // run_qa.py's windows are 384 tokens unless --max-length says otherwise.
            let maxLength = task == .questionAnswering && model.maxLength == nil ? min(384, session.maxLength)
                                                                                   : session.maxLength
            let settings = EvaluationSettings(task: task, maxLength: maxLength, batchSize: device.batchSize,
                                              data: taskFlags.settings, seed: seed)
            let result = try Evaluator.evaluate(encoder, tokenizer: session.tokenizer, data: URL(fileURLWithPath: data),
                                                settings: settings)
            if json {
                let body = result.prefixed.map { "\"\($0.name)\": \(Self.number($0.value))" }.joined(separator: ", ")
                print("{\(body)}")
            } else {
                for (name, value) in result.prefixed { print("\(name)\t\(Self.number(value))") }
            }
        }
    }

    /// A JSON number (NaN and infinities, which JSON lacks, as null).
    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}
