// See include/cpu_training.h. The bodies (kernels/training_bodies.h) are compiled once per
// instruction-set level, AVX-512, AVX2 + FMA and baseline, as cpu_kernels.c compiles the
// inference kernels, and each public function calls the copy of the level cpu_kernels.c chose
// (capped with ONEDNN_MAX_CPU_ISA like the rest).
#include "cpu_training.h"
#include "cpu_kernels.h"
#include "kernels/math.h"
#include "kernels/philox.h"

#define DCL_BODIES "training_bodies.h"
#include "kernels/each_isa.h"

uint32_t dcl_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    uint32_t c[4] = {c0, c1, c2, c3};
    dcl_philox4(c, k0, k1);
    return c[0];
}

#ifdef DCL_MULTI_ISA
#define DCL_DISPATCH(name, ...)                                                                    \
    switch (dcl_kernels_level_number()) {                                                          \
    case 4: return name##_v4(__VA_ARGS__);                                                         \
    case 3: return name##_v3(__VA_ARGS__);                                                         \
    default: return name##_base(__VA_ARGS__);                                                      \
    }
#else
#define DCL_DISPATCH(name, ...) return name##_base(__VA_ARGS__);
#endif

void dcl_dropout_rows(const float *x, float *y, long rows, long width, const int32_t *info, dcl_dropout_key key) {
    DCL_DISPATCH(dcl_dropout_rows, x, y, rows, width, info, key)
}
void dcl_layernorm_row_stats(const float *x, const float *residual, const float *gamma, const float *beta,
                             float eps, float *y, long n, float *stats) {
    DCL_DISPATCH(dcl_layernorm_row_stats, x, residual, gamma, beta, eps, y, n, stats)
}
void dcl_layernorm_backward_row(const float *dy, const float *x, const float *residual, const float *stats,
                                const float *gamma, long n, float *dx, int accumulate) {
    DCL_DISPATCH(dcl_layernorm_backward_row, dy, x, residual, stats, gamma, n, dx, accumulate)
}
void dcl_layernorm_param_grads(const float *dy, const float *x, const float *residual, const float *stats,
                               long rows, long n, long c0, long c1, float *dgamma, float *dbeta) {
    DCL_DISPATCH(dcl_layernorm_param_grads, dy, x, residual, stats, rows, n, c0, c1, dgamma, dbeta)
}
void dcl_activation_backward(float *dy, const float *z, long n, int act) {
    DCL_DISPATCH(dcl_activation_backward, dy, z, n, act)
}
void dcl_column_sums(const float *x, long rows, long ld, long c0, long c1, float *out) {
    DCL_DISPATCH(dcl_column_sums, x, rows, ld, c0, c1, out)
}
double dcl_sum_squares(const float *x, long n) { DCL_DISPATCH(dcl_sum_squares, x, n) }
long dcl_attention_train_scratch(long n, long dh) {
    // The backward's K and V transposed, K padded, two row blocks of dp and two of np, a mask row
    // (kernels/training_bodies.h); the forward's dcl_attention_scratch and a mask row.
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    const long backward = 2 * dh * np + n * dp + 2 * DCL_ATT_ROWS * (dp + np) + np;
    const long forward = dcl_attention_scratch(n, dh) + dcl_round_up(n, DCL_ATT_COLS);
    return backward > forward ? backward : forward;
}
void dcl_attention_head_forward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                float scale, float *out, long ldo, float *lse, long lse_stride,
                                long head, dcl_dropout_key key, float *scratch) {
    DCL_DISPATCH(dcl_attention_head_forward, q, k, v, ld, n, dh, scale, out, ldo, lse, lse_stride, head, key, scratch)
}
void dcl_attention_head_backward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                 float scale, const float *out, const float *dout, long ldo, const float *lse,
                                 long lse_stride, long head, dcl_dropout_key key,
                                 float *dq, float *dk, float *dv, float *scratch) {
    DCL_DISPATCH(dcl_attention_head_backward, q, k, v, ld, n, dh, scale, out, dout, ldo, lse, lse_stride, head,
                 key, dq, dk, dv, scratch)
}
void dcl_adamw(float *p, const float *grad, float *m, float *v, long n, float lr, float b1, float b2, float eps,
               float wd, float gscale, float step_size, float bc2_sqrt) {
    DCL_DISPATCH(dcl_adamw, p, grad, m, v, n, lr, b1, b2, eps, wd, gscale, step_size, bc2_sqrt)
}
