import ArgumentParser
import DistilCL
import Foundation

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embeddings (or per-token hidden states) from any BERT or DistilBERT checkpoint.",
        discussion: """
        Output, one JSON object per input line: "embedding", the pooled last hidden state \
        (--pooling mean: the mean over the real tokens, as sentence-transformers; cls: the [CLS] \
        vector), or with --pooling none "hidden", one vector per real token ([CLS] and [SEP] \
        included, padding left out). --normalize divides each vector by its L2 norm.

        A sentence-transformers folder (modules.json, sentence_bert_config.json, as \
        all-MiniLM-L6-v2's) sets the defaults as sentence-transformers and \
        text-embeddings-inference apply them: inputs cut at its max_seq_length (256 for \
        all-MiniLM-L6-v2), the pooling of its Pooling module, and normalisation when a Normalize \
        module follows; --max-length, --pooling and --normalize/--no-normalize override them. \
        Otherwise: the model's max_position_embeddings, mean pooling, no normalisation.

        Examples:
          distilcl embed --input sentences.txt --output vectors.jsonl
          distilcl embed --model DIR --pooling none --jsonl < pairs.jsonl

        \(ExitStatus.helpText)
        """)

    enum Pooling: String, ExpressibleByArgument, CaseIterable {
        case mean, cls, none
    }

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var io: IOOptions

    @Option(help: ArgumentHelp("mean, cls or none (per-token vectors).",
                               discussion: "Default: a sentence-transformers folder's Pooling module, else mean."))
    var pooling: Pooling?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "L2-normalise each vector (or not).",
        discussion: "Default: normalise pooled vectors when a sentence-transformers folder's modules.json has a Normalize module."))
    var normalize: Bool?

    struct Output: Encodable {
        var embedding: [Float]?
        var hidden: [[Float]]?
    }

    func run() throws {
        try runReportingErrors {
            let session = try Session(model, embedding: true)
            let st = session.sentenceTransformers
            if self.pooling == nil, let why = st?.unsupportedPooling {
                throw CLIError.model("\(why); pass --pooling mean, cls or none to embed with another")
            }
            let pooling = self.pooling ?? (st?.pooling == .cls ? .cls : .mean)
            // Normalize follows pooling in sentence-transformers: per-token vectors only on request.
            let normalize = self.normalize ?? (pooling != .none && st?.normalize == true)
            var flow = try CommandFlow(io: io)
            let inputs = try flow.reader.texts(allowPair: true, command: "embed")
            let encoder = try session.start(device)
            try flow.run(inputs, batchSize: device.batchSize, session: session,
                         prepare: { session.encode($0.text, pair: $0.pair) }, length: \.count) { encodings in
                let batch = session.batch(encodings)
                switch pooling {
                case .mean, .cls:
                    let vectors = try encoder.embeddings(batch, pooling: pooling == .mean ? .mean : .cls,
                                                         normalize: normalize)
                    return vectors.map { Output(embedding: $0) }
                case .none:
                    let states = try encoder.lastHiddenState(batch)
                    return zip(states, batch.lengths).map { rows, length in
                        let real = rows.prefix(length)
                        return Output(hidden: normalize ? real.map(l2Normalized) : Array(real))
                    }
                }
            }
        }
    }
}
