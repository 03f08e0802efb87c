import DistilCL
import Foundation

/// A checkpoint folder opened for a command: the library's `ModelFolder` read (failures are
/// status 3, a `--max-length` over the positions 64), then `start` puts the model on the chosen
/// device (failures are status 5).
final class Session {
    let directory: URL
    let folder: ModelFolder
    /// Where `encode` cuts inputs: `ModelFolder.maxLength(for:)` for what the command does.
    let maxLength: Int
    private(set) var model: EncoderModel?
    /// Inputs `encode` had to cut.
    private(set) var truncatedInputs = 0

    var checkpoint: Checkpoint { folder.checkpoint }
    var tokenizer: BertTokenizer { folder.tokenizer }
    var config: ModelConfig { checkpoint.config }
    /// The folder's sentence-transformers settings (pooling, normalisation), when it has them.
    var sentenceTransformers: SentenceTransformersConfig? { folder.sentenceTransformers }

    /// Reads the folder `options` names. `embedding`: the command embeds text (embed,
    /// zero-shot classify), so inputs are cut where sentence-transformers cuts them (its
    /// `max_seq_length`) unless `--max-length` says otherwise; other commands cut at the
    /// model's positions.
    init(_ options: ModelOptions, embedding: Bool = false) throws {
        directory = try options.requireDirectory()
        do {
            folder = try ModelFolder(directory: directory, maxLength: options.maxLength)
        } catch let e as ModelFolderError {
            switch e {
            case .maxLengthOverPositions: throw CLIError.usage(e.description)
            case .vocabularyTooLarge: throw CLIError.model(e.description)
            }
        } catch {
            throw CLIError.from(error)
        }
        maxLength = folder.maxLength(for: embedding ? .embedding : .task)
    }

    /// Throws status 3 unless the checkpoint is of one of `tasks` (e.g. a QA head for `qa`).
    func require(_ tasks: [ModelConfig.Task], for command: String) throws {
        guard !tasks.contains(config.task) else { return }
        let what = config.architectures.first ?? "an encoder with no head"
        throw CLIError.model("\(command) needs a \(tasks.map(\.architectureName).joined(separator: " or ")) checkpoint; "
                             + "\(directory.path) is \(what)")
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
