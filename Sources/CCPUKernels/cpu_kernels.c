// See include/cpu_kernels.h. erf: the rational approximation of Eigen's and XLA's float erf
// (within a few ulp of erff on [-4, 4], ±1 beyond). exp: Cephes' range reduction and degree-6
// polynomial (within 2 ulp), written branch-free so the loops vectorise.
#include "cpu_kernels.h"
#include <math.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define DCL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DCL_CLONES
#endif

static inline float dcl_erf(float a) {
    const float x = fminf(fmaxf(a, -4.0f), 4.0f);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return p / q;
}

static inline float dcl_exp(float x) {
    const float hi = 88.3762626647949f, lo = -87.3365447504f;
    const float c = fminf(fmaxf(x, lo), hi);
    const float n = floorf(c * 1.44269504088896341f + 0.5f);
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { float f; int i; } scale = { .i = ((int)n + 127) << 23 };
    const float e = p * scale.f;
    return x < lo ? 0.0f : (x > hi ? INFINITY : e);
}

static inline float dcl_act(float v, int act) {
    switch (act) {
    case DCL_ACT_GELU: return 0.5f * v * (1.0f + dcl_erf(v * 0.70710678118654752f));
    case DCL_ACT_GELU_TANH:   // 0.5·v·(1 + tanh(u)) as v / (1 + exp(-2u)): no cancellation for u << 0
        return v / (1.0f + dcl_exp(-2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v)));
    case DCL_ACT_RELU: return fmaxf(v, 0.0f);
    case DCL_ACT_TANH: return tanhf(v);
    default: return v;
    }
}

// Sum of x[0..<n] over 16 independent lanes (vectorises without -ffast-math).
static inline float dcl_sum(const float *x, long n) {
    float lane[16] = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) lane[k] += x[j + k];
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += lane[k];
    for (; j < n; j++) s += x[j];
    return s;
}

// Largest of x[0..<n] (n ≥ 1), over 16 lanes.
static inline float dcl_max(const float *x, long n) {
    float lane[16];
    for (int k = 0; k < 16; k++) lane[k] = -INFINITY;
    long j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) lane[k] = x[j + k] > lane[k] ? x[j + k] : lane[k];
    float m = -INFINITY;
    for (int k = 0; k < 16; k++) m = lane[k] > m ? lane[k] : m;
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

DCL_CLONES
void dcl_bias_activation(float *row, const float *bias, long n, int act) {
    if (bias) for (long i = 0; i < n; i++) row[i] += bias[i];
    switch (act) {   // one loop per activation, so each vectorises on its own
    case DCL_ACT_GELU: for (long i = 0; i < n; i++) row[i] = dcl_act(row[i], DCL_ACT_GELU); break;
    case DCL_ACT_GELU_TANH: for (long i = 0; i < n; i++) row[i] = dcl_act(row[i], DCL_ACT_GELU_TANH); break;
    case DCL_ACT_RELU: for (long i = 0; i < n; i++) row[i] = fmaxf(row[i], 0.0f); break;
    case DCL_ACT_TANH: for (long i = 0; i < n; i++) row[i] = tanhf(row[i]); break;
    default: break;
    }
}

DCL_CLONES
void dcl_activation(const float *x, float *y, long n, int act) {
    switch (act) {
    case DCL_ACT_GELU: for (long i = 0; i < n; i++) y[i] = dcl_act(x[i], DCL_ACT_GELU); break;
    case DCL_ACT_GELU_TANH: for (long i = 0; i < n; i++) y[i] = dcl_act(x[i], DCL_ACT_GELU_TANH); break;
    case DCL_ACT_RELU: for (long i = 0; i < n; i++) y[i] = fmaxf(x[i], 0.0f); break;
    case DCL_ACT_TANH: for (long i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    default: if (y != x) for (long i = 0; i < n; i++) y[i] = x[i]; break;
    }
}

DCL_CLONES
void dcl_softmax_row(const float *x, float *y, long n, float scale, const float *mask) {
    for (long j = 0; j < n; j++) y[j] = scale * x[j] + (mask ? mask[j] : 0.0f);
    const float mx = dcl_max(y, n);
    if (mx == -INFINITY) {   // fully masked: zeros, not NaN
        for (long j = 0; j < n; j++) y[j] = 0.0f;
        return;
    }
    for (long j = 0; j < n; j++) y[j] = dcl_exp(y[j] - mx);
    const float inv = 1.0f / dcl_sum(y, n);
    for (long j = 0; j < n; j++) y[j] *= inv;
}

DCL_CLONES
void dcl_layernorm_row(const float *x, const float *residual, const float *gamma, const float *beta,
                       float eps, float *y, long n, float *scratch) {
    for (long j = 0; j < n; j++) scratch[j] = x[j] + (residual ? residual[j] : 0.0f);
    const float mean = dcl_sum(scratch, n) / (float)n;
    float lane[16] = {0}, q = 0.0f;
    long j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) { const float d = scratch[j + k] - mean; lane[k] += d * d; }
    for (int k = 0; k < 16; k++) q += lane[k];
    for (; j < n; j++) { const float d = scratch[j] - mean; q += d * d; }
    const float rstd = 1.0f / sqrtf(q / (float)n + eps);
    for (j = 0; j < n; j++) y[j] = (scratch[j] - mean) * rstd * gamma[j] + beta[j];
}

// ---- Attention for one (sequence, head) ------------------------------------------------
// Register tiles of 8 rows × 32 columns (16 accumulators of 16 lanes): Q·Kᵀ broadcasts a
// scaled query value against 32 keys of the transposed K; P·V broadcasts a probability
// against 32 values of a V row. K and V are copied into zero-padded scratch first, so any
// head size and length take the same vector code.

typedef float dcl_v16 __attribute__((vector_size(64)));
enum { DCL_ATT_ROWS = 8, DCL_ATT_COLS = 32 };

// Unaligned 16-float load and store (macros: a function taking a vector would fix its ABI for
// one target, and the callers are cloned for three).
#define DCL_LOAD16(dst, p) __builtin_memcpy(&(dst), (p), sizeof(dcl_v16))
#define DCL_STORE16(p, v) do { const dcl_v16 dcl_t_ = (v); __builtin_memcpy((p), &dcl_t_, sizeof dcl_t_); } while (0)
static inline long dcl_round_up(long x, long m) { return (x + m - 1) / m * m; }

long dcl_attention_scratch(long n, long dh) {
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    return dh * np + n * dp + DCL_ATT_ROWS * (dh + np);
}

DCL_CLONES
void dcl_attention_head(const float *q, const float *k, const float *v, long ld, long n, long dh,
                        float scale, float *out, long ldo, float *scratch) {
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    float *kt = scratch;               // [dh][np]  Kᵀ, keys ≥ n zero
    float *vp = kt + dh * np;          // [n][dp]   V, columns ≥ dh zero
    float *qs = vp + n * dp;           // [ROWS][dh] scaled queries of the current block
    float *s = qs + DCL_ATT_ROWS * dh; // [ROWS][np] scores, then probabilities
    for (long d = 0; d < dh; d++) {
        for (long j = 0; j < n; j++) kt[d * np + j] = k[j * ld + d];
        for (long j = n; j < np; j++) kt[d * np + j] = 0.0f;
    }
    for (long j = 0; j < n; j++) {
        for (long d = 0; d < dh; d++) vp[j * dp + d] = v[j * ld + d];
        for (long d = dh; d < dp; d++) vp[j * dp + d] = 0.0f;
    }
    for (long i0 = 0; i0 < n; i0 += DCL_ATT_ROWS) {
        const long rows = n - i0 < DCL_ATT_ROWS ? n - i0 : DCL_ATT_ROWS;
        for (long r = 0; r < DCL_ATT_ROWS; r++)
            for (long d = 0; d < dh; d++) qs[r * dh + d] = r < rows ? scale * q[(i0 + r) * ld + d] : 0.0f;
        // S = (scale·Q) Kᵀ over 32 keys at a time.
        for (long j = 0; j < np; j += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}};
            for (long d = 0; d < dh; d++) {
                dcl_v16 k0, k1;
                DCL_LOAD16(k0, kt + d * np + j);
                DCL_LOAD16(k1, kt + d * np + j + 16);
                for (int r = 0; r < DCL_ATT_ROWS; r++) {
                    const float a = qs[r * dh + d];
                    acc[r][0] += a * k0;
                    acc[r][1] += a * k1;
                }
            }
            for (int r = 0; r < DCL_ATT_ROWS; r++) {
                DCL_STORE16(s + r * np + j, acc[r][0]);
                DCL_STORE16(s + r * np + j + 16, acc[r][1]);
            }
        }
        // Row softmax over the n real keys, left unnormalised; 1/sum is applied to the output.
        float inv[DCL_ATT_ROWS];
        for (long r = 0; r < rows; r++) {
            float *row = s + r * np;
            const float mx = dcl_max(row, n);
            for (long j = 0; j < n; j++) row[j] = dcl_exp(row[j] - mx);
            inv[r] = 1.0f / dcl_sum(row, n);
        }
        for (long r = rows; r < DCL_ATT_ROWS; r++) {
            for (long j = 0; j < n; j++) s[r * np + j] = 0.0f;
            inv[r] = 0.0f;
        }
        // O = P·V over 32 output columns at a time.
        for (long c = 0; c < dp; c += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}};
            for (long j = 0; j < n; j++) {
                dcl_v16 v0, v1;
                DCL_LOAD16(v0, vp + j * dp + c);
                DCL_LOAD16(v1, vp + j * dp + c + 16);
                for (int r = 0; r < DCL_ATT_ROWS; r++) {
                    const float p = s[r * np + j];
                    acc[r][0] += p * v0;
                    acc[r][1] += p * v1;
                }
            }
            for (long r = 0; r < rows; r++) {
                float tile[DCL_ATT_COLS];
                DCL_STORE16(tile, acc[r][0] * inv[r]);
                DCL_STORE16(tile + 16, acc[r][1] * inv[r]);
                const long w = dh - c < DCL_ATT_COLS ? dh - c : DCL_ATT_COLS;
                for (long d = 0; d < w; d++) out[(i0 + r) * ldo + c + d] = tile[d];
            }
        }
    }
}
