import ArgumentParser
import DistilCL
import Foundation

extension AggregationStrategy: ExpressibleByArgument {}

struct NERCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ner",
        abstract: "Named entities (token classification) with a …ForTokenClassification checkpoint.",
        discussion: """
        Output, one JSON object per input line: "entities", with transformers' \
        token-classification pipeline field names. --aggregation none (the pipeline's default): \
        one entity per token not labelled O, {"entity" (its B-/I- label), "score", "index" (token \
        position), "word", "start", "end"}. simple, first, max, average: tokens grouped into \
        entities, {"entity_group" (label without B-/I-), "score" (mean), "word", "start", "end"}; \
        first/max/average first give each word one label (its first token's, its most confident \
        token's, or the best mean over its tokens). start and end are Unicode code points of the \
        input text.

        Example:
          echo "Ada Lovelace lived in London." | distilcl ner --model ner-checkpoint --aggregation simple

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions
    @OptionGroup var io: IOOptions

    @Option(name: .long, help: ArgumentHelp("none, simple, first, max or average.", valueName: "strategy"))
    var aggregation: AggregationStrategy = .none

    struct Output: Encodable {
        var entities: [Entity]
    }

    func run() throws {
        try runReportingErrors {
            let session = try Session(model)
            try session.require([.tokenClassification], for: "ner")
            let tokenizer = session.tokenizer
            let labels = session.config.labels
            var flow = try CommandFlow(io: io)
            let inputs = try flow.reader.texts(allowPair: false, command: "ner")
            let encoder = try session.start(device)
            let strategy = aggregation
            try flow.run(inputs, batchSize: device.batchSize, session: session,
                         prepare: { ($0.text, session.encode($0.text)) }, length: \.1.count) { items in
                let logits = try encoder.tokenLogits(session.batch(items.map(\.1)), head: .tokenClassification)
                return try zip(items, logits).map { item, rows in
                    Output(entities: try TokenClassification.entities(
                        text: item.0, encoding: item.1, logits: rows, labels: labels, strategy: strategy,
                        tokenizer: tokenizer))
                }
            }
        }
    }
}
