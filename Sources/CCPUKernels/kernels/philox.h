// Philox4x32-10 and the helpers the training kernels share, inlined into every
// instruction-set copy (see training.c).
#ifndef DISTILCL_KERNELS_PHILOX_H
#define DISTILCL_KERNELS_PHILOX_H
#include "cpu_training.h"
#include <math.h>

/// Philox4x32-10 on counter c (replaced by the four output words) with key (k0, k1).
static inline __attribute__((always_inline)) void dcl_philox4(uint32_t c[4], uint32_t k0, uint32_t k1) {
    uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    for (int round = 0; round < 10; round++) {
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    c[0] = c0; c[1] = c1; c[2] = c2; c[3] = c3;
}

/// The four words of the key's stream for elements 4·group ..< 4·group + 4 of example
/// key.example: element i is word i % 4 of counter (i / 4, example low, example high, site).
static inline __attribute__((always_inline)) void dcl_stream4(uint64_t group, dcl_dropout_key key, uint32_t w[4]) {
    w[0] = (uint32_t)group; w[1] = (uint32_t)key.example; w[2] = (uint32_t)(key.example >> 32); w[3] = key.site;
    dcl_philox4(w, (uint32_t)key.seed, (uint32_t)(key.seed >> 32));
}

/// Whether element `index` of the key's stream is kept.
static inline __attribute__((always_inline)) int dcl_keep(uint64_t index, dcl_dropout_key key) {
    uint32_t w[4];
    dcl_stream4(index >> 2, key, w);
    return (float)(w[index & 3] >> 8) * 0x1p-24f >= key.p;
}

/// out[j] = scale when element first + j is kept, else 0, for j < n: one Philox call per four
/// elements (those before the first multiple of four, and after the last, one call each).
static inline __attribute__((always_inline)) void dcl_keep_row(float *out, long n, uint64_t first,
                                                               dcl_dropout_key key, float scale) {
    long j = 0;
    for (; j < n && ((first + (uint64_t)j) & 3); j++) out[j] = dcl_keep(first + (uint64_t)j, key) ? scale : 0.0f;
    for (; j + 4 <= n; j += 4) {
        uint32_t w[4];
        dcl_stream4((first + (uint64_t)j) >> 2, key, w);
        for (int e = 0; e < 4; e++) out[j + e] = (float)(w[e] >> 8) * 0x1p-24f >= key.p ? scale : 0.0f;
    }
    for (; j < n; j++) out[j] = dcl_keep(first + (uint64_t)j, key) ? scale : 0.0f;
}

/// The dropout element of attention probability (i, j) of one head of an example of n tokens
/// (i, j local to the example): (head·n + i)·n + j.
static inline __attribute__((always_inline)) uint64_t dcl_att_index(long head, long n, long i, long j) {
    return ((uint64_t)head * (uint64_t)n + (uint64_t)i) * (uint64_t)n + (uint64_t)j;
}

/// (½(1 + tanh u), sech²u) from e = exp(−2|u|): no cancellation where tanh u rounds to ±1
/// (1 − t² would lose the derivative's last digits there; the OpenCL kernel does the same).
static inline __attribute__((always_inline)) void dcl_tanh_parts(float u, float *half_one_plus, float *sech2) {
    const float e = expf(-2.0f * fabsf(u)), inv = 1.0f / (1.0f + e);
    *half_one_plus = u >= 0.0f ? inv : e * inv;
    *sech2 = 4.0f * e * inv * inv;
}
#endif
