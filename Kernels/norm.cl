// =====================================================================================
// kernel_layernorm: y = LayerNorm(x + residual) · gamma + beta over rows of length n.
//
//   x, residual, y  [rows, n]   (y may alias residual or x: each row is read fully
//                                before any of it is written, by the same work-group)
//   gamma, beta     [n]
//   stats           [rows, 2]   (mean, 1/√(var + eps)) of each row, written when has_stats
//                               (what the backward pass, training.cl, reads)
//
// Statistics in two passes (mean, then centred variance) as torch does, so rows with a
// large common offset keep their precision. Local size LN_WG, global size rows · LN_WG;
// the sums over a row's work-items are prelude.cl's row_reduce (LN_WG's default is there).
// =====================================================================================

#include "prelude.cl"   // the shared helpers and tunables (embed-kernels inlines it)

__kernel __attribute__((reqd_work_group_size(LN_WG, 1, 1)))
void kernel_layernorm(const int n, __global const float* x, __global const float* residual,
                      const int has_residual, __global const float* restrict gamma,
                      __global const float* restrict beta, const float eps, __global float* y,
                      __global float* stats, const int has_stats)
{
    __local float red[LN_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const __global float* xr = x + (size_t)row * n;
    const __global float* rr = residual + (size_t)(has_residual ? row : 0) * n;
    __global float* yr = y + (size_t)row * n;

    float s = 0.0f;
    for (int j = lid; j < n; j += LN_WG) s += xr[j] + (has_residual ? rr[j] : 0.0f);
    const float mean = row_reduce(s, red, lid) / (float)n;
    float q = 0.0f;
    for (int j = lid; j < n; j += LN_WG) {
        const float d = xr[j] + (has_residual ? rr[j] : 0.0f) - mean;
        q += d * d;
    }
    const float rstd = rsqrt(row_reduce(q, red, lid) / (float)n + eps);
    if (has_stats && lid == 0) {
        stats[2 * row] = mean;
        stats[2 * row + 1] = rstd;
    }
    for (int j = lid; j < n; j += LN_WG) {
        const float d = xr[j] + (has_residual ? rr[j] : 0.0f) - mean;
#ifdef DISTILCL_INJECT_FAULT
        // Tests only (DISTILCL_CL_OPTIONS=-DDISTILCL_INJECT_FAULT): a 0.1% error that
        // `distilcl parity` must catch.
        yr[j] = 1.001f * (d * rstd * gamma[j] + beta[j]);
#else
        yr[j] = d * rstd * gamma[j] + beta[j];
#endif
    }
}
