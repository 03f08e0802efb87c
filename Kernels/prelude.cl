// =====================================================================================
// prelude.cl: what the programs share. Not a program of its own: attention.cl, norm.cl and
// training.cl say `#include "prelude.cl"`, which embed-kernels replaces with this text (then
// `#line` back to the file), so each program compiles on its own (also with `-I Kernels`);
// gemm.cl and elementwise.cl do not include it, so their text, and the tuning file's key
// for them, does not change with it.
//
//   row_reduce(v)          Σ of v over the LN_WG work-items of a row: the layernorm forward
//                          (norm.cl) and backward (training.cl)
//   hsum{1,4,16}, vload1,  the vector helpers of the attention kernels; W is the vector width
//   vstore1                over the head dimension (1, 4 or 16; dh a multiple of it)
//   ATTENTION_FORWARD_KERNEL(NAME, VT, W, LSE, DROPOUT)
//                          the one attention forward, work-item (t, h) of global (T, H):
//     LSE 0/1      also write lse[t, h] = m + log l (training's backward reads it)
//     DROPOUT 0/1  take DROPOUT_ARGS and scale V's weights by keep/(1 − p) (needs
//                  training.cl's dropout_keep, DROP_EXAMPLE and DROPOUT_KEY); the normaliser l
//                  never sees the mask. Element (h, i, j) of a text of n tokens (i, j local
//                  to it) is (h·n + i)·n + j of the stream of token t's example (drop_rows)
//   attention.cl builds (0, 0), kernel_attention_v*; training.cl (1, 1), kernel_attention_lse_v*.
//   The switches are pasted tokens, so the inference kernel has neither argument nor branch.
//
//   qkv     [T, 3·D]   | Q h0 | Q h1 | … | K h0 | … | V h0 | … |, D = H·dh, ld = 3·D
//   ranges  [T, 2]     int32 first and one-past-last row of token t's sequence
//   out     [T, D]     out[t, h·dh ..< h·dh + dh] = Σ_j softmax_j(scale·q_t·k_j)·v_j
//   lse     [T, H]     log Σ_j exp(scale·q_t·k_j)
// =====================================================================================

#ifndef LN_WG
#define LN_WG 1        // work-items per layernorm row (1 on CPUs: no barriers)
#endif
#ifndef ATT_DH_MAX
#define ATT_DH_MAX 128 // largest head size the attention kernels hold in registers
#endif
#ifndef ATT_KB
#define ATT_KB 16      // keys scored per block before the running softmax is rescaled
#endif

/// Σ of v over the LN_WG work-items of a work-group, via red[LN_WG]; every item gets the sum.
inline float row_reduce(float v, __local float* red, const int lid) {
#if LN_WG > 1
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LN_WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    v = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return v;
}

inline float hsum1(float v) { return v; }
inline float hsum4(float4 v) { return (v.x + v.y) + (v.z + v.w); }
inline float hsum16(float16 v) { return hsum4(v.s0123 + v.s4567 + v.s89ab + v.scdef); }
inline float vload1(size_t i, const __global float* p) { return p[i]; }
inline void vstore1(float v, size_t i, __global float* p) { p[i] = v; }

// The switches' pieces: ATT_<piece>_<0 or 1>.
#define ATT_LSE_PARAM_0
#define ATT_LSE_PARAM_1 , __global float* restrict lse
#define ATT_LSE_STORE_0
#define ATT_LSE_STORE_1 lse[(size_t)t * (dim / dh) + h] = m + log(l);
#define ATT_DROP_PARAM_0
#define ATT_DROP_PARAM_1 , DROPOUT_ARGS
#define ATT_DROP_SETUP_0
#define ATT_DROP_SETUP_1                                                                       \
    const float keep_scale = 1.0f / (1.0f - p);                                                \
    DROP_EXAMPLE(t)                                                                            \
    const ulong drop_row = ((ulong)h * (end - start) + (t - start)) * (end - start); /* (h, t, 0) */
#define ATT_DROP_WEIGHT_0(weight, j)
#define ATT_DROP_WEIGHT_1(weight, j)                                                           \
    if (p > 0.0f)                                                                              \
        weight = dropout_keep(drop_row + ((j) - start), ex_lo, ex_hi, DROPOUT_KEY) ? weight * keep_scale : 0.0f;

#define ATTENTION_FORWARD_KERNEL(NAME, VT, W, LSE, DROPOUT)                                    \
__kernel void NAME(const int tokens, const int dim, const int dh, const float scale,           \
                   __global const float* restrict qkv, __global const int* restrict ranges,    \
                   __global float* restrict out ATT_LSE_PARAM_##LSE ATT_DROP_PARAM_##DROPOUT)  \
{                                                                                              \
    const int t = get_global_id(0), h = get_global_id(1);                                      \
    if (t >= tokens) return;                                                                   \
    const int start = ranges[2 * t], end = ranges[2 * t + 1];                                  \
    const int ld = 3 * dim, nv = dh / W;                                                       \
    ATT_DROP_SETUP_##DROPOUT                                                                   \
    const __global float* qrow = qkv + (size_t)t * ld + h * dh;                                \
    VT q[ATT_DH_MAX / W], acc[ATT_DH_MAX / W];                                                 \
    for (int i = 0; i < nv; i++) { q[i] = vload##W(i, qrow) * scale; acc[i] = (VT)(0.0f); }    \
    float m = -INFINITY, l = 0.0f;                                                             \
    for (int j0 = start; j0 < end; j0 += ATT_KB) {                                             \
        /* Scores of a block of ATT_KB keys, then one rescale of the running sums. */          \
        float sc[ATT_KB];                                                                      \
        float bmax = -INFINITY;                                                                \
        for (int jj = 0; jj < ATT_KB; jj++) {                                                  \
            float score = -INFINITY;                                                           \
            if (j0 + jj < end) {                                                               \
                const __global float* krow = qkv + (size_t)(j0 + jj) * ld + dim + h * dh;      \
                VT s = (VT)(0.0f);                                                             \
                for (int i = 0; i < nv; i++) s = fma(q[i], vload##W(i, krow), s);              \
                score = hsum##W(s);                                                            \
            }                                                                                  \
            sc[jj] = score;                                                                    \
            bmax = fmax(bmax, score);                                                          \
        }                                                                                      \
        const float mNew = fmax(m, bmax);                                                      \
        const float correction = mNew == -INFINITY ? 1.0f : exp(m - mNew);                     \
        for (int jj = 0; jj < ATT_KB; jj++) sc[jj] = exp(sc[jj] - mNew);                       \
        l *= correction;                                                                       \
        for (int i = 0; i < nv; i++) acc[i] *= correction;                                     \
        for (int jj = 0; jj < ATT_KB && j0 + jj < end; jj++) {                                 \
            const __global float* vrow = qkv + (size_t)(j0 + jj) * ld + 2 * dim + h * dh;      \
            l += sc[jj];                                                                       \
            float weight = sc[jj];                                                             \
            ATT_DROP_WEIGHT_##DROPOUT(weight, j0 + jj)                                         \
            for (int i = 0; i < nv; i++) acc[i] = fma((VT)(weight), vload##W(i, vrow), acc[i]); \
        }                                                                                      \
        m = mNew;                                                                              \
    }                                                                                          \
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;                                              \
    __global float* o = out + (size_t)t * dim + h * dh;                                        \
    for (int i = 0; i < nv; i++) vstore##W(acc[i] * inv, i, o);                                \
    ATT_LSE_STORE_##LSE                                                                        \
}
