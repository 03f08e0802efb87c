// The CPU kernels' bodies, compiled once per instruction set by cpu_kernels.c: each function is
// named DCL_FN(name), which that file defines to name_<level>. No include guard, on purpose.
// Layernorm's and attention's bodies are forward_bodies.h's, shared with training.
#include "forward_bodies.h"

void DCL_FN(dcl_bias_activation)(float *row, const float *bias, long n, int act) {
    if (bias) for (long i = 0; i < n; i++) row[i] += bias[i];
    switch (act) {   // one loop per activation, so each vectorises on its own
    case DCL_ACT_GELU: for (long i = 0; i < n; i++) row[i] = dcl_act(row[i], DCL_ACT_GELU); break;
    case DCL_ACT_GELU_TANH: for (long i = 0; i < n; i++) row[i] = dcl_act(row[i], DCL_ACT_GELU_TANH); break;
    case DCL_ACT_RELU: for (long i = 0; i < n; i++) row[i] = fmaxf(row[i], 0.0f); break;
    case DCL_ACT_TANH: for (long i = 0; i < n; i++) row[i] = tanhf(row[i]); break;
    default: break;
    }
}

void DCL_FN(dcl_activation)(const float *x, float *y, long n, int act) {
    switch (act) {
    case DCL_ACT_GELU: for (long i = 0; i < n; i++) y[i] = dcl_act(x[i], DCL_ACT_GELU); break;
    case DCL_ACT_GELU_TANH: for (long i = 0; i < n; i++) y[i] = dcl_act(x[i], DCL_ACT_GELU_TANH); break;
    case DCL_ACT_RELU: for (long i = 0; i < n; i++) y[i] = fmaxf(x[i], 0.0f); break;
    case DCL_ACT_TANH: for (long i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    default: if (y != x) for (long i = 0; i < n; i++) y[i] = x[i]; break;
    }
}

void DCL_FN(dcl_layernorm_row)(const float *x, const float *residual, const float *gamma, const float *beta,
                       float eps, float *y, long n, float *scratch) {
    DCL_FN(dcl_layernorm_body)(x, residual, gamma, beta, eps, y, n, scratch, NULL);
}

void DCL_FN(dcl_attention_head)(const float *q, const float *k, const float *v, long ld, long n, long dh,
                        float scale, float *out, long ldo, float *scratch) {
    DCL_FN(dcl_attention_body)(q, k, v, ld, n, dh, scale, out, ldo, scratch, NULL, 0, NULL, 0);
}

// ---- Conversions around the bf16 and int8 GEMMs ------------------------------------------

void DCL_FN(dcl_to_bf16)(const float *x, uint16_t *y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        const uint32_t nan = (u >> 16) | 0x40u;   // quiet NaN, sign and payload's top kept
        y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
    }
}

int32_t DCL_FN(dcl_quantize_weight_row)(const float *w, long n, int8_t *q, float *scale) {
    float m = 0.0f;
    for (long i = 0; i < n; i++) m = fmaxf(m, fabsf(w[i]));
    const float s = m > 0.0f ? m / 127.0f : 1.0f, inv = 1.0f / s;
    int32_t sum = 0;
    for (long i = 0; i < n; i++) {
        const float r = fminf(fmaxf(rintf(w[i] * inv), -127.0f), 127.0f);
        q[i] = (int8_t)r;
        sum += (int32_t)r;
    }
    *scale = s;
    return sum;
}

void DCL_FN(dcl_quantize_row_u8)(const float *x, long n, uint8_t *q, float *scale, int32_t *zero) {
    // The row's range, widened to hold 0, over 16 lanes (a plain fminf/fmaxf reduction does
    // not vectorise without -ffast-math).
    float lo_lane[16] = {0}, hi_lane[16] = {0}, lo = 0.0f, hi = 0.0f;
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            const float v = x[i + k];
            lo_lane[k] = v < lo_lane[k] ? v : lo_lane[k];
            hi_lane[k] = v > hi_lane[k] ? v : hi_lane[k];
        }
    for (int k = 0; k < 16; k++) { lo = lo_lane[k] < lo ? lo_lane[k] : lo; hi = hi_lane[k] > hi ? hi_lane[k] : hi; }
    for (; i < n; i++) { lo = x[i] < lo ? x[i] : lo; hi = x[i] > hi ? x[i] : hi; }
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    const float z = fminf(fmaxf(rintf(-lo * inv), 0.0f), 255.0f);
    for (i = 0; i < n; i++) q[i] = (uint8_t)fminf(fmaxf(rintf(x[i] * inv) + z, 0.0f), 255.0f);
    *scale = s;
    *zero = (int32_t)z;
}

void DCL_FN(dcl_quantize_row_u8x2)(const float *x, long n, uint8_t *q, uint8_t *r, float *scale, int32_t *zero,
                                   float *scratch) {
    DCL_FN(dcl_quantize_row_u8)(x, n, q, scale, zero);
    const float s = scale[0], z = (float)zero[0];
    for (long i = 0; i < n; i++) scratch[i] = x[i] - s * ((float)q[i] - z);   // |residual| ≤ s/2
    DCL_FN(dcl_quantize_row_u8)(scratch, n, r, scale + 1, zero + 1);
}

void DCL_FN(dcl_dequantize_row)(float *y, const int32_t *acc, const int32_t *acc2, long n, const float *scale,
                                const int32_t *zero, const float *wscale, const int32_t *wsum, const float *bias,
                                int act) {
    if (acc2) {
        for (long j = 0; j < n; j++) {
            const float first = scale[0] * (float)((int64_t)acc[j] - (int64_t)zero[0] * wsum[j]);
            const float second = scale[1] * (float)((int64_t)acc2[j] - (int64_t)zero[1] * wsum[j]);
            const float v = wscale[j] * (first + second);
            y[j] = bias ? v + bias[j] : v;
        }
    } else {
        for (long j = 0; j < n; j++) {
            const float v = wscale[j] * scale[0] * (float)((int64_t)acc[j] - (int64_t)zero[0] * wsum[j]);
            y[j] = bias ? v + bias[j] : v;
        }
    }
    if (act != DCL_ACT_NONE) DCL_FN(dcl_bias_activation)(y, NULL, n, act);
}
