import ArgumentParser
import DistilCL
import Foundation

/// `--model` and `--max-length`: which checkpoint folder, and where inputs are cut.
struct ModelOptions: ParsableArguments {
    static let environmentVariable = "DISTILCL_MODEL"
    static let defaultDirectory = "models/all-MiniLM-L6-v2"

    @Option(name: .long, help: ArgumentHelp(
        "Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt).",
        discussion: "Default: $DISTILCL_MODEL, else models/all-MiniLM-L6-v2 (see scripts/fetch-models.sh).",
        valueName: "dir"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "Most tokens per input, [CLS] and [SEP] included; longer inputs are cut (one warning on stderr counts them).",
        discussion: "Default: the model's max_position_embeddings (embed and zero-shot classify: a sentence-transformers folder's max_seq_length when it has one).",
        valueName: "n"))
    var maxLength: Int?

    /// The folder `--model`, `$DISTILCL_MODEL` or the default names.
    var directory: URL { Self.directory(model) }

    /// The folder `model` names, else `$DISTILCL_MODEL`, else `models/all-MiniLM-L6-v2`.
    static func directory(_ model: String?) -> URL {
        let path = model ?? ProcessInfo.processInfo.environment[environmentVariable].flatMap {
            $0.isEmpty ? nil : $0
        } ?? defaultDirectory
        return URL(fileURLWithPath: path)
    }

    func validate() throws {
        if let maxLength, maxLength < 3 {
            throw ValidationError("--max-length must be at least 3 (room for [CLS], a token and [SEP]), got \(maxLength)")
        }
    }

    /// Throws `CLIError.model` unless the folder exists.
    func requireDirectory() throws -> URL {
        let url = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            let hint = model == nil
                ? " (pass --model DIR or set \(Self.environmentVariable); scripts/fetch-models.sh fetches the default)"
                : ""
            throw CLIError.model("model folder '\(url.path)' not found\(hint)")
        }
        guard isDirectory.boolValue else {
            throw CLIError.model("'\(url.path)' is not a folder: --model takes a Hugging Face checkpoint folder")
        }
        return url
    }

    /// `--max-length`, checked against the model's positions, or those positions.
    func effectiveMaxLength(positions: Int) throws -> Int {
        guard let maxLength else { return positions }
        guard maxLength <= positions else {
            throw CLIError.usage("--max-length \(maxLength) is more than the model's \(positions) positions")
        }
        return maxLength
    }
}

/// `--device` and `--batch-size`.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "auto, cpu, gpu, opencl or opencl:N (see `distilcl devices`).",
        discussion: "Default: $DISTILCL_DEVICE, else auto (an OpenCL GPU when there is one, else the CPU path). gpu: the first OpenCL GPU, an error when there is none; opencl: the first GPU, else the first OpenCL device of any kind (PoCL's CPU device).",
        valueName: "device"))
    var device: String?

    @Option(name: .long, help: ArgumentHelp(
        "fp32, bf16 or int8: the number format of the linear layers' GEMMs.",
        discussion: "Default: fp32. bf16 (needs AVX512-BF16 or AMX) and int8 (dynamic quantisation; needs VNNI or AMX) run on the CPU path only, which --device auto then picks. Layernorm, softmax, GELU and attention stay fp32.",
        valueName: "p"))
    var precision: Precision = .fp32

    @Option(name: .long, help: ArgumentHelp("Inputs per forward pass.", valueName: "n"))
    var batchSize = 32

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let device {
            do { _ = try DeviceChoice(parsing: device) } catch { throw ValidationError("\(error)") }
        }
    }

    /// The backend `--device` (or `$DISTILCL_DEVICE`) and `--precision` name.
    /// `localRank`: a data-parallel process's index on its host, which picks its GPU.
    func makeBackend(localRank: Int? = nil) throws -> any ComputeBackend {
        try DistilCL.makeBackend(try choice(), precision: precision, localRank: localRank)
    }

    /// The device `--device` or `$DISTILCL_DEVICE` names.
    func choice() throws -> DeviceChoice {
        if let device { return try DeviceChoice(parsing: device) }
        do {
            return try DeviceChoice.fromEnvironment()
        } catch {
            throw CLIError.usage("\(DeviceChoice.environmentVariable): \(error)")
        }
    }
}

/// Input, output and their handling.
struct IOOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read inputs from this file instead of stdin.", valueName: "file"))
    var input: String?

    @Option(name: .long, help: ArgumentHelp(
        "Write JSON Lines to this file instead of stdout.",
        discussion: "Written under a temporary name in the same folder and renamed when complete: a failed or interrupted run leaves an existing file untouched and no partial file.",
        valueName: "file"))
    var output: String?

    @Flag(name: .long, help: ArgumentHelp(
        "Read JSON Lines: one object a line with \"text\" and optionally \"text_pair\" (qa: \"question\" and \"context\").",
        discussion: "Without it each line is one text (\\n or \\r\\n removed; an empty line is an empty text)."))
    var jsonl = false

    @Flag(name: .long, help: "Skip input lines that are not valid UTF-8 or not valid JSON objects (no output line for them), and report how many on stderr, instead of failing with status 4.")
    var skipInvalid = false

    @Flag(name: .long, help: "Show the progress bar on stderr even when it is not a terminal.")
    var progress = false

    @Option(name: .long, help: ArgumentHelp(
        "Only the input lines whose 0-based index mod N is K, their outputs in input order.",
        discussion: "auto/N takes K from $JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or $SLURM_ARRAY_TASK_ID (Slurm job array). Shard K's j-th output line is input line K + j·N.",
        valueName: "K/N"))
    var shard: String?

    func validate() throws {
        if let shard {
            _ = try Shard(parsing: shard)
            // A skipped line would leave no output line, and shards merge by position.
            if skipInvalid { throw ValidationError("--shard cannot be combined with --skip-invalid: shards' outputs merge by line position") }
        }
    }
}

extension Precision: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}
