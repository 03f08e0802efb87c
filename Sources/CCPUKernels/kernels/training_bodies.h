// The training kernels' bodies (see include/cpu_training.h), included by training.c once per
// instruction-set level with DCL_FN naming the copy, as kernels/bodies.h is by cpu_kernels.c.
// Loops are written so the compiler vectorises them: exp and erf are math.h's branch-free
// polynomials, Philox's 32×32→64-bit products map onto vector multiplies, and attention's
// dropout masks are drawn a row at a time before they are used.
// The forwards of layernorm and attention are forward_bodies.h's, shared with inference.
// (training.c includes kernels/math.h and kernels/philox.h first.)
#include "forward_bodies.h"

#ifndef DCL_VSQRT
#if defined(__has_builtin) && __has_builtin(__builtin_elementwise_sqrt)
#define DCL_VSQRT(x) __builtin_elementwise_sqrt(x)   // no errno: vectorises
#else
#define DCL_VSQRT(x) sqrtf(x)
#endif
#endif

void DCL_FN(dcl_dropout_rows)(const float *x, float *y, long rows, long width, const int32_t *info,
                              dcl_dropout_key key) {
    const float scale = 1.0f / (1.0f - key.p);
    float mask[256];
    for (long r = 0; r < rows; r++) {
        key.example = (uint64_t)(uint32_t)info[3 * r] | (uint64_t)(uint32_t)info[3 * r + 1] << 32;
        const uint64_t base = (uint64_t)(uint32_t)info[3 * r + 2] * (uint64_t)width;
        const float *xr = x + r * width;
        float *yr = y + r * width;
        for (long i0 = 0; i0 < width; i0 += 256) {
            const long len = width - i0 < 256 ? width - i0 : 256;
            dcl_keep_row(mask, len, base + (uint64_t)i0, key, scale);
            for (long i = 0; i < len; i++) yr[i0 + i] = xr[i0 + i] * mask[i];
        }
    }
}

void DCL_FN(dcl_layernorm_row_stats)(const float *x, const float *residual, const float *gamma, const float *beta,
                                     float eps, float *y, long n, float *stats) {
    DCL_FN(dcl_layernorm_body)(x, residual, gamma, beta, eps, y, n, y, stats);   // y is the scratch
}

void DCL_FN(dcl_layernorm_backward_row)(const float *dy, const float *x, const float *residual, const float *stats,
                                        const float *gamma, long n, float *dx, int accumulate) {
    const float mean = stats[0], rstd = stats[1];
    float lg[16] = {0}, lgx[16] = {0}, sg = 0.0f, sgx = 0.0f;
    long j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) {
            const float v = residual ? x[j + k] + residual[j + k] : x[j + k];
            const float g = dy[j + k] * gamma[j + k];
            lg[k] += g;
            lgx[k] += g * (v - mean) * rstd;
        }
    for (int k = 0; k < 16; k++) { sg += lg[k]; sgx += lgx[k]; }
    for (; j < n; j++) {
        const float v = residual ? x[j] + residual[j] : x[j];
        const float g = dy[j] * gamma[j];
        sg += g;
        sgx += g * (v - mean) * rstd;
    }
    sg /= (float)n;
    sgx /= (float)n;
    for (j = 0; j < n; j++) {
        const float v = residual ? x[j] + residual[j] : x[j];
        const float d = rstd * (dy[j] * gamma[j] - sg - (v - mean) * rstd * sgx);
        dx[j] = accumulate ? dx[j] + d : d;
    }
}

void DCL_FN(dcl_layernorm_param_grads)(const float *dy, const float *x, const float *residual, const float *stats,
                                       long rows, long n, long c0, long c1, float *dgamma, float *dbeta) {
    for (long r = 0; r < rows; r++) {
        const float mean = stats[2 * r], rstd = stats[2 * r + 1];
        const float *dyr = dy + r * n, *xr = x + r * n, *rr = residual ? residual + r * n : 0;
        for (long c = c0; c < c1; c++) {
            const float v = rr ? xr[c] + rr[c] : xr[c];
            dgamma[c] += dyr[c] * (v - mean) * rstd;
            dbeta[c] += dyr[c];
        }
    }
}

void DCL_FN(dcl_activation_backward)(float *dy, const float *z, long n, int act) {
    switch (act) {
    case DCL_ACT_GELU:
        for (long i = 0; i < n; i++) {
            const float x = z[i];
            const float cdf = 0.5f * (1.0f + dcl_erf(x * 0.70710678118654752f));
            dy[i] *= cdf + x * 0.39894228040143268f * dcl_exp(-0.5f * x * x);
        }
        break;
    case DCL_ACT_GELU_TANH:
        for (long i = 0; i < n; i++) {
            const float x = z[i], k = 0.79788456080286536f;
            float h, s2;
            dcl_tanh_parts(k * (x + 0.044715f * x * x * x), &h, &s2);
            dy[i] *= h + 0.5f * x * s2 * k * (1.0f + 3.0f * 0.044715f * x * x);
        }
        break;
    case DCL_ACT_RELU:
        for (long i = 0; i < n; i++) dy[i] = z[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case DCL_ACT_TANH:
        for (long i = 0; i < n; i++) {
            float h, s2;
            dcl_tanh_parts(z[i], &h, &s2);
            dy[i] *= s2;
        }
        break;
    default:
        break;
    }
}

void DCL_FN(dcl_column_sums)(const float *x, long rows, long ld, long c0, long c1, float *out) {
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < c1; c++) out[c] += x[r * ld + c];
}

double DCL_FN(dcl_sum_squares)(const float *x, long n) {
    double lane[8] = {0}, s = 0.0;
    long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] += (double)x[i + k] * (double)x[i + k];
    for (int k = 0; k < 8; k++) s += lane[k];
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/// The row of keep-scales (1/(1 − p) or 0) of attention probabilities (i, 0..<n).
static inline __attribute__((always_inline)) void DCL_FN(dcl_att_mask)(float *mask, long n, uint64_t first,
                                                                       dcl_dropout_key key) {
    dcl_keep_row(mask, n, first, key, 1.0f / (1.0f - key.p));
}

/// mt[d·np + j] = m[j·ld + d] for j < n, 0 for n ≤ j < np: a head's keys or values transposed,
/// the right operand of the backward's 8 × 32 register tiles (32 keys a tile).
static inline __attribute__((always_inline)) void DCL_FN(dcl_att_transpose)(float *mt, const float *m, long ld, long n,
                                                                            long np, long dh) {
    for (long d = 0; d < dh; d++) {
        for (long j = 0; j < n; j++) mt[d * np + j] = m[j * ld + d];
        for (long j = n; j < np; j++) mt[d * np + j] = 0.0f;
    }
}

void DCL_FN(dcl_attention_head_forward)(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                        float scale, float *out, long ldo, float *lse, long lse_stride,
                                        long head, dcl_dropout_key key, float *scratch) {
    DCL_FN(dcl_attention_body)(q, k, v, ld, n, dh, scale, out, ldo, scratch, lse, lse_stride,
                               key.p > 0.0f ? &key : NULL, head);
}

/// dst[r·dp + d] = src[r·ld + d] for r < rows, d < dh; zero elsewhere in [DCL_ATT_ROWS][dp].
static inline __attribute__((always_inline)) void DCL_FN(dcl_att_block)(float *dst, const float *src, long ld,
                                                                        long rows, long dh, long dp) {
    for (long r = 0; r < DCL_ATT_ROWS; r++)
        for (long d = 0; d < dp; d++) dst[r * dp + d] = r < rows && d < dh ? src[r * ld + d] : 0.0f;
}

/// m[j·ld + d] += Σ_r g[r·np + j]·x[r·dp + d] for j < n, d < dh, r < rows: dK or dV, one block of
/// query rows at a time (x zero beyond dh), 16 columns a vector, each row of m read and written once.
static inline __attribute__((always_inline)) void DCL_FN(dcl_att_accumulate)(float *m, long ld, const float *g,
                                                                             long np, const float *x, long dp,
                                                                             long rows, long n, long dh) {
    for (long j = 0; j < n; j++) {
        float *mj = m + j * ld;
        for (long d0 = 0; d0 < dp; d0 += 16) {
            dcl_v16 acc = {0};
            for (long r = 0; r < rows; r++) {
                dcl_v16 xr;
                DCL_LOAD16(xr, x + r * dp + d0);
                acc += g[r * np + j] * xr;
            }
            const long w = dh - d0 < 16 ? dh - d0 : 16;
            if (w == 16) {
                dcl_v16 old;
                DCL_LOAD16(old, mj + d0);
                DCL_STORE16(mj + d0, old + acc);
            } else {
                for (long d = 0; d < w; d++) mj[d0 + d] += acc[d];
            }
        }
    }
}

/// Attention's backward for one head of one sequence, DCL_ATT_ROWS query rows at a time with the
/// forward's register tiles: P = exp(scale·QKᵀ − lse) and dP = dO·Vᵀ for the block, then
/// P̃ = P∘mask and dS = scale·P∘(dP∘mask − rowsum(dO∘O)), dV += P̃ᵀ·dO, dK += dSᵀ·Q, dQ = dS·K.
/// Scratch layout (floats; np = n rounded up to DCL_ATT_COLS, dp = dh likewise):
///
///   kt [dh][np] | vt [dh][np] | kp [n][dp] | qb [ROWS][dp] | dob [ROWS][dp] | p [ROWS][np] | ds [ROWS][np] | mask [np]
///
/// (qb and dob: the block's Q and dO rows.)
void DCL_FN(dcl_attention_head_backward)(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                         float scale, const float *out, const float *dout, long ldo, const float *lse,
                                         long lse_stride, long head, dcl_dropout_key key,
                                         float *dq, float *dk, float *dv, float *scratch) {
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    float *kt = scratch, *vt = kt + dh * np, *kp = vt + dh * np, *qb = kp + n * dp, *dob = qb + DCL_ATT_ROWS * dp;
    float *p = dob + DCL_ATT_ROWS * dp, *ds = p + DCL_ATT_ROWS * np, *mask = ds + DCL_ATT_ROWS * np;
    DCL_FN(dcl_att_transpose)(kt, k, ld, n, np, dh);
    DCL_FN(dcl_att_transpose)(vt, v, ld, n, np, dh);
    for (long j = 0; j < n; j++)
        for (long d = 0; d < dp; d++) kp[j * dp + d] = d < dh ? k[j * ld + d] : 0.0f;
    for (long j = 0; j < n; j++)
        for (long d = 0; d < dh; d++) { dk[j * ld + d] = 0.0f; dv[j * ld + d] = 0.0f; }
    for (long i0 = 0; i0 < n; i0 += DCL_ATT_ROWS) {
        const long rows = n - i0 < DCL_ATT_ROWS ? n - i0 : DCL_ATT_ROWS;
        DCL_FN(dcl_att_block)(qb, q + i0 * ld, ld, rows, dh, dp);
        DCL_FN(dcl_att_block)(dob, dout + i0 * ldo, ldo, rows, dh, dp);
        // S (scaled below) and dP over 32 keys at a time.
        for (long j = 0; j < np; j += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}}, dacc[DCL_ATT_ROWS][2] = {{{0}}};
            DCL_FN(dcl_att_tile)(acc, qb, dp, kt + j, np, dh);
            DCL_FN(dcl_att_tile)(dacc, dob, dp, vt + j, np, dh);
            for (int r = 0; r < DCL_ATT_ROWS; r++) {
                DCL_STORE16(p + r * np + j, acc[r][0] * scale);
                DCL_STORE16(p + r * np + j + 16, acc[r][1] * scale);
                DCL_STORE16(ds + r * np + j, dacc[r][0]);
                DCL_STORE16(ds + r * np + j + 16, dacc[r][1]);
            }
        }
        // Rows ≥ rows and keys ≥ n stay 0 from the tiles (qb, dob, kt and vt are zero there), and
        // nothing below reads them.
        for (long r = 0; r < rows; r++) {
            float *pr = p + r * np, *dr = ds + r * np;
            const long i = i0 + r;
            const float *doi = dout + i * ldo, *oi = out + i * ldo, li = lse[i * lse_stride];
            float lane[8] = {0}, di = 0.0f;
            long d0 = 0;
            for (; d0 + 8 <= dh; d0 += 8)
                for (int e = 0; e < 8; e++) lane[e] += doi[d0 + e] * oi[d0 + e];
            for (int e = 0; e < 8; e++) di += lane[e];
            for (; d0 < dh; d0++) di += doi[d0] * oi[d0];
            if (key.p > 0.0f) {
                DCL_FN(dcl_att_mask)(mask, n, dcl_att_index(head, n, i, 0), key);
            } else {
                for (long j = 0; j < n; j++) mask[j] = 1.0f;
            }
            for (long j = 0; j < n; j++) {
                const float pj = dcl_exp(pr[j] - li);
                pr[j] = pj * mask[j];                             // P̃, what V saw
                dr[j] = scale * pj * (dr[j] * mask[j] - di);      // scale·dS
            }
        }
        DCL_FN(dcl_att_accumulate)(dv, ld, p, np, dob, dp, rows, n, dh);
        DCL_FN(dcl_att_accumulate)(dk, ld, ds, np, qb, dp, rows, n, dh);
        // dQ = dS·K over 32 columns at a time.
        for (long c = 0; c < dp; c += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}};
            DCL_FN(dcl_att_tile)(acc, ds, np, kp + c, dp, n);
            for (long r = 0; r < rows; r++) {
                float tile[DCL_ATT_COLS];
                DCL_STORE16(tile, acc[r][0]);
                DCL_STORE16(tile + 16, acc[r][1]);
                const long w = dh - c < DCL_ATT_COLS ? dh - c : DCL_ATT_COLS;
                for (long d = 0; d < w; d++) dq[(i0 + r) * ld + c + d] = tile[d];
            }
        }
    }
}

void DCL_FN(dcl_adamw)(float *restrict p, const float *restrict grad, float *restrict m, float *restrict v, long n,
                       float lr, float b1, float b2, float eps, float wd, float gscale, float step_size, float bc2_sqrt) {
    // restrict: four distinct tensors, which lets the loop vectorise (it ran scalar without).
    // sqrtf may set errno (-fmath-errno, the default), which kept the loop scalar: 55 ms for
    // MiniLM's 22.7 M parameters at one thread (AMD EPYC Zen 5), 11.5 ms with the vector
    // square root. Both are IEEE's correctly rounded root: the same bits.
    const float decay = 1.0f - lr * wd;
    for (long i = 0; i < n; i++) {
        const float g = grad[i] * gscale;
        const float mi = m[i] + (1.0f - b1) * (g - m[i]);
        const float vi = v[i] * b2 + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * (mi / (DCL_VSQRT(vi) / bc2_sqrt + eps));
    }
}
