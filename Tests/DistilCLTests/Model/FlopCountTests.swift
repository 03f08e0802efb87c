import DistilCL
import DistilCLBench
import Testing

/// The FLOPs `distilcl bench model` divides by time, for DistilBERT-base (d 768, FFN 3072,
/// 6 layers) on one 128-token sequence, worked out by hand:
/// - a layer: GEMMs 2·128·(4·768² + 2·768·3072) = 1,811,939,328, plus Q·Kᵀ and P·V
///   4·128²·768 = 50,331,648, so 1,862,270,976; six layers 11,173,625,856 (the issue's
///   "about 11.2 GFLOP");
/// - the [CLS]-only last layer keeps Q, K, V for all 128 tokens (2·128·3·768² = 452,984,832) and
///   the full attention (50,331,648) but runs the output projection and FFN on one row
///   (2·(768² + 2·768·3072) = 10,616,832): 5 · 1,862,270,976 + 513,933,312 = 9,825,288,192.
@Suite("bench model FLOP counts")
struct FlopCountTests {
    @Test("DistilBERT-base, 128 tokens, full and [CLS]-only last layer")
    func distilbertBase() {
        let c = ModelConfig(modelType: .distilbert, hidden: 768, heads: 12, ffn: 3072, layers: 6, vocabSize: 30522)
        #expect(ModelBench.flops(config: c, tokens: 128) == 11_173_625_856)
        #expect(ModelBench.flops(config: c, tokens: 128, firstTokenOnly: true) == 9_825_288_192)
    }
}
