// See include/onednn_matmul.h. oneDNN 2.x C API (operation descriptor, then primitive
// descriptor, then primitive), as Debian 12's libdnnl-dev ships it.
#include "onednn_matmul.h"
#include <dnnl.h>
#include <dnnl_debug.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum { ACT_NONE = 0, ACT_GELU = 1, ACT_GELU_TANH = 2, ACT_RELU = 3, ACT_TANH = 4 };
enum { CACHE_CAPACITY = 2048 };

typedef struct {
    dcl_matmul_desc key;
    dnnl_primitive_t primitive;
    dnnl_memory_desc_t a, b, c, bias;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static entry cache[CACHE_CAPACITY];
static int cached;

#define CHECK(call, what)                                                                      \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) {                                                              \
            snprintf(err, (size_t)errlen, "oneDNN %s failed: %s", what, dnnl_status2str(s_));      \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

static int same(const dcl_matmul_desc *x, const dcl_matmul_desc *y) {
    return x->m == y->m && x->n == y->n && x->k == y->k && x->lda == y->lda && x->ldb == y->ldb &&
           x->ldc == y->ldc && x->trans_a == y->trans_a && x->trans_b == y->trans_b && x->type == y->type &&
           x->has_bias == y->has_bias && x->act == y->act && x->beta == y->beta &&
           x->alpha == y->alpha && x->packed_b == y->packed_b;
}

static int start(char *err, long errlen) {
    if (engine) return 0;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine creation");
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream creation");
    return 0;
fail:
    if (engine) dnnl_engine_destroy(engine);
    engine = NULL;
    return -1;
}

static int check_desc(const dcl_matmul_desc *d, char *err, long errlen) {
    const char *why = NULL;
    if (d->m < 1 || d->n < 1 || d->k < 1) why = "m, n and k must be at least 1";
    else if (d->lda < (d->trans_a ? d->m : d->k)) why = "lda is smaller than a row of A";
    else if (d->ldb < (d->trans_b ? d->k : d->n)) why = "ldb is smaller than a row of B";
    else if (d->ldc < d->n) why = "ldc is smaller than a row of C";
    else if (d->type < DCL_MM_F32 || d->type > DCL_MM_U8S8) why = "unknown operand type";
    else if (d->act < ACT_NONE || d->act > ACT_TANH) why = "unknown activation";
    else if (d->alpha != 1.0f && d->has_bias) why = "alpha cannot be combined with a bias";
    else if (d->type == DCL_MM_U8S8 && (d->has_bias || d->act || d->alpha != 1.0f || d->beta != 0.0f))
        why = "uint8 x int8 takes no bias, activation, alpha or beta";
    else if (d->packed_b && d->trans_a) why = "packed weights take a plain A";
    if (!why) return 0;
    snprintf(err, (size_t)errlen, "matmul %ldx%ldx%ld: %s", d->m, d->n, d->k, why);
    return -1;
}

static void types(int type, dnnl_data_type_t *ta, dnnl_data_type_t *tb, dnnl_data_type_t *tc) {
    *ta = *tb = *tc = dnnl_f32;
    if (type == DCL_MM_BF16) *ta = *tb = dnnl_bf16;
    if (type == DCL_MM_U8S8) { *ta = dnnl_u8; *tb = dnnl_s8; *tc = dnnl_s32; }
}

// The blocked layout oneDNN picks for an (n, k) weight of `type`, asked of a matmul with 256
// rows: the layout depends on the weight's shape and type, so every row count can use it.
// Caller holds the lock.
static int packed_desc(int type, long n, long k, dnnl_memory_desc_t *md, char *err, long errlen) {
    dnnl_data_type_t ta, tb, tc;
    types(type, &ta, &tb, &tc);
    dnnl_dims_t da = {256, k}, db = {k, n}, dc = {256, n};
    dnnl_memory_desc_t a, b, c;
    dnnl_primitive_desc_t pd = NULL;
    CHECK(dnnl_memory_desc_init_by_tag(&a, 2, da, ta, dnnl_ab), "A descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&b, 2, db, tb, dnnl_format_tag_any), "B descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&c, 2, dc, tc, dnnl_ab), "C descriptor");
    dnnl_matmul_desc_t mm;
    CHECK(dnnl_matmul_desc_init(&mm, &a, &b, NULL, &c), "matmul descriptor");
    CHECK(dnnl_primitive_desc_create(&pd, &mm, NULL, engine, NULL), "primitive descriptor");
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!chosen) {
        snprintf(err, (size_t)errlen, "oneDNN reported no weight layout for %ldx%ld", n, k);
        goto fail;
    }
    *md = *chosen;
    dnnl_primitive_desc_destroy(pd);
    return 0;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

// Creates the primitive for d into e. Caller holds the lock.
static int create(const dcl_matmul_desc *d, entry *e, char *err, long errlen) {
    dnnl_data_type_t ta, tb, tc;
    types(d->type, &ta, &tb, &tc);
    dnnl_dims_t da = {d->m, d->k}, db = {d->k, d->n}, dc = {d->m, d->n}, dbias = {1, d->n};
    dnnl_dims_t sa = {d->lda, 1}, sb = {d->ldb, 1}, sc = {d->ldc, 1}, sbias = {d->n, 1};
    if (d->trans_a) { sa[0] = 1; sa[1] = d->lda; }
    if (d->trans_b) { sb[0] = 1; sb[1] = d->ldb; }
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    e->key = *d;
    e->primitive = NULL;
    CHECK(dnnl_memory_desc_init_by_strides(&e->a, 2, da, ta, sa), "A descriptor");
    if (d->packed_b) {
        if (packed_desc(d->type, d->n, d->k, &e->b, err, errlen)) return -1;
    } else {
        CHECK(dnnl_memory_desc_init_by_strides(&e->b, 2, db, tb, sb), "B descriptor");
    }
    CHECK(dnnl_memory_desc_init_by_strides(&e->c, 2, dc, tc, sc), "C descriptor");
    CHECK(dnnl_memory_desc_init_by_strides(&e->bias, 2, dbias, dnnl_f32, sbias), "bias descriptor");
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &e->a, &e->b, d->has_bias ? &e->bias : NULL, &e->c), "matmul descriptor");
    CHECK(dnnl_primitive_attr_create(&attr), "attribute creation");
    CHECK(dnnl_post_ops_create(&ops), "post-op creation");
    if (d->beta != 0.0f) CHECK(dnnl_post_ops_append_sum(ops, d->beta), "sum post-op");
    dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
    float alpha = 0.0f;
    switch (d->act) {
    case ACT_GELU: alg = dnnl_eltwise_gelu_erf; break;
    case ACT_GELU_TANH: alg = dnnl_eltwise_gelu_tanh; break;
    case ACT_RELU: alg = dnnl_eltwise_relu; break;
    case ACT_TANH: alg = dnnl_eltwise_tanh; break;
    default: break;
    }
    if (alg != dnnl_alg_kind_undef) CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, alg, alpha, 0.0f), "eltwise post-op");
    CHECK(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    if (d->alpha != 1.0f) CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &d->alpha), "output scale");
    CHECK(dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL), "primitive descriptor");
    CHECK(dnnl_primitive_create(&e->primitive, pd), "primitive creation");
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return 0;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return -1;
}

// Frees every cached primitive. Caller holds the lock.
static void clear_locked(void) {
    for (int i = 0; i < cached; i++) dnnl_primitive_destroy(cache[i].primitive);
    cached = 0;
}

// The cached primitive for d, created on first use. Caller holds the lock.
static entry *lookup(const dcl_matmul_desc *d, char *err, long errlen) {
    for (int i = cached - 1; i >= 0; i--)
        if (same(&cache[i].key, d)) return &cache[i];
    if (cached == CACHE_CAPACITY) clear_locked();   // a server meeting endless shapes stays bounded
    if (create(d, &cache[cached], err, errlen)) return NULL;
    return &cache[cached++];
}

int dcl_matmul(const dcl_matmul_desc *d, const void *a, const void *b, const float *bias, void *c,
               char *err, long errlen) {
    if (check_desc(d, err, errlen)) return -1;
    if (d->has_bias && !bias) { snprintf(err, (size_t)errlen, "matmul: has_bias without a bias"); return -1; }
    int rc = -1;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, mbias = NULL;
    pthread_mutex_lock(&lock);
    entry *e = NULL;
    if (start(err, errlen) || !(e = lookup(d, err, errlen))) goto fail;
    CHECK(dnnl_memory_create(&ma, &e->a, engine, (void *)a), "A memory");
    CHECK(dnnl_memory_create(&mb, &e->b, engine, (void *)b), "B memory");
    CHECK(dnnl_memory_create(&mc, &e->c, engine, c), "C memory");
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {0, NULL}};
    int nargs = 3;
    if (d->has_bias) {
        CHECK(dnnl_memory_create(&mbias, &e->bias, engine, (void *)bias), "bias memory");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mbias};
    }
    CHECK(dnnl_primitive_execute(e->primitive, stream, nargs, args), "matmul execution");
    CHECK(dnnl_stream_wait(stream), "stream wait");
    rc = 0;
fail:
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    if (mbias) dnnl_memory_destroy(mbias);
    pthread_mutex_unlock(&lock);
    return rc;
}

void *dcl_pack_weights(int type, long n, long k, const void *plain, long *bytes, char *err, long errlen) {
    if (n < 1 || k < 1 || type < DCL_MM_F32 || type > DCL_MM_U8S8) {
        snprintf(err, (size_t)errlen, "pack weights: bad shape %ldx%ld or type %d", n, k, type);
        return NULL;
    }
    void *packed = NULL;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    pthread_mutex_lock(&lock);
    dnnl_memory_desc_t plain_md, packed_md;
    dnnl_data_type_t ta, tb, tc;
    types(type, &ta, &tb, &tc);
    dnnl_dims_t db = {k, n}, sb = {1, k};
    if (start(err, errlen) || packed_desc(type, n, k, &packed_md, err, errlen)) goto fail;
    CHECK(dnnl_memory_desc_init_by_strides(&plain_md, 2, db, tb, sb), "plain weight descriptor");
    size_t size = dnnl_memory_desc_get_size(&packed_md);
    packed = aligned_alloc(64, (size + 63) / 64 * 64);
    if (!packed) { snprintf(err, (size_t)errlen, "pack weights: out of memory (%zu bytes)", size); goto fail; }
    CHECK(dnnl_memory_create(&src, &plain_md, engine, (void *)plain), "plain weight memory");
    CHECK(dnnl_memory_create(&dst, &packed_md, engine, packed), "packed weight memory");
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &plain_md, engine, &packed_md, engine, NULL), "reorder descriptor");
    CHECK(dnnl_primitive_create(&reorder, rpd), "reorder creation");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, args), "reorder");
    CHECK(dnnl_stream_wait(stream), "stream wait");
    *bytes = (long)size;
    goto done;
fail:
    free(packed);
    packed = NULL;
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    pthread_mutex_unlock(&lock);
    return packed;
}

int dcl_matmul_impl(const dcl_matmul_desc *d, char *out, long len) {
    char *err = out;
    long errlen = len;
    if (check_desc(d, err, errlen)) return -1;
    int rc = -1;
    pthread_mutex_lock(&lock);
    entry *e = NULL;
    const_dnnl_primitive_desc_t pd = NULL;
    const char *impl = NULL;
    if (start(err, errlen) || !(e = lookup(d, err, errlen))) goto fail;
    CHECK(dnnl_primitive_get_primitive_desc(e->primitive, &pd), "primitive descriptor query");
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl), "implementation query");
    snprintf(out, (size_t)len, "%s", impl);
    rc = 0;
fail:
    pthread_mutex_unlock(&lock);
    return rc;
}

int dcl_onednn_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

void dcl_onednn_version(int *major, int *minor, int *patch) {
    const dnnl_version_t *v = dnnl_version();
    *major = v->major;
    *minor = v->minor;
    *patch = v->patch;
}

const char *dcl_onednn_isa_name(void) {
    const char *name = dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa());
    return strncmp(name, "cpu_isa_", 8) == 0 ? name + 8 : name;
}
