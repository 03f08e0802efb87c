// The CPU path's training kernels: backward passes, dropout, the optimiser. C loops the compiler
// vectorises, one copy per instruction-set level (training.c); the Swift side
// (CPUTraining.swift) splits them over the cores. Each one sums in a fixed order, so a step gives
// the same numbers on every run.
#ifndef DISTILCL_CPU_TRAINING_H
#define DISTILCL_CPU_TRAINING_H

#include <stdint.h>

/// Philox4x32-10's first output word for counter (c0, c1, c2, c3) and key (k0, k1).
uint32_t dcl_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1);

/// The dropout generator of one site of one example: element i of the example (its index
/// within that example, < 2³⁴) is kept when its uniform (top 24 bits of word i % 4 of
/// Philox4x32-10 on counter (i/4, example lo, example hi, site) with key (seed lo, seed hi),
/// · 2⁻²⁴) is ≥ p; kept ones scale by 1/(1 − p).
typedef struct {
    uint64_t seed;
    uint64_t example;
    uint32_t site;
    float p;
} dcl_dropout_key;

/// Dropout of rows × width values keyed by example: row r belongs to example
/// info[3r] | info[3r + 1] << 32 (its low and high words) as its local row info[3r + 2], so
/// y[r, c] = x[r, c]·keep(info[3r + 2]·width + c)/(1 − p) in that example's stream (key.example
/// is ignored). y may be x.
void dcl_dropout_rows(const float *x, float *y, long rows, long width, const int32_t *info, dcl_dropout_key key);

/// y = LayerNorm(x + residual)·gamma + beta over n values (residual may be NULL), and
/// stats = (mean, 1/√(var + eps)). y must not alias x or residual. dcl_layernorm_row's body
/// (kernels/forward_bodies.h), y its scratch: y is that function's output bit for bit.
void dcl_layernorm_row_stats(const float *x, const float *residual, const float *gamma, const float *beta,
                             float eps, float *y, long n, float *stats);

/// dx (=, or += when accumulate) = ∂/∂(x + residual) of one LayerNorm row given dy, the row's
/// stats and gamma: rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·gamma.
void dcl_layernorm_backward_row(const float *dy, const float *x, const float *residual, const float *stats,
                                const float *gamma, long n, float *dx, int accumulate);

/// For columns [c0, c1) of rows × n: dgamma[c] += Σ_r dy[r, c]·x̂[r, c], dbeta[c] += Σ_r dy[r, c],
/// rows summed in order.
void dcl_layernorm_param_grads(const float *dy, const float *x, const float *residual, const float *stats,
                               long rows, long n, long c0, long c1, float *dgamma, float *dbeta);

/// dy[i] *= act'(z[i]) for i < n (the activation codes of cpu_kernels.h).
void dcl_activation_backward(float *dy, const float *z, long n, int act);

/// out[c] += Σ_r x[r·ld + c] for c in [c0, c1), rows summed in order.
void dcl_column_sums(const float *x, long rows, long ld, long c0, long c1, float *out);

/// One head of one sequence, training forward: out[i] = Σ_j drop(p_ij)·v_j with
/// p_ij = softmax_j(scale·q_i·k_j), lse[i·lse_stride] = log Σ_j exp(scale·q_i·k_j).
/// Dropout (when key.p > 0) of (i, j) uses element (head·n + i)·n + j of example key.example.
/// dcl_attention_head's body (kernels/forward_bodies.h): with p = 0, out is its output bit for bit.
/// scratch: dcl_attention_train_scratch(n, dh) floats.
void dcl_attention_head_forward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                float scale, float *out, long ldo, float *lse, long lse_stride,
                                long head, dcl_dropout_key key, float *scratch);

/// Its backward: dq, dk, dv (rows ld apart, the dQKV layout) written for the n rows, given the
/// forward's out and lse and dout (ldo apart). scratch: dcl_attention_train_scratch(n, dh) floats.
void dcl_attention_head_backward(const float *q, const float *k, const float *v, long ld, long n, long dh,
                                 float scale, const float *out, const float *dout, long ldo, const float *lse,
                                 long lse_stride, long head, dcl_dropout_key key,
                                 float *dq, float *dk, float *dv, float *scratch);

/// Floats of scratch the two attention functions above need for n tokens of head size dh.
long dcl_attention_train_scratch(long n, long dh);

/// Σ x[i]² for i < n, accumulated in double.
double dcl_sum_squares(const float *x, long n);

/// AdamW over n elements (torch.optim.AdamW's single-tensor arithmetic): g = grad·gscale;
/// p·= 1 − lr·wd; m += (1 − b1)(g − m); v = b2·v + (1 − b2)·g²; p −= step_size·m / (√v / bc2_sqrt + eps).
void dcl_adamw(float *p, const float *grad, float *m, float *v, long n, float lr, float b1, float b2, float eps,
               float wd, float gscale, float step_size, float bc2_sqrt);

#endif
