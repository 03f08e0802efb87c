// =====================================================================================
// Glue around the encoder: activations, embeddings, pooling.
//
// kernel_activation  y[i] = act(x[i]) for i < count (GELU erf/tanh, ReLU, tanh)
// kernel_embed       out[t, :] = word[ids[t], :] + pos[positions[t], :] (+ type[types[t], :])
//                      ids, positions, types [T] int32; word [V, D], pos [P, D], type [Y, D]
// kernel_gather_rows out[r, :] = src[index[r], :]           index [R] int32, src [S, D]
// kernel_mean_pool   out[b, :] = mean of h[offsets[b] ..< offsets[b+1], :]  (0 when empty)
//                      h [T, D] packed sequences, offsets [B + 1] int32
// Global sizes: ceil(count/16) for kernel_activation, (D, rows) for the others.
// Out-of-range ids are clamped (the host validates them before upload).
// =====================================================================================

#ifdef DISTILCL_INJECT_BUILD_ERROR
#error "DISTILCL_INJECT_BUILD_ERROR: a build failure on purpose (tests of the build log)"
#endif

/// The activation `act` (0 none, 1 GELU erf, 2 GELU tanh, 3 ReLU, 4 tanh) on 16 elements at
/// once; the vector erf/exp is what makes this fast on CPUs.
inline float16 activate16(float16 v, const int act) {
    if (act == 1) return 0.5f * v * (1.0f + erf(v * 0.7071067811865476f));
    if (act == 2) {
        // 0.5·v·(1 + tanh(u)) as v / (1 + exp(-2u)): no cancellation when u << 0
        const float16 u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        return v / (1.0f + exp(-2.0f * u));
    }
    if (act == 3) return fmax(v, (float16)(0.0f));
    if (act == 4) return tanh(v);
    return v;
}

// global size ceil(count / 16): work-item i covers elements 16·i ..< 16·i + 16.
__kernel void kernel_activation(const int count, __global const float* x, __global float* y,
                                const int act)
{
    const int i = get_global_id(0) * 16;
    if (i + 16 <= count) {
        vstore16(activate16(vload16(0, x + i), act), 0, y + i);
    } else {
        float t[16];
        for (int j = 0; j < 16; j++) t[j] = i + j < count ? x[i + j] : 0.0f;
        const float16 r = activate16(vload16(0, t), act);
        vstore16(r, 0, t);
        for (int j = 0; i + j < count; j++) y[i + j] = t[j];
    }
}

__kernel void kernel_embed(const int D, const int V, const int P, const int Y,
                           __global const int* restrict ids, __global const int* restrict positions,
                           __global const int* restrict types, const int has_types,
                           __global const float* restrict word, __global const float* restrict pos,
                           __global const float* restrict type, __global float* restrict out)
{
    const int d = get_global_id(0);
    const int t = get_global_id(1);
    if (d >= D) return;
    const int id = clamp(ids[t], 0, V - 1);
    const int p = clamp(positions[t], 0, P - 1);
    float v = word[(size_t)id * D + d] + pos[(size_t)p * D + d];
    if (has_types) v += type[(size_t)clamp(types[t], 0, Y - 1) * D + d];
    out[(size_t)t * D + d] = v;
}

__kernel void kernel_gather_rows(const int D, const int S, __global const float* restrict src,
                                 __global const int* restrict index, __global float* restrict out)
{
    const int d = get_global_id(0);
    const int r = get_global_id(1);
    if (d < D) out[(size_t)r * D + d] = src[(size_t)clamp(index[r], 0, S - 1) * D + d];
}

__kernel void kernel_mean_pool(const int D, __global const float* restrict h,
                               __global const int* restrict offsets, __global float* restrict out)
{
    const int d = get_global_id(0);
    const int b = get_global_id(1);
    if (d >= D) return;
    const int start = offsets[b], end = offsets[b + 1];
    float sum = 0.0f;
    for (int t = start; t < end; t++) sum += h[(size_t)t * D + d];
    out[(size_t)b * D + d] = end > start ? sum / (float)(end - start) : 0.0f;
}
