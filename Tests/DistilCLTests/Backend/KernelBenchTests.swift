import DistilCL
import DistilCLBench
import Foundation
import Testing

/// `bench kernels` times what a forward pass runs, each row validated against the CPU path:
/// the fused attention kernel (not the strided batched GEMM and softmax only tests use).
@Suite("bench kernels")
struct KernelBenchTests {
    @Test("rows are the model's ops, each within its tolerance of the CPU path", arguments: BackendCase.primary)
    func rows(_ bc: BackendCase) throws {
        let rows = try KernelBench(device: bc.backend, repeats: 1, tokenCounts: [16]).run()
        let ops = Set(rows.map(\.op))
        #expect(ops.contains("attention (fused)"), "\(ops.sorted())")
        #expect(ops.isSuperset(of: ["linear qkv", "linear attn-out", "linear ffn-in+gelu", "linear ffn-out",
                                    "layernorm+residual", "gelu"]), "\(ops.sorted())")
        #expect(!ops.contains { $0.contains("softmax") || $0.contains("Q·K") || $0.contains("P·V") }, "\(ops.sorted())")
        // The OpenBLAS row (CPU path only) is held to the CPU path's result like the others,
        // never to a zero tolerance by construction.
        for r in rows where r.op.hasPrefix("openblas") { #expect(r.tolerance > 0 && r.maxAbsDiff.isFinite, "\(r)") }
        for r in rows { #expect(r.valid, "\(bc.name) \(r.op) \(r.shape): max |diff| \(r.maxAbsDiff) > \(r.tolerance)") }
    }
}
