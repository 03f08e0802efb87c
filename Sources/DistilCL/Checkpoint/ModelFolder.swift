import Foundation

/// A model folder read once, the same way for every command and for the server: `config.json`
/// and the weights (`Checkpoint`), the tokenizer, and the sentence-transformers settings
/// (`max_seq_length`, pooling, normalisation) when the folder has them.
///
/// It also owns the one rule for where inputs are cut (`maxLength(for:)`): a sentence-transformers
/// `max_seq_length` applies where sentence-transformers applies it, to embeddings and zero-shot
/// similarity; every other task (a model's head, QA windows) uses the model's
/// `max_position_embeddings`. An explicit maximum (`--max-length`) overrides both.
public struct ModelFolder: Sendable {
    /// What an input is read for, which decides where it is cut.
    public enum Use: Sendable, Equatable {
        /// Sentence embeddings and zero-shot similarity (the sentence-transformers model).
        case embedding
        /// The model's head: classification, token classification, fill-mask, QA windows.
        case task
    }

    public let directory: URL
    public let checkpoint: Checkpoint
    public let tokenizer: BertTokenizer
    /// The folder's sentence-transformers settings; nil for a plain Hugging Face folder.
    public let sentenceTransformers: SentenceTransformersConfig?
    /// The explicit maximum (`--max-length`), checked against the model's positions.
    public let explicitMaxLength: Int?

    public var config: ModelConfig { checkpoint.config }
    /// The model's head, from `architectures`.
    public var task: ModelConfig.Task { config.task }
    /// Rows of the position table (`max_position_embeddings`): no input may be longer.
    public var positions: Int { config.maxPositions }

    /// Reads and checks `directory`.
    /// - Parameter maxLength: `--max-length`; nil: the rule of `maxLength(for:)`.
    /// - Throws: `CheckpointError` and `TokenizerError` for missing or broken files (a malformed
    ///   sentence-transformers file included); `ModelFolderError.maxLengthOverPositions` when
    ///   `maxLength` is more than the model's positions; `.vocabularyTooLarge` when `vocab.txt`
    ///   has more tokens than the model's embedding table.
    public init(directory: URL, maxLength: Int? = nil) throws {
        self.directory = directory
        checkpoint = try Checkpoint(directory: directory)
        tokenizer = try BertTokenizer(modelDirectory: directory)
        sentenceTransformers = try SentenceTransformersConfig.read(directory: directory)
        let positions = checkpoint.config.maxPositions
        if let maxLength, maxLength > positions {
            throw ModelFolderError.maxLengthOverPositions(maxLength: maxLength, positions: positions)
        }
        explicitMaxLength = maxLength
        if tokenizer.vocabSize > checkpoint.config.vocabSize {
            throw ModelFolderError.vocabularyTooLarge(directory: directory.path, tokens: tokenizer.vocabSize,
                                                      modelTokens: checkpoint.config.vocabSize)
        }
    }

    /// Tokens per input, [CLS] and [SEP] included, for `use`: the explicit maximum; else, for
    /// embeddings, the sentence-transformers `max_seq_length` (never more than the positions);
    /// else the model's positions.
    public func maxLength(for use: Use) -> Int {
        if let explicitMaxLength { return explicitMaxLength }
        if use == .embedding, let n = sentenceTransformers?.maxSeqLength { return min(n, positions) }
        return positions
    }

    /// Tokens per QA window when none is asked for: transformers' 384, or fewer when the
    /// maximum length for the task is less.
    public var defaultQAWindow: Int { Self.defaultQAWindow(taskMaxLength: maxLength(for: .task)) }

    /// `defaultQAWindow` for a task maximum of `taskMaxLength` (a server holds the length only).
    public static func defaultQAWindow(taskMaxLength: Int) -> Int { min(QAParameters().maxSeqLen, taskMaxLength) }
}

/// A folder whose files are fine one by one but do not fit together, or a maximum it cannot take.
public enum ModelFolderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--max-length` asks for more tokens than the position table has.
    case maxLengthOverPositions(maxLength: Int, positions: Int)
    /// `vocab.txt` has ids the model's embedding table has no row for.
    case vocabularyTooLarge(directory: String, tokens: Int, modelTokens: Int)

    public var description: String {
        switch self {
        case .maxLengthOverPositions(let n, let positions):
            return "--max-length \(n) is more than the model's \(positions) positions"
        case .vocabularyTooLarge(let directory, let tokens, let modelTokens):
            return "\(directory): vocab.txt has \(tokens) tokens but the model only \(modelTokens)"
        }
    }
}

extension ModelConfig.Task {
    /// The head as the CLI names it in messages (`…ForQuestionAnswering`).
    public var architectureName: String {
        switch self {
        case .sequenceClassification: return "…ForSequenceClassification"
        case .tokenClassification: return "…ForTokenClassification"
        case .questionAnswering: return "…ForQuestionAnswering"
        case .maskedLM: return "…ForMaskedLM"
        case .encoder: return "plain encoder"
        case .other: return "supported"
        }
    }

    /// The head as the server names it (`/info`'s `task`, its messages).
    public var headName: String {
        switch self {
        case .sequenceClassification: return "sequence-classification"
        case .tokenClassification: return "token-classification"
        case .questionAnswering: return "question-answering"
        case .maskedLM: return "masked-LM"
        case .encoder, .other: return "encoder"
        }
    }
}
