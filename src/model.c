/* model.c — opening a GPT-2 safetensors model, checking it against its config,
 * and converting it to TransformerLens-layout float32 weights. */
#include "circuitc/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "circuitc/process.h"

#ifndef CC_BUNDLED_MODEL
#define CC_BUNDLED_MODEL "golden/models/induction-3l4h"
#endif

const char *cc_default_model_path(void)
{
    const char *env = getenv("CIRCUITC_MODEL");
    return env && *env ? env : CC_BUNDLED_MODEL;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", dir, name) < 0) return NULL;
    return s;
}

static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* ---- the expected tensor list -------------------------------------------- */

/* One expected tensor: its name (without prefix) and shape. */
typedef struct {
    char name[64];
    int ndim;
    long long shape[2];
} expected_tensor;

static int expected_list(const cc_config *c, expected_tensor **out, size_t *n)
{
    size_t cap = 4 + 12 * (size_t)c->n_layers;
    expected_tensor *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    size_t k = 0;
    long long d = c->d_model, m = c->d_mlp;
#define ADD1(nm, a) (snprintf(e[k].name, sizeof e[k].name, "%s", nm), e[k].ndim = 1, e[k].shape[0] = (a), k++)
#define ADD2(nm, a, b) \
    (snprintf(e[k].name, sizeof e[k].name, "%s", nm), e[k].ndim = 2, e[k].shape[0] = (a), e[k].shape[1] = (b), k++)
    ADD2("wte.weight", c->d_vocab, d);
    ADD2("wpe.weight", c->n_ctx, d);
    for (int l = 0; l < c->n_layers; l++) {
        char nm[64];
#define LNAME(suffix) (snprintf(nm, sizeof nm, "h.%d.%s", l, suffix), nm)
        ADD1(LNAME("ln_1.weight"), d);
        ADD1(LNAME("ln_1.bias"), d);
        ADD2(LNAME("attn.c_attn.weight"), d, 3 * d);
        ADD1(LNAME("attn.c_attn.bias"), 3 * d);
        ADD2(LNAME("attn.c_proj.weight"), d, d);
        ADD1(LNAME("attn.c_proj.bias"), d);
        ADD1(LNAME("ln_2.weight"), d);
        ADD1(LNAME("ln_2.bias"), d);
        ADD2(LNAME("mlp.c_fc.weight"), d, m);
        ADD1(LNAME("mlp.c_fc.bias"), m);
        ADD2(LNAME("mlp.c_proj.weight"), m, d);
        ADD1(LNAME("mlp.c_proj.bias"), d);
#undef LNAME
    }
    ADD1("ln_f.weight", d);
    ADD1("ln_f.bias", d);
#undef ADD1
#undef ADD2
    *out = e;
    *n = k;
    return 0;
}

static void shape_str(char *buf, size_t sz, int ndim, const long long *s64, const uint64_t *su)
{
    size_t o = (size_t)snprintf(buf, sz, "[");
    for (int i = 0; i < ndim && o < sz; i++)
        o += (size_t)snprintf(buf + o, sz - o, "%s%lld", i ? ", " : "", s64 ? s64[i] : (long long)su[i]);
    if (o < sz) snprintf(buf + o, sz - o, "]");
}

static const cc_st_tensor *find_prefixed(const cc_model *m, const char *name)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    return cc_st_find(m->st, full);
}

/* The causal-mask buffers some checkpoints carry; not weights. */
static bool is_mask_buffer(const char *name)
{
    size_t n = strlen(name);
    return (n > 10 && strcmp(name + n - 10, ".attn.bias") == 0) ||
           (n > 17 && strcmp(name + n - 17, ".attn.masked_bias") == 0);
}

static int check_tensor_shape(const cc_model *m, const cc_st_tensor *t, int ndim, const long long *shape,
                              const char *name, cc_error *err)
{
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = (long long)t->shape[i] == shape[i];
    if (ok) return 0;
    char want[64], got[64];
    shape_str(want, sizeof want, ndim, shape, NULL);
    shape_str(got, sizeof got, t->ndim, NULL, t->shape);
    return cc_fail(err, "%s: tensor \"%s\" has shape %s but %s implies %s (n_layer=%d n_head=%d "
                        "n_embd=%d n_inner=%d vocab_size=%d n_positions=%d); the weights and the config "
                        "do not belong together",
                   m->weights_path, name, got, m->config_path, want, m->cfg.n_layers, m->cfg.n_heads,
                   m->cfg.d_model, m->cfg.d_mlp, m->cfg.d_vocab, m->cfg.n_ctx);
}

static int check_dtype(const cc_model *m, const cc_st_tensor *t, cc_error *err)
{
    if (t->dtype == CC_DT_F32 || t->dtype == CC_DT_F16 || t->dtype == CC_DT_BF16 || t->dtype == CC_DT_F64)
        return 0;
    return cc_fail(err, "%s: tensor \"%s\" has dtype %s; circuitc reads F32, F16, BF16 and F64 weights",
                   m->weights_path, t->name, cc_dtype_name(t->dtype));
}

/* Checks that the file holds exactly the GPT-2 tensors the config implies. */
static int validate_tensors(cc_model *m, cc_error *err)
{
    m->prefix = cc_st_find(m->st, "transformer.wte.weight") ? "transformer." : "";
    expected_tensor *exp = NULL;
    size_t n_exp = 0;
    if (expected_list(&m->cfg, &exp, &n_exp) != 0) return cc_fail(err, "out of memory");
    int rc = -1;
    /* expected[i]: file tensor i is one of the layout's (found by name, so the check is n log n) */
    bool *expected = calloc(m->st->n_tensors + 1, sizeof *expected);
    if (!expected) {
        cc_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_exp; i++) {
        const cc_st_tensor *t = find_prefixed(m, exp[i].name);
        if (!t) {
            cc_fail(err, "%s: missing tensor \"%s%s\" (GPT-2 layout with n_layer=%d from %s); the file is "
                         "incomplete or not a GPT-2 checkpoint",
                    m->weights_path, m->prefix, exp[i].name, m->cfg.n_layers, m->config_path);
            goto out;
        }
        if (check_dtype(m, t, err) != 0 || check_tensor_shape(m, t, exp[i].ndim, exp[i].shape, t->name, err) != 0)
            goto out;
        expected[t - m->st->tensors] = true;
    }
    const cc_st_tensor *lm = cc_st_find(m->st, "lm_head.weight");
    if (lm) {
        long long s[2] = {m->cfg.d_vocab, m->cfg.d_model};
        if (check_dtype(m, lm, err) != 0 || check_tensor_shape(m, lm, 2, s, lm->name, err) != 0) goto out;
        m->has_lm_head = true;
    }
    /* Anything else is a sign of a different architecture: refuse rather than guess. */
    for (size_t i = 0; i < m->st->n_tensors; i++) {
        const char *name = m->st->tensors[i].name;
        if (expected[i] || strcmp(name, "lm_head.weight") == 0 || is_mask_buffer(name)) continue;
        cc_fail(err, "%s: unexpected tensor \"%s\"; it is not part of the GPT-2 layout for %s (n_layer=%d). "
                     "Is this a different architecture, or the config of another model?",
                m->weights_path, name, m->config_path, m->cfg.n_layers);
        goto out;
    }
    m->dtype = find_prefixed(m, "wte.weight")->dtype;
    rc = 0;
out:
    free(expected);
    free(exp);
    return rc;
}

int cc_model_open(const char *path, const char *config_path, cc_model **out, cc_error *err)
{
    *out = NULL;
    cc_model *m = calloc(1, sizeof *m);
    if (!m) return cc_fail(err, "out of memory");
    m->model_path = strdup(path);
    if (is_dir(path)) {
        m->weights_path = join(path, "model.safetensors");
        m->config_path = config_path ? strdup(config_path) : join(path, "config.json");
    } else {
        struct stat st;
        if (stat(path, &st) != 0) {
            int e = errno;
            cc_model_free(m);
            return cc_fail(err, "%s: %s; --model takes a model folder (config.json + model.safetensors) "
                                "or a .safetensors file",
                           path, strerror(e));
        }
        char *dir = dirname_of(path);
        m->weights_path = strdup(path);
        m->config_path = config_path ? strdup(config_path) : (dir ? join(dir, "config.json") : NULL);
        free(dir);
    }
    if (!m->model_path || !m->weights_path || !m->config_path) {
        cc_model_free(m);
        return cc_fail(err, "out of memory");
    }
    if (cc_config_load(m->config_path, &m->cfg, err) != 0 || cc_st_open(m->weights_path, &m->st, err) != 0 ||
        validate_tensors(m, err) != 0) {
        cc_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- conversion to TransformerLens layout ---------------------------------- */

/* Reads tensor T (already validated) as float32 into a new buffer. */
static float *read_f32(cc_model *m, const cc_st_tensor *t, cc_error *err)
{
    float *buf = malloc((size_t)t->n_elements * sizeof *buf + 1);
    if (!buf) {
        cc_fail(err, "out of memory reading tensor \"%s\" (%llu elements)", t->name,
                (unsigned long long)t->n_elements);
        return NULL;
    }
    if (cc_st_read_f32(m->st, t, buf, err) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int read_into(cc_model *m, const char *name, float *dst, cc_error *err)
{
    const cc_st_tensor *t = find_prefixed(m, name);
    return cc_st_read_f32(m->st, t, dst, err);
}

static void *alloc_floats(size_t n, int *failed)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) *failed = 1;
    return p;
}

static void free_weights(cc_weights *w)
{
    float **all[] = {&w->W_E, &w->W_pos, &w->ln1_w, &w->ln1_b, &w->W_Q, &w->W_K, &w->W_V, &w->b_Q,
                     &w->b_K, &w->b_V, &w->W_O, &w->b_O, &w->ln2_w, &w->ln2_b, &w->W_in, &w->b_in,
                     &w->W_out, &w->b_out, &w->lnf_w, &w->lnf_b, &w->W_U, &w->b_U};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* W_U [d, V] = transpose of SRC [V, d], in cache-friendly blocks. */
static void transpose_into(const float *src, float *dst, size_t rows, size_t cols)
{
    const size_t B = 64;
    for (size_t r0 = 0; r0 < rows; r0 += B)
        for (size_t c0 = 0; c0 < cols; c0 += B)
            for (size_t r = r0; r < r0 + B && r < rows; r++)
                for (size_t c = c0; c < c0 + B && c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

/* Splits one layer's c_attn [d, 3d] weight and [3d] bias into per-head Q, K, V. */
static void split_qkv(const cc_config *c, int l, const float *w, const float *b, cc_weights *out)
{
    size_t d = (size_t)c->d_model, dh = (size_t)c->d_head, H = (size_t)c->n_heads;
    float *Ws[3] = {out->W_Q, out->W_K, out->W_V}, *bs[3] = {out->b_Q, out->b_K, out->b_V};
    for (size_t which = 0; which < 3; which++)
        for (size_t h = 0; h < H; h++) {
            float *W = Ws[which] + (((size_t)l * H + h) * d) * dh; /* [d, dh] */
            size_t col0 = which * d + h * dh;
            for (size_t k = 0; k < d; k++) memcpy(W + k * dh, w + k * 3 * d + col0, dh * sizeof(float));
            memcpy(bs[which] + ((size_t)l * H + h) * dh, b + col0, dh * sizeof(float));
        }
}

int cc_model_load_weights(cc_model *m, cc_error *err)
{
    if (m->loaded) return 0;
    const cc_config *c = &m->cfg;
    size_t L = (size_t)c->n_layers, d = (size_t)c->d_model, V = (size_t)c->d_vocab, M = (size_t)c->d_mlp;
    cc_weights *w = &m->w;
    int oom = 0;
    w->W_E = alloc_floats(V * d, &oom);
    w->W_pos = alloc_floats((size_t)c->n_ctx * d, &oom);
    w->ln1_w = alloc_floats(L * d, &oom);
    w->ln1_b = alloc_floats(L * d, &oom);
    w->W_Q = alloc_floats(L * d * d, &oom);
    w->W_K = alloc_floats(L * d * d, &oom);
    w->W_V = alloc_floats(L * d * d, &oom);
    w->b_Q = alloc_floats(L * d, &oom);
    w->b_K = alloc_floats(L * d, &oom);
    w->b_V = alloc_floats(L * d, &oom);
    w->W_O = alloc_floats(L * d * d, &oom);
    w->b_O = alloc_floats(L * d, &oom);
    w->ln2_w = alloc_floats(L * d, &oom);
    w->ln2_b = alloc_floats(L * d, &oom);
    w->W_in = alloc_floats(L * d * M, &oom);
    w->b_in = alloc_floats(L * M, &oom);
    w->W_out = alloc_floats(L * M * d, &oom);
    w->b_out = alloc_floats(L * d, &oom);
    w->lnf_w = alloc_floats(d, &oom);
    w->lnf_b = alloc_floats(d, &oom);
    w->W_U = alloc_floats(d * V, &oom);
    w->b_U = alloc_floats(V, &oom); /* GPT-2 has no unembedding bias: zeros */
    if (oom) {
        free_weights(w);
        return cc_fail(err, "out of memory converting %s to float32 weights", m->weights_path);
    }
    int rc = read_into(m, "wte.weight", w->W_E, err) || read_into(m, "wpe.weight", w->W_pos, err) ||
             read_into(m, "ln_f.weight", w->lnf_w, err) || read_into(m, "ln_f.bias", w->lnf_b, err);
    for (size_t l = 0; rc == 0 && l < L; l++) {
        char nm[128], nb[128];
#define LAYER(buf, s) (snprintf(buf, sizeof buf, "h.%zu.%s", l, s), buf)
        rc = read_into(m, LAYER(nm, "ln_1.weight"), w->ln1_w + l * d, err) ||
             read_into(m, LAYER(nm, "ln_1.bias"), w->ln1_b + l * d, err) ||
             read_into(m, LAYER(nm, "ln_2.weight"), w->ln2_w + l * d, err) ||
             read_into(m, LAYER(nm, "ln_2.bias"), w->ln2_b + l * d, err) ||
             /* c_proj [d, d] rows h*dh+i are W_O[h, i, :]: the same memory layout */
             read_into(m, LAYER(nm, "attn.c_proj.weight"), w->W_O + l * d * d, err) ||
             read_into(m, LAYER(nm, "attn.c_proj.bias"), w->b_O + l * d, err) ||
             read_into(m, LAYER(nm, "mlp.c_fc.weight"), w->W_in + l * d * M, err) ||
             read_into(m, LAYER(nm, "mlp.c_fc.bias"), w->b_in + l * M, err) ||
             read_into(m, LAYER(nm, "mlp.c_proj.weight"), w->W_out + l * M * d, err) ||
             read_into(m, LAYER(nm, "mlp.c_proj.bias"), w->b_out + l * d, err);
        if (rc) break;
        float *cw = read_f32(m, find_prefixed(m, LAYER(nm, "attn.c_attn.weight")), err);
        float *cb = cw ? read_f32(m, find_prefixed(m, LAYER(nb, "attn.c_attn.bias")), err) : NULL;
#undef LAYER
        if (cw && cb) split_qkv(c, (int)l, cw, cb, w);
        else rc = -1;
        free(cw);
        free(cb);
    }
    if (rc == 0) {
        if (m->has_lm_head) {
            float *lm = read_f32(m, cc_st_find(m->st, "lm_head.weight"), err);
            if (lm) transpose_into(lm, w->W_U, V, d);
            else rc = -1;
            free(lm);
        } else {
            transpose_into(w->W_E, w->W_U, V, d); /* tied to the embedding */
        }
    }
    if (rc != 0) {
        free_weights(w);
        return -1;
    }
    /* Every tensor is now copied out: let the kernel drop the mapping's pages
     * (they stay readable, re-read from the file on access), so the process
     * does not hold the file's bytes resident next to their float32 copies. */
    if (m->st->map) madvise(m->st->map, m->st->map_size, MADV_DONTNEED);
    m->loaded = true;
    return 0;
}

void cc_model_free(cc_model *m)
{
    if (!m) return;
    free_weights(&m->w);
    cc_st_close(m->st);
    free(m->model_path);
    free(m->weights_path);
    free(m->config_path);
    free(m);
}

int cc_model_load(const char *path, const char *config_path, bool process, cc_model **out, cc_error *err)
{
    cc_model *m = NULL;
    if (cc_model_open(path, config_path, &m, err) != 0) return -1;
    if (cc_model_load_weights(m, err) != 0 || (process && cc_process_weights(m, err) != 0)) {
        cc_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}
