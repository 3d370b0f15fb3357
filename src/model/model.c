/* model.c — opening a GPT-2 safetensors model, checking it against its config,
 * and converting it to TransformerLens-layout float32 weights, whole or part
 * by part (the reads themselves: model_read.c). */
#include "circuitc/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/datadir.h"
#include "circuitc/process.h"
#include "model_read.h"

int cc_default_model_path(char **out, cc_error *err)
{
    return cc_data_find("CIRCUITC_MODEL", "models/induction-3l4h", out, err);
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

/* Saturating uint64 arithmetic for the size bound below. */
static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Refuses a config whose dimensions need more bytes than the file holds (at 2
 * bytes per value, the smallest dtype read) or far more tensors (over twice
 * as many: a file missing a few is left to validate_tensors, which names
 * them), before anything is allocated from those dimensions. */
static int check_dimensions_fit(const cc_model *m, cc_error *err)
{
    const cc_config *c = &m->cfg;
    uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->d_model, M = (uint64_t)c->d_mlp;
    uint64_t tensors = sat_add(sat_mul(12, L), 4);
    /* per layer: ln_1, ln_2 (2d each), c_attn (3d^2 + 3d), attn c_proj (d^2 + d), c_fc (dM + M), mlp c_proj (Md + d) */
    uint64_t per_layer = sat_add(sat_add(sat_mul(4, sat_mul(d, d)), sat_mul(2, sat_mul(d, M))), sat_add(sat_mul(9, d), M));
    uint64_t values = sat_add(sat_add(sat_mul((uint64_t)c->d_vocab, d), sat_mul((uint64_t)c->n_ctx, d)),
                              sat_add(sat_mul(L, per_layer), sat_mul(2, d)));
    uint64_t data_bytes = m->st->file_size - 8 - m->st->header_len;
    if (tensors <= sat_mul(2, m->st->n_tensors) && sat_mul(values, 2) <= data_bytes) return 0;
    return cc_fail(err, "%s: the config %s (n_layer=%d n_head=%d n_embd=%d n_inner=%d vocab_size=%d n_positions=%d) "
                        "needs %llu tensors and at least %llu bytes of weights, but the file holds %zu tensors and "
                        "%llu bytes; the weights and the config do not belong together",
                   m->weights_path, m->config_path, c->n_layers, c->n_heads, c->d_model, c->d_mlp, c->d_vocab,
                   c->n_ctx, (unsigned long long)tensors, (unsigned long long)sat_mul(values, 2), m->st->n_tensors,
                   (unsigned long long)data_bytes);
}

/* ---- weights formats circuitc does not read ------------------------------------- */

#define RESAVE_AS_SAFETENSORS                                                                                          \
    "python3 -c \"from transformers import AutoModelForCausalLM as M; "                                                 \
    "M.from_pretrained('%s').save_pretrained('%s', safe_serialization=True, max_shard_size='1000GB')\""

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Fails with what to do when the weights are PyTorch's (pytorch_model.bin) or
 * a sharded checkpoint (model.safetensors.index.json + shards) rather than one
 * safetensors file: given as the path, or found in the model folder DIR (NULL
 * for a file) in place of model.safetensors. */
static int refuse_other_formats(const char *weights_path, const char *dir, cc_error *err)
{
    char *bin = NULL, *index = NULL, *file_dir = NULL;
    const char *found_bin = NULL, *found_index = NULL;
    if (!dir) {
        if (ends_with(weights_path, ".bin")) found_bin = weights_path;
        if (ends_with(weights_path, ".safetensors.index.json")) found_index = weights_path;
    } else if (access(weights_path, F_OK) != 0) {
        index = join(dir, "model.safetensors.index.json");
        bin = join(dir, "pytorch_model.bin");
        if (!index || !bin) {
            free(index), free(bin);
            return cc_fail(err, "out of memory");
        }
        if (access(index, F_OK) == 0) found_index = index;
        else if (access(bin, F_OK) == 0) found_bin = bin;
    }
    const char *folder = dir ? dir : (file_dir = dirname_of(weights_path)) ? file_dir : ".";
    int rc = 0;
    if (found_index)
        rc = cc_fail(err, "%s: sharded checkpoints (model.safetensors.index.json + shards) are not supported; "
                          "circuitc reads one model.safetensors. Merge the shards once with Python: " RESAVE_AS_SAFETENSORS,
                     found_index, folder, folder);
    else if (found_bin)
        rc = cc_fail(err, "%s: PyTorch weights (pytorch_model.bin) are not read; circuitc reads safetensors. Convert "
                          "once with Python: " RESAVE_AS_SAFETENSORS " (writes model.safetensors beside it)",
                     found_bin, folder, folder);
    free(index), free(bin), free(file_dir);
    return rc;
}

int cc_model_open(const char *path, const char *config_path, cc_model **out, cc_error *err)
{
    *out = NULL;
    cc_model *m = calloc(1, sizeof *m);
    if (!m) return cc_fail(err, "out of memory");
    m->model_path = strdup(path);
    const bool folder = is_dir(path);
    if (folder) {
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
    if (cc_config_load(m->config_path, &m->cfg, err) != 0 ||
        refuse_other_formats(m->weights_path, folder ? path : NULL, err) != 0 ||
        cc_st_open(m->weights_path, &m->st, err) != 0 ||
        check_dimensions_fit(m, err) != 0 || validate_tensors(m, err) != 0) {
        cc_model_free(m);
        return -1;
    }
    if (!(m->tensor_checked = calloc(m->st->n_tensors ? m->st->n_tensors : 1, 1))) {
        cc_model_free(m);
        return cc_fail(err, "out of memory");
    }
    *out = m;
    return 0;
}

/* ---- reading tensors ------------------------------------------------------------ */

/* The tensor NAME: unprefixed, or lm_head.weight (never prefixed). */
static const cc_st_tensor *tensor_named(const cc_model *m, const char *name)
{
    return strcmp(name, "lm_head.weight") == 0 ? cc_st_find(m->st, name) : find_prefixed(m, name);
}

/* Reads block [ROW0, +NROWS) x [COL0, +NCOLS) of tensor NAME into DST (model_read.h). */
static int read_block(cc_model *m, const char *name, uint64_t row0, uint64_t nrows, uint64_t col0, uint64_t ncols,
                      float *dst, cc_error *err)
{
    return cc_model_read_block(m, tensor_named(m, name), row0, nrows, col0, ncols, dst, err);
}

static int read_whole(cc_model *m, const char *name, float *dst, cc_error *err)
{
    const cc_st_tensor *t = tensor_named(m, name);
    uint64_t cols = t->ndim == 2 ? t->shape[1] : t->n_elements;
    return read_block(m, name, 0, t->n_elements / cols, 0, cols, dst, err);
}

/* Reads (unprefixed) "h.LAYER.SUFFIX" whole into DST. */
static int read_layer(cc_model *m, size_t layer, const char *suffix, float *dst, cc_error *err)
{
    char name[128];
    snprintf(name, sizeof name, "h.%zu.%s", layer, suffix);
    return read_whole(m, name, dst, err);
}

/* A new float buffer of N values (zeroed), or NULL after reporting OOM. */
static float *new_floats(size_t n, const cc_model *m, cc_error *err)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) cc_fail(err, "out of memory converting %s to float32 weights (%zu values)", m->weights_path, n);
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

/* W_U from lm_head.weight, or from the embedding it is tied to (read again:
 * m->w.W_E may already be processed). */
static int read_unembed(cc_model *m, cc_error *err)
{
    size_t V = (size_t)m->cfg.d_vocab, d = (size_t)m->cfg.d_model;
    float *src = new_floats(V * d, m, err);
    int rc = src ? read_whole(m, m->has_lm_head ? "lm_head.weight" : "wte.weight", src, err) : -1;
    if (rc == 0) transpose_into(src, m->w.W_U, V, d);
    free(src);
    return rc;
}

/* Reads head (L, H)'s W and b for WHICH (0 = Q, 1 = K, 2 = V) out of the
 * layer's c_attn [d, 3d] weight and [3d] bias into W [d, dh] and B [dh]. */
static int read_head_input(cc_model *m, size_t l, size_t h, size_t which, float *W, float *B, cc_error *err)
{
    size_t d = (size_t)m->cfg.d_model, dh = (size_t)m->cfg.d_head, col0 = which * d + h * dh;
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "h.%zu.attn.c_attn.weight", l);
    snprintf(bn, sizeof bn, "h.%zu.attn.c_attn.bias", l);
    return read_block(m, wn, 0, d, col0, dh, W, err) || read_block(m, bn, 0, 1, col0, dh, B, err) ? -1 : 0;
}

int cc_model_load_weights(cc_model *m, cc_error *err)
{
    if (m->loaded) return 0;
    if (m->part_ready) return cc_fail(err, "internal: %s was loaded part by part; it cannot be loaded whole", m->weights_path);
    const cc_config *c = &m->cfg;
    size_t L = (size_t)c->n_layers, H = (size_t)c->n_heads, d = (size_t)c->d_model, dh = (size_t)c->d_head,
           V = (size_t)c->d_vocab, M = (size_t)c->d_mlp;
    cc_weights *w = &m->w;
    struct {
        float **p;
        size_t n;
    } arrays[] = {{&w->W_E, V * d}, {&w->W_pos, (size_t)c->n_ctx * d}, {&w->ln1_w, L * d}, {&w->ln1_b, L * d},
                  {&w->W_Q, L * d * d}, {&w->W_K, L * d * d}, {&w->W_V, L * d * d}, {&w->b_Q, L * d},
                  {&w->b_K, L * d}, {&w->b_V, L * d}, {&w->W_O, L * d * d}, {&w->b_O, L * d}, {&w->ln2_w, L * d},
                  {&w->ln2_b, L * d}, {&w->W_in, L * d * M}, {&w->b_in, L * M}, {&w->W_out, L * M * d},
                  {&w->b_out, L * d}, {&w->lnf_w, d}, {&w->lnf_b, d}, {&w->W_U, d * V},
                  {&w->b_U, V}}; /* GPT-2 has no unembedding bias: b_U stays zero */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof arrays / sizeof arrays[0]; i++)
        if (!(*arrays[i].p = new_floats(arrays[i].n, m, err))) rc = -1;
    if (rc == 0)
        rc = read_whole(m, "wte.weight", w->W_E, err) || read_whole(m, "wpe.weight", w->W_pos, err) ||
             read_whole(m, "ln_f.weight", w->lnf_w, err) || read_whole(m, "ln_f.bias", w->lnf_b, err) ||
             read_unembed(m, err);
    for (size_t l = 0; rc == 0 && l < L; l++) {
        rc = read_layer(m, l, "ln_1.weight", w->ln1_w + l * d, err) ||
             read_layer(m, l, "ln_1.bias", w->ln1_b + l * d, err) ||
             read_layer(m, l, "ln_2.weight", w->ln2_w + l * d, err) ||
             read_layer(m, l, "ln_2.bias", w->ln2_b + l * d, err) ||
             /* c_proj [d, d] rows h*dh+i are W_O[h, i, :]: the same memory layout */
             read_layer(m, l, "attn.c_proj.weight", w->W_O + l * d * d, err) ||
             read_layer(m, l, "attn.c_proj.bias", w->b_O + l * d, err) ||
             read_layer(m, l, "mlp.c_fc.weight", w->W_in + l * d * M, err) ||
             read_layer(m, l, "mlp.c_fc.bias", w->b_in + l * M, err) ||
             read_layer(m, l, "mlp.c_proj.weight", w->W_out + l * M * d, err) ||
             read_layer(m, l, "mlp.c_proj.bias", w->b_out + l * d, err);
        float *Ws[3] = {w->W_Q, w->W_K, w->W_V}, *bs[3] = {w->b_Q, w->b_K, w->b_V};
        for (size_t which = 0; rc == 0 && which < 3; which++)
            for (size_t h = 0; rc == 0 && h < H; h++)
                rc = read_head_input(m, l, h, which, Ws[which] + (l * H + h) * d * dh, bs[which] + (l * H + h) * dh, err);
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

/* ---- loading part by part ----------------------------------------------------------- */

/* part_ready layout: W_E, W_pos, W_U; then Q, K, V, O per (layer, head); then IN, OUT per layer. */
static size_t part_slot(const cc_config *c, cc_part_kind kind, size_t l, size_t h)
{
    size_t L = (size_t)c->n_layers, H = (size_t)c->n_heads;
    if (kind <= CC_PART_W_U) return (size_t)kind;
    if (kind <= CC_PART_O) return 3 + (size_t)(kind - CC_PART_Q) * L * H + l * H + h;
    return 3 + 4 * L * H + (size_t)(kind - CC_PART_IN) * L + l;
}

bool cc_model_has(const cc_model *m, cc_part p)
{
    if (m->loaded) return true;
    if (!m->part_ready || p.kind < 0 || p.kind >= CC_N_PARTS) return false;
    if (p.kind > CC_PART_W_U && (p.layer < 0 || p.layer >= m->cfg.n_layers)) return false;
    if (p.kind >= CC_PART_Q && p.kind <= CC_PART_O && (p.head < 0 || p.head >= m->cfg.n_heads)) return false;
    return m->part_ready[part_slot(&m->cfg, p.kind, (size_t)p.layer, (size_t)p.head)];
}

/* Makes sure *P holds an array of N floats (zeroed when new). */
static int ensure_array(float **p, size_t n, const cc_model *m, cc_error *err)
{
    if (!*p) *p = new_floats(n, m, err);
    return *p ? 0 : -1;
}

/* Reads LayerNorm NAME's weight and bias ("h.L.ln_1", "ln_f") into LW, LB [d]. */
static int read_ln(cc_model *m, const char *name, float *LW, float *LB, cc_error *err)
{
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    return read_whole(m, wn, LW, err) || read_whole(m, bn, LB, err) ? -1 : 0;
}

/* Reads LayerNorm LN into scratch and folds it into W [rows, cols] and B [cols]. */
static int fold_ln_part(cc_model *m, const char *ln, float *W, float *B, size_t rows, size_t cols, cc_error *err)
{
    float *lnw = new_floats(2 * rows, m, err);
    double *acc = lnw ? malloc(cols * sizeof *acc) : NULL;
    int rc = !acc ? -1 : read_ln(m, ln, lnw, lnw + rows, err);
    if (rc == 0) cc_fold_ln_into(W, B, lnw, lnw + rows, rows, cols, acc);
    else if (lnw && !acc) cc_fail(err, "out of memory folding %s", ln);
    free(acc);
    free(lnw);
    return rc;
}

/* Fills one part (no wildcards), processed when PROCESS, exactly as the
 * whole-model path computes it. */
static int load_part(cc_model *m, cc_part_kind kind, size_t l, size_t h, bool process, cc_error *err)
{
    const cc_config *c = &m->cfg;
    size_t L = (size_t)c->n_layers, H = (size_t)c->n_heads, d = (size_t)c->d_model, dh = (size_t)c->d_head,
           V = (size_t)c->d_vocab, M = (size_t)c->d_mlp, T = (size_t)c->n_ctx;
    cc_weights *w = &m->w;
    char ln[64];
    snprintf(ln, sizeof ln, "h.%zu.%s", l, kind == CC_PART_IN ? "ln_2" : "ln_1");
    switch (kind) {
    case CC_PART_W_E:
    case CC_PART_W_POS: {
        float **dst = kind == CC_PART_W_E ? &w->W_E : &w->W_pos;
        size_t rows = kind == CC_PART_W_E ? V : T;
        if (ensure_array(dst, rows * d, m, err) || read_whole(m, kind == CC_PART_W_E ? "wte.weight" : "wpe.weight", *dst, err))
            return -1;
        if (process) cc_center_rows(*dst, rows, d);
        return 0;
    }
    case CC_PART_W_U:
        if (ensure_array(&w->W_U, d * V, m, err) || ensure_array(&w->b_U, V, m, err) || read_unembed(m, err)) return -1;
        if (process) {
            if (fold_ln_part(m, "ln_f", w->W_U, w->b_U, d, V, err) != 0) return -1;
            cc_center_rows(w->W_U, d, V);
            cc_center_rows(w->b_U, 1, V);
        }
        return 0;
    case CC_PART_Q:
    case CC_PART_K:
    case CC_PART_V: {
        float **Ws[3] = {&w->W_Q, &w->W_K, &w->W_V}, **bs[3] = {&w->b_Q, &w->b_K, &w->b_V};
        size_t which = (size_t)(kind - CC_PART_Q);
        if (ensure_array(Ws[which], L * d * d, m, err) || ensure_array(bs[which], L * d, m, err)) return -1;
        float *W = *Ws[which] + (l * H + h) * d * dh, *B = *bs[which] + (l * H + h) * dh;
        if (read_head_input(m, l, h, which, W, B, err) != 0) return -1;
        if (process) {
            if (fold_ln_part(m, ln, W, B, d, dh, err) != 0) return -1;
            if (kind == CC_PART_V) memset(B, 0, dh * sizeof *B); /* fold_value_biases moved it into b_O */
        }
        return 0;
    }
    case CC_PART_O: {
        /* c_proj [d, d] rows h*dh+i are W_O[h, i, :] */
        if (ensure_array(&w->W_O, L * d * d, m, err) != 0) return -1;
        float *W = w->W_O + (l * H + h) * dh * d;
        char name[128];
        snprintf(name, sizeof name, "h.%zu.attn.c_proj.weight", l);
        if (read_block(m, name, h * dh, dh, 0, d, W, err) != 0) return -1;
        if (process) cc_center_rows(W, dh, d);
        return 0;
    }
    case CC_PART_IN:
        if (ensure_array(&w->W_in, L * d * M, m, err) || ensure_array(&w->b_in, L * M, m, err) ||
            read_layer(m, l, "mlp.c_fc.weight", w->W_in + l * d * M, err) ||
            read_layer(m, l, "mlp.c_fc.bias", w->b_in + l * M, err))
            return -1;
        return process ? fold_ln_part(m, ln, w->W_in + l * d * M, w->b_in + l * M, d, M, err) : 0;
    case CC_PART_OUT:
        if (ensure_array(&w->W_out, L * M * d, m, err) || ensure_array(&w->b_out, L * d, m, err) ||
            read_layer(m, l, "mlp.c_proj.weight", w->W_out + l * M * d, err) ||
            read_layer(m, l, "mlp.c_proj.bias", w->b_out + l * d, err))
            return -1;
        if (process) {
            cc_center_rows(w->W_out + l * M * d, M, d);
            cc_center_rows(w->b_out + l * d, 1, d);
        }
        return 0;
    default: return cc_fail(err, "internal: unknown weight part %d", (int)kind);
    }
}

int cc_model_need(cc_model *m, const cc_part *parts, int n, bool process, cc_error *err)
{
    const cc_config *c = &m->cfg;
    if ((m->loaded || m->part_ready) && m->processed != process)
        return cc_fail(err, "internal: %s was loaded %s processing; it cannot be read %s it", m->weights_path,
                       m->processed ? "with" : "without", process ? "with" : "without");
    if (m->loaded) return 0;
    size_t L = (size_t)c->n_layers, H = (size_t)c->n_heads;
    if (!m->part_ready && !(m->part_ready = calloc(3 + 4 * L * H + 2 * L, 1)))
        return cc_fail(err, "out of memory");
    m->processed = process;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        cc_part p = parts[i];
        bool per_layer = p.kind > CC_PART_W_U, per_head = per_layer && p.kind <= CC_PART_O;
        if ((per_layer && (p.layer < -1 || p.layer >= c->n_layers)) || (per_head && (p.head < -1 || p.head >= c->n_heads)))
            return cc_fail(err, "internal: weight part L%dH%d is out of range", p.layer, p.head);
        size_t l0 = per_layer && p.layer >= 0 ? (size_t)p.layer : 0, l1 = !per_layer ? 1 : p.layer >= 0 ? l0 + 1 : L;
        size_t h0 = per_head && p.head >= 0 ? (size_t)p.head : 0, h1 = !per_head ? 1 : p.head >= 0 ? h0 + 1 : H;
        for (size_t l = l0; rc == 0 && l < l1; l++)
            for (size_t h = h0; rc == 0 && h < h1; h++) {
                unsigned char *ready = &m->part_ready[part_slot(c, p.kind, l, h)];
                if (*ready) continue;
                rc = load_part(m, p.kind, l, h, process, err);
                if (rc == 0) *ready = 1;
            }
    }
    /* As after a whole load: drop the mapping's pages read so far. */
    if (m->st->map) madvise(m->st->map, m->st->map_size, MADV_DONTNEED);
    return rc;
}

void cc_model_free(cc_model *m)
{
    if (!m) return;
    free_weights(&m->w);
    free(m->part_ready);
    free(m->tensor_checked);
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
