// See include/cpu_kernels.h: the conversions around the bf16 and int8 GEMMs. Each loop is
// written so that it vectorises, and cloned per instruction set as in cpu_kernels.c.
#include "cpu_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define DCL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DCL_CLONES
#endif

DCL_CLONES
void dcl_to_bf16(const float *x, uint16_t *y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        const uint32_t nan = (u >> 16) | 0x40u;   // quiet NaN, sign and payload's top kept
        y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
    }
}

DCL_CLONES
int32_t dcl_quantize_weight_row(const float *w, long n, int8_t *q, float *scale) {
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

DCL_CLONES
void dcl_quantize_row_u8(const float *x, long n, uint8_t *q, float *scale, int32_t *zero) {
    float lo = 0.0f, hi = 0.0f;
    for (long i = 0; i < n; i++) { lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); }
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / s;
    const float z = fminf(fmaxf(rintf(-lo * inv), 0.0f), 255.0f);
    for (long i = 0; i < n; i++) q[i] = (uint8_t)fminf(fmaxf(rintf(x[i] * inv) + z, 0.0f), 255.0f);
    *scale = s;
    *zero = (int32_t)z;
}

DCL_CLONES
void dcl_dequantize_row(float *y, long n, float scale, int32_t zero, const float *wscale,
                        const int32_t *wsum, const float *bias, int act) {
    for (long j = 0; j < n; j++) {
        int32_t acc;
        memcpy(&acc, y + j, 4);   // the int32 sum the GEMM left in this float's place
        const float v = scale * wscale[j] * (float)(acc - zero * wsum[j]);
        y[j] = bias ? v + bias[j] : v;
    }
    if (act != DCL_ACT_NONE) dcl_bias_activation(y, NULL, n, act);
}
