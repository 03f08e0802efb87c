/// Activation buffers for one batch shape, reused across batches and grown when a batch
/// needs more. Shapes for `tokens = batch·seq`:
///
///   hidden [tokens, dim]   qkv [tokens, 3·dim]   scores [batch, heads, seq, seq]
///   context [tokens, dim]  scratch [tokens, dim] ffn [tokens, ffn]
///   ids, typeIds, positions [tokens] int32       additiveMask, mask [tokens]
final class Workspace {
    let tokens: Int
    let scoreCount: Int
    let hidden, qkv, scores, context, scratch, ffn: any DeviceBuffer
    let ids, typeIds, positions: any DeviceBuffer
    let additiveMask, mask: any DeviceBuffer

    init(backend b: any ComputeBackend, config c: ModelConfig, tokens: Int, scoreCount: Int) throws {
        self.tokens = tokens
        self.scoreCount = scoreCount
        hidden = try b.makeBuffer(count: tokens * c.hidden)
        qkv = try b.makeBuffer(count: tokens * 3 * c.hidden)
        scores = try b.makeBuffer(count: scoreCount)
        context = try b.makeBuffer(count: tokens * c.hidden)
        scratch = try b.makeBuffer(count: tokens * c.hidden)
        ffn = try b.makeBuffer(count: tokens * c.ffn)
        ids = try b.makeBuffer(count: tokens, type: .int32)
        typeIds = try b.makeBuffer(count: tokens, type: .int32)
        positions = try b.makeBuffer(count: tokens, type: .int32)
        additiveMask = try b.makeBuffer(count: tokens)
        mask = try b.makeBuffer(count: tokens)
    }

    func fits(tokens t: Int, scoreCount s: Int) -> Bool { t <= tokens && s <= scoreCount }
}
