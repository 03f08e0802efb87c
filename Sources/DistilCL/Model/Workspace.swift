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
    let ids, typeIds, positions, offsets, ranges: any DeviceBuffer
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
        ids = try b.makeBuffer(count: tokens, type: .int32)
        typeIds = try b.makeBuffer(count: tokens, type: .int32)
        positions = try b.makeBuffer(count: tokens, type: .int32)
        offsets = try b.makeBuffer(count: sequences + 1, type: .int32)
        ranges = try b.makeBuffer(count: 2 * tokens, type: .int32)
    }

    func fits(tokens t: Int, sequences s: Int) -> Bool { t <= tokens && s <= sequences }
}
