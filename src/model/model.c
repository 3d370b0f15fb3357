/* model.c — opening a safetensors model, checking it against its config and
 * its family's tensor table (arch.h), and converting it to
 * TransformerLens-layout float32 weights, whole or (GPT-2) part by part (the
 * reads themselves: model_read.c). */
#include "model/model_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/datadir.h"
#include "circuitc/process.h"
#include "process_layer.h"
#include "core/args.h"
#include "core/parallel.h"
#include "arch.h"
#include "model_read.h"
#include "shards.h"
#include "core/progress_report.h"

int cc_default_model_path(char **out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
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

/* ---- checking a file against its family's tensor table ------------------------ */

static const arch_family *family_of(const cc_model *m) { return arch_family_get(m->cfg.family); }

static void shape_str(char *buf, size_t sz, int ndim, const uint64_t *shape)
{
    size_t o = (size_t)snprintf(buf, sz, "[");
    for (int i = 0; i < ndim && o < sz; i++)
        o += (size_t)snprintf(buf + o, sz - o, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (o < sz) snprintf(buf + o, sz - o, "]");
}

/* The file tensor of table entry T at LAYER, or NULL. */
static const cc_st_tensor *entry_tensor(const cc_model *m, const arch_tensor *t, size_t layer)
{
    char name[160];
    return cc_st_find(m->st, arch_name(t, m->prefix, (int)layer, name, sizeof name));
}

/* The file's embedding (the family's probe tensor, under the prefix found). */
static const cc_st_tensor *embedding_tensor(const cc_model *m)
{
    char name[160];
    snprintf(name, sizeof name, "%s%s", m->prefix, family_of(m)->probe);
    return cc_st_find(m->st, name);
}

static int check_tensor_shape(const cc_model *m, const cc_st_tensor *t, int ndim, const uint64_t *shape,
                              cc_error *err)
{
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (ok) return 0;
    char want[80], got[80];
    shape_str(want, sizeof want, ndim, shape);
    shape_str(got, sizeof got, t->ndim, t->shape);
    const cc_config *c = &m->cfg;
    return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\" has shape %s but %s implies %s (%d layers, %d heads of %d, %d key/value "
                        "heads, d_model %d, MLP %d, vocabulary %d, context %d); the weights and the config do not "
                        "belong together",
                   m->weights_path, t->name, got, m->config_path, want, c->n_layers, c->n_heads, c->d_head,
                   cc_config_kv_heads(c), c->d_model, c->d_mlp, c->d_vocab, c->n_ctx);
}

static int check_dtype(const cc_model *m, const cc_st_tensor *t, cc_error *err)
{
    if (t->dtype == CC_DT_F32 || t->dtype == CC_DT_F16 || t->dtype == CC_DT_BF16 || t->dtype == CC_DT_F64)
        return 0;
    return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\" has dtype %s; circuitc reads F32, F16, BF16 and F64 weights",
                   m->weights_path, t->name, cc_dtype_name(t->dtype));
}

/* Checks that the file holds exactly the tensors its family's table and the
 * config imply; settles whether an optional unembedding is tied. */
static int validate_tensors(cc_model *m, cc_error *err)
{
    const arch_family *fam = family_of(m);
    char probe[160];
    snprintf(probe, sizeof probe, "%s%s", fam->prefix ? fam->prefix : "", fam->probe);
    m->prefix = fam->prefix && cc_st_find(m->st, probe) ? fam->prefix : "";
    /* expected[i]: file tensor i is one of the table's (found by name, so the check is n log n) */
    bool *expected = calloc(m->st->n_tensors + 1, sizeof *expected);
    if (!expected) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int rc = -1;
    for (int id = 0; id < fam->n_tensors; id++) {
        const arch_tensor *e = &fam->tensors[id];
        if (!arch_present(&m->cfg, e)) continue;
        for (int l = 0; l < (e->per_layer ? m->cfg.n_layers : 1); l++) {
            const cc_st_tensor *t = entry_tensor(m, e, (size_t)l);
            if (!t && (e->when & ARCH_OPTIONAL)) {
                m->cfg.tied = true; /* the only optional entry: the unembedding */
                continue;
            }
            if (!t) {
                char name[160];
                cc_fail_code(err, CC_E_FORMAT, "%s: missing tensor \"%s\" (%s with %d layers, from %s); the file is incomplete or "
                             "not a checkpoint of that family",
                        m->weights_path, arch_name(e, m->prefix, l, name, sizeof name), fam->describe,
                        m->cfg.n_layers, m->config_path);
                goto out;
            }
            uint64_t shape[3];
            int ndim = arch_shape(&m->cfg, e, shape);
            if (check_dtype(m, t, err) != 0 || check_tensor_shape(m, t, ndim, shape, err) != 0) goto out;
            expected[t - m->st->tensors] = true;
            m->has_lm_head |= e->dest[0] == offsetof(cc_weights, W_U) && e->layout != ARCH_ZERO;
        }
    }
    /* Anything else is a sign of a different architecture: refuse rather than guess. */
    for (size_t i = 0; i < m->st->n_tensors; i++) {
        const char *name = m->st->tensors[i].name;
        if (expected[i] || arch_ignorable(fam, name)) continue;
        cc_fail_code(err, CC_E_FORMAT, "%s: unexpected tensor \"%s\"; it is not part of %s for %s (%d layers). Is this a different "
                     "architecture, or the config of another model?",
                m->weights_path, name, fam->describe, m->config_path, m->cfg.n_layers);
        goto out;
    }
    m->dtype = embedding_tensor(m)->dtype; /* found above: it is the table's embedding */
    rc = 0;
out:
    free(expected);
    return rc;
}

/* Refuses a config whose dimensions need more bytes than the file holds (at 2
 * bytes per value, the smallest dtype read) or far more tensors (over twice
 * as many: a file missing a few is left to validate_tensors, which names
 * them), before anything is allocated from those dimensions. */
static int check_dimensions_fit(const cc_model *m, cc_error *err)
{
    const cc_config *c = &m->cfg;
    const arch_family *fam = family_of(m);
    uint64_t tensors = arch_tensor_count(fam, c), values = arch_value_count(fam, c);
    uint64_t data_bytes = m->st->file_size - 8 - m->st->header_len;
    if (tensors - tensors / 2 <= m->st->n_tensors && values <= data_bytes / 2) return 0;
    return cc_fail_code(err, CC_E_FORMAT, "%s: the config %s (%d layers, %d heads, d_model %d, MLP %d, vocabulary %d, context %d) "
                        "needs %llu tensors and at least %llu bytes of weights, but the file holds %zu tensors and "
                        "%llu bytes; the weights and the config do not belong together",
                   m->weights_path, m->config_path, c->n_layers, c->n_heads, c->d_model, c->d_mlp, c->d_vocab,
                   c->n_ctx, (unsigned long long)tensors,
                   (unsigned long long)(values > UINT64_MAX / 2 ? UINT64_MAX : 2 * values), m->st->n_tensors,
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

/* Fails with what to do when the weights are PyTorch's (pytorch_model.bin)
 * rather than safetensors: given as the path, or found in the model folder
 * DIR (NULL for a file) in place of model.safetensors and its index. */
static int refuse_pytorch_weights(const char *weights_path, const char *dir, cc_error *err)
{
    char *bin = NULL, *file_dir = NULL;
    const char *found = NULL;
    if (!dir) {
        if (ends_with(weights_path, ".bin")) found = weights_path;
    } else if (access(weights_path, F_OK) != 0) {
        if (!(bin = join(dir, "pytorch_model.bin"))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
        if (access(bin, F_OK) == 0) found = bin;
    }
    const char *folder = dir ? dir : (file_dir = dirname_of(weights_path)) ? file_dir : ".";
    int rc = 0;
    if (found)
        rc = cc_fail_code(err, CC_E_FORMAT, "%s: PyTorch weights (pytorch_model.bin) are not read; circuitc reads safetensors. Convert "
                          "once with Python: " RESAVE_AS_SAFETENSORS " (writes model.safetensors beside it)",
                     found, folder, folder);
    free(bin), free(file_dir);
    return rc;
}

/* The weights of model folder DIR: model.safetensors, else a sharded
 * checkpoint's index when only that is there. */
static char *folder_weights(const char *dir)
{
    char *one = join(dir, "model.safetensors"), *index = one ? join(dir, "model.safetensors.index.json") : NULL;
    if (one && index && access(one, F_OK) != 0 && access(index, F_OK) == 0) {
        free(one);
        return index;
    }
    free(index);
    return one;
}

/* Maps the weights: one file, or every shard of an index. */
static int open_weights(cc_model *m, cc_error *err)
{
    if (!ends_with(m->weights_path, ".index.json")) return cc_st_open(m->weights_path, &m->st, err);
    return cc_shards_open(m->weights_path, &m->shards, &m->n_shards, &m->st, err);
}

int cc_model_open(const char *path, const char *config_path, cc_model **out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    cc_model *m = calloc(1, sizeof *m);
    if (!m) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    m->model_path = strdup(path);
    const bool folder = is_dir(path);
    if (folder) {
        m->weights_path = folder_weights(path);
        m->config_path = config_path ? strdup(config_path) : join(path, "config.json");
    } else {
        struct stat st;
        if (stat(path, &st) != 0) {
            int e = errno;
            cc_model_free(m);
            return cc_fail_code(err, CC_E_IO, "%s: %s; --model takes a model folder (config.json + model.safetensors) "
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
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    if (cc_config_load(m->config_path, &m->cfg, err) != 0 ||
        refuse_pytorch_weights(m->weights_path, folder ? path : NULL, err) != 0 || open_weights(m, err) != 0 ||
        check_dimensions_fit(m, err) != 0 || validate_tensors(m, err) != 0) {
        cc_model_free(m);
        return -1;
    }
    if (!(m->tensor_checked = calloc(m->st->n_tensors ? m->st->n_tensors : 1, 1))) {
        cc_model_free(m);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

/* ---- reading tensors ------------------------------------------------------------ */

/* Lets the kernel drop the pages of every mapping of M (model_read.c's
 * copies drop them as they go; this catches the rest). */
static void drop_mappings(const cc_model *m)
{
    cc_st_file *const *files = m->n_shards ? m->shards : &m->st;
    for (size_t i = 0; i < (m->n_shards ? m->n_shards : 1); i++)
        if (files[i]->map) madvise(files[i]->map, files[i]->map_size, MADV_DONTNEED);
}

/* Reads the whole of T (viewed as rows of its last dimension) into DST. */
static int read_whole(cc_model *m, const cc_st_tensor *t, float *dst, cc_error *err)
{
    uint64_t cols = t->ndim >= 2 ? t->shape[t->ndim - 1] : t->n_elements;
    return cc_model_read_block(m, t, 0, cols ? t->n_elements / cols : 0, 0, cols, dst, err);
}

/* A new float buffer of N values (zeroed), or NULL after reporting OOM. */
static float *new_floats(size_t n, const cc_model *m, cc_error *err)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) cc_fail_code(err, CC_E_NOMEM, "out of memory converting %s to float32 weights (%zu values)", m->weights_path, n);
    return p;
}

/* Allocates (zeroed) destination WHICH of entry E (-1: all of them) unless it
 * is there or the model has no such part. */
static int ensure_dest(cc_model *m, const arch_tensor *e, int which, cc_error *err)
{
    if (!arch_exists(&m->cfg, e)) return 0;
    for (int i = 0; i < arch_n_dests(e); i++) {
        float **p = arch_dest(&m->w, e, i);
        if ((which < 0 || which == i) && !*p && !(*p = new_floats(arch_dest_floats(&m->cfg, e), m, err))) return -1;
    }
    return 0;
}

static void free_weights(cc_model *m)
{
    const arch_family *fam = family_of(m);
    for (int id = 0; id < fam->n_tensors; id++)
        for (int i = 0; i < arch_n_dests(&fam->tensors[id]); i++) {
            float **p = arch_dest(&m->w, &fam->tensors[id], i);
            free(*p);
            *p = NULL;
        }
}

/* Query heads per key/value head. */
static size_t group(const cc_config *c) { return (size_t)(c->n_heads / cc_config_kv_heads(c)); }

/* Rearranges SRC, the whole file tensor of E at LAYER, into E's destinations
 * (every layout but ARCH_COPY, ARCH_TRANSPOSE, ARCH_ZERO and ARCH_CONV1D_QKV, which read in place). */
static void rearrange(cc_model *m, const arch_tensor *e, size_t layer, const float *src, const cc_st_tensor *t)
{
    const cc_config *c = &m->cfg;
    size_t H = (size_t)c->n_heads, dh = (size_t)c->d_head, d = (size_t)c->d_model, rep = group(c);
    switch (e->layout) {
    case ARCH_HEADS: /* [n*dh, d] -> [H, d, dh], head g of n serving query heads g*rep .. */
        for (size_t q = 0; q < H; q++) {
            const float *s = src + (e->shape[0] == ARCH_DIM_Q ? q : q / rep) * dh * d; /* [dh, d] */
            float *o = *arch_dest(&m->w, e, 0) + (layer * H + q) * d * dh;             /* [d, dh] */
            cc_transpose_into(s, o, dh, d);
        }
        return;
    case ARCH_KV_REPEAT: { /* [Hkv, X] -> [H, X] */
        size_t X = (size_t)(t->n_elements / (uint64_t)cc_config_kv_heads(c));
        for (size_t q = 0; q < H; q++)
            memcpy(*arch_dest(&m->w, e, 0) + (layer * H + q) * X, src + q / rep * X, X * sizeof *src);
        return;
    }
    case ARCH_NEOX_QKV: /* rows (h, q/k/v, dh) of [3*H*dh, d] (or values of [3*H*dh]) */
        for (int which = 0; which < 3; which++)
            for (size_t h = 0; h < H; h++) {
                const float *s = src + (h * 3 + (size_t)which) * dh * (t->ndim == 2 ? d : 1);
                float *o = *arch_dest(&m->w, e, which) + (layer * H + h) * dh * (t->ndim == 2 ? d : 1);
                if (t->ndim == 2) cc_transpose_into(s, o, dh, d);
                else memcpy(o, s, dh * sizeof *s);
            }
        return;
    default: return;
    }
}

/* Head H of layer L for WHICH (0 = Q, 1 = K, 2 = V) out of GPT-2's c_attn
 * ([d, 3*H*dh] weight or [3*H*dh] bias) into its destination [L, H, rows, dh]. */
static int read_conv1d_head(cc_model *m, const arch_tensor *e, size_t l, size_t h, int which, cc_error *err)
{
    size_t qd = (size_t)m->cfg.n_heads * (size_t)m->cfg.d_head, dh = (size_t)m->cfg.d_head, H = (size_t)m->cfg.n_heads;
    size_t rows = e->shape[1] == ARCH_DIM_NONE ? 1 : (size_t)arch_dim_size(&m->cfg, e->shape[0]);
    float *dst = *arch_dest(&m->w, e, which) + (l * H + h) * rows * dh;
    return cc_model_read_block(m, entry_tensor(m, e, l), 0, rows, (size_t)which * qd + h * dh, dh, dst, err);
}

/* The file tensor entry E reads at LAYER: its own, or for a tied unembedding the embedding's. */
static const cc_st_tensor *source_tensor(const cc_model *m, const arch_tensor *e, size_t layer)
{
    if (e->dest[0] == offsetof(cc_weights, W_U) && e->layout == ARCH_TRANSPOSE && m->cfg.tied)
        return embedding_tensor(m);
    return arch_present(&m->cfg, e) ? entry_tensor(m, e, layer) : NULL;
}

/* Reads LAYER's copy of entry E into its destinations, rearranged as the table says. */
static int read_entry(cc_model *m, const arch_tensor *e, size_t layer, cc_error *err)
{
    const cc_st_tensor *t = e->layout == ARCH_ZERO ? NULL : source_tensor(m, e, layer);
    if (!t) return 0; /* stays zero (a bias the file lacks) */
    if (e->layout == ARCH_COPY)
        return read_whole(m, t, *arch_dest(&m->w, e, 0) + layer * (size_t)arch_numel(&m->cfg, e), err);
    if (e->layout == ARCH_TRANSPOSE)
        return cc_model_read_transposed(m, t, *arch_dest(&m->w, e, 0) + layer * (size_t)arch_numel(&m->cfg, e), err);
    if (e->layout == ARCH_CONV1D_QKV) {
        for (int which = 0; which < 3; which++)
            for (size_t h = 0; h < (size_t)m->cfg.n_heads; h++)
                if (read_conv1d_head(m, e, layer, h, which, err) != 0) return -1;
        return 0;
    }
    float *src = new_floats((size_t)t->n_elements, m, err);
    int rc = src ? read_whole(m, t, src, err) : -1;
    if (rc == 0) rearrange(m, e, layer, src, t);
    free(src);
    return rc;
}

int cc_model_load_weights(cc_model *m, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_PAR_CALL(m->load_threads);
    if (m->loaded) return 0;
    if (m->part_ready) return cc_fail_code(err, CC_E_INTERNAL, "internal: %s was loaded part by part; it cannot be loaded whole", m->weights_path);
    const arch_family *fam = family_of(m);
    int rc = 0;
    for (int id = 0; rc == 0 && id < fam->n_tensors; id++) rc = ensure_dest(m, &fam->tensors[id], -1, err);
    /* The rearranged tensors first: each needs a temporary its size, which would
     * otherwise come on top of every other tensor and the file's pages read so
     * far (about 150 MB more peak for GPT-2 small's unembedding). */
    long done = 0, total = 0; /* weights read, for the progress sink */
    for (int id = 0; id < fam->n_tensors; id++)
        if (arch_exists(&m->cfg, &fam->tensors[id]))
            total += (long)arch_numel(&m->cfg, &fam->tensors[id]) * (fam->tensors[id].per_layer ? m->cfg.n_layers : 1);
    for (int pass = 0; pass < 2; pass++)
        for (int id = 0; rc == 0 && id < fam->n_tensors; id++) {
            const arch_tensor *e = &fam->tensors[id];
            bool in_place = e->layout == ARCH_COPY || e->layout == ARCH_TRANSPOSE || e->layout == ARCH_CONV1D_QKV ||
                            e->layout == ARCH_ZERO;
            if (in_place != (pass == 1) || !arch_exists(&m->cfg, e)) continue;
            int layers = e->per_layer ? m->cfg.n_layers : 1;
            for (int l = 0; rc == 0 && l < layers; l++) {
                rc = read_entry(m, e, (size_t)l, err);
                if (rc == 0)
                    rc = cci_progress(m->load_progress, m->load_progress_ctx, done += (long)arch_numel(&m->cfg, e),
                                      total, "loading the weights", err);
            }
        }
    if (rc != 0) {
        free_weights(m);
        return -1;
    }
    /* Every tensor is now copied out: let the kernel drop the mapping's pages
     * (they stay readable, re-read from the file on access), so the process
     * does not hold the file's bytes resident next to their float32 copies. */
    drop_mappings(m);
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

bool cc_model_has(const cc_model *m, cc_part part)
{
    CC_ARG_NOT_NULL(m, NULL, false);
    CC_ARG_ENUM(part.kind, CC_N_PARTS, NULL, false);
    if (m->loaded) return true;
    if (!m->part_ready) return false;
    if (part.kind > CC_PART_W_U && (part.layer < 0 || part.layer >= m->cfg.n_layers)) return false;
    if (part.kind >= CC_PART_Q && part.kind <= CC_PART_O && (part.head < 0 || part.head >= m->cfg.n_heads))
        return false;
    return m->part_ready[part_slot(&m->cfg, part.kind, (size_t)part.layer, (size_t)part.head)];
}

/* The entry of M's table that fills array FIELD (offsetof(cc_weights, ...)). */
static const arch_tensor *entry_for(const cc_model *m, size_t field)
{
    const arch_family *fam = family_of(m);
    for (int id = 0; id < fam->n_tensors; id++)
        for (int i = 0; i < arch_n_dests(&fam->tensors[id]); i++)
            if (fam->tensors[id].dest[i] == field) return &fam->tensors[id];
    return NULL;
}

#define ENTRY(field) entry_for(m, offsetof(cc_weights, field))

/* Reads the LayerNorm whose weight fills LN_W and bias LN_B at LAYER into
 * scratch and folds it into W [rows, cols] and B [cols]. */
static int fold_ln_part(cc_model *m, size_t ln_w, size_t ln_b, size_t layer, float *W, float *B, size_t rows,
                        size_t cols, cc_error *err)
{
    float *lnw = new_floats(2 * rows, m, err);
    double *acc = lnw ? malloc(cols * sizeof *acc) : NULL;
    int rc = !acc ? -1
                  : read_whole(m, entry_tensor(m, entry_for(m, ln_w), layer), lnw, err) ||
                        read_whole(m, entry_tensor(m, entry_for(m, ln_b), layer), lnw + rows, err);
    if (rc == 0) cc_fold_ln_into(W, B, lnw, lnw + rows, rows, cols, acc);
    else if (lnw && !acc) cc_fail_code(err, CC_E_NOMEM, "out of memory folding a LayerNorm");
    free(acc);
    free(lnw);
    return rc ? -1 : 0;
}

#define FOLD_LN(w, b) offsetof(cc_weights, w), offsetof(cc_weights, b)

/* Fills one part (no wildcards) of a GPT-2 (whose fused c_attn reads one head in
 * place), processed when PROCESS, exactly
 * as the whole-model path computes it. */
static int load_part(cc_model *m, cc_part_kind kind, size_t l, size_t h, bool process, cc_error *err)
{
    const cc_config *c = &m->cfg;
    size_t H = (size_t)c->n_heads, d = (size_t)c->d_model, dh = (size_t)c->d_head, V = (size_t)c->d_vocab,
           M = (size_t)c->d_mlp;
    cc_weights *w = &m->w;
    switch (kind) {
    case CC_PART_W_E:
    case CC_PART_W_POS: {
        const arch_tensor *e = kind == CC_PART_W_E ? ENTRY(W_E) : ENTRY(W_pos);
        if (ensure_dest(m, e, 0, err) || read_entry(m, e, 0, err)) return -1;
        if (process) cc_center_rows(*arch_dest(w, e, 0), (size_t)arch_dim_size(c, e->shape[0]), d);
        return 0;
    }
    case CC_PART_W_U:
        if (ensure_dest(m, ENTRY(W_U), 0, err) || ensure_dest(m, ENTRY(b_U), 0, err) || read_entry(m, ENTRY(W_U), 0, err))
            return -1;
        if (process) {
            if (fold_ln_part(m, FOLD_LN(lnf_w, lnf_b), 0, w->W_U, w->b_U, d, V, err) != 0) return -1;
            cc_center_rows(w->W_U, d, V);
            cc_center_rows(w->b_U, 1, V);
        }
        return 0;
    case CC_PART_Q:
    case CC_PART_K:
    case CC_PART_V: {
        int which = kind - CC_PART_Q;
        const arch_tensor *we = ENTRY(W_Q), *be = ENTRY(b_Q);
        if (ensure_dest(m, we, which, err) || ensure_dest(m, be, which, err) ||
            read_conv1d_head(m, we, l, h, which, err) || read_conv1d_head(m, be, l, h, which, err))
            return -1;
        float *W = *arch_dest(w, we, which) + (l * H + h) * d * dh, *B = *arch_dest(w, be, which) + (l * H + h) * dh;
        if (process) {
            if (fold_ln_part(m, FOLD_LN(ln1_w, ln1_b), l, W, B, d, dh, err) != 0) return -1;
            if (kind == CC_PART_V) memset(B, 0, dh * sizeof *B); /* fold_value_biases moved it into b_O */
        }
        return 0;
    }
    case CC_PART_O: {
        /* c_proj [H*dh, d] rows h*dh+i are W_O[h, i, :] */
        if (ensure_dest(m, ENTRY(W_O), 0, err) != 0) return -1;
        float *W = w->W_O + (l * H + h) * dh * d;
        if (cc_model_read_block(m, entry_tensor(m, ENTRY(W_O), l), h * dh, dh, 0, d, W, err) != 0) return -1;
        if (process) cc_center_rows(W, dh, d);
        return 0;
    }
    case CC_PART_IN:
        if (ensure_dest(m, ENTRY(W_in), 0, err) || ensure_dest(m, ENTRY(b_in), 0, err) ||
            read_entry(m, ENTRY(W_in), l, err) || read_entry(m, ENTRY(b_in), l, err))
            return -1;
        return process ? fold_ln_part(m, FOLD_LN(ln2_w, ln2_b), l, w->W_in + l * d * M, w->b_in + l * M, d, M, err) : 0;
    case CC_PART_OUT:
        if (ensure_dest(m, ENTRY(W_out), 0, err) || ensure_dest(m, ENTRY(b_out), 0, err) ||
            read_entry(m, ENTRY(W_out), l, err) || read_entry(m, ENTRY(b_out), l, err))
            return -1;
        if (process) {
            cc_center_rows(w->W_out + l * M * d, M, d);
            cc_center_rows(w->b_out + l * d, 1, d);
        }
        return 0;
    default: return cc_fail_code(err, CC_E_INTERNAL, "internal: unknown weight part %d", (int)kind);
    }
}

/* ---- loading part by part, other families ---------------------------------------------- */

/* Families other than GPT-2 are read a layer's attention or MLP at a time
 * (a head's rows are not one block in every layout: GPT-NeoX interleaves
 * them, grouped-query K/V serve several heads) and processed one layer of
 * cc_process_weights at a time (process_layer.h): the same bits as the
 * whole-model path. */
#define W(field) offsetof(cc_weights, field)
static const size_t ATTN_FIELDS[] = {W(W_Q), W(W_K), W(W_V), W(W_O), W(b_Q), W(b_K), W(b_V), W(b_O)};
static const size_t MLP_FIELDS[] = {W(W_in), W(W_gate), W(W_out), W(b_in), W(b_out)};
#undef W

/* Reads LAYER's copy of every per-layer entry of M's table filling one of FIELDS. */
static int read_layer_group(cc_model *m, const size_t *fields, size_t n_fields, size_t layer, cc_error *err)
{
    const arch_family *fam = family_of(m);
    for (int id = 0; id < fam->n_tensors; id++) {
        const arch_tensor *e = &fam->tensors[id];
        bool wanted = false;
        for (size_t i = 0; i < n_fields; i++) wanted |= e->per_layer && e->dest[0] == fields[i];
        if (wanted && arch_exists(&m->cfg, e) && (ensure_dest(m, e, -1, err) || read_entry(m, e, layer, err)))
            return -1;
    }
    return 0;
}

/* The norm filling W_FIELD / B_FIELD at LAYER into BUF [2, d]: *LW (NULL when
 * the model carries no such norm: folded already) and *LB (NULL for RMSNorm). */
static int read_norm(cc_model *m, size_t w_field, size_t b_field, size_t layer, float *buf, const float **lw,
                     const float **lb, cc_error *err)
{
    const arch_tensor *we = entry_for(m, w_field), *be = entry_for(m, b_field);
    size_t d = (size_t)m->cfg.d_model;
    *lw = *lb = NULL;
    if (!we || !arch_present(&m->cfg, we)) return 0;
    if (read_whole(m, entry_tensor(m, we, layer), buf, err) != 0) return -1;
    *lw = buf;
    if (!be || !arch_present(&m->cfg, be)) return 0;
    if (read_whole(m, entry_tensor(m, be, layer), buf + d, err) != 0) return -1;
    *lb = buf + d;
    return 0;
}

/* Reads (and, when PROCESS, processes) what part KIND at LAYER belongs to:
 * the layer's attention, its MLP, or one of W_E, W_pos, W_U. */
static int load_family_part(cc_model *m, cc_part_kind kind, size_t l, bool process, double *acc, float *norm,
                            cc_error *err)
{
    const cc_config *c = &m->cfg;
    cc_weights *w = &m->w;
    proc_steps steps = proc_steps_of(c);
    const float *lw = NULL, *lb = NULL;
    switch (kind) {
    case CC_PART_W_E:
    case CC_PART_W_POS: {
        const arch_tensor *e = kind == CC_PART_W_E ? ENTRY(W_E) : ENTRY(W_pos);
        if (!e || !arch_exists(c, e)) return 0; /* no positional embedding (rotary) */
        if (ensure_dest(m, e, 0, err) || read_entry(m, e, 0, err)) return -1;
        size_t rows = (size_t)(kind == CC_PART_W_E ? c->d_vocab : c->n_ctx);
        if (process && steps.center_writing) cc_center_rows(*arch_dest(w, e, 0), rows, (size_t)c->d_model);
        return 0;
    }
    case CC_PART_W_U:
        if (ensure_dest(m, ENTRY(W_U), 0, err) || ensure_dest(m, ENTRY(b_U), 0, err) ||
            read_entry(m, ENTRY(W_U), 0, err) || read_entry(m, ENTRY(b_U), 0, err))
            return -1;
        if (!process) return 0;
        if (steps.fold_ln && read_norm(m, FOLD_LN(lnf_w, lnf_b), 0, norm, &lw, &lb, err) != 0) return -1;
        if (lw) proc_fold_unembed_norm(c, w, lw, lb, acc);
        if (steps.center_unembed) cc_center_unembed(m);
        return 0;
    case CC_PART_IN:
    case CC_PART_OUT:
        if (read_layer_group(m, MLP_FIELDS, sizeof MLP_FIELDS / sizeof MLP_FIELDS[0], l, err) != 0) return -1;
        if (!process) return 0;
        if (steps.fold_ln && read_norm(m, FOLD_LN(ln2_w, ln2_b), l, norm, &lw, &lb, err) != 0) return -1;
        if (lw) proc_fold_mlp_norm(c, w, l, lw, lb, acc);
        if (steps.center_writing) proc_center_mlp_out(c, w, l);
        return 0;
    default: /* Q, K, V, O */
        if (read_layer_group(m, ATTN_FIELDS, sizeof ATTN_FIELDS / sizeof ATTN_FIELDS[0], l, err) != 0) return -1;
        if (!process) return 0;
        if (steps.fold_ln && read_norm(m, FOLD_LN(ln1_w, ln1_b), l, norm, &lw, &lb, err) != 0) return -1;
        if (lw) proc_fold_attn_norm(c, w, l, lw, lb, acc);
        if (steps.center_writing) proc_center_attn_out(c, w, l);
        proc_fold_value_biases(c, w, l, acc);
        return 0;
    }
}

/* Marks every part that load_family_part filled along with KIND at LAYER. */
static void mark_family_group(cc_model *m, cc_part_kind kind, size_t l)
{
    const cc_config *c = &m->cfg;
    if (kind <= CC_PART_W_U) {
        m->part_ready[part_slot(c, kind, 0, 0)] = 1;
        return;
    }
    bool attn = kind <= CC_PART_O;
    cc_part_kind first = attn ? CC_PART_Q : CC_PART_IN, last = attn ? CC_PART_O : CC_PART_OUT;
    for (int k = (int)first; k <= (int)last; k++)
        for (size_t h = 0; h < (attn ? (size_t)c->n_heads : 1); h++) m->part_ready[part_slot(c, (cc_part_kind)k, l, h)] = 1;
}

/* Fills part P (wildcards: every layer / head) unless it is there already. */
static int need_part(cc_model *m, cc_part p, bool process, double *acc, float *norm, cc_error *err)
{
    const cc_config *c = &m->cfg;
    bool per_layer = p.kind > CC_PART_W_U, per_head = per_layer && p.kind <= CC_PART_O;
    size_t l0 = per_layer && p.layer >= 0 ? (size_t)p.layer : 0,
           l1 = !per_layer ? 1 : p.layer >= 0 ? l0 + 1 : (size_t)c->n_layers;
    size_t h0 = per_head && p.head >= 0 ? (size_t)p.head : 0, h1 = !per_head ? 1 : p.head >= 0 ? h0 + 1 : (size_t)c->n_heads;
    for (size_t l = l0; l < l1; l++)
        for (size_t h = h0; h < h1; h++) {
            unsigned char *ready = &m->part_ready[part_slot(c, p.kind, l, h)];
            if (*ready) continue;
            if (c->family == CC_FAMILY_GPT2) {
                if (load_part(m, p.kind, l, h, process, err) != 0) return -1;
                *ready = 1;
            } else {
                if (load_family_part(m, p.kind, l, process, acc, norm, err) != 0) return -1;
                mark_family_group(m, p.kind, l);
            }
        }
    return 0;
}

int cc_model_need(cc_model *m, const cc_part *parts, int n, bool process, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(parts, err, -1);
    for (int i = 0; i < n; i++) CC_ARG_ENUM(parts[i].kind, CC_N_PARTS, err, -1);
    CC_PAR_CALL(m->load_threads);
    const cc_config *c = &m->cfg;
    for (int i = 0; i < n; i++) {
        cc_part p = parts[i];
        bool per_layer = p.kind > CC_PART_W_U, per_head = per_layer && p.kind <= CC_PART_O;
        if ((per_layer && (p.layer < -1 || p.layer >= c->n_layers)) || (per_head && (p.head < -1 || p.head >= c->n_heads)))
            return cc_fail_code(err, CC_E_INTERNAL, "internal: weight part L%dH%d is out of range", p.layer, p.head);
    }
    if ((m->loaded || m->part_ready) && m->processed != process)
        return cc_fail_code(err, CC_E_INTERNAL, "internal: %s was loaded %s processing; it cannot be read %s it", m->weights_path,
                       m->processed ? "with" : "without", process ? "with" : "without");
    if (m->loaded) return 0;
    size_t L = (size_t)c->n_layers, H = (size_t)c->n_heads, d = (size_t)c->d_model;
    size_t widest = (size_t)(c->d_vocab > c->d_mlp ? c->d_vocab : c->d_mlp);
    if (!m->part_ready && !(m->part_ready = calloc(3 + 4 * L * H + 2 * L, 1))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    m->processed = process;
    /* scratch for the other families' folds: accumulators, one norm's weight and bias */
    double *acc = malloc((widest > d ? widest : d) * sizeof *acc);
    float *norm = malloc(2 * d * sizeof *norm);
    int rc = acc && norm ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) rc = need_part(m, parts[i], process, acc, norm, err);
    free(acc), free(norm);
    /* As after a whole load: drop the mapping's pages read so far. */
    drop_mappings(m);
    return rc;
}

void cc_model_free(cc_model *m)
{
    if (!m) return;
    free_weights(m);
    free(m->part_ready);
    free(m->tensor_checked);
    cc_st_close(m->st);
    cc_shards_close(m->shards, m->n_shards);
    free(m->model_path);
    free(m->weights_path);
    free(m->config_path);
    free(m);
}

int cc_model_load(const char *path, const char *config_path, bool process, cc_model **out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    cc_model *m = NULL;
    if (cc_model_open(path, config_path, &m, err) != 0) return -1;
    if (cc_model_load_weights(m, err) != 0 || (process && cc_process_weights(m, err) != 0)) {
        cc_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------ accessors (model.h) */

const cc_config *cc_model_config(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return &m->cfg;
}

const cc_weights *cc_model_weights(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return &m->w;
}

const char *cc_model_path(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return m->model_path;
}

const char *cc_model_weights_file(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return m->weights_path;
}

const char *cc_model_config_file(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return m->config_path;
}

cc_dtype cc_model_dtype(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, CC_DT_COUNT);
    return m->dtype;
}

const char *cc_model_tensor_prefix(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return m->prefix;
}

bool cc_model_tied_unembedding(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, false);
    return !m->has_lm_head;
}

uint64_t cc_model_file_bytes(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, 0);
    return m->st->file_size;
}

size_t cc_model_n_tensors(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, 0);
    return m->st->n_tensors;
}

bool cc_model_processed(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, false);
    return m->processed;
}

void cc_model_set_allow_nonfinite(cc_model *m, bool allow)
{
    CC_ARG_NOT_NULL(m, NULL, );
    m->allow_nonfinite = allow;
}

bool cc_model_allow_nonfinite(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, false);
    return m->allow_nonfinite;
}

const char *cc_model_nonfinite_note(const cc_model *m)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    return m->nonfinite_note.msg;
}

void cc_model_set_load_progress(cc_model *m, cc_progress_fn progress, void *ctx)
{
    CC_ARG_NOT_NULL(m, NULL, );
    m->load_progress = progress;
    m->load_progress_ctx = ctx;
}

void cc_model_set_load_threads(cc_model *m, int threads)
{
    CC_ARG_NOT_NULL(m, NULL, );
    m->load_threads = threads < 0 ? 0 : threads;
}
