import ArgumentParser
import DistilCL
import Foundation

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify texts (or text pairs) with a sequence-classification checkpoint, or by embedding similarity.",
        discussion: """
        Output, one JSON object per input line: "label" (the best label) and "score" (its \
        probability: softmax over the labels; sigmoid for a multi-label model or a one-label head; \
        the raw value for a regression model (config.json "problem_type"), as transformers' \
        text-classification pipeline). --top-k N adds "scores", the best N {"label", "score"} \
        pairs, highest first; --logits adds "logits", the raw logits in label-id order. With \
        --jsonl, "text_pair" makes a sentence pair ([CLS] text [SEP] text_pair [SEP]).

        Zero-shot by similarity: for a model with no classification head (such as \
        all-MiniLM-L6-v2), --labels "NAME=description,NAME=description,…" classifies each text \
        by the cosine between its embedding and each description's (mean pooling over the real \
        tokens, or a sentence-transformers folder's Pooling module; L2-normalised; inputs and \
        descriptions cut at --max-length, else the folder's max_seq_length as in embed). "label" is the label whose description \
        is most similar and "score" is that cosine similarity, in [-1, 1], not a probability; \
        --top-k lists the cosines of the N most similar labels. A comma followed by text \
        without "=" continues the previous description; --labels may be repeated.

        Examples:
          distilcl classify --model sst-checkpoint --input reviews.txt --top-k 2
          distilcl classify --labels "POSITIVE=This movie is great.,NEGATIVE=This movie is terrible." < reviews.txt

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var io: IOOptions

    @Option(name: .long, help: ArgumentHelp("Add \"scores\": the best N labels and their scores.", valueName: "n"))
    var topK: Int?

    @Flag(name: .long, help: "Add \"logits\": the raw logits, in label-id order (classification head only).")
    var logits = false

    @Option(name: .long, help: ArgumentHelp(
        "Zero-shot labels by embedding similarity: NAME=description,… (see below).", valueName: "labels"))
    var labels: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "softmax, sigmoid or none (raw logits as scores). Default: the pipeline's (none for problem_type regression, sigmoid for multi-label or one label, else softmax).",
        valueName: "function"))
    var function: String?

    func validate() throws {
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        if let function, ClassificationFunction(rawValue: function) == nil {
            throw ValidationError("--function must be softmax, sigmoid or none, got '\(function)'")
        }
        if !labels.isEmpty {
            _ = try Self.parseLabels(labels)
            if logits { throw ValidationError("--logits needs a classification head; it does not apply with --labels") }
            if function != nil { throw ValidationError("--function does not apply with --labels (scores are cosines)") }
        }
    }

    /// `--labels` parsed (`ZeroShotClassifier.parseLabels`), as a usage error when malformed.
    static func parseLabels(_ arguments: [String]) throws -> [ZeroShotClassifier.Label] {
        do { return try ZeroShotClassifier.parseLabels(arguments) } catch { throw ValidationError("\(error)") }
    }

    struct Output: Encodable {
        var label: String
        var score: Float
        var scores: [LabelScore]?
        var logits: [Float]?
    }

    func run() throws {
        try runReportingErrors {
            let zeroShot = labels.isEmpty ? nil : try Self.parseLabels(labels)
            let session = try Session(model, embedding: zeroShot != nil)
            // Zero-shot embeds as the folder's sentence-transformers settings say (default mean).
            if zeroShot != nil, let why = session.sentenceTransformers?.unsupportedPooling {
                throw CLIError.model("\(why): zero-shot classification cannot embed as the folder says")
            }
            let pooling: SentencePooling = session.sentenceTransformers?.pooling == .cls ? .cls : .mean
            if zeroShot == nil {
                guard session.config.task == .sequenceClassification else {
                    let what = session.config.architectures.first ?? "an encoder with no classification head"
                    throw CLIError.model("\(session.directory.path) is \(what): classify needs a …ForSequenceClassification "
                                         + "checkpoint, or --labels \"NAME=description,…\" to classify by embedding similarity")
                }
            }
            var flow = try CommandFlow(io: io)
            let inputs = try flow.reader.texts(allowPair: true, command: "classify")
            let encoder = try session.start(device)
            let apply = function.flatMap(ClassificationFunction.init(rawValue:)) ?? .default(for: session.config)

            if let zeroShot {
                // Descriptions are not inputs: not counted in the truncation warning.
                let classifier = try ZeroShotClassifier(labels: zeroShot, model: encoder, tokenizer: session.tokenizer,
                                                        maxLength: session.maxLength, pooling: pooling,
                                                        batchSize: device.batchSize)
                try flow.run(inputs, batchSize: device.batchSize, session: session,
                             prepare: { session.encode($0.text, pair: $0.pair) }, length: \.count) { encodings in
                    try classifier.scores(session.batch(encodings), model: encoder).map { ranked in
                        Output(label: ranked[0].label, score: ranked[0].score, scores: topK.map { Array(ranked.prefix($0)) })
                    }
                }
                return
            }

            let names = session.config.labels
            try flow.run(inputs, batchSize: device.batchSize, session: session,
                         prepare: { session.encode($0.text, pair: $0.pair) }, length: \.count) { encodings in
                let rows = try encoder.classificationLogits(session.batch(encodings))
                return rows.map { row in
                    let ranked = TextClassification.scores(logits: row, labels: names, function: apply)
                    let best = ranked.first ?? LabelScore(label: "", score: .nan)
                    return Output(label: best.label, score: best.score,
                                  scores: topK.map { Array(ranked.prefix($0)) }, logits: logits ? row : nil)
                }
            }
        }
    }
}
