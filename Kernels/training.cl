// =====================================================================================
// Training: the backward passes, dropout, the loss and the optimiser (TrainingBackend).
// Every gradient is a sum in a fixed order: no atomics (OpenCL 1.2 has no float atomics),
// no race, the same bits on every run. Weight gradients accumulate (+=) into their buffers.
//
//   x, dy, dx        [rows, n]          activations and their gradients, row-major
//   stats            [rows, 2]          (mean, 1/σ) of each row, from kernel_layernorm
//   qkv, dqkv        [T, 3·D]           | Q h0 | Q h1 | … | K h0 | … | V h0 | … |, D = H·dh
//   out, dout        [T, D]             attention output and its gradient
//   lse, delta       [T, H]             row log-sum-exp of scale·q·kᵀ; Σ dout ⊙ out
//   ranges           [T, 2] int32       first and one-past-last row of each token's sequence
//   W                [N, K]             plain weight;  Wp [⌈N/PN⌉][K][PN] its packed panels
//   order            [T] int32          tokens sorted by (embedding row, token)
//   starts, erows    [S + 1], [S]       segment s = order[starts[s] ..< starts[s+1]] reads row erows[s]
//
// Dropout is keyed by example, not by where the example sits in the packed batch: row r of
// an activation belongs to example drop_rows[3r] | drop_rows[3r + 1] << 32 as its local row
// drop_rows[3r + 2] ([CLS]-only rows are local row 0), and element (r, c) of a [rows, width]
// buffer is index local·width + c of that example's stream. Philox4x32-10 (Salmon et al.,
// SC'11) exactly as the CPU path's dcl_stream4 and Swift's DropoutKey.uniform: counter
// (index / 4, example lo, example hi, site), key (seed lo, seed hi), uniform = (word index % 4
// >> 8)·2⁻²⁴, kept when uniform ≥ p. Attention's element (h, i, j) of a text of n tokens is
// index (h·n + i)·n + j with i, j local to the text (token − ranges[2t]).
//
// kernel_pack_panels             Wp and the padded bias from W and bias      global (K, ⌈N/PN⌉·PN)
// kernel_dropout                 y = x·keep/(1 − p) over [rows, width]        global (rows·width)
// kernel_attention_lse_v{1,4,16} attention forward + lse + dropout           global (T, H)
// kernel_attention_dq_v*         delta and dQ of each query row               global (T, H)
// kernel_attention_dkv_v*        dK, dV of each key row, queries in order     global (T, H)
// kernel_activation_backward     dy ⊙= act′(z) in place                       global (count)
// kernel_column_sums             out[c] += Σ_r x[r, c], rows in order         global (n)
// kernel_layernorm_backward      dx of each row, LN_WG work-items a row       global rows·LN_WG
// kernel_layernorm_param_grads   dgamma, dbeta += Σ_r, rows in order          global (n)
// kernel_embedding_backward      grad[erows[s], c] += Σ dy[order[i], c]       global (D, S)
// kernel_scatter_add_rows        dsrc[index[r], :] += dy[r, :]                global (D, R)
// kernel_cross_entropy           loss and dlogits of each row                 global (rows)
// kernel_kl_divergence           distillation's soft-target loss and dlogits  global (rows)
// kernel_cosine_distance         distillation's hidden-state loss and dx      global (rows)
// kernel_sum_squares_partial     Σ x² of each SSQ_WG·SSQ_ITEMS block          a group a block
// kernel_sum_squares_final       out[index] = Σ partials                      one group
// kernel_adamw                   one fused torch.optim.AdamW update           global (count)
//
// Dimension 0 of every kernel without a required work-group size is guarded: the host may
// round it up to a fixed work-group.
// =====================================================================================

// LN_WG, ATT_DH_MAX, ATT_KB, row_reduce and the attention helpers: prelude.cl.

// Not tunable: they fix the order of sumOfSquares' sums, the same on every device. The host
// launches with the same values (OpenCLBackend.sumOfSquaresGroup, .sumOfSquaresItems in OpenCLTraining.swift).
#include "prelude.cl"   // the shared helpers and tunables (embed-kernels inlines it)

#define SSQ_WG 64      // work-items per group in the kernel_sum_squares_* kernels
#define SSQ_ITEMS 64   // elements per work-item in kernel_sum_squares_partial

#define ACT_GELU 1
#define ACT_GELU_TANH 2
#define ACT_RELU 3
#define ACT_TANH 4

// -------------------------------------------------------------------------------------
// Philox4x32-10: output word w of a counter, and the dropout decision of one element. Element
// i of an example's stream is word i % 4 of the counter (i / 4, example lo, example hi, site):
// one Philox call gives four elements (the CPU path draws them four at a time).
// -------------------------------------------------------------------------------------
inline uint philox_word(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, const uint w) {
    for (int round = 0; round < 10; round++) {
        const uint n0 = mul_hi(0xCD9E8D57u, c2) ^ c1 ^ k0, n1 = 0xCD9E8D57u * c2;
        const uint n2 = mul_hi(0xD2511F53u, c0) ^ c3 ^ k1, n3 = 0xD2511F53u * c0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return w == 0 ? c0 : w == 1 ? c1 : w == 2 ? c2 : c3;
}

/// The dropout key as kernel arguments: each row's (example lo, example hi, local row)
/// `drop_rows [rows, 3]` int32 (read only when p > 0), seed (lo, hi), site and the probability p.
#define DROPOUT_ARGS __global const int* restrict drop_rows, const uint seed_lo, const uint seed_hi, \
                     const uint site, const float p
/// The part of it that names the stream, as dropout_keep's last arguments.
#define DROPOUT_KEY seed_lo, seed_hi, site, p
/// ex_lo, ex_hi: the example of row `row` (0 when p = 0: drop_rows is then a placeholder).
#define DROP_EXAMPLE(row)                                                                      \
    const uint ex_lo = p > 0.0f ? (uint)drop_rows[3 * (size_t)(row)] : 0u;                     \
    const uint ex_hi = p > 0.0f ? (uint)drop_rows[3 * (size_t)(row) + 1] : 0u;

/// Whether element `index` (< 2³⁴) of example (ex_lo, ex_hi)'s stream is kept.
inline bool dropout_keep(const ulong index, const uint ex_lo, const uint ex_hi, const uint seed_lo,
                         const uint seed_hi, const uint site, const float p) {
    const ulong group = index >> 2;
    const uint r = philox_word((uint)group, ex_lo, ex_hi, site, seed_lo, seed_hi, (uint)(index & 3));
    return (float)(r >> 8) * 5.9604644775390625e-8f >= p;   // 2⁻²⁴
}

// -------------------------------------------------------------------------------------
// kernel_pack_panels: work-item (c, row) moves W[row, c] into its panel (0 past N); the
// work-items of column 0 also write the padded bias.
// -------------------------------------------------------------------------------------
__kernel void kernel_pack_panels(const int N, const int K, const int pn, __global const float* restrict w,
                                 __global const float* restrict bias, const int has_bias,
                                 __global float* restrict packed, __global float* restrict padded_bias)
{
    const int c = get_global_id(0), row = get_global_id(1);
    if (c >= K) return;
    packed[((size_t)(row / pn) * K + c) * pn + row % pn] = row < N ? w[(size_t)row * K + c] : 0.0f;
    if (c == 0) padded_bias[row] = row < N && has_bias ? bias[row] : 0.0f;
}

// -------------------------------------------------------------------------------------
// kernel_dropout: y[r, c] = x[r, c]·keep(local(r)·width + c)/(1 − p) in row r's example's
// stream, over rows × width; y may be x.
// -------------------------------------------------------------------------------------
__kernel void kernel_dropout(const int rows, const int width, __global const float* x, __global float* y,
                             DROPOUT_ARGS)
{
    const int i = get_global_id(0);
    if (i >= rows * width) return;
    const int r = i / width, c = i - r * width;
    DROP_EXAMPLE(r)
    const ulong index = (ulong)(uint)drop_rows[3 * (size_t)r + 2] * (ulong)width + (ulong)c;
    y[i] = dropout_keep(index, ex_lo, ex_hi, DROPOUT_KEY) ? x[i] * (1.0f / (1.0f - p)) : 0.0f;
}

// -------------------------------------------------------------------------------------
// Attention, forward and backward, one work-item per (token, head) as kernel_attention_v*
// in attention.cl; W is the vector width over the head dimension (dh a multiple of it).
//
// kernel_attention_lse_v*: out_t = Σ_j softmax_j(scale·q_t·k_j)·keep(h, t, j)/(1 − p)·v_j with
//   an online softmax (the mask scales V's weights, never the normaliser), lse_t = m + log l:
//   prelude.cl's ATTENTION_FORWARD_KERNEL, the inference kernel's body, with lse and dropout.
// kernel_attention_dq_v*: delta_t = dout_t·out_t (= Σ_j P_tj·dP_tj: the dropped weights V saw
//   are what out summed), then dq_t = scale·Σ_j P_tj(dP_tj − delta_t)·k_j, with
//   P_tj = exp(scale·q_t·k_j − lse_t) recomputed and dP_tj = keep·(dout_t·v_j)/(1 − p).
// kernel_attention_dkv_v*: for key row j, over the queries i of its sequence in order:
//   dv_j = Σ_i P_ij·keep/(1 − p)·dout_i,  dk_j = scale·Σ_i P_ij(dP_ij − delta_i)·q_i.
//   Runs after kernel_attention_dq_v* (it reads delta).
// -------------------------------------------------------------------------------------
ATTENTION_FORWARD_KERNEL(kernel_attention_lse_v1, float, 1, 1, 1)
ATTENTION_FORWARD_KERNEL(kernel_attention_lse_v4, float4, 4, 1, 1)
ATTENTION_FORWARD_KERNEL(kernel_attention_lse_v16, float16, 16, 1, 1)

#define ATTENTION_DQ_KERNEL(NAME, VT, W)                                                       \
__kernel void NAME(const int tokens, const int dim, const int dh, const float scale,           \
                   __global const float* restrict qkv, __global const int* restrict ranges,    \
                   __global const float* restrict out, __global const float* restrict lse,     \
                   __global const float* restrict dout, __global float* restrict delta,        \
                   __global float* restrict dqkv, DROPOUT_ARGS)                                \
{                                                                                              \
    const int t = get_global_id(0), h = get_global_id(1);                                      \
    if (t >= tokens) return;                                                                   \
    const int start = ranges[2 * t], end = ranges[2 * t + 1];                                  \
    const int ld = 3 * dim, nv = dh / W, heads = dim / dh;                                     \
    const float keep_scale = 1.0f / (1.0f - p);                                                \
    DROP_EXAMPLE(t)                                                                            \
    const ulong drop_row = ((ulong)h * (end - start) + (t - start)) * (end - start);           \
    const __global float* qrow = qkv + (size_t)t * ld + h * dh;                                \
    const __global float* grow = dout + (size_t)t * dim + h * dh;                              \
    const __global float* orow = out + (size_t)t * dim + h * dh;                               \
    VT q[ATT_DH_MAX / W], g[ATT_DH_MAX / W], acc[ATT_DH_MAX / W];                              \
    VT dsum = (VT)(0.0f);                                                                      \
    for (int i = 0; i < nv; i++) {                                                             \
        q[i] = vload##W(i, qrow) * scale;                                                      \
        g[i] = vload##W(i, grow);                                                              \
        acc[i] = (VT)(0.0f);                                                                   \
        dsum = fma(g[i], vload##W(i, orow), dsum);                                             \
    }                                                                                          \
    const float d = hsum##W(dsum), li = lse[(size_t)t * heads + h];                            \
    delta[(size_t)t * heads + h] = d;                                                          \
    for (int j = start; j < end; j++) {                                                        \
        const __global float* krow = qkv + (size_t)j * ld + dim + h * dh;                      \
        const __global float* vrow = krow + dim;                                               \
        VT s = (VT)(0.0f), dp = (VT)(0.0f);                                                    \
        for (int i = 0; i < nv; i++) {                                                         \
            s = fma(q[i], vload##W(i, krow), s);                                               \
            dp = fma(g[i], vload##W(i, vrow), dp);                                             \
        }                                                                                      \
        float dpj = hsum##W(dp);                                                               \
        if (p > 0.0f)                                                                          \
            dpj = dropout_keep(drop_row + (j - start), ex_lo, ex_hi, DROPOUT_KEY) ? dpj * keep_scale : 0.0f; \
        const float ds = exp(hsum##W(s) - li) * (dpj - d);                                     \
        for (int i = 0; i < nv; i++) acc[i] = fma((VT)(ds), vload##W(i, krow), acc[i]);        \
    }                                                                                          \
    __global float* dq = dqkv + (size_t)t * ld + h * dh;                                       \
    for (int i = 0; i < nv; i++) vstore##W(acc[i] * scale, i, dq);                             \
}

#define ATTENTION_DKV_KERNEL(NAME, VT, W)                                                      \
__kernel void NAME(const int tokens, const int dim, const int dh, const float scale,           \
                   __global const float* restrict qkv, __global const int* restrict ranges,    \
                   __global const float* restrict lse, __global const float* restrict dout,    \
                   __global const float* restrict delta, __global float* restrict dqkv,        \
                   DROPOUT_ARGS)                                                               \
{                                                                                              \
    const int j = get_global_id(0), h = get_global_id(1);                                      \
    if (j >= tokens) return;                                                                   \
    const int start = ranges[2 * j], end = ranges[2 * j + 1];                                  \
    const int ld = 3 * dim, nv = dh / W, heads = dim / dh;                                     \
    const float keep_scale = 1.0f / (1.0f - p);                                                \
    DROP_EXAMPLE(j)                                                                            \
    const ulong n_ex = (ulong)(end - start);                                                   \
    const __global float* krow = qkv + (size_t)j * ld + dim + h * dh;                          \
    const __global float* vrow = krow + dim;                                                   \
    VT k[ATT_DH_MAX / W], v[ATT_DH_MAX / W], dk[ATT_DH_MAX / W], dv[ATT_DH_MAX / W];           \
    for (int e = 0; e < nv; e++) {                                                             \
        k[e] = vload##W(e, krow); v[e] = vload##W(e, vrow);                                    \
        dk[e] = (VT)(0.0f); dv[e] = (VT)(0.0f);                                                \
    }                                                                                          \
    for (int i = start; i < end; i++) {                                                        \
        const __global float* qrow = qkv + (size_t)i * ld + h * dh;                            \
        const __global float* grow = dout + (size_t)i * dim + h * dh;                          \
        VT s = (VT)(0.0f), dp = (VT)(0.0f);                                                    \
        for (int e = 0; e < nv; e++) {                                                         \
            s = fma(vload##W(e, qrow) * scale, k[e], s);  /* as the forward: (scale·q)·k */    \
            dp = fma(vload##W(e, grow), v[e], dp);                                             \
        }                                                                                      \
        const float pij = exp(hsum##W(s) - lse[(size_t)i * heads + h]);                        \
        float pd = pij, dpij = hsum##W(dp);                                                    \
        if (p > 0.0f) {                                                                        \
            const bool kept = dropout_keep(((ulong)h * n_ex + (i - start)) * n_ex + (j - start), \
                                           ex_lo, ex_hi, DROPOUT_KEY);                         \
            pd = kept ? pd * keep_scale : 0.0f;                                                \
            dpij = kept ? dpij * keep_scale : 0.0f;                                            \
        }                                                                                      \
        const float ds = pij * (dpij - delta[(size_t)i * heads + h]);                          \
        for (int e = 0; e < nv; e++) {                                                         \
            dv[e] = fma((VT)(pd), vload##W(e, grow), dv[e]);                                   \
            dk[e] = fma((VT)(ds), vload##W(e, qrow), dk[e]);                                   \
        }                                                                                      \
    }                                                                                          \
    __global float* dkrow = dqkv + (size_t)j * ld + dim + h * dh;                              \
    for (int e = 0; e < nv; e++) {                                                             \
        vstore##W(dk[e] * scale, e, dkrow);                                                    \
        vstore##W(dv[e], e, dkrow + dim);                                                      \
    }                                                                                          \
}

ATTENTION_DQ_KERNEL(kernel_attention_dq_v1, float, 1)
ATTENTION_DQ_KERNEL(kernel_attention_dq_v4, float4, 4)
ATTENTION_DQ_KERNEL(kernel_attention_dq_v16, float16, 16)
ATTENTION_DKV_KERNEL(kernel_attention_dkv_v1, float, 1)
ATTENTION_DKV_KERNEL(kernel_attention_dkv_v4, float4, 4)
ATTENTION_DKV_KERNEL(kernel_attention_dkv_v16, float16, 16)

// -------------------------------------------------------------------------------------
// Linear backward: the activation's derivative, and the bias gradient. The two GEMMs are
// kernel_bmm's. The derivatives are dcl_activation_backward's:
//   GELU       Φ(x) + x·φ(x)
//   GELU tanh  ½(1 + tanh u) + ½x·(1 − tanh²u)·k·(1 + 3·0.044715x²),  u = k(x + 0.044715x³)
//   ReLU       x > 0;   tanh  1 − tanh²x
// with ½(1 + tanh u) and 1 − tanh²u = sech²u evaluated from e = exp(−2|u|) instead of from
// tanh: OpenCL's tanh may be a few ulp off ±1 (PoCL's is), and 1 − t² turns that into an
// absolute error of ~x·k·(1 + 3·0.044715x²)·1e-7, 7e-6 at |x| = 10.
// -------------------------------------------------------------------------------------
/// (½(1 + tanh u), sech²u) without cancellation.
inline float2 tanh_parts(const float u) {
    const float e = exp(-2.0f * fabs(u)), inv = 1.0f / (1.0f + e);
    return (float2)(u >= 0.0f ? inv : e * inv, 4.0f * e * inv * inv);
}

__kernel void kernel_activation_backward(const int count, __global float* dy, __global const float* restrict z,
                                         const int act)
{
    const int i = get_global_id(0);
    if (i >= count) return;
    const float x = z[i];
    if (act == ACT_RELU) {
        dy[i] = x > 0.0f ? dy[i] : 0.0f;
        return;
    }
    float d = 1.0f;
    if (act == ACT_GELU) {
        const float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));
        d = cdf + x * 0.39894228040143268f * exp(-0.5f * x * x);
    } else if (act == ACT_GELU_TANH) {
        const float k = 0.79788456080286536f;
        const float2 t = tanh_parts(k * (x + 0.044715f * x * x * x));
        d = t.x + 0.5f * x * t.y * k * (1.0f + 3.0f * 0.044715f * x * x);
    } else if (act == ACT_TANH) {
        d = tanh_parts(x).y;
    }
    dy[i] *= d;
}

__kernel void kernel_column_sums(const int rows, const int n, __global const float* restrict x,
                                 __global float* restrict out)
{
    const int c = get_global_id(0);
    if (c >= n) return;
    float s = out[c];
    for (int r = 0; r < rows; r++) s += x[(size_t)r * n + c];
    out[c] = s;
}

// -------------------------------------------------------------------------------------
// LayerNorm backward with the forward's stats; v = x + residual, x̂ = (v − mean)/σ, g = dy·γ:
//   dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂))            (written, or added when accumulate)
//   dgamma[c] += Σ_r dy·x̂,  dbeta[c] += Σ_r dy       (rows in order, one work-item a column)
// -------------------------------------------------------------------------------------
__kernel __attribute__((reqd_work_group_size(LN_WG, 1, 1)))
void kernel_layernorm_backward(const int n, __global const float* restrict dy, __global const float* restrict x,
                               __global const float* restrict residual, const int has_residual,
                               __global const float* restrict stats, __global const float* restrict gamma,
                               __global float* restrict dx, const int accumulate)
{
    __local float red[LN_WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    const __global float* dyr = dy + (size_t)row * n;
    const __global float* xr = x + (size_t)row * n;
    const __global float* rr = residual + (size_t)(has_residual ? row : 0) * n;
    __global float* dxr = dx + (size_t)row * n;
    const float mean = stats[2 * row], rstd = stats[2 * row + 1];

    float sg = 0.0f, sgx = 0.0f;
    for (int j = lid; j < n; j += LN_WG) {
        const float g = dyr[j] * gamma[j], xh = (xr[j] + (has_residual ? rr[j] : 0.0f) - mean) * rstd;
        sg += g;
        sgx += g * xh;
    }
    sg = row_reduce(sg, red, lid) / (float)n;
    sgx = row_reduce(sgx, red, lid) / (float)n;
    for (int j = lid; j < n; j += LN_WG) {
        const float xh = (xr[j] + (has_residual ? rr[j] : 0.0f) - mean) * rstd;
        const float d = rstd * (dyr[j] * gamma[j] - sg - xh * sgx);
        dxr[j] = accumulate ? dxr[j] + d : d;
    }
}

__kernel void kernel_layernorm_param_grads(const int rows, const int n, __global const float* restrict dy,
                                           __global const float* restrict x, __global const float* restrict residual,
                                           const int has_residual, __global const float* restrict stats,
                                           __global float* restrict dgamma, __global float* restrict dbeta)
{
    const int c = get_global_id(0);
    if (c >= n) return;
    float sg = dgamma[c], sb = dbeta[c];
    for (int r = 0; r < rows; r++) {
        const size_t at = (size_t)r * n + c;
        const float v = x[at] + (has_residual ? residual[at] : 0.0f);
        sg += dy[at] * (v - stats[2 * r]) * stats[2 * r + 1];
        sb += dy[at];
    }
    dgamma[c] = sg;
    dbeta[c] = sb;
}

// -------------------------------------------------------------------------------------
// Embedding and row-gather backward: segments read distinct rows, gathered rows are
// distinct, so no two work-items write one element.
// -------------------------------------------------------------------------------------
__kernel void kernel_embedding_backward(const int D, __global const float* restrict dy,
                                        __global const int* restrict order, __global const int* restrict starts,
                                        __global const int* restrict erows, __global float* restrict grad)
{
    const int c = get_global_id(0), s = get_global_id(1);
    if (c >= D) return;
    __global float* g = grad + (size_t)erows[s] * D + c;
    float sum = *g;
    for (int i = starts[s]; i < starts[s + 1]; i++) sum += dy[(size_t)order[i] * D + c];
    *g = sum;
}

__kernel void kernel_scatter_add_rows(const int D, __global const float* restrict dy,
                                      __global const int* restrict index, __global float* restrict dsrc)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < D) dsrc[(size_t)index[r] * D + c] += dy[(size_t)r * D + c];
}

// -------------------------------------------------------------------------------------
// kernel_cross_entropy: loss[r] = logsumexp(z_r) − z_r[label_r],
// dz_r = (softmax(z_r) − onehot(label_r))·grad_scale; label −1 (no label): loss and dz 0.
// The host validated the labels.
// -------------------------------------------------------------------------------------
__kernel void kernel_cross_entropy(const int rows, const int classes, __global const float* restrict logits,
                                   __global const int* restrict labels, const float grad_scale,
                                   __global float* restrict losses, __global float* restrict dlogits)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const __global float* z = logits + (size_t)r * classes;
    __global float* dz = dlogits + (size_t)r * classes;
    const int label = labels[r];
    if (label < 0) {
        losses[r] = 0.0f;
        for (int c = 0; c < classes; c++) dz[c] = 0.0f;
        return;
    }
    float m = -INFINITY;
    for (int c = 0; c < classes; c++) m = fmax(m, z[c]);
    float sum = 0.0f;
    for (int c = 0; c < classes; c++) sum += exp(z[c] - m);
    const float lse = m + log(sum);
    losses[r] = lse - z[label];
    for (int c = 0; c < classes; c++) dz[c] = (exp(z[c] - lse) - (c == label ? 1.0f : 0.0f)) * grad_scale;
}

// -------------------------------------------------------------------------------------
// kernel_kl_divergence: with p_t = softmax(t_r/T), p_s = softmax(s_r/T):
// loss[r] (+)= weight·T²·Σ p_t(log p_t − log p_s), ds_r (+)= weight·grad_scale·T·(p_s − p_t).
// -------------------------------------------------------------------------------------
__kernel void kernel_kl_divergence(const int rows, const int classes, __global const float* restrict logits,
                                   __global const float* restrict teacher, const float T, const float weight,
                                   const float grad_scale, const int accumulate, __global float* restrict losses,
                                   __global float* restrict dlogits)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const __global float* s = logits + (size_t)r * classes;
    const __global float* q = teacher + (size_t)r * classes;
    __global float* ds = dlogits + (size_t)r * classes;
    float ms = -INFINITY, mt = -INFINITY;
    for (int c = 0; c < classes; c++) { ms = fmax(ms, s[c] / T); mt = fmax(mt, q[c] / T); }
    float zs = 0.0f, zt = 0.0f;
    for (int c = 0; c < classes; c++) { zs += exp(s[c] / T - ms); zt += exp(q[c] / T - mt); }
    const float ls = ms + log(zs), lt = mt + log(zt);
    float kl = 0.0f;
    for (int c = 0; c < classes; c++) {
        const float log_ps = s[c] / T - ls, log_pt = q[c] / T - lt, pt = exp(log_pt);
        kl += pt * (log_pt - log_ps);
        const float g = weight * grad_scale * T * (exp(log_ps) - pt);
        ds[c] = accumulate ? ds[c] + g : g;
    }
    const float loss = weight * T * T * kl;
    losses[r] = accumulate ? losses[r] + loss : loss;
}

// -------------------------------------------------------------------------------------
// kernel_cosine_distance: rows of x (student) and y (teacher), [rows, D] row-major; with
// a = x·x + ε, b = y·y + ε (ε = 1e-12, as PyTorch's cosine_embedding_loss), cos = x·y/√(ab):
// loss[r] = weight·(1 − cos), dx_r = −weight·grad_scale·(y/√(ab) − cos·x/a). A work-item a
// row (the term is off by default; its cost is three dot products per token).
// -------------------------------------------------------------------------------------
__kernel void kernel_cosine_distance(const int rows, const int D, __global const float* restrict x,
                                     __global const float* restrict y, const float weight, const float grad_scale,
                                     __global float* restrict losses, __global float* restrict dx)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const __global float* a = x + (size_t)r * D;
    const __global float* b = y + (size_t)r * D;
    __global float* g = dx + (size_t)r * D;
    float xy = 0.0f, xx = 0.0f, yy = 0.0f;
    for (int j = 0; j < D; j++) { xy += a[j] * b[j]; xx += a[j] * a[j]; yy += b[j] * b[j]; }
    xx += 1e-12f;
    yy += 1e-12f;
    const float inv = rsqrt(xx * yy), cosine = xy * inv;
    losses[r] = weight * (1.0f - cosine);
    const float cy = -weight * grad_scale * inv, cx = weight * grad_scale * cosine / xx;
    for (int j = 0; j < D; j++) g[j] = cy * b[j] + cx * a[j];
}

// -------------------------------------------------------------------------------------
// Σ x² in two passes of fixed shape: group g sums block g (SSQ_WG·SSQ_ITEMS elements,
// work-item l taking every SSQ_WG-th from l, then a tree), and one group sums the partials.
// -------------------------------------------------------------------------------------
inline float group_sum(float v, __local float* red, const int lid) {
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = SSQ_WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return red[0];
}

__kernel __attribute__((reqd_work_group_size(SSQ_WG, 1, 1)))
void kernel_sum_squares_partial(const int count, __global const float* restrict x, __global float* restrict partial)
{
    __local float red[SSQ_WG];
    const int lid = get_local_id(0), group = get_group_id(0);
    const int base = group * (SSQ_WG * SSQ_ITEMS) + lid;
    float s = 0.0f;
    for (int i = 0; i < SSQ_ITEMS; i++) {
        const int e = base + i * SSQ_WG;
        if (e < count) s = fma(x[e], x[e], s);
    }
    s = group_sum(s, red, lid);
    if (lid == 0) partial[group] = s;
}

__kernel __attribute__((reqd_work_group_size(SSQ_WG, 1, 1)))
void kernel_sum_squares_final(const int n, __global const float* restrict partial, __global float* restrict out,
                              const int index)
{
    __local float red[SSQ_WG];
    const int lid = get_local_id(0);
    float s = 0.0f;
    for (int i = lid; i < n; i += SSQ_WG) s += partial[i];
    s = group_sum(s, red, lid);
    if (lid == 0) out[index] = s;
}

// -------------------------------------------------------------------------------------
// kernel_adamw: torch.optim.AdamW's single-tensor arithmetic (as dcl_adamw), with
// step_size = lr/(1 − β1ᵗ) and bc2_sqrt = √(1 − β2ᵗ) computed by the host in double.
// -------------------------------------------------------------------------------------
__kernel void kernel_adamw(const int count, __global float* restrict param, __global const float* restrict grad,
                           __global float* restrict m, __global float* restrict v, const float lr, const float b1,
                           const float b2, const float eps, const float wd, const float grad_scale,
                           const float step_size, const float bc2_sqrt)
{
    const int i = get_global_id(0);
    if (i >= count) return;
    const float g = grad[i] * grad_scale;
    const float pi = param[i] * (1.0f - lr * wd);
    const float mi = m[i] + (1.0f - b1) * (g - m[i]);     // torch's lerp
    const float vi = v[i] * b2 + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = pi - step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
}
