import ArgumentParser
import DistilCL
import Foundation

struct FillMaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill-mask",
        abstract: "Predict the tokens at [MASK] with a …ForMaskedLM checkpoint.",
        discussion: """
        Each input must hold at least one mask token ([MASK], as the tokenizer names it) within \
        --max-length; one without is a bad input line. Output, one JSON object per input line: \
        "predictions", one list per mask in order (a list even when there is one mask), each the \
        best --top-k {"token" (id), "token_str", "score" (softmax probability over the \
        vocabulary), "sequence" (the input decoded with that token in place)}, as transformers' \
        fill-mask pipeline. With several masks each is predicted on its own and "sequence" keeps \
        the special tokens, as the pipeline does.

        Example:
          echo "The capital of France is [MASK]." | distilcl fill-mask --model mlm-checkpoint --top-k 3

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var io: IOOptions

    @Option(name: .long, help: ArgumentHelp("Predictions per mask.", valueName: "n"))
    var topK = 5

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
    }

    struct Output: Encodable {
        var predictions: [[FillMaskPrediction]]
    }

    func run() throws {
        try runReportingErrors {
            let session = try Session(model)
            try session.require([.maskedLM], for: "fill-mask")
            let tokenizer = session.tokenizer
            let mask = tokenizer.specialTokenNames.mask
            var flow = try CommandFlow(io: io)
            let maxLength = session.maxLength
            let inputs = try flow.reader.checked(try flow.reader.texts(allowPair: false, command: "fill-mask"),
                                                 line: \.line) { input in
                guard input.text.contains(mask) else { return "no \(mask) token in the text" }
                let e = tokenizer.encode(input.text, maxLength: maxLength)
                return FillMask.maskPositions(in: e, tokenizer: tokenizer).isEmpty
                    ? "no \(mask) token within --max-length \(maxLength)" : nil
            }
            let encoder = try session.start(device)
            let k = topK
            try flow.run(inputs, batchSize: device.batchSize, session: session,
                         prepare: { session.encode($0.text) }, length: \.count) { encodings in
                let logits = try FillMask.maskLogits(encodings, model: encoder, tokenizer: tokenizer)
                return try zip(encodings, logits).map { e, maskLogits in
                    Output(predictions: try FillMask.predictions(
                        maskLogits: maskLogits, encoding: e, topK: k, tokenizer: tokenizer))
                }
            }
        }
    }
}
