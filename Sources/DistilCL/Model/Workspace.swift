/// Activation buffers, reused across batches and grown when a batch needs more. Shapes for
/// `tokens` packed real tokens of `sequences` texts:
///
///   hidden [tokens, dim]   qkv [tokens, 3·dim]   context, scratch [tokens, dim]
///   ffn [tokens, ffn]      ids, typeIds, positions [tokens] int32
///   offsets [sequences + 1] int32                ranges [tokens, 2] int32
final class Workspace {
    let tokens: Int
    let sequences: Int
    let hidden, qkv, context, scratch, ffn: any DeviceBuffer
    let inputs: BatchInputs
    var offsets: any DeviceBuffer { inputs.offsets }
    /// The packing of the batch last encoded.
    var packed: PackedSequences?

    init(backend b: any ComputeBackend, config c: ModelConfig, tokens: Int, sequences: Int) throws {
        self.tokens = tokens
        self.sequences = sequences
        hidden = try b.makeBuffer(count: tokens * c.hidden)
        qkv = try b.makeBuffer(count: tokens * 3 * c.hidden)
        context = try b.makeBuffer(count: tokens * c.hidden)
        scratch = try b.makeBuffer(count: tokens * c.hidden)
        ffn = try b.makeBuffer(count: tokens * c.ffn)
        inputs = try BatchInputs(backend: b, tokens: tokens, sequences: sequences)
    }

    func fits(tokens t: Int, sequences s: Int) -> Bool { t <= tokens && s <= sequences }
}

/// What goes up to the device per batch, int32: ids, typeIds, positions `[tokens]`, offsets
/// `[sequences + 1]`, ranges `[tokens, 2]` (each token's sequence, as the attention kernels read).
struct BatchInputs {
    let ids, typeIds, positions, offsets, ranges: any DeviceBuffer

    init(backend b: any ComputeBackend, tokens: Int, sequences: Int) throws {
        ids = try b.makeBuffer(count: tokens, type: .int32)
        typeIds = try b.makeBuffer(count: tokens, type: .int32)
        positions = try b.makeBuffer(count: tokens, type: .int32)
        offsets = try b.makeBuffer(count: sequences + 1, type: .int32)
        ranges = try b.makeBuffer(count: 2 * tokens, type: .int32)
    }

    /// Uploads `batch` (its token types only when `typeIds`); returns its packing on the device.
    func upload(_ batch: TokenBatch, typeIds withTypes: Bool, to b: any ComputeBackend) throws -> PackedSequences {
        try b.upload(batch.ids, to: ids)
        try b.upload(batch.positions, to: positions)
        if withTypes { try b.upload(batch.typeIds, to: typeIds) }
        try b.upload(batch.offsets.map { Int32($0) }, to: offsets)
        try b.upload(PackedSequences.ranges(for: batch.offsets), to: ranges)
        return PackedSequences(offsets: batch.offsets, deviceOffsets: offsets, ranges: ranges)
    }
}

/// Where one transformer block reads and writes (`EncoderModel.forwardLayer`), all packed
/// `[tokens, …]`. Inference passes the workspace: input, middle and output are the one hidden
/// buffer (each LayerNorm writes over its residual) and the two projections share the scratch.
struct LayerBuffers {
    var input: any DeviceBuffer          // [t, d]
    var qkv: any DeviceBuffer            // [t, 3d]
    var context: any DeviceBuffer        // [t, d]  attention's output
    var attentionOut: any DeviceBuffer   // [t, d]  its projection (after dropout)
    var middle: any DeviceBuffer         // [t, d]  first LayerNorm's output
    var ffnPre: (any DeviceBuffer)?      // [t, f]  training: the FFN before its activation
    var ffn: any DeviceBuffer            // [t, f]
    var ffnOut: any DeviceBuffer         // [t, d]  (after dropout)
    var output: any DeviceBuffer         // [t, d]

    init(input: any DeviceBuffer, qkv: any DeviceBuffer, context: any DeviceBuffer, attentionOut: any DeviceBuffer,
         middle: any DeviceBuffer, ffnPre: (any DeviceBuffer)?, ffn: any DeviceBuffer, ffnOut: any DeviceBuffer,
         output: any DeviceBuffer) {
        self.input = input; self.qkv = qkv; self.context = context; self.attentionOut = attentionOut
        self.middle = middle; self.ffnPre = ffnPre; self.ffn = ffn; self.ffnOut = ffnOut; self.output = output
    }

    /// Every layer of an inference pass, in place in `ws`.
    init(workspace ws: Workspace) {
        self.init(input: ws.hidden, qkv: ws.qkv, context: ws.context, attentionOut: ws.scratch, middle: ws.hidden,
                  ffnPre: nil, ffn: ws.ffn, ffnOut: ws.scratch, output: ws.hidden)
    }
}

/// Inference's last layer over each text's first token only: the `[CLS]` row indices, and
/// where the gathered context, residual and attention projection go.
struct FirstTokenRows {
    let index: any DeviceBuffer
    let rows: Int
    let context: any DeviceBuffer
    let residual: any DeviceBuffer
    let attentionOut: any DeviceBuffer
}
