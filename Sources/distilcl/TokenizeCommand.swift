import ArgumentParser
import DistilCL
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize texts with a model's WordPiece vocabulary, as BertTokenizerFast does.",
        discussion: """
        Needs only vocab.txt (and tokenizer_config.json when present) in the model folder. \
        Output, one JSON object per input line: "ids" (with [CLS] and [SEP]), "tokens", "offsets" \
        ([start, end) in Unicode code points of the input, [0, 0] for added special tokens) and, \
        for a pair (--jsonl with "text_pair"), "token_type_ids".

        Examples:
          echo "Hello, world!" | distilcl tokenize --model models/all-MiniLM-L6-v2
          distilcl tokenize --jsonl --input pairs.jsonl --max-length 128

        \(ExitStatus.helpText)
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var io: IOOptions

    struct Output: Encodable {
        var ids: [Int]
        var tokens: [String]
        var offsets: [[Int]]
        var token_type_ids: [Int]?
    }

    func run() throws {
        try runReportingErrors {
            let directory = try model.requireDirectory()
            let tokenizer: BertTokenizer
            var positions: Int?
            do {
                tokenizer = try BertTokenizer(modelDirectory: directory)
                let configURL = directory.appendingPathComponent("config.json")
                if FileManager.default.fileExists(atPath: configURL.path) {
                    positions = try ModelConfig(contentsOf: configURL).maxPositions
                }
            } catch {
                throw CLIError.from(error)
            }
            let maxLength: Int?
            if let positions { maxLength = try model.effectiveMaxLength(positions: positions) }
            else { maxLength = model.maxLength ?? tokenizer.modelMaxLength }

            var flow = try CommandFlow(io: io)
            let inputs = try flow.reader.texts(allowPair: true, command: "tokenize")
            var truncated = 0
            try flow.run(inputs, batchSize: 1024, session: nil, prepare: { $0 }, length: { _ in 0 }) { batch in
                batch.map { input in
                    let e = tokenizer.encode(input.text, pair: input.pair, maxLength: maxLength)
                    if e.truncatedCount > 0 { truncated += 1 }
                    return Output(ids: e.ids, tokens: e.tokens, offsets: e.offsets.map { [$0.start, $0.end] },
                                  token_type_ids: input.pair == nil ? nil : e.typeIds)
                }
            }
            if let maxLength { reportTruncated(truncated, maxLength: maxLength) }
        }
    }
}
