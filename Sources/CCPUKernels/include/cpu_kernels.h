// Hot loops of the CPU path (element-wise, per row, per attention head), in C so the compiler
// vectorises them for the machine it runs on: each function is compiled for AVX-512, AVX2+FMA and
// baseline x86-64, and the copy is picked from the CPU's instruction sets (capped to the level
// oneDNN's GEMM runs at, so ONEDNN_MAX_CPU_ISA caps both); plain C elsewhere.
#ifndef DISTILCL_CPU_KERNELS_H
#define DISTILCL_CPU_KERNELS_H

#include <stdint.h>

/// Activation codes, as Swift's `Activation` raw values.
enum { DCL_ACT_NONE = 0, DCL_ACT_GELU = 1, DCL_ACT_GELU_TANH = 2, DCL_ACT_RELU = 3, DCL_ACT_TANH = 4 };

/// row[i] = act(row[i] + bias[i]) for i < n; bias may be NULL.
void dcl_bias_activation(float *row, const float *bias, long n, int act);

/// y[i] = act(x[i]) for i < n (y may be x).
void dcl_activation(const float *x, float *y, long n, int act);

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

/// One item of a parallel loop.
typedef void (*dcl_task)(void *context, long index);

/// Runs fn(context, i) for every i < count on the OpenMP threads oneDNN uses (taken one at a time
/// by each thread; the calling thread is one of them); returns when all are done.
void dcl_parallel(long count, dcl_task fn, void *context);

/// The threads dcl_parallel and oneDNN use (OMP_NUM_THREADS, else every core).
int dcl_threads(void);
/// Sets the threads of later parallel regions and GEMMs (`--threads`; omp_set_num_threads).
void dcl_set_threads(int n);

/// The instruction-set level the kernels run at, e.g. "x86-64-v4 (AVX-512)".
const char *dcl_kernels_level(void);

/// The level the kernels run at: 4, 3 or 0 (the training kernels follow it too).
int dcl_kernels_level_number(void);

/// Caps the level: 4 (x86-64-v4, AVX-512), 3 (x86-64-v3, AVX2 + FMA) or 0 (baseline); the CPU's
/// own highest level still bounds it.
void dcl_cap_kernels_level(int level);

// ---- Reduced precision ------------------------------------------------

/// y[i] = x[i] rounded to bfloat16 (to nearest, ties to even; NaN stays NaN) for i < n.
void dcl_to_bf16(const float *x, uint16_t *y, long n);

/// One weight row quantised symmetrically to int8: q[i] = round(w[i] / scale) with
/// scale = max |w| / 127 (1 for an all-zero row). Returns Σ q[i], which the int8 epilogue needs.
int32_t dcl_quantize_weight_row(const float *w, long n, int8_t *q, float *scale);

/// One activation row quantised to uint8 with its own scale and zero point (the range widened to
/// hold 0, as ONNX Runtime's dynamic quantisation does per tensor): q[i] = clamp(round(x[i] /
/// scale) + zero, 0, 255), so x[i] ≈ scale · (q[i] − zero).
void dcl_quantize_row_u8(const float *x, long n, uint8_t *q, float *scale, int32_t *zero);

/// An activation row as two uint8 terms, x ≈ scale[0]·(q − zero[0]) + scale[1]·(r − zero[1]):
/// q quantises the row (dcl_quantize_row_u8), r the residual x − scale[0]·(q − zero[0]), which is
/// at most half a step of q, so the pair holds about 16 bits of the row. scratch: n floats.
void dcl_quantize_row_u8x2(const float *x, long n, uint8_t *q, uint8_t *r, float *scale, int32_t *zero,
                           float *scratch);

/// The int8 GEMM's epilogue for one row of n outputs: acc (and acc2, for a two-term row) hold the
/// int32 sums of the activation terms with the int8 weight, acc[j] = Σ_k q[k]·w_q[j, k];
/// y[j] = act(wscale[j] · (scale[0]·(acc[j] − zero[0]·wsum[j]) [+ scale[1]·(acc2[j] − zero[1]·wsum[j])])
/// + bias[j]). acc2 and bias may be NULL; the differences are taken in 64 bits.
void dcl_dequantize_row(float *y, const int32_t *acc, const int32_t *acc2, long n, const float *scale,
                        const int32_t *zero, const float *wscale, const int32_t *wsum, const float *bias, int act);

#endif
