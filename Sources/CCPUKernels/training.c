// See include/cpu_training.h.
#include "cpu_training.h"
#include "cpu_kernels.h"
#include <math.h>
#include <string.h>

uint32_t dcl_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

static inline int dcl_keep(uint64_t index, dcl_dropout_key key) {
    const uint32_t r = dcl_philox((uint32_t)index, (uint32_t)(index >> 32), key.site, key.step, (uint32_t)key.seed,
                                  (uint32_t)(key.seed >> 32));
    return (float)(r >> 8) * 0x1p-24f >= key.p;
}

void dcl_dropout(const float *x, float *y, long n, uint64_t base, dcl_dropout_key key) {
    const float scale = 1.0f / (1.0f - key.p);
    for (long i = 0; i < n; i++) y[i] = dcl_keep(base + (uint64_t)i, key) ? x[i] * scale : 0.0f;
}

// ---- LayerNorm --------------------------------------------------------------------------

static inline float dcl_at(const float *x, const float *r, long j) { return r ? x[j] + r[j] : x[j]; }

void dcl_layernorm_row_stats(const float *x, const float *residual, const float *gamma, const float *beta,
                             float eps, float *y, long n, float *stats) {
    float sum = 0.0f;
    for (long j = 0; j < n; j++) sum += dcl_at(x, residual, j);
    const float mean = sum / (float)n;
    float q = 0.0f;
    for (long j = 0; j < n; j++) { const float d = dcl_at(x, residual, j) - mean; q += d * d; }
    const float rstd = 1.0f / sqrtf(q / (float)n + eps);
    for (long j = 0; j < n; j++) y[j] = (dcl_at(x, residual, j) - mean) * rstd * gamma[j] + beta[j];
    stats[0] = mean;
    stats[1] = rstd;
}

void dcl_layernorm_backward_row(const float *dy, const float *x, const float *residual, const float *stats,
                                const float *gamma, long n, float *dx, int accumulate) {
    const float mean = stats[0], rstd = stats[1];
    float sg = 0.0f, sgx = 0.0f;
    for (long j = 0; j < n; j++) {
        const float g = dy[j] * gamma[j], xh = (dcl_at(x, residual, j) - mean) * rstd;
        sg += g;
        sgx += g * xh;
    }
    sg /= (float)n;
    sgx /= (float)n;
    for (long j = 0; j < n; j++) {
        const float xh = (dcl_at(x, residual, j) - mean) * rstd;
        const float d = rstd * (dy[j] * gamma[j] - sg - xh * sgx);
        dx[j] = accumulate ? dx[j] + d : d;
    }
}

void dcl_layernorm_param_grads(const float *dy, const float *x, const float *residual, const float *stats,
                               long rows, long n, long c0, long c1, float *dgamma, float *dbeta) {
    for (long r = 0; r < rows; r++) {
        const float mean = stats[2 * r], rstd = stats[2 * r + 1];
        const float *dyr = dy + r * n, *xr = x + r * n, *rr = residual ? residual + r * n : 0;
        for (long c = c0; c < c1; c++) {
            dgamma[c] += dyr[c] * (dcl_at(xr, rr, c) - mean) * rstd;
            dbeta[c] += dyr[c];
        }
    }
}

// ---- Activations and sums ---------------------------------------------------------------

/// (½(1 + tanh u), sech²u) from e = exp(−2|u|): no cancellation where tanh u rounds to ±1
/// (1 − t² would lose the derivative's last digits there; the OpenCL kernel does the same).
static inline void dcl_tanh_parts(float u, float *half_one_plus, float *sech2) {
    const float e = expf(-2.0f * fabsf(u)), inv = 1.0f / (1.0f + e);
    *half_one_plus = u >= 0.0f ? inv : e * inv;
    *sech2 = 4.0f * e * inv * inv;
}

void dcl_activation_backward(float *dy, const float *z, long n, int act) {
    switch (act) {
    case DCL_ACT_GELU:
        for (long i = 0; i < n; i++) {
            const float x = z[i];
            const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
            dy[i] *= cdf + x * pdf;
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

void dcl_column_sums(const float *x, long rows, long ld, long c0, long c1, float *out) {
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < c1; c++) out[c] += x[r * ld + c];
}

double dcl_sum_squares(const float *x, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

// ---- Attention --------------------------------------------------------------------------

static inline float dcl_dot(const float *a, const float *b, long n) {
    float s = 0.0f;
    for (long d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

/// The dropout element of probability (i, j) of one head, as the header states.
static inline uint64_t dcl_att_index(long head, long tokens, long start, long i, long j) {
    return ((uint64_t)head * (uint64_t)tokens + (uint64_t)(start + i)) * (uint64_t)tokens + (uint64_t)(start + j);
}

void dcl_attention_head_forward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                float scale, float *out, long ldo, float *lse, long lse_stride,
                                long head, long tokens, long start, dcl_dropout_key key, float *s) {
    const float keep_scale = 1.0f / (1.0f - key.p);
    for (long i = 0; i < n; i++) {
        float m = -INFINITY;
        for (long j = 0; j < n; j++) {
            s[j] = scale * dcl_dot(q + i * ld, k + j * ld, dh);
            m = s[j] > m ? s[j] : m;
        }
        float l = 0.0f;
        for (long j = 0; j < n; j++) { s[j] = expf(s[j] - m); l += s[j]; }
        lse[i * lse_stride] = m + logf(l);
        const float inv = 1.0f / l;
        float *o = out + i * ldo;
        for (long d = 0; d < dh; d++) o[d] = 0.0f;
        for (long j = 0; j < n; j++) {
            float p = s[j] * inv;
            if (key.p > 0.0f) p = dcl_keep(dcl_att_index(head, tokens, start, i, j), key) ? p * keep_scale : 0.0f;
            const float *vj = v + j * ld;
            for (long d = 0; d < dh; d++) o[d] += p * vj[d];
        }
    }
}

void dcl_attention_head_backward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                 float scale, const float *out, const float *dout, long ldo, const float *lse,
                                 long lse_stride, long head, long tokens, long start, dcl_dropout_key key,
                                 float *dq, float *dk, float *dv, float *scratch) {
    const float keep_scale = 1.0f / (1.0f - key.p);
    float *p = scratch, *ds = scratch + n;
    for (long j = 0; j < n; j++)
        for (long d = 0; d < dh; d++) { dk[j * ld + d] = 0.0f; dv[j * ld + d] = 0.0f; }
    for (long i = 0; i < n; i++) {
        const float *qi = q + i * ld, *doi = dout + i * ldo;
        const float li = lse[i * lse_stride], di = dcl_dot(doi, out + i * ldo, dh);
        for (long j = 0; j < n; j++) {
            p[j] = expf(scale * dcl_dot(qi, k + j * ld, dh) - li);
            float dp = dcl_dot(doi, v + j * ld, dh);          // ∂/∂(dropped p)
            float pd = p[j];                                  // the dropped probability V saw
            if (key.p > 0.0f) {
                const int kept = dcl_keep(dcl_att_index(head, tokens, start, i, j), key);
                pd = kept ? pd * keep_scale : 0.0f;
                dp = kept ? dp * keep_scale : 0.0f;
            }
            float *dvj = dv + j * ld;
            for (long d = 0; d < dh; d++) dvj[d] += pd * doi[d];
            ds[j] = p[j] * (dp - di);
        }
        float *dqi = dq + i * ld;
        for (long d = 0; d < dh; d++) dqi[d] = 0.0f;
        for (long j = 0; j < n; j++) {
            const float g = scale * ds[j];
            const float *kj = k + j * ld;
            float *dkj = dk + j * ld;
            for (long d = 0; d < dh; d++) { dqi[d] += g * kj[d]; dkj[d] += g * qi[d]; }
        }
    }
}

// ---- AdamW ------------------------------------------------------------------------------

void dcl_adamw(float *p, const float *grad, float *m, float *v, long n, float lr, float b1, float b2, float eps,
               float wd, float gscale, float step_size, float bc2_sqrt) {
    const float decay = 1.0f - lr * wd;
    for (long i = 0; i < n; i++) {
        const float g = grad[i] * gscale;
        const float pi = p[i] * decay;
        const float mi = m[i] + (1.0f - b1) * (g - m[i]);
        const float vi = v[i] * b2 + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}
