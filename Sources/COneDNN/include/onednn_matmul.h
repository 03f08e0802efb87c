// The CPU path's GEMM: oneDNN's matmul, which picks its kernels at run time from the instruction
// sets the CPU reports (AVX2, AVX-512, AVX512-BF16, VNNI, AMX), never from a CPU model table.
// One primitive per shape is created on first use and cached; execution is serialised.
#ifndef DISTILCL_ONEDNN_MATMUL_H
#define DISTILCL_ONEDNN_MATMUL_H

/// Operand types: A and B both float32, both bfloat16 (C float32), or A uint8 × B int8 with an
/// int32 C (the caller scales it back).
enum { DCL_MM_F32 = 0, DCL_MM_BF16 = 1, DCL_MM_U8S8 = 2 };

/// Row-major C[m, n] = act(alpha · op(A)·op(B) + bias + beta · C); with beta = 0, C is not read.
/// op(A) is A `[m, k]` (lda ≥ k), or with trans_a A stored `[k, m]` (lda ≥ m).
/// op(B) is B `[k, n]` (ldb ≥ n), or with trans_b B stored `[n, k]` (ldb ≥ k), the Hugging Face
/// weight layout. bias `[n]` float32 (or NULL). act: DCL_ACT_* of cpu_kernels.h, applied last.
/// alpha ≠ 1 cannot be combined with a bias; U8S8 takes neither bias nor act nor alpha nor beta.
/// packed_b: B is the output of dcl_pack_weights for (n, k, type) instead of a plain matrix
/// (trans_b and ldb are then ignored).
typedef struct {
    long m, n, k;
    long lda, ldb, ldc;
    int trans_a, trans_b;
    int type;
    int has_bias;
    int act;
    float beta;
    float alpha;
    int packed_b;
} dcl_matmul_desc;

/// A weight `[n, k]` (row-major, the Hugging Face layout; float32, bf16 or int8 as `type` says)
/// reordered into the blocked layout oneDNN's matmul reads fastest, once at load: saves the
/// copy of B that every matmul with a plain B makes. Returns a buffer to free() (its size in
/// *bytes), or NULL with a message in err.
void *dcl_pack_weights(int type, long n, long k, const void *plain, long *bytes, char *err, long errlen);

/// Runs one matmul. Returns 0, or -1 with a message in err (errlen bytes).
int dcl_matmul(const dcl_matmul_desc *d, const void *a, const void *b, const float *bias, void *c,
               char *err, long errlen);

/// The implementation oneDNN picks for d (e.g. "brg:avx512_core"), written into out.
/// Returns 0, or -1 with the error in out.
int dcl_matmul_impl(const dcl_matmul_desc *d, char *out, long len);

/// The instruction set oneDNN runs at: `dnnl_cpu_isa_t`'s value after any ONEDNN_MAX_CPU_ISA cap.
int dcl_onednn_isa(void);

/// oneDNN's version, e.g. 2.6.3.
void dcl_onednn_version(int *major, int *minor, int *patch);

/// oneDNN's name for that instruction set, e.g. "avx512_core_bf16".
const char *dcl_onednn_isa_name(void);

#endif
