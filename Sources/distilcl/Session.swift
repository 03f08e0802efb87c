import DistilCL
import Foundation

/// A checkpoint folder opened for a command: config, weights and tokenizer read (failures are
/// status 3), then `start` puts the model on the chosen device (failures are status 5).
final class Session {
    let directory: URL
    let checkpoint: Checkpoint
    let tokenizer: BertTokenizer
    /// `--max-length`, else (for embeddings) a sentence-transformers folder's `max_seq_length`,
    /// else the model's positions.
    let maxLength: Int
    /// The folder's sentence-transformers settings (pooling, normalisation), when read.
    let sentenceTransformers: SentenceTransformersConfig?
    private(set) var model: EncoderModel?
    /// Inputs `encode` had to cut.
    private(set) var truncatedInputs = 0

    var config: ModelConfig { checkpoint.config }

    /// Reads the folder `options` names. `embedding`: the command embeds text (embed,
    /// zero-shot classify), so a sentence-transformers folder's settings apply as
    /// sentence-transformers applies them: inputs cut at its `max_seq_length` unless
    /// `--max-length` says otherwise.
    init(_ options: ModelOptions, embedding: Bool = false) throws {
        directory = try options.requireDirectory()
        do {
            checkpoint = try Checkpoint(directory: directory)
            tokenizer = try BertTokenizer(modelDirectory: directory)
            sentenceTransformers = embedding ? try SentenceTransformersConfig.read(directory: directory) : nil
        } catch {
            throw CLIError.from(error)
        }
        let positions = checkpoint.config.maxPositions
        if options.maxLength == nil, let n = sentenceTransformers?.maxSeqLength {
            maxLength = min(n, positions)
        } else {
            maxLength = try options.effectiveMaxLength(positions: positions)
        }
        if tokenizer.vocabSize > checkpoint.config.vocabSize {
            throw CLIError.model("\(directory.path): vocab.txt has \(tokenizer.vocabSize) tokens but the model only \(checkpoint.config.vocabSize)")
        }
    }

    /// Throws status 3 unless the checkpoint is of one of `tasks` (e.g. a QA head for `qa`).
    func require(_ tasks: [ModelConfig.Task], for command: String) throws {
        guard !tasks.contains(config.task) else { return }
        let what = config.architectures.first ?? "an encoder with no head"
        throw CLIError.model("\(command) needs a \(tasks.map(Self.name).joined(separator: " or ")) checkpoint; "
                             + "\(directory.path) is \(what)")
    }

    private static func name(_ task: ModelConfig.Task) -> String {
        switch task {
        case .sequenceClassification: return "…ForSequenceClassification"
        case .tokenClassification: return "…ForTokenClassification"
        case .questionAnswering: return "…ForQuestionAnswering"
        case .maskedLM: return "…ForMaskedLM"
        case .encoder: return "plain encoder"
        case .other: return "supported"
        }
    }

    /// Makes the backend and uploads the weights.
    func start(_ device: DeviceOptions) throws -> EncoderModel {
        if let model { return model }
        do {
            let backend = try device.makeBackend()
            let model = try EncoderModel(checkpoint: checkpoint, backend: backend)
            self.model = model
            return model
        } catch let e as CLIError {
            throw e
        } catch let e as DeviceSelectionError {
            throw CLIError.from(e)
        } catch let e as PrecisionError {
            throw CLIError.from(e)
        } catch {
            // Anything failing while the weights go to the device is a device failure.
            let mapped = CLIError.from(error)
            throw mapped.status == .failure ? CLIError.device(mapped.message) : mapped
        }
    }

    /// Tokenizes one input, cut at `maxLength` (counted for the warning).
    func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        let encoding = tokenizer.encode(text, pair: pair, maxLength: maxLength ?? self.maxLength)
        if encoding.truncatedCount > 0 { truncatedInputs += 1 }
        return encoding
    }

    /// A packed batch of `encodings` (a DistilBERT model ignores their token types).
    func batch(_ encodings: [Encoding]) -> TokenBatch { TokenBatch(encodings) }

    /// The one truncation warning on stderr, if any input was cut.
    func reportTruncation() {
        reportTruncated(truncatedInputs, maxLength: maxLength)
    }
}

/// `warning: N inputs were longer than L tokens and were truncated`, when N > 0.
func reportTruncated(_ count: Int, maxLength: Int) {
    guard count > 0 else { return }
    warn("\(count) input\(count == 1 ? " was" : "s were") longer than \(maxLength) tokens "
         + "and \(count == 1 ? "was" : "were") truncated (--max-length)")
}
