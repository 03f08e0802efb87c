// =====================================================================================
// kernel_gemm_*: C = act(A · Wᵀ + bias), the encoder's linear layers.
//
//   A    [M, K]   row-major activations, row stride lda
//   W    [N, K]   Hugging Face layout, repacked once at load into panels:
//   Wp   [ceil(N/PN)][K][PN]   panel p holds columns n = p·PN ..< p·PN+PN of Wᵀ,
//                              zero-padded past N, so every panel row is PN contiguous floats
//   bias [N]
//   C    [M, N]   row stride ldc
//
//            K                    PN                     PN
//        +--------+           +--+--+--+           +-----+-----+
//   MR { |  A rows| ·  K {    |Wp panels |   =  MR |  C  tile  |
//        +--------+           +--+--+--+           +-----+-----+
//
// Two variants share the panel layout:
//   kernel_gemm_panel  one work-item computes an MR × PN tile, streaming its panel; for CPU
//                      devices (PoCL): no local memory, no barriers, explicit float vectors.
//   kernel_gemm_tiled  a work-group computes a TM × TN tile staged through local memory,
//                      each work-item a WM × WN sub-tile; for GPUs.
// Any M, N, K: rows past M are clamped on load and skipped on store, columns past N are
// the panel's zero padding and skipped on store.
// =====================================================================================

#ifndef PN
#define PN 32          // panel width (columns of Wᵀ per panel); 16 or 32
#endif
#ifndef MR
#define MR 8           // rows of A per work-item in kernel_gemm_panel
#endif
#ifndef TM
#define TM 128         // tile rows per work-group in kernel_gemm_tiled
#endif
#ifndef TN
#define TN 128         // tile columns per work-group in kernel_gemm_tiled (multiple of 4)
#endif
#ifndef TK
#define TK 16          // K step staged through local memory in kernel_gemm_tiled (multiple of 4)
#endif
#ifndef WM
#define WM 8           // rows per work-item in kernel_gemm_tiled (multiple of 4)
#endif
#ifndef WN
#define WN 8           // columns per work-item in kernel_gemm_tiled (multiple of 4)
#endif

#define ACT_NONE 0
#define ACT_GELU 1
#define ACT_GELU_TANH 2
#define ACT_RELU 3
#define ACT_TANH 4

#if PN == 32
typedef float16 pvec;
#define PVECS 2
#define vload_p vload16
#define vstore_p vstore16
#elif PN == 16
typedef float16 pvec;
#define PVECS 1
#define vload_p vload16
#define vstore_p vstore16
#elif PN == 8
typedef float8 pvec;
#define PVECS 1
#define vload_p vload8
#define vstore_p vstore8
#else
#error "PN must be 8, 16 or 32"
#endif
#define PW (PN / PVECS)   // floats per vector

/// The activation applied in the epilogue; erf form of GELU as in transformers.
inline float apply_act(float x, int act) {
    if (act == ACT_GELU) return 0.5f * x * (1.0f + erf(x * 0.7071067811865476f));
    if (act == ACT_GELU_TANH) {
        // 0.5·x·(1 + tanh(u)) written as x / (1 + exp(-2u)): no cancellation when u << 0
        const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);  // sqrt(2/pi)·(…)
        return x / (1.0f + exp(-2.0f * u));
    }
    if (act == ACT_RELU) return fmax(x, 0.0f);
    if (act == ACT_TANH) return tanh(x);
    return x;
}

inline pvec apply_act_v(pvec x, int act) {
    if (act == ACT_GELU) return 0.5f * x * (1.0f + erf(x * 0.7071067811865476f));
    if (act == ACT_GELU_TANH) {
        const pvec u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + exp(-2.0f * u));
    }
    if (act == ACT_RELU) return fmax(x, (pvec)(0.0f));
    if (act == ACT_TANH) return tanh(x);
    return x;
}

// -------------------------------------------------------------------------------------
// kernel_gemm_panel: global size (ceil(M/MR), panels); one MR × PN tile per work-item.
// -------------------------------------------------------------------------------------
__kernel void kernel_gemm_panel(const int M, const int N, const int K,
                                __global const float* restrict A, const int lda,
                                __global const float* restrict Wp,
                                __global const float* restrict bias,
                                __global float* restrict C, const int ldc,
                                const int act)
{
    const int m0 = get_global_id(0) * MR;
    const int p = get_global_id(1);
    if (m0 >= M) return;

    const __global float* w = Wp + (size_t)p * K * PN;
    const __global float* a[MR];
    #pragma unroll
    for (int i = 0; i < MR; i++) a[i] = A + (size_t)min(m0 + i, M - 1) * lda;

    pvec acc[MR][PVECS];
    #pragma unroll
    for (int i = 0; i < MR; i++) {
        #pragma unroll
        for (int v = 0; v < PVECS; v++) acc[i][v] = (pvec)(0.0f);
    }

    for (int k = 0; k < K; k++) {
        pvec wv[PVECS];
        #pragma unroll
        for (int v = 0; v < PVECS; v++) wv[v] = vload_p(v, w + (size_t)k * PN);
        #pragma unroll
        for (int i = 0; i < MR; i++) {
            const float ai = a[i][k];
            #pragma unroll
            for (int v = 0; v < PVECS; v++) acc[i][v] = fma((pvec)(ai), wv[v], acc[i][v]);
        }
    }

    const int n0 = p * PN;
    pvec b[PVECS];
    #pragma unroll
    for (int v = 0; v < PVECS; v++) {
        // bias is padded to a whole number of panels by the host
        b[v] = vload_p(0, bias + n0 + v * PW);
    }
    const bool full = n0 + PN <= N;
    #pragma unroll
    for (int i = 0; i < MR; i++) {
        if (m0 + i >= M) break;
        __global float* c = C + (size_t)(m0 + i) * ldc + n0;
        #pragma unroll
        for (int v = 0; v < PVECS; v++) {
            pvec r = apply_act_v(acc[i][v] + b[v], act);
            if (full) {
                vstore_p(r, 0, c + v * PW);
            } else {
                float t[PW];
                vstore_p(r, 0, t);
                for (int j = 0; j < PW; j++)
                    if (n0 + v * PW + j < N) c[v * PW + j] = t[j];
            }
        }
    }
}

// -------------------------------------------------------------------------------------
// kernel_gemm_tiled, kernel_gemm_tiled_small: local size (TN/WN, TM/WM), global size
// (ceil(N/TN)·TN/WN, ceil(M/TM)·TM/WM), with (TM, TN, TK, WM, WN) the kernel's tile: the large
// tile for many output tiles, the small one (TM_S …) when the large would leave the GPU idle.
// A TM × TK slab of A (stored transposed, rows padded by 4 against bank conflicts) and a
// TK × TN slab of Wp are staged through local memory. Each slab's global float4 loads are
// issued into registers before the previous slab is multiplied, so their latency hides behind
// the arithmetic. Work-item (tx, ty) owns WM rows and WN columns of the tile in groups of 4,
// interleaved with its neighbours': rows g·(TM/WM·4) + ty·4 + i and columns
// g·(TN/WN·4) + tx·4 + j, so adjacent work-items read adjacent float4s of local memory and
// write adjacent float4s of C. WM, WN, TK and PN are multiples of 4.
// -------------------------------------------------------------------------------------
#ifndef TM_S
#define TM_S 64
#endif
#ifndef TN_S
#define TN_S 64
#endif
#ifndef TK_S
#define TK_S 16
#endif
#ifndef WM_S
#define WM_S 4
#endif
#ifndef WN_S
#define WN_S 4
#endif

// GEMM_PREFETCH 0 loads each slab just before storing it to local memory instead (to measure
// what the prefetch gives: DISTILCL_CL_OPTIONS=-DGEMM_PREFETCH=0).
#ifndef GEMM_PREFETCH
#define GEMM_PREFETCH 1
#endif

// Global → registers for the slab at k0 (used inside GEMM_TILED_KERNEL): A rows into ra,
// W columns (from their panels) into rb, zeros outside the matrices.
#define GEMM_TILED_FETCH(TM, TN, TK, k0)                                                       \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                              \
        const int u = tid + i * NT, r = u / (TK / 4), kq = (u % (TK / 4)) * 4;                 \
        const __global float* a = A + (size_t)min(mBase + r, M - 1) * lda + (k0) + kq;         \
        if (u >= TM * (TK / 4)) ra[i] = (float4)(0.0f);                                        \
        else if ((k0) + kq + 4 <= K) ra[i] = vload4(0, a);                                     \
        else ra[i] = (float4)((k0) + kq < K ? a[0] : 0.0f, (k0) + kq + 1 < K ? a[1] : 0.0f,    \
                              (k0) + kq + 2 < K ? a[2] : 0.0f, 0.0f);                          \
    }                                                                                          \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(rb) / sizeof(rb[0])); i++) {                              \
        const int u = tid + i * NT, kk = u / (TN / 4), c = (u % (TN / 4)) * 4;                 \
        const int n = nBase + c, k = (k0) + kk, p = n / PN;                                    \
        rb[i] = (u < TK * (TN / 4) && k < K && p < panels)                                     \
            ? vload4(0, Wp + ((size_t)p * K + k) * PN + (n % PN)) : (float4)(0.0f);            \
    }                                                                                          \

#define GEMM_TILED_KERNEL(NAME, TM, TN, TK, WM, WN)                                            \
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))                            \
void NAME(const int M, const int N, const int K,                                               \
          __global const float* restrict A, const int lda,                                     \
          __global const float* restrict Wp,                                                   \
          __global const float* restrict bias,                                                 \
          __global float* restrict C, const int ldc,                                           \
          const int act)                                                                       \
{                                                                                              \
    __local float As[TK][TM + 4];   /* As[k][m] = A[mBase + m, k0 + k] */                      \
    __local float Bs[TK][TN];       /* Bs[k][n] = W[nBase + n, k0 + k] */                      \
    const int LX = TN / WN, LY = TM / WM, NT = LX * LY;                                        \
    const int tx = get_local_id(0), ty = get_local_id(1);                                      \
    const int tid = ty * LX + tx;                                                              \
    const int mBase = get_group_id(1) * TM;                                                    \
    const int nBase = get_group_id(0) * TN;                                                    \
    const int panels = (N + PN - 1) / PN;                                                      \
    float4 ra[(TM * TK / 4 + (TN / WN) * (TM / WM) - 1) / ((TN / WN) * (TM / WM))];            \
    float4 rb[(TN * TK / 4 + (TN / WN) * (TM / WM) - 1) / ((TN / WN) * (TM / WM))];            \
    float acc[WM][WN];                                                                         \
    _Pragma("unroll")                                                                          \
    for (int r = 0; r < WM; r++)                                                               \
        _Pragma("unroll")                                                                      \
        for (int c = 0; c < WN; c++) acc[r][c] = 0.0f;                                         \
    if (GEMM_PREFETCH) { GEMM_TILED_FETCH(TM, TN, TK, 0) }                                     \
    for (int k0 = 0; k0 < K; k0 += TK) {                                                       \
        if (!GEMM_PREFETCH) { GEMM_TILED_FETCH(TM, TN, TK, k0) }                               \
        _Pragma("unroll")                                                                      \
        for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                          \
            const int u = tid + i * NT, r = u / (TK / 4), kq = (u % (TK / 4)) * 4;             \
            if (u < TM * (TK / 4)) {                                                           \
                As[kq][r] = ra[i].x; As[kq + 1][r] = ra[i].y;                                  \
                As[kq + 2][r] = ra[i].z; As[kq + 3][r] = ra[i].w;                              \
            }                                                                                  \
        }                                                                                      \
        _Pragma("unroll")                                                                      \
        for (int i = 0; i < (int)(sizeof(rb) / sizeof(rb[0])); i++) {                          \
            const int u = tid + i * NT;                                                        \
            if (u < TK * (TN / 4)) vstore4(rb[i], 0, &Bs[u / (TN / 4)][(u % (TN / 4)) * 4]);   \
        }                                                                                      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        if (GEMM_PREFETCH && k0 + TK < K) { GEMM_TILED_FETCH(TM, TN, TK, k0 + TK) }            \
        _Pragma("unroll")                                                                      \
        for (int kk = 0; kk < TK; kk++) {                                                      \
            float av[WM], bv[WN];                                                              \
            _Pragma("unroll")                                                                  \
            for (int r = 0; r < WM; r += 4)                                                    \
                vstore4(vload4(0, &As[kk][(r / 4) * (LY * 4) + ty * 4]), 0, av + r);           \
            _Pragma("unroll")                                                                  \
            for (int c = 0; c < WN; c += 4)                                                    \
                vstore4(vload4(0, &Bs[kk][(c / 4) * (LX * 4) + tx * 4]), 0, bv + c);           \
            _Pragma("unroll")                                                                  \
            for (int r = 0; r < WM; r++)                                                       \
                _Pragma("unroll")                                                              \
                for (int c = 0; c < WN; c++) acc[r][c] = fma(av[r], bv[c], acc[r][c]);         \
        }                                                                                      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
    }                                                                                          \
    _Pragma("unroll")                                                                          \
    for (int r = 0; r < WM; r++) {                                                             \
        const int m = mBase + (r / 4) * (LY * 4) + ty * 4 + r % 4;                             \
        if (m < M) {                                                                           \
            _Pragma("unroll")                                                                  \
            for (int c = 0; c < WN; c++) {                                                     \
                const int n = nBase + (c / 4) * (LX * 4) + tx * 4 + c % 4;                     \
                if (n < N) C[(size_t)m * ldc + n] = apply_act(acc[r][c] + bias[n], act);       \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
}

GEMM_TILED_KERNEL(kernel_gemm_tiled, TM, TN, TK, WM, WN)
GEMM_TILED_KERNEL(kernel_gemm_tiled_small, TM_S, TN_S, TK_S, WM_S, WN_S)
