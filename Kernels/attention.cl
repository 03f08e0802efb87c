// =====================================================================================
// Attention: strided batched GEMM (the OpenCL training backward's GEMMs) and fused attention.
//
// kernel_bmm: for every batch index (b1, b2) in [B1] × [B2], one launch for all heads:
//   C[b1,b2][i, j] = alpha · Σ_p A'[b1,b2][i, p] · B'[b1,b2][p, j] + beta · C[b1,b2][i, j]
//   A' = Aᵀ when trans_a (A stored [k, m]) else A (stored [m, k]);
//   B' = Bᵀ when trans_b (B stored [n, k]) else B (stored [k, n]); C is not read when beta = 0.
// Each operand is addressed as  base + off + b1·s1 + b2·s2 + row·ld + col,  so heads are
// read straight from the fused QKV activations without copies:
//
//   qkv [B·S, 3·D]:  | Q h0 | Q h1 | … | K h0 | K h1 | … | V h0 | V h1 | … |
//                      ^ off = h·dh (Q), D + h·dh (K), 2·D + h·dh (V); ld = 3·D; s1 = S·3·D
//   scores [B, H, S, S]: off 0, s1 = H·S·S, s2 = S·S, ld = S
//   context [B·S, D]: off h·dh via s2 = dh, s1 = S·D, ld = D
//
// kernel_attention_v{1,4,16}: fused self-attention over packed sequences, every head in one
//   launch, no scores in memory. Work-item (t, h) computes, for token t of a sequence whose rows
//   are [ranges[2t], ranges[2t+1]) of qkv, out[t, h·dh ..< h·dh + dh] =
//   Σ_j softmax_j(scale · q_t·k_j) · v_j with an online (running max) softmax. The suffix is
//   the vector width over the head dimension (dh must be a multiple of it). The body is
//   prelude.cl's, shared with training.cl's forward.
// =====================================================================================

#include "prelude.cl"   // the shared helpers and tunables (embed-kernels inlines it)

#ifndef BM
#define BM 4           // rows per work-item in kernel_bmm
#endif
#ifndef BN
#define BN 4           // columns per work-item in kernel_bmm
#endif

__kernel void kernel_bmm(const int M, const int N, const int K, const int B2,
                         __global const float* restrict A, const int a_off, const int a_s1, const int a_s2, const int lda,
                         __global const float* restrict B, const int b_off, const int b_s1, const int b_s2, const int ldb,
                         __global float* restrict C, const int c_off, const int c_s1, const int c_s2, const int ldc,
                         const int trans_a, const int trans_b, const float alpha, const float beta)
{
    const int j0 = get_global_id(0) * BN;
    const int i0 = get_global_id(1) * BM;
    const int bz = get_global_id(2);
    if (i0 >= M || j0 >= N) return;
    const int b1 = bz / B2, b2 = bz % B2;

    const __global float* a = A + a_off + (size_t)b1 * a_s1 + (size_t)b2 * a_s2;
    const __global float* b = B + b_off + (size_t)b1 * b_s1 + (size_t)b2 * b_s2;
    __global float* c = C + c_off + (size_t)b1 * c_s1 + (size_t)b2 * c_s2;

    int ri[BM], cj[BN];
    for (int r = 0; r < BM; r++) ri[r] = min(i0 + r, M - 1);
    for (int s = 0; s < BN; s++) cj[s] = min(j0 + s, N - 1);

    float acc[BM][BN];
    for (int r = 0; r < BM; r++)
        for (int s = 0; s < BN; s++) acc[r][s] = 0.0f;

    for (int p = 0; p < K; p++) {
        float av[BM], bv[BN];
        for (int r = 0; r < BM; r++) av[r] = trans_a ? a[(size_t)p * lda + ri[r]] : a[(size_t)ri[r] * lda + p];
        for (int s = 0; s < BN; s++)
            bv[s] = trans_b ? b[(size_t)cj[s] * ldb + p] : b[(size_t)p * ldb + cj[s]];
        for (int r = 0; r < BM; r++)
            for (int s = 0; s < BN; s++) acc[r][s] = fma(av[r], bv[s], acc[r][s]);
    }
    for (int r = 0; r < BM; r++) {
        if (i0 + r >= M) break;
        for (int s = 0; s < BN; s++) {
            if (j0 + s >= N) break;
            __global float* out = c + (size_t)(i0 + r) * ldc + j0 + s;
            *out = beta == 0.0f ? alpha * acc[r][s] : fma(beta, *out, alpha * acc[r][s]);
        }
    }
}

// -------------------------------------------------------------------------------------
// kernel_attention_v*: global size (tokens, heads). The body is prelude.cl's
// ATTENTION_FORWARD_KERNEL without lse and dropout (training.cl builds it with both), under
// the tunables ATT_KB and ATT_DH_MAX (defaults in prelude.cl).
// -------------------------------------------------------------------------------------
ATTENTION_FORWARD_KERNEL(kernel_attention_v1, float, 1, 0, 0)
ATTENTION_FORWARD_KERNEL(kernel_attention_v4, float4, 4, 0, 0)
ATTENTION_FORWARD_KERNEL(kernel_attention_v16, float16, 16, 0, 0)
