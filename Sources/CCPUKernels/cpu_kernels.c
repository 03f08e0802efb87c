// See include/cpu_kernels.h. The kernels' bodies (kernels/bodies.h) are compiled three times,
// for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline x86-64, and each public function
// calls the copy chosen at start-up from the instruction sets the CPU reports; the Swift side
// caps it to the level oneDNN's GEMM runs at (ONEDNN_MAX_CPU_ISA), so one machine can test every
// level. Elsewhere the one baseline copy runs.
#include "cpu_kernels.h"
#include "kernels/math.h"
#include "kernels/philox.h"   // the dropout key of forward_bodies.h's attention (NULL here)

#define DCL_BODIES "bodies.h"
#include "kernels/each_isa.h"

long dcl_attention_scratch(long n, long dh) {
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    return dh * np + n * dp + DCL_ATT_ROWS * (dh + np);
}

typedef struct {
    const char *name;
    void (*bias_activation)(float *, const float *, long, int);
    void (*activation)(const float *, float *, long, int);
    void (*layernorm_row)(const float *, const float *, const float *, const float *, float, float *, long, float *);
    void (*attention_head)(const float *, const float *, const float *, long, long, long, float, float *, long, float *);
    void (*to_bf16)(const float *, uint16_t *, long);
    int32_t (*quantize_weight_row)(const float *, long, int8_t *, float *);
    void (*quantize_row_u8)(const float *, long, uint8_t *, float *, int32_t *);
    void (*quantize_row_u8x2)(const float *, long, uint8_t *, uint8_t *, float *, int32_t *, float *);
    void (*dequantize_row)(float *, const int32_t *, const int32_t *, long, const float *, const int32_t *,
                           const float *, const int32_t *, const float *, int);
} dcl_table;

#define DCL_TABLE(level, label)                                                                    \
    {label, dcl_bias_activation_##level, dcl_activation_##level, dcl_layernorm_row_##level,         \
     dcl_attention_head_##level, dcl_to_bf16_##level,                    \
     dcl_quantize_weight_row_##level, dcl_quantize_row_u8_##level, dcl_quantize_row_u8x2_##level,          \
     dcl_dequantize_row_##level}

static const dcl_table base_table = DCL_TABLE(base, "x86-64 baseline");
#ifdef DCL_MULTI_ISA
static const dcl_table v3_table = DCL_TABLE(v3, "x86-64-v3 (AVX2, FMA)");
static const dcl_table v4_table = DCL_TABLE(v4, "x86-64-v4 (AVX-512)");
#endif
static const dcl_table *active = &base_table;

static int detected = 0;   // the highest level the CPU supports: 0 baseline, 3 or 4

static const dcl_table *table_for(int level) {
#ifdef DCL_MULTI_ISA
    if (level >= 4) return &v4_table;
    if (level >= 3) return &v3_table;
#endif
    (void)level;
    return &base_table;
}

// Picks the copy at start-up: the highest level the CPU supports.
__attribute__((constructor)) static void dcl_choose_kernels(void) {
#ifdef DCL_MULTI_ISA
    __builtin_cpu_init();
    detected = __builtin_cpu_supports("x86-64-v4") ? 4 : __builtin_cpu_supports("x86-64-v3") ? 3 : 0;
#endif
    active = table_for(detected);
}

void dcl_cap_kernels_level(int level) { active = table_for(level < detected ? level : detected); }

const char *dcl_kernels_level(void) { return active->name; }

int dcl_kernels_level_number(void) {
#ifdef DCL_MULTI_ISA
    if (active == &v4_table) return 4;
    if (active == &v3_table) return 3;
#endif
    return 0;
}

void dcl_bias_activation(float *row, const float *bias, long n, int act) { active->bias_activation(row, bias, n, act); }
void dcl_activation(const float *x, float *y, long n, int act) { active->activation(x, y, n, act); }
void dcl_layernorm_row(const float *x, const float *residual, const float *gamma, const float *beta, float eps,
                       float *y, long n, float *scratch) {
    active->layernorm_row(x, residual, gamma, beta, eps, y, n, scratch);
}
void dcl_attention_head(const float *q, const float *k, const float *v, long ld, long n, long dh, float scale,
                        float *out, long ldo, float *scratch) {
    active->attention_head(q, k, v, ld, n, dh, scale, out, ldo, scratch);
}
void dcl_to_bf16(const float *x, uint16_t *y, long n) { active->to_bf16(x, y, n); }
int32_t dcl_quantize_weight_row(const float *w, long n, int8_t *q, float *scale) {
    return active->quantize_weight_row(w, n, q, scale);
}
void dcl_quantize_row_u8(const float *x, long n, uint8_t *q, float *scale, int32_t *zero) {
    active->quantize_row_u8(x, n, q, scale, zero);
}
void dcl_quantize_row_u8x2(const float *x, long n, uint8_t *q, uint8_t *r, float *scale, int32_t *zero,
                           float *scratch) {
    active->quantize_row_u8x2(x, n, q, r, scale, zero, scratch);
}
void dcl_dequantize_row(float *y, const int32_t *acc, const int32_t *acc2, long n, const float *scale,
                        const int32_t *zero, const float *wscale, const int32_t *wsum, const float *bias, int act) {
    active->dequantize_row(y, acc, acc2, n, scale, zero, wscale, wsum, bias, act);
}
