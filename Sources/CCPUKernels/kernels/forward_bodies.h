// The layernorm and attention forwards, one body each, shared by inference (bodies.h, in
// cpu_kernels.c) and training (training_bodies.h, in training.c). Each body is static and
// always inlined into its callers, once per instruction-set level (DCL_FN names the copy):
// the inference callers pass NULL for what only training keeps (stats, lse, the dropout key),
// so those branches fold away and inference runs the code it ran before.
// No include guard, on purpose (see each_isa.h). Needs kernels/math.h and kernels/philox.h.

/// y = LayerNorm(x + residual)·gamma + beta over n values, two-pass statistics; residual may be
/// NULL; scratch holds n floats (it may be y when y aliases neither x nor residual).
/// stats, when not NULL: (mean, 1/√(var + eps)), what the backward reads.
static inline __attribute__((always_inline)) void DCL_FN(dcl_layernorm_body)(
    const float *x, const float *residual, const float *gamma, const float *beta, float eps, float *y, long n,
    float *scratch, float *stats) {
    for (long j = 0; j < n; j++) scratch[j] = x[j] + (residual ? residual[j] : 0.0f);
    const float mean = dcl_sum(scratch, n) / (float)n;
    float lane[16] = {0}, q = 0.0f;
    long j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) { const float d = scratch[j + k] - mean; lane[k] += d * d; }
    for (int k = 0; k < 16; k++) q += lane[k];
    for (; j < n; j++) { const float d = scratch[j] - mean; q += d * d; }
    const float rstd = 1.0f / sqrtf(q / (float)n + eps);
    for (j = 0; j < n; j++) y[j] = (scratch[j] - mean) * rstd * gamma[j] + beta[j];
    if (stats) {
        stats[0] = mean;
        stats[1] = rstd;
    }
}

/// acc[r][0..1] += Σ_p a[r·lda + p]·b[p·ldb ..< p·ldb + 32] for r < DCL_ATT_ROWS, p < k: the
/// register tile of both of attention's products, 8 rows × 32 columns (16 vectors of 16 lanes).
static inline __attribute__((always_inline)) void DCL_FN(dcl_att_tile)(dcl_v16 acc[DCL_ATT_ROWS][2], const float *a,
                                                                       long lda, const float *b, long ldb, long k) {
    for (long p = 0; p < k; p++) {
        dcl_v16 b0, b1;
        DCL_LOAD16(b0, b + p * ldb);
        DCL_LOAD16(b1, b + p * ldb + 16);
        for (int r = 0; r < DCL_ATT_ROWS; r++) {
            const float ar = a[r * lda + p];
            acc[r][0] += ar * b0;
            acc[r][1] += ar * b1;
        }
    }
}

/// One head of one sequence: out[i, :dh] = Σ_j drop(p_ij)·v_j, p_ij = softmax_j(scale·q_i·k_j),
/// for i < n. q, k, v: n rows of dh floats `ld` apart (the packed QKV buffer); out: n rows `ldo`
/// apart. Scratch layout (floats; np = n, dp = dh rounded up to DCL_ATT_COLS):
///
///   kt [dh][np] | vp [n][dp] | qs [ROWS][dh] | s [ROWS][np] | mask [np] (dropout only)
///
/// lse, when not NULL: lse[i·lse_stride] = log Σ_j exp(scale·q_i·k_j). key, when not NULL (and
/// p > 0): V's weights (never the normaliser) scaled by keep/(1 − p), element (i, j) being
/// dcl_att_index(head, n, i, j) of example key->example.
static inline __attribute__((always_inline)) void DCL_FN(dcl_attention_body)(
    const float *q, const float *k, const float *v, long ld, long n, long dh, float scale, float *out, long ldo,
    float *scratch, float *lse, long lse_stride, const dcl_dropout_key *key, long head) {
    const long np = dcl_round_up(n, DCL_ATT_COLS), dp = dcl_round_up(dh, DCL_ATT_COLS);
    float *kt = scratch;               // [dh][np]  Kᵀ, keys ≥ n zero
    float *vp = kt + dh * np;          // [n][dp]   V, columns ≥ dh zero
    float *qs = vp + n * dp;           // [ROWS][dh] scaled queries of the current block
    float *s = qs + DCL_ATT_ROWS * dh; // [ROWS][np] scores, then probabilities
    float *mask = s + DCL_ATT_ROWS * np;
    for (long d = 0; d < dh; d++) {
        for (long j = 0; j < n; j++) kt[d * np + j] = k[j * ld + d];
        for (long j = n; j < np; j++) kt[d * np + j] = 0.0f;
    }
    for (long j = 0; j < n; j++) {
        for (long d = 0; d < dh; d++) vp[j * dp + d] = v[j * ld + d];
        for (long d = dh; d < dp; d++) vp[j * dp + d] = 0.0f;
    }
    for (long i0 = 0; i0 < n; i0 += DCL_ATT_ROWS) {
        const long rows = n - i0 < DCL_ATT_ROWS ? n - i0 : DCL_ATT_ROWS;
        for (long r = 0; r < DCL_ATT_ROWS; r++)
            for (long d = 0; d < dh; d++) qs[r * dh + d] = r < rows ? scale * q[(i0 + r) * ld + d] : 0.0f;
        // S = (scale·Q) Kᵀ over 32 keys at a time.
        for (long j = 0; j < np; j += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}};
            DCL_FN(dcl_att_tile)(acc, qs, dh, kt + j, np, dh);
            for (int r = 0; r < DCL_ATT_ROWS; r++) {
                DCL_STORE16(s + r * np + j, acc[r][0]);
                DCL_STORE16(s + r * np + j + 16, acc[r][1]);
            }
        }
        // Row softmax over the n real keys, left unnormalised; 1/sum is applied to the output.
        float inv[DCL_ATT_ROWS];
        for (long r = 0; r < rows; r++) {
            float *row = s + r * np;
            const float mx = dcl_max(row, n);
            for (long j = 0; j < n; j++) row[j] = dcl_exp(row[j] - mx);
            const float l = dcl_sum(row, n);
            inv[r] = 1.0f / l;
            if (lse) lse[(i0 + r) * lse_stride] = mx + logf(l);
            if (key && key->p > 0.0f) {
                dcl_keep_row(mask, n, dcl_att_index(head, n, i0 + r, 0), *key, 1.0f / (1.0f - key->p));
                for (long j = 0; j < n; j++) row[j] *= mask[j];
            }
        }
        for (long r = rows; r < DCL_ATT_ROWS; r++) {
            for (long j = 0; j < n; j++) s[r * np + j] = 0.0f;
            inv[r] = 0.0f;
        }
        // O = P·V over 32 output columns at a time.
        for (long c = 0; c < dp; c += DCL_ATT_COLS) {
            dcl_v16 acc[DCL_ATT_ROWS][2] = {{{0}}};
            DCL_FN(dcl_att_tile)(acc, s, np, vp + c, dp, n);
            for (long r = 0; r < rows; r++) {
                float tile[DCL_ATT_COLS];
                DCL_STORE16(tile, acc[r][0] * inv[r]);
                DCL_STORE16(tile + 16, acc[r][1] * inv[r]);
                const long w = dh - c < DCL_ATT_COLS ? dh - c : DCL_ATT_COLS;
                for (long d = 0; d < w; d++) out[(i0 + r) * ldo + c + d] = tile[d];
            }
        }
    }
}
