// Hot loops of the CPU path (element-wise, per row, per attention head), in C so the compiler
// vectorises them for the machine it runs on: each function is cloned for AVX-512, AVX2+FMA and
// baseline x86-64 and picked at load time (ifunc) on x86-64 Linux; plain C elsewhere.
#ifndef DISTILCL_CPU_KERNELS_H
#define DISTILCL_CPU_KERNELS_H

/// Activation codes, as Swift's `Activation` raw values.
enum { DCL_ACT_NONE = 0, DCL_ACT_GELU = 1, DCL_ACT_GELU_TANH = 2, DCL_ACT_RELU = 3, DCL_ACT_TANH = 4 };

/// row[i] = act(row[i] + bias[i]) for i < n; bias may be NULL.
void dcl_bias_activation(float *row, const float *bias, long n, int act);

/// y[i] = act(x[i]) for i < n (y may be x).
void dcl_activation(const float *x, float *y, long n, int act);

/// y = softmax(scale·x + mask) over n values (y may be x; mask may be NULL). A row whose
/// every entry is -inf gives zeros.
void dcl_softmax_row(const float *x, float *y, long n, float scale, const float *mask);

/// y = LayerNorm(x + residual)·gamma + beta over n values, two-pass statistics; residual
/// may be NULL; y may alias x or residual; scratch holds n floats.
void dcl_layernorm_row(const float *x, const float *residual, const float *gamma, const float *beta,
                       float eps, float *y, long n, float *scratch);

/// Floats of scratch that dcl_attention_head needs for a sequence of n tokens and head size dh.
long dcl_attention_scratch(long n, long dh);

/// One head of one sequence: out[i, :dh] = softmax(scale · q_i · Kᵀ) · V for i < n (n ≥ 1).
/// q, k, v: n rows of dh floats, `ld` floats apart (the packed QKV buffer); out: n rows `ldo`
/// apart; scratch: dcl_attention_scratch(n, dh) floats.
void dcl_attention_head(const float *q, const float *k, const float *v, long ld, long n, long dh,
                        float scale, float *out, long ldo, float *scratch);

#endif
