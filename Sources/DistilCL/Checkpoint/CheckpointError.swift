import Foundation

/// Everything that can go wrong while reading a Hugging Face checkpoint folder: the safetensors
/// file, `config.json`, or the match between the two.
///
/// Every case carries the path of the file it is about, and the tensor name or config key where
/// there is one, so that `description` can say exactly what to fix. Tensor names are reported as
/// they are spelled in the file (for example `distilbert.transformer.layer.0.attention.q_lin.weight`).
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {

    // MARK: - Files

    /// The file does not exist (or is not a regular file).
    case fileNotFound(file: String)
    /// `open`, `fstat` or `mmap` failed; `reason` is the C library's message.
    case unreadable(file: String, reason: String)

    // MARK: - safetensors container

    /// The file is shorter than the 8-byte header-length prefix.
    case truncatedFile(file: String, size: Int)
    /// The header length prefix points past the end of the file.
    case headerTooLarge(file: String, headerLength: UInt64, fileSize: Int)
    /// The JSON header is not UTF-8 JSON, or not a JSON object.
    case invalidHeader(file: String, reason: String)
    /// A header entry lacks `dtype`/`shape`/`data_offsets` or has values of the wrong kind.
    case invalidTensorEntry(file: String, tensor: String, reason: String)
    /// The dtype is valid safetensors but not one this loader keeps (F32, F16, BF16, I64, I32).
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// `data_offsets` `[begin, end]` is reversed or reaches past the data section.
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// `end - begin` differs from `product(shape) × dtype size`.
    case byteSizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    /// Two tensors claim some of the same bytes.
    case overlappingTensors(file: String, first: String, second: String)

    // MARK: - Tensors

    /// A tensor the model needs is absent.
    case tensorNotFound(file: String, tensor: String)
    /// A tensor is present but its shape is not what the config implies.
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    /// A tensor has a dtype that cannot be read the way it was asked for (e.g. `floats` of an I64 buffer).
    case wrongDType(file: String, tensor: String, dtype: String, expected: String)
    /// Two keys of the file become the same name once the `distilbert.`/`bert.` prefix is removed.
    case duplicateTensor(file: String, tensor: String, other: String)

    // MARK: - config.json

    /// `config.json` is not a JSON object.
    case configNotJSON(file: String, reason: String)
    /// A key the model cannot do without is absent from `config.json`.
    case missingConfigKey(file: String, key: String)
    /// A key of `config.json` has a value of the wrong type or out of range.
    case invalidConfigValue(file: String, key: String, reason: String)
    /// `model_type` is neither `"distilbert"` nor `"bert"`.
    case unsupportedModelType(file: String, modelType: String)

    // MARK: - Accessors

    /// The path of the file the error is about.
    public var file: String {
        switch self {
        case .fileNotFound(let file), .unreadable(let file, _), .truncatedFile(let file, _),
             .headerTooLarge(let file, _, _), .invalidHeader(let file, _),
             .invalidTensorEntry(let file, _, _), .unsupportedDType(let file, _, _),
             .offsetsOutOfBounds(let file, _, _, _, _), .byteSizeMismatch(let file, _, _, _, _, _),
             .overlappingTensors(let file, _, _), .tensorNotFound(let file, _),
             .shapeMismatch(let file, _, _, _), .wrongDType(let file, _, _, _),
             .duplicateTensor(let file, _, _), .configNotJSON(let file, _),
             .missingConfigKey(let file, _), .invalidConfigValue(let file, _, _),
             .unsupportedModelType(let file, _):
            return file
        }
    }

    /// The tensor name or config key the error is about, if any.
    public var subject: String? {
        switch self {
        case .invalidTensorEntry(_, let name, _), .unsupportedDType(_, let name, _),
             .offsetsOutOfBounds(_, let name, _, _, _), .byteSizeMismatch(_, let name, _, _, _, _),
             .overlappingTensors(_, let name, _), .tensorNotFound(_, let name),
             .shapeMismatch(_, let name, _, _), .wrongDType(_, let name, _, _),
             .duplicateTensor(_, let name, _), .missingConfigKey(_, let name),
             .invalidConfigValue(_, let name, _):
            return name
        case .unsupportedModelType:
            return "model_type"
        case .fileNotFound, .unreadable, .truncatedFile, .headerTooLarge, .invalidHeader, .configNotJSON:
            return nil
        }
    }

    // MARK: - Messages

    public var description: String {
        switch self {
        case .fileNotFound(let file):
            return "\(file): file not found"
        case .unreadable(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .truncatedFile(let file, let size):
            return "\(file): truncated safetensors file: \(size) bytes, shorter than the 8-byte header length"
        case .headerTooLarge(let file, let length, let size):
            return "\(file): safetensors header length \(length) does not fit in a file of \(size) bytes"
        case .invalidHeader(let file, let reason):
            return "\(file): invalid safetensors header: \(reason)"
        case .invalidTensorEntry(let file, let tensor, let reason):
            return "\(file): tensor '\(tensor)': invalid header entry: \(reason)"
        case .unsupportedDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)': unsupported dtype '\(dtype)' (supported: F32, F16, BF16, I64, I32)"
        case .offsetsOutOfBounds(let file, let tensor, let begin, let end, let dataSize):
            return "\(file): tensor '\(tensor)': data_offsets [\(begin), \(end)] outside the data section of \(dataSize) bytes"
        case .byteSizeMismatch(let file, let tensor, let shape, let dtype, let expected, let actual):
            return "\(file): tensor '\(tensor)': shape \(shape) of \(dtype) needs \(expected) bytes but data_offsets span \(actual)"
        case .overlappingTensors(let file, let first, let second):
            return "\(file): tensors '\(first)' and '\(second)' overlap"
        case .tensorNotFound(let file, let tensor):
            return "\(file): tensor '\(tensor)' not found"
        case .shapeMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor '\(tensor)' has shape \(actual), expected \(expected)"
        case .wrongDType(let file, let tensor, let dtype, let expected):
            return "\(file): tensor '\(tensor)' has dtype \(dtype), expected \(expected)"
        case .duplicateTensor(let file, let tensor, let other):
            return "\(file): tensors '\(tensor)' and '\(other)' have the same name once the model prefix is removed"
        case .configNotJSON(let file, let reason):
            return "\(file): not a JSON object: \(reason)"
        case .missingConfigKey(let file, let key):
            return "\(file): missing required key '\(key)'"
        case .invalidConfigValue(let file, let key, let reason):
            return "\(file): key '\(key)': \(reason)"
        case .unsupportedModelType(let file, let modelType):
            return "\(file): unsupported model_type '\(modelType)' (supported: distilbert, bert)"
        }
    }
}
