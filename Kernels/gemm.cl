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
// (ceil(N/TN)·TN/WN, ceil(M/TM)·TM/WM, SPLITK), with (TM, TN, TK, WM, WN) the kernel's tile:
// the large tile for many output tiles, the small one (TM_S …) when the large would leave the
// GPU idle. A TM × TK slab of A (stored transposed, rows padded by 4 against bank conflicts)
// and a TK × TN slab of Wp are staged through local memory, GEMM_VW floats per global load.
// Each slab's global loads are issued into registers before the previous slab is multiplied,
// so their latency hides behind the arithmetic; with GEMM_DB the slabs alternate between two
// local buffers and one barrier per slab suffices.
//
// Work-item (tx, ty) owns WM rows and WN columns of the tile in groups of 4. Plain layout:
// rows g·(TM/WM·4) + ty·4 + i and columns g·(TN/WN·4) + tx·4 + j, interleaved with its
// neighbours', so adjacent work-items read adjacent float4s of local memory and write adjacent
// float4s of C. Warp layout (GEMM_WARP): the 32 work-items of linear ids 32w ..< 32w+32 (one
// NVIDIA warp) own a 4·WM × 8·WN block of C as a 4 × 8 grid of lanes, so a warp reads only
// 4·WM + 8·WN floats of each slab row instead of the whole tile's.
//
//   C tile, warp layout, TM = TN = 128, WM = WN = 8:      lanes of warp 0, one 4 × 4 group each
//   +--------+--------+                                  +--+--+--+--+--+--+--+--+
//   | warp 0 | warp 1 |  32 rows                         | 0| 1| 2| 3| 4| 5| 6| 7|  rows 0..3
//   +--------+--------+                                  | 8| 9|..|  |  |  |  |15|  rows 4..7
//   | warp 2 | warp 3 |                                  |16|  |  |  |  |  |  |23|
//   |  ...   |  ...   |  (8 warps)                       |24|  |  |  |  |  |  |31|
//   +--------+--------+                                  +--+--+--+--+--+--+--+--+ ×(WM/4, WN/4)
//       64 columns                                        then the next 16 rows / 32 columns
//
// Split-K (kernel_gemm_tiled with GEMM_SPLITK = S > 1): work-group z sums K slice z (whole
// slabs) and writes its raw partial product to C = the workspace [S, M, ldc];
// kernel_gemm_splitk_reduce then adds the S slices in order, the bias and the activation.
// WM, WN, TK and PN are multiples of 4; GEMM_VW divides 4.
//
// kernel_gemm_nn, kernel_gemm_tn: the backward GEMMs of a linear layer, the same tile, loop
// and layouts with B row-major [K, N] (ldb) instead of panels:
//   nn  C[M, N] = alpha·A[M, K]·B + beta·C       dX (+)= dZ · W      (A = dZ [rows, out])
//   tn  C[M, N] = alpha·Aᵀ·B + beta·C, A [K, M]  dW += dZᵀ · X       (A = dZ [rows, out])
// each operand at an element offset (a_off, b_off, c_off); C is not read when beta = 0.
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
#ifndef GEMM_VW
#define GEMM_VW 4      // floats per global load and store of the tiled kernels: 1, 2 or 4
#endif
#ifndef GEMM_DB
#define GEMM_DB 0      // 1: two local buffers, one barrier per K slab
#endif
#ifndef GEMM_WARP
#define GEMM_WARP 0    // 1: warp layout (needs TN/WN a multiple of 8 and TM/WM of 4)
#endif
#ifndef GEMM_SPLITK
#define GEMM_SPLITK 1  // K slices of kernel_gemm_tiled (1: no split)
#endif

// GEMM_PREFETCH 0 loads each slab just before storing it to local memory instead (to measure
// what the prefetch gives: DISTILCL_CL_OPTIONS=-DGEMM_PREFETCH=0).
#ifndef GEMM_PREFETCH
#define GEMM_PREFETCH 1
#endif

#if GEMM_VW == 4
typedef float4 gvec;
#define GV_LOAD(p) vload4(0, p)
#define GV_STORE(v, p) vstore4(v, 0, p)
#elif GEMM_VW == 2
typedef float2 gvec;
#define GV_LOAD(p) vload2(0, p)
#define GV_STORE(v, p) vstore2(v, 0, p)
#elif GEMM_VW == 1
typedef float gvec;
#define GV_LOAD(p) (*(p))
#define GV_STORE(v, p) (*(p) = (v))
#else
#error "GEMM_VW must be 1, 2 or 4"
#endif
#define GEMM_NB (GEMM_DB ? 2 : 1)

/// GEMM_VW floats from p, those at or past `valid` read as zero.
inline gvec gv_load_partial(const __global float* p, const int valid) {
    float t[GEMM_VW];
    _Pragma("unroll")
    for (int j = 0; j < GEMM_VW; j++) t[j] = j < valid ? p[j] : 0.0f;
    return GV_LOAD(t);
}

// ---- global → registers for the slab at k0 (kEnd: the end of this work-group's K range) ----

// A row-major [M, K] (lda): GEMM_VW consecutive k of one row per load, rows past M clamped.
#define GEMM_FETCH_A_ROWS(TM, TK, k0)                                                          \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                              \
        const int u = tid + i * NT, r = u / (TK / GEMM_VW), kq = (u % (TK / GEMM_VW)) * GEMM_VW;\
        const __global float* a = A + (size_t)min(mBase + r, M - 1) * lda + (k0) + kq;         \
        ra[i] = u >= TM * (TK / GEMM_VW) ? (gvec)(0.0f)                                        \
              : (k0) + kq + GEMM_VW <= kEnd ? GV_LOAD(a) : gv_load_partial(a, kEnd - (k0) - kq);\
    }
// … and into As[buf][k][m], transposed.
#define GEMM_STORE_A_ROWS(TM, TK, buf)                                                         \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                              \
        const int u = tid + i * NT, r = u / (TK / GEMM_VW), kq = (u % (TK / GEMM_VW)) * GEMM_VW;\
        if (u < TM * (TK / GEMM_VW)) {                                                         \
            float t[GEMM_VW];                                                                  \
            GV_STORE(ra[i], t);                                                                \
            _Pragma("unroll")                                                                  \
            for (int j = 0; j < GEMM_VW; j++) As[buf][kq + j][r] = t[j];                       \
        }                                                                                      \
    }

// A stored transposed [K, M] (lda): GEMM_VW consecutive m of one k per load.
#define GEMM_FETCH_A_COLS(TM, TK, k0)                                                          \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                              \
        const int u = tid + i * NT, kk = u / (TM / GEMM_VW), r = (u % (TM / GEMM_VW)) * GEMM_VW;\
        const int k = (k0) + kk, m = mBase + r;                                                \
        const __global float* a = A + (size_t)min(k, K - 1) * lda + m;                         \
        ra[i] = u >= TK * (TM / GEMM_VW) || k >= kEnd ? (gvec)(0.0f)                           \
              : m + GEMM_VW <= M ? GV_LOAD(a) : gv_load_partial(a, M - m);                     \
    }
#define GEMM_STORE_A_COLS(TM, TK, buf)                                                         \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(ra) / sizeof(ra[0])); i++) {                              \
        const int u = tid + i * NT;                                                            \
        if (u < TK * (TM / GEMM_VW))                                                           \
            GV_STORE(ra[i], &As[buf][u / (TM / GEMM_VW)][(u % (TM / GEMM_VW)) * GEMM_VW]);     \
    }

// W from its panels: GEMM_VW consecutive columns (inside one panel, zero padded past N).
#define GEMM_FETCH_B_PANELS(TN, TK, k0)                                                        \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(rb) / sizeof(rb[0])); i++) {                              \
        const int u = tid + i * NT, kk = u / (TN / GEMM_VW), c = (u % (TN / GEMM_VW)) * GEMM_VW;\
        const int n = nBase + c, k = (k0) + kk, p = n / PN;                                    \
        rb[i] = (u < TK * (TN / GEMM_VW) && k < kEnd && p < panels)                            \
            ? GV_LOAD(Wp + ((size_t)p * K + k) * PN + (n % PN)) : (gvec)(0.0f);                \
    }
// B row-major [K, N] (ldb).
#define GEMM_FETCH_B_ROWS(TN, TK, k0)                                                          \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(rb) / sizeof(rb[0])); i++) {                              \
        const int u = tid + i * NT, kk = u / (TN / GEMM_VW), c = (u % (TN / GEMM_VW)) * GEMM_VW;\
        const int n = nBase + c, k = (k0) + kk;                                                \
        const __global float* b = B + (size_t)min(k, K - 1) * ldb + n;                         \
        rb[i] = u >= TK * (TN / GEMM_VW) || k >= kEnd ? (gvec)(0.0f)                           \
              : n + GEMM_VW <= N ? GV_LOAD(b) : gv_load_partial(b, N - n);                     \
    }
#define GEMM_STORE_B(TN, TK, buf)                                                              \
    _Pragma("unroll")                                                                          \
    for (int i = 0; i < (int)(sizeof(rb) / sizeof(rb[0])); i++) {                              \
        const int u = tid + i * NT;                                                            \
        if (u < TK * (TN / GEMM_VW))                                                           \
            GV_STORE(rb[i], &Bs[buf][u / (TN / GEMM_VW)][(u % (TN / GEMM_VW)) * GEMM_VW]);     \
    }

// ---- the body every tiled kernel shares: acc[WM][WN] = this work-item's part of the product
//      over k in [kBegin, kEnd); rowBase/rowStride, colBase/colStride place it in the tile ----
#define GEMM_TILED_BODY(TM, TN, TK, WM, WN, A_KIND, B_KIND)                                    \
    __local float As[GEMM_NB][TK][TM + 4];   /* As[.][k][m] = A[mBase + m, k0 + k] */          \
    __local float Bs[GEMM_NB][TK][TN];       /* Bs[.][k][n] = B[k0 + k, nBase + n] */          \
    const int LX = TN / WN, LY = TM / WM, NT = LX * LY;                                        \
    const int tx = get_local_id(0), ty = get_local_id(1);                                      \
    const int tid = ty * LX + tx;                                                              \
    const int mBase = get_group_id(1) * TM;                                                    \
    const int nBase = get_group_id(0) * TN;                                                    \
    int rowBase, rowStride, colBase, colStride;                                                \
    if (GEMM_WARP) {                                                                           \
        const int warp = tid / 32, lane = tid % 32, WX = LX / 8;                               \
        rowBase = (warp / WX) * (4 * WM) + (lane / 8) * 4; rowStride = 16;                     \
        colBase = (warp % WX) * (8 * WN) + (lane % 8) * 4; colStride = 32;                     \
    } else {                                                                                   \
        rowBase = ty * 4; rowStride = LY * 4;                                                  \
        colBase = tx * 4; colStride = LX * 4;                                                  \
    }                                                                                          \
    gvec ra[(TM * TK / GEMM_VW + NT - 1) / NT];                                                \
    gvec rb[(TN * TK / GEMM_VW + NT - 1) / NT];                                                \
    float acc[WM][WN];                                                                         \
    _Pragma("unroll")                                                                          \
    for (int r = 0; r < WM; r++)                                                               \
        _Pragma("unroll")                                                                      \
        for (int c = 0; c < WN; c++) acc[r][c] = 0.0f;                                         \
    int buf = 0;                                                                               \
    if (GEMM_PREFETCH && kBegin < kEnd) { GEMM_FETCH_A_##A_KIND(TM, TK, kBegin)                \
                                          GEMM_FETCH_B_##B_KIND(TN, TK, kBegin) }              \
    for (int k0 = kBegin; k0 < kEnd; k0 += TK) {                                               \
        if (!GEMM_PREFETCH) { GEMM_FETCH_A_##A_KIND(TM, TK, k0) GEMM_FETCH_B_##B_KIND(TN, TK, k0) }\
        GEMM_STORE_A_##A_KIND(TM, TK, buf)                                                     \
        GEMM_STORE_B(TN, TK, buf)                                                              \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        if (GEMM_PREFETCH && k0 + TK < kEnd) { GEMM_FETCH_A_##A_KIND(TM, TK, k0 + TK)          \
                                               GEMM_FETCH_B_##B_KIND(TN, TK, k0 + TK) }        \
        _Pragma("unroll")                                                                      \
        for (int kk = 0; kk < TK; kk++) {                                                      \
            float av[WM], bv[WN];                                                              \
            _Pragma("unroll")                                                                  \
            for (int r = 0; r < WM; r += 4)                                                    \
                vstore4(vload4(0, &As[buf][kk][rowBase + (r / 4) * rowStride]), 0, av + r);    \
            _Pragma("unroll")                                                                  \
            for (int c = 0; c < WN; c += 4)                                                    \
                vstore4(vload4(0, &Bs[buf][kk][colBase + (c / 4) * colStride]), 0, bv + c);    \
            _Pragma("unroll")                                                                  \
            for (int r = 0; r < WM; r++)                                                       \
                _Pragma("unroll")                                                              \
                for (int c = 0; c < WN; c++) acc[r][c] = fma(av[r], bv[c], acc[r][c]);         \
        }                                                                                      \
        /* two buffers: the next slab goes to the other one, which every work-item finished */ \
        /* reading before the barrier above                                                  */\
        if (GEMM_DB) buf ^= 1; else barrier(CLK_LOCAL_MEM_FENCE);                              \
    }

// ---- epilogue: each row's columns in groups of 4, stored GEMM_VW at a time when inside N;
//      value(c, n) is the stored value of acc[r][c] at column n, out the row's first column ----
#define GEMM_TILED_STORE(WM, WN, value)                                                        \
    _Pragma("unroll")                                                                          \
    for (int r = 0; r < WM; r++) {                                                             \
        const int m = mBase + rowBase + (r / 4) * rowStride + r % 4;                           \
        if (m < M) {                                                                           \
            _Pragma("unroll")                                                                  \
            for (int c = 0; c < WN; c += 4) {                                                  \
                const int n = nBase + colBase + (c / 4) * colStride;                           \
                __global float* out = OUT_ROW(m) + n;                                          \
                float v[4];                                                                    \
                _Pragma("unroll")                                                              \
                for (int j = 0; j < 4; j++) v[j] = n + j < N ? value(c + j, n + j) : 0.0f;     \
                if (n + 4 <= N) {                                                              \
                    _Pragma("unroll")                                                          \
                    for (int q = 0; q < 4; q += GEMM_VW) GV_STORE(GV_LOAD(v + q), out + q);    \
                } else {                                                                       \
                    for (int j = 0; j < 4 && n + j < N; j++) out[j] = v[j];                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

#define GEMM_TILED_KERNEL(NAME, TM, TN, TK, WM, WN, SPLITK)                                    \
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))                            \
void NAME(const int M, const int N, const int K,                                               \
          __global const float* restrict A, const int lda,                                     \
          __global const float* restrict Wp,                                                   \
          __global const float* restrict bias,                                                 \
          __global float* restrict C, const int ldc,                                           \
          const int act)                                                                       \
{                                                                                              \
    const int panels = (N + PN - 1) / PN;                                                      \
    /* this work-group's K slice: whole slabs */                                               \
    const int kPer = ((K + SPLITK - 1) / SPLITK + TK - 1) / TK * TK;                           \
    const int slice = SPLITK > 1 ? get_group_id(2) : 0;                                        \
    const int kBegin = min(K, slice * kPer), kEnd = SPLITK > 1 ? min(K, kBegin + kPer) : K;   \
    GEMM_TILED_BODY(TM, TN, TK, WM, WN, ROWS, PANELS)                                          \
    if (SPLITK > 1) {                                                                          \
        _Pragma("unroll")                                                                      \
        for (int r = 0; r < WM; r++) {                                                         \
            const int m = mBase + rowBase + (r / 4) * rowStride + r % 4;                       \
            if (m < M) {                                                                       \
                _Pragma("unroll")                                                              \
                for (int c = 0; c < WN; c++) {                                                 \
                    const int n = nBase + colBase + (c / 4) * colStride + c % 4;               \
                    if (n < N) C[((size_t)slice * M + m) * ldc + n] = acc[r][c];               \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } else {                                                                                   \
        GEMM_TILED_STORE(WM, WN, GEMM_FORWARD_VALUE)                                           \
    }                                                                                          \
}
#define OUT_ROW(m) (C + (size_t)(m) * ldc)
#define GEMM_FORWARD_VALUE(c, n) apply_act(acc[r][c] + bias[n], act)
#define GEMM_BACKWARD_VALUE(c, n) \
    (beta == 0.0f ? alpha * acc[r][c] : fma(beta, out[(c) % 4], alpha * acc[r][c]))

GEMM_TILED_KERNEL(kernel_gemm_tiled, TM, TN, TK, WM, WN, GEMM_SPLITK)
GEMM_TILED_KERNEL(kernel_gemm_tiled_small, TM_S, TN_S, TK_S, WM_S, WN_S, 1)

// -------------------------------------------------------------------------------------
// kernel_gemm_splitk_reduce: global size (N, M). C[m, n] = act(Σ_s ws[s, m, n] + bias[n]),
// the slices summed in order (the same bits on every run).
//   ws [S, M, N]   bias [N]   C [M, N] row stride ldc
// -------------------------------------------------------------------------------------
__kernel void kernel_gemm_splitk_reduce(const int M, const int N, const int S,
                                        __global const float* restrict ws,
                                        __global const float* restrict bias,
                                        __global float* restrict C, const int ldc, const int act)
{
    const int n = get_global_id(0), m = get_global_id(1);
    if (n >= N || m >= M) return;
    float s = 0.0f;
    for (int z = 0; z < S; z++) s += ws[((size_t)z * M + m) * N + n];
    C[(size_t)m * ldc + n] = apply_act(s + bias[n], act);
}

#define GEMM_BACKWARD_KERNEL(NAME, A_KIND)                                                     \
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))                            \
void NAME(const int M, const int N, const int K,                                               \
          __global const float* restrict A0, const int a_off, const int lda,                   \
          __global const float* restrict B0, const int b_off, const int ldb,                   \
          __global float* restrict C0, const int c_off, const int ldc,                         \
          const float alpha, const float beta)                                                 \
{                                                                                              \
    const __global float* A = A0 + a_off;                                                      \
    const __global float* B = B0 + b_off;                                                      \
    __global float* C = C0 + c_off;                                                            \
    const int kBegin = 0, kEnd = K;                                                            \
    GEMM_TILED_BODY(TM, TN, TK, WM, WN, A_KIND, ROWS)                                          \
    GEMM_TILED_STORE(WM, WN, GEMM_BACKWARD_VALUE)                                              \
}

GEMM_BACKWARD_KERNEL(kernel_gemm_nn, ROWS)
GEMM_BACKWARD_KERNEL(kernel_gemm_tn, COLS)
