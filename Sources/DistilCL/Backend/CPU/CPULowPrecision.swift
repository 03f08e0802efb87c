import CCPUKernels
import COneDNN

// MARK: - The linear layer at bf16 and int8

extension CPUBackend {
    /// `d` with bf16 weights: the activations `a` `[m, k]` rounded to bf16 at the GEMM's input,
    /// fp32 accumulation, bias and activation fused into the GEMM; out `c` `[m, n]`.
    func linearBF16(_ d: inout dcl_matmul_desc, _ a: UnsafePointer<Float>, _ w: CPULinear,
                    _ bias: UnsafePointer<Float>?, _ c: UnsafeMutablePointer<Float>) throws {
        let (rows, k) = (d.m, d.k)
        try scratch.with(bytes: rows * k * 2) { raw in
            let a16 = raw.bindMemory(to: UInt16.self, capacity: rows * k)
            parallelChunks(rows, cost: rows * k) { r in
                dcl_to_bf16(a + r.lowerBound * k, a16 + r.lowerBound * k, r.count * k)
            }
            try matmul(&d, a16, w.packed, bias, c)
        }
    }

    /// `d` with int8 weights: each row of `a` `[m, k]` quantised to uint8 with its own scale and
    /// zero point (with `twoTermInput`, also what that rounding left, as a second uint8 term:
    /// terms·m rows through one int8 GEMM); the epilogue turns the int32 sums back into floats,
    /// adds the bias and applies `activation`; out `c` `[m, n]`.
    func linearInt8(_ d: inout dcl_matmul_desc, _ a: UnsafePointer<Float>, _ w: CPULinear,
                    _ bias: UnsafePointer<Float>?, _ activation: Activation,
                    _ c: UnsafeMutablePointer<Float>) throws {
        let (rows, n, k) = (d.m, d.n, d.k)
        let terms = w.twoTermInput ? 2 : 1
        var layout = ScratchLayout()
        let (iq, iScale, iZero, iAcc, iResidual) = (layout.add(UInt8.self, terms * rows * k),
                                                    layout.add(Float.self, 2 * rows),
                                                    layout.add(Int32.self, 2 * rows),
                                                    layout.add(Int32.self, terms * rows * n),
                                                    layout.add(Float.self, terms == 2 ? rows * k : 0))
        try scratch.with(bytes: layout.bytes) { raw in
            let q = layout.pointer(iq, in: raw, as: UInt8.self)
            let rowScale = layout.pointer(iScale, in: raw, as: Float.self)
            let rowZero = layout.pointer(iZero, in: raw, as: Int32.self)
            let acc = layout.pointer(iAcc, in: raw, as: Int32.self)
            let residual = layout.pointer(iResidual, in: raw, as: Float.self)
            parallelChunks(rows, cost: rows * k * 2 * terms) { r in
                for i in r {
                    if terms == 2 {
                        dcl_quantize_row_u8x2(a + i * k, k, q + i * k, q + (rows + i) * k, rowScale + 2 * i,
                                              rowZero + 2 * i, residual + i * k)
                    } else {
                        dcl_quantize_row_u8(a + i * k, k, q + i * k, rowScale + 2 * i, rowZero + 2 * i)
                    }
                }
            }
            (d.m, d.has_bias, d.act) = (terms * rows, 0, 0)
            try matmul(&d, q, w.packed, nil, acc)
            w.scale.withUnsafeBufferPointer { ps in
                w.sum.withUnsafeBufferPointer { pq in
                    let (ps, pq) = (ps.baseAddress!, pq.baseAddress!)
                    let act = Int32(activation.rawValue)
                    parallelChunks(rows, cost: rows * n * (activation == .none ? 4 : 16)) { r in
                        for i in r {
                            dcl_dequantize_row(c + i * n, acc + i * n, terms == 2 ? acc + (rows + i) * n : nil, n,
                                               rowScale + 2 * i, rowZero + 2 * i, ps, pq, bias, act)
                        }
                    }
                }
            }
        }
    }
}
