// Philox4x32-10 and the helpers the training kernels share, inlined into every
// instruction-set copy (see training.c).
#ifndef DISTILCL_KERNELS_PHILOX_H
#define DISTILCL_KERNELS_PHILOX_H
#include "cpu_training.h"
#include <math.h>

static inline __attribute__((always_inline)) uint32_t dcl_philox_inline(uint32_t c0, uint32_t c1, uint32_t c2,
                                                                         uint32_t c3, uint32_t k0, uint32_t k1) {
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

/// Whether element `index` of the key's stream is kept.
static inline __attribute__((always_inline)) int dcl_keep(uint64_t index, dcl_dropout_key key) {
    const uint32_t r = dcl_philox_inline((uint32_t)index, (uint32_t)(index >> 32), key.site, key.step,
                                         (uint32_t)key.seed, (uint32_t)(key.seed >> 32));
    return (float)(r >> 8) * 0x1p-24f >= key.p;
}

/// The dropout element of attention probability (i, j) of one head: (head·tokens + start + i)·tokens + start + j.
static inline __attribute__((always_inline)) uint64_t dcl_att_index(long head, long tokens, long start, long i, long j) {
    return ((uint64_t)head * (uint64_t)tokens + (uint64_t)(start + i)) * (uint64_t)tokens + (uint64_t)(start + j);
}

/// (½(1 + tanh u), sech²u) from e = exp(−2|u|): no cancellation where tanh u rounds to ±1
/// (1 − t² would lose the derivative's last digits there; the OpenCL kernel does the same).
static inline __attribute__((always_inline)) void dcl_tanh_parts(float u, float *half_one_plus, float *sech2) {
    const float e = expf(-2.0f * fabsf(u)), inv = 1.0f / (1.0f + e);
    *half_one_plus = u >= 0.0f ? inv : e * inv;
    *sech2 = 4.0f * e * inv * inv;
}
#endif
