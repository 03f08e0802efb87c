// Scalar helpers of the CPU kernels, inlined into every instruction-set copy of them (see
// cpu_kernels.c). erf: the rational approximation of Eigen's and XLA's float erf (within a few
// ulp of erff on [-4, 4], ±1 beyond). exp: Cephes' range reduction and degree-6 polynomial
// (within 2 ulp), written branch-free so the loops vectorise.
#ifndef DISTILCL_KERNELS_MATH_H
#define DISTILCL_KERNELS_MATH_H
#include "cpu_kernels.h"
#include <math.h>
#include <string.h>


static inline __attribute__((always_inline)) float dcl_erf(float a) {
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

static inline __attribute__((always_inline)) float dcl_exp(float x) {
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

static inline __attribute__((always_inline)) float dcl_act(float v, int act) {
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
static inline __attribute__((always_inline)) float dcl_sum(const float *x, long n) {
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
static inline __attribute__((always_inline)) float dcl_max(const float *x, long n) {
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
static inline __attribute__((always_inline)) long dcl_round_up(long x, long m) { return (x + m - 1) / m * m; }

#endif
