import ArgumentParser
import DistilCL
import Foundation

/// The exit statuses of the batch-inference commands (`tokenize`, `classify`, `embed`, `qa`,
/// `fill-mask`, `ner`). Every failure prints one `error: …` line on stderr first.
enum ExitStatus: Int32 {
    /// Success.
    case success = 0
    /// Anything else: the output file could not be written, an internal error.
    case failure = 1
    /// A bad flag or flag value (ArgumentParser's `EX_USAGE`, 64 on Linux and macOS).
    case usage = 64
    /// The model folder is missing, or a file in it is missing or broken, or the checkpoint
    /// lacks the head the command needs.
    case model = 3
    /// The input: a file that cannot be read, or a line that is not valid UTF-8, not a JSON
    /// object, or lacks a field (the message names the line).
    case input = 4
    /// The device: no OpenCL device, no device of that index, an OpenCL call that failed, or a
    /// CPU without the instructions --precision needs.
    case device = 5
    /// Interrupted by SIGINT (128 + 2) or SIGTERM (128 + 15 = 143).
    case interrupted = 130

    /// The text every command's `--help` shows.
    static let helpText = """
    Exit status: 0 success; 1 other failure (e.g. the output cannot be written); \
    3 model folder missing or broken, or the checkpoint lacks the head this command needs; \
    4 bad input (unreadable file, or a line that is not UTF-8 / not a JSON object / lacks a field; \
    the message gives the line number; --skip-invalid skips such lines instead); \
    5 device or OpenCL failure, or a CPU without the instructions --precision needs; 64 bad flag or flag value (usage); 130 interrupted (SIGINT), \
    143 (SIGTERM). Every failure prints `error: …` on stderr, and --output FILE is then left as \
    it was (it is written under a temporary name and renamed only when complete).
    """
}

/// A failure the commands report as `error: message` with a specific exit status.
struct CLIError: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    static func usage(_ message: String) -> CLIError { CLIError(.usage, message) }
    static func model(_ message: String) -> CLIError { CLIError(.model, message) }
    static func input(_ message: String) -> CLIError { CLIError(.input, message) }
    static func device(_ message: String) -> CLIError { CLIError(.device, message) }

    /// Maps any error the library throws to a status and a message.
    static func from(_ error: Error) -> CLIError {
        switch error {
        case let e as CLIError: return e
        case let e as CheckpointError: return .model(e.description)
        case let e as TokenizerError: return .model(e.description)
        case let e as DeviceSelectionError:
            if case .badChoice = e { return .usage(e.description) }
            return .device(e.description)
        case let e as CLError: return .device(e.description)
        case let e as PrecisionError:
            if case .unsupportedCPU = e { return .device(e.description) }
            return .usage(e.description)
        case let e as ModelError:
            switch e {
            case .missingHead, .tokenIdOutOfRange, .tokenTypeOutOfRange: return .model(e.description)
            case .sequenceTooLong, .emptyBatch, .emptyText, .malformedBatch, .positionOutOfRange:
                return CLIError(.failure, e.description)
            }
        case let e as BackendError: return .device(e.description)
        case let e as KernelTuningError: return .usage(e.description)
        case let e as LabeledDataError: return .input(e.description)
        case let e as StudentError:
            if case .badLayers = e { return .usage(e.description) }
            return .model(e.description)
        case let e as TrainingError:
            switch e {
            case .headMismatch: return .model(e.description)
            case .badOption, .resume, .output, .backendCannotTrain, .notFloat32: return .usage(e.description)
            case .nonFiniteLoss, .nonFiniteGradient, .outputWrite: return CLIError(.failure, e.description)
            }
        default: return CLIError(.failure, String(describing: error))
        }
    }
}

/// Writes `text` to stderr as is.
func writeStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Prints `warning: message` on stderr.
func warn(_ message: String) {
    Progress.current?.clearLine()
    writeStderr("warning: \(message)\n")
}

/// Runs a command's body: any error becomes `error: message` on stderr and its exit status.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch { throw reported(error) }
}

/// `runReportingErrors` for async commands (serve), returning the body's value.
func runReportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw reported(error) }
}

/// ArgumentParser's own errors as they are; any other printed as `error: …` and turned into
/// its exit status.
private func reported(_ error: any Error) -> any Error {
    switch error {
    case is ExitCode, is CleanExit, is ValidationError: return error
    default:
        let cli = CLIError.from(error)
        Progress.current?.clearLine()
        writeStderr("error: \(cli.message)\n")
        return ExitCode(cli.status.rawValue)
    }
}
