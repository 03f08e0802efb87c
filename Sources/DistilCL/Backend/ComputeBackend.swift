// MARK: - The narrow backend every model is written against

/// What a device buffer holds.
public enum ElementType: Sendable {
    case float32, int32

    var byteSize: Int { 4 }
}

/// An opaque buffer that lives on a backend's device. Only the backend that made it may use it.
public protocol DeviceBuffer: AnyObject, Sendable {
    /// Number of elements.
    var count: Int { get }
    var elementType: ElementType { get }
}

/// Activation applied in the epilogue of a linear layer.
public enum Activation: Int32, Sendable, CaseIterable {
    case none = 0
    /// GELU in the exact erf form, `0.5·x·(1 + erf(x/√2))`, as transformers' `gelu`.
    case gelu = 1
    /// GELU's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`); only where a config names it.
    case geluTanh = 2
    case relu = 3
    /// `tanh(x)`: BERT's pooler.
    case tanh = 4
}

/// What a linear layer is for, where a backend's number format depends on it.
public enum LinearRole: Sendable {
    case general
    /// Attention's fused Q, K, V projection: its errors are multiplied together in Q·Kᵀ and
    /// then exponentiated by the softmax, so the CPU path at int8 gives its input two uint8
    /// terms (about 16 bits) instead of one.
    case attentionQKV
}

/// A linear layer's weight `[out, in]` (Hugging Face layout) and bias `[out]`, uploaded once.
/// The backend keeps them in whatever layout its GEMM reads fastest; a layer made `trainable`
/// also keeps the plain float32 weight and bias, which training updates in place (the fast
/// layout is then rebuilt by `TrainingBackend.refresh`).
public protocol DeviceLinear: AnyObject, Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    /// The plain weight, float32 `[out, in]` row-major: only in a trainable layer, else nil.
    var weight: (any DeviceBuffer)? { get }
    /// The plain bias, float32 `[out]`: only in a trainable layer with a bias, else nil.
    var bias: (any DeviceBuffer)? { get }
}

/// A batch of equally shaped matrices inside one buffer: element `(b1, b2, row, col)` is at
/// `offset + b1·stride1 + b2·stride2 + row·ld + col`.
public struct MatrixView: Sendable {
    public var buffer: any DeviceBuffer
    public var offset: Int
    public var stride1: Int
    public var stride2: Int
    public var ld: Int

    public init(_ buffer: any DeviceBuffer, offset: Int = 0, stride1: Int, stride2: Int, ld: Int) {
        self.buffer = buffer; self.offset = offset; self.stride1 = stride1; self.stride2 = stride2; self.ld = ld
    }
}

/// Sequences packed back to back, without padding: sequence `s` occupies rows
/// `offsets[s] ..< offsets[s + 1]` of a `[tokens, …]` buffer.
public struct PackedSequences: Sendable {
    /// `[sequences + 1]`, starting at 0.
    public let offsets: [Int]
    /// `offsets` as int32 on the device.
    public let deviceOffsets: any DeviceBuffer
    /// For every token, the first and one-past-last row of its sequence, int32 `[tokens, 2]`,
    /// on the device (what the attention kernels read).
    public let ranges: any DeviceBuffer

    public init(offsets: [Int], deviceOffsets: any DeviceBuffer, ranges: any DeviceBuffer) {
        self.offsets = offsets
        self.deviceOffsets = deviceOffsets
        self.ranges = ranges
    }

    /// Uploads `offsets` and the per-token ranges to fresh buffers of `backend`.
    public static func upload(_ offsets: [Int], to backend: any ComputeBackend) throws -> PackedSequences {
        PackedSequences(offsets: offsets, deviceOffsets: try backend.buffer(offsets.map { Int32($0) }),
                        ranges: try backend.buffer(ranges(for: offsets)))
    }

    public var count: Int { offsets.count - 1 }
    public var tokens: Int { offsets.last ?? 0 }

    /// The `ranges` values for `offsets`, `[tokens·2]`.
    public static func ranges(for offsets: [Int]) -> [Int32] {
        var r: [Int32] = []
        r.reserveCapacity(2 * (offsets.last ?? 0))
        for s in 0..<max(offsets.count - 1, 0) {
            for _ in offsets[s]..<offsets[s + 1] { r.append(Int32(offsets[s])); r.append(Int32(offsets[s + 1])) }
        }
        return r
    }
}

/// The operations a BERT-family encoder needs. Implemented by `CPUBackend` (oneDNN and
/// vectorised C) and `OpenCLBackend` (the kernels in `Kernels/`).
///
/// All shapes are row-major. Calls are queued in order; results are visible to the next call
/// and to `download`. Inputs and outputs of one call must not overlap unless a method says so.
public protocol ComputeBackend: AnyObject, Sendable {
    /// Human-readable device description, e.g. `OpenCL: NVIDIA H100 (NVIDIA CUDA)`.
    var name: String { get }

    // MARK: Memory
    func makeBuffer(count: Int, type: ElementType) throws -> any DeviceBuffer
    func upload(_ values: [Float], to buffer: any DeviceBuffer) throws
    func upload(_ values: [Int32], to buffer: any DeviceBuffer) throws
    /// Reads the first `count` elements (all when nil); waits for queued work.
    func download(_ buffer: any DeviceBuffer, count: Int?) throws -> [Float]
    /// Waits until every queued operation has finished.
    func synchronize() throws
    /// Uploads a linear layer. `weight` is `[outFeatures, inFeatures]`, `bias` `[outFeatures]`;
    /// `trainable` keeps the plain copies training updates (twice the memory).
    func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int,
                    role: LinearRole, trainable: Bool) throws -> any DeviceLinear

    // MARK: Operations
    /// `out[m, n] = act(Σ_k x[m, k]·W[n, k] + bias[n])`; x `[rows, in]`, out `[rows, out]`.
    func linear(_ x: any DeviceBuffer, _ weights: any DeviceLinear, rows: Int,
                activation: Activation, out: any DeviceBuffer) throws

    /// Self-attention over packed sequences, every head in one call, no work on padding:
    /// qkv `[tokens, 3·heads·headDim]` (Q, K, V side by side, heads contiguous in each);
    /// out `[tokens, heads·headDim]` = per sequence and head `softmax(scale·Q·Kᵀ)·V`.
    func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                   out: any DeviceBuffer) throws

    /// `out = LayerNorm(x + residual)·gamma + beta` over rows of `cols`; x, residual, out
    /// `[rows, cols]` (out may be x or residual), gamma and beta `[cols]`.
    func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                   beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer) throws

    /// Element-wise activation over `count` elements (out may be x).
    func activation(_ x: any DeviceBuffer, count: Int, _ kind: Activation, out: any DeviceBuffer) throws

    /// `out[t, :] = word[ids[t], :] + position[positions[t], :] (+ tokenType[typeIds[t], :])`.
    /// ids, positions, typeIds `[tokens]` int32; tables `[rows, dim]`; out `[tokens, dim]`.
    func embed(ids: any DeviceBuffer, positions: any DeviceBuffer, typeIds: (any DeviceBuffer)?,
               word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
               tokens: Int, dim: Int, out: any DeviceBuffer) throws

    /// `out[r, :] = src[index[r], :]`; src `[S, dim]`, index `[rows]` int32 in `0..<S`, out
    /// `[rows, dim]`. An index outside `0..<S` is an error on the CPU path and clamped into
    /// `src` on OpenCL (the indices are on the device): never a read outside `src`.
    func gatherRows(_ src: any DeviceBuffer, index: any DeviceBuffer, rows: Int, dim: Int,
                    out: any DeviceBuffer) throws

    /// Mean over each packed sequence's rows: hidden `[tokens, dim]`, out `[sequences, dim]`;
    /// an empty sequence gives zeros.
    func meanPool(_ hidden: any DeviceBuffer, sequences: PackedSequences, dim: Int, out: any DeviceBuffer) throws
}

public extension ComputeBackend {
    func makeBuffer(count: Int) throws -> any DeviceBuffer { try makeBuffer(count: count, type: .float32) }

    /// A linear layer of no particular role, for inference.
    func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) throws -> any DeviceLinear {
        try makeLinear(weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures, role: .general,
                       trainable: false)
    }

    /// A linear layer for inference.
    func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int,
                    role: LinearRole) throws -> any DeviceLinear {
        try makeLinear(weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures, role: role,
                       trainable: false)
    }

    func download(_ buffer: any DeviceBuffer) throws -> [Float] { try download(buffer, count: nil) }

    /// A buffer holding `values`.
    func buffer(_ values: [Float]) throws -> any DeviceBuffer {
        let b = try makeBuffer(count: max(values.count, 1), type: .float32)
        if !values.isEmpty { try upload(values, to: b) }
        return b
    }

    /// A buffer holding `values`.
    func buffer(_ values: [Int32]) throws -> any DeviceBuffer {
        let b = try makeBuffer(count: max(values.count, 1), type: .int32)
        if !values.isEmpty { try upload(values, to: b) }
        return b
    }
}

/// Errors any backend can raise for misuse that a caller could cause.
public enum BackendError: Error, CustomStringConvertible, Equatable {
    case sizeMismatch(String)
    case invalidArgument(String)
    /// A kernel library (oneDNN on the CPU path) refused or failed a call.
    case kernelFailure(String)

    public var description: String {
        switch self {
        case .sizeMismatch(let what): return "buffer size mismatch: \(what)"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .kernelFailure(let what): return what
        }
    }
}
