/* act_cache.c — hook selection by name or glob, and the activations file
 * (include/circuitc/act_cache.h): safetensors through the library's writer,
 * npz through output/npz.h. */
#include "circuitc/act_cache.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/safetensors.h"
#include "core/args.h"
#include "output/npz.h"

#define HOOK_NAME_MAX 96

static int n_layers_of(const cc_config *cfg, cc_hook_kind k) { return cc_hook_per_layer(k) ? cfg->n_layers : 1; }

/* Adds the hooks of the model that the glob PAT matches; how many. */
static int select_glob(const cc_config *cfg, const char *pat, uint64_t *sel)
{
    int found = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        if (!cc_hook_available(cfg, (cc_hook_kind)k)) continue;
        for (int l = 0; l < n_layers_of(cfg, (cc_hook_kind)k); l++) {
            char name[HOOK_NAME_MAX];
            if (fnmatch(pat, cc_hook_name((cc_hook_kind)k, l, name, sizeof name), 0) != 0) continue;
            sel[k] |= 1ull << l;
            found++;
        }
    }
    return found;
}

/* Adds the hook PAT names (every layer when it names none). */
static int select_name(const cc_config *cfg, const char *pat, uint64_t *sel, cc_error *err)
{
    cc_hook_kind k;
    int layer;
    if (cc_hook_parse_any(pat, &k, &layer, err) != 0 || cc_hook_check(cfg, k, layer, err) != 0) return -1;
    if (layer >= cfg->n_layers)
        return cc_fail(err, "hook \"%s\": layer %d is out of range (this model has layers 0..%d)", pat, layer,
                       cfg->n_layers - 1);
    if (!cc_hook_per_layer(k)) sel[k] |= 1;
    else if (layer >= 0) sel[k] |= 1ull << layer;
    else sel[k] |= cfg->n_layers == 64 ? ~0ull : (1ull << cfg->n_layers) - 1;
    return 0;
}

int cc_hook_select(const cc_config *cfg, const char *spec, uint64_t *sel, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(spec, err, -1);
    CC_ARG_NOT_NULL(sel, err, -1);
    if (cfg->n_layers > CC_FWD_MAX_LAYERS)
        return cc_fail(err, "the model has %d layers; hooks can be chosen in at most %d", cfg->n_layers,
                       CC_FWD_MAX_LAYERS);
    memset(sel, 0, CC_HOOK_COUNT * sizeof *sel);
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int rc = 0, n = 0;
    for (char *pat = strtok_r(copy, ",", &save); rc == 0 && pat; pat = strtok_r(NULL, ",", &save), n++) {
        if (!strpbrk(pat, "*?[")) rc = select_name(cfg, pat, sel, err);
        else if (select_glob(cfg, pat, sel) == 0)
            rc = cc_fail(err, "hooks \"%s\": the pattern matches none of this model's hooks (names as "
                              "blocks.0.attn.hook_pattern; `circuitc info` lists them)",
                         pat);
    }
    free(copy);
    if (rc == 0 && n == 0) return cc_fail(err, "no hooks chosen: give names or globs, comma-separated");
    return rc;
}

int cc_hook_select_count(const cc_config *cfg, const uint64_t *sel)
{
    CC_ARG_NOT_NULL(cfg, NULL, -1);
    CC_ARG_NOT_NULL(sel, NULL, -1);
    int n = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++) n += __builtin_popcountll(sel[k]);
    return n;
}

size_t cc_hook_select_bytes(const cc_config *cfg, const uint64_t *sel, int batch, int pos)
{
    CC_ARG_NOT_NULL(cfg, NULL, 0);
    CC_ARG_NOT_NULL(sel, NULL, 0);
    size_t bytes = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        bytes += (size_t)__builtin_popcountll(sel[k]) * cc_hook_shape(cfg, (cc_hook_kind)k, batch, pos).numel *
                 sizeof(float);
    return bytes;
}

int cc_cache_format_of(const char *path, cc_cache_format *fmt, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(fmt, err, -1);
    const char *dot = strrchr(path, '.');
    if (dot && strcmp(dot, ".safetensors") == 0) *fmt = CC_CACHE_SAFETENSORS;
    else if (dot && strcmp(dot, ".npz") == 0) *fmt = CC_CACHE_NPZ;
    else return cc_fail(err, "%s: name the activations file FILE.safetensors or FILE.npz (the extension picks the "
                             "format)", path);
    return 0;
}

/* One chosen hook: its name, shape and data. */
typedef struct {
    char name[HOOK_NAME_MAX];
    cc_act_shape shape;
    const float *data;
} chosen_hook;

/* The hooks SEL chooses, in forward order (per layer, then the layer-less
 * ones after the blocks at their place); *N of them. NULL with ERR on failure. */
static chosen_hook *list_chosen(const cc_config *cfg, const cc_fwd_result *res, const uint64_t *sel, int *n,
                                cc_error *err)
{
    int total = cc_hook_select_count(cfg, sel), at = 0;
    chosen_hook *h = calloc(total ? (size_t)total : 1, sizeof *h);
    if (!h) return cc_fail_code(err, CC_E_NOMEM, "out of memory"), NULL;
    static const cc_hook_kind BEFORE[] = {CC_HOOK_EMBED, CC_HOOK_POS_EMBED}, AFTER[] = {CC_HOOK_LN_FINAL,
                                                                                          CC_HOOK_LOGITS};
    for (int phase = 0; phase < 3; phase++)
        for (int l = 0; l < (phase == 1 ? cfg->n_layers : 1); l++)
            for (int k = 0; k < (phase == 1 ? CC_HOOK_COUNT : 2); k++) {
                cc_hook_kind kind = phase == 0 ? BEFORE[k] : phase == 2 ? AFTER[k] : (cc_hook_kind)k;
                if ((phase == 1) != cc_hook_per_layer(kind) || !(sel[kind] >> l & 1)) continue;
                int layer = phase == 1 ? l : 0;
                h[at].data = cc_fwd_act(res, kind, layer);
                cc_hook_name(kind, layer, h[at].name, sizeof h[at].name);
                if (!h[at].data) {
                    cc_fail(err, "%s was chosen but not cached by the forward pass", h[at].name);
                    return free(h), NULL;
                }
                h[at++].shape = cc_hook_shape(cfg, kind, res->batch, res->pos);
            }
    *n = at;
    return h;
}

static int write_safetensors(const char *path, const cci_npz_array *a, size_t n, cc_error *err)
{
    cc_st_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    size_t *bytes = calloc(n ? n : 1, sizeof *bytes);
    if (!bytes) return free(e), cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        e[i] = (cc_st_entry){.name = a[i].name, .dtype = a[i].f64 ? CC_DT_F64 : CC_DT_F32, .ndim = a[i].ndim};
        bytes[i] = a[i].f64 ? sizeof(double) : sizeof(float);
        for (int d = 0; d < a[i].ndim; d++) e[i].shape[d] = (uint64_t)a[i].dim[d], bytes[i] *= (size_t)a[i].dim[d];
    }
    cc_st_writer *w = NULL;
    int rc = cc_st_writer_open(path, e, n, NULL, 0, &w, err);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = cc_st_writer_put(w, a[i].data, bytes[i], err);
    if (rc == 0) rc = cc_st_writer_finish(w, err);
    else cc_st_writer_abort(w);
    free(e), free(bytes);
    return rc;
}

int cci_arrays_write(const char *path, const cci_npz_array *arrays, size_t n, cc_error *err)
{
    cc_cache_format fmt;
    if (cc_cache_format_of(path, &fmt, err) != 0) return -1;
    return fmt == CC_CACHE_NPZ ? cci_npz_write(path, arrays, n, err) : write_safetensors(path, arrays, n, err);
}

int cc_cache_write(const char *path, const cc_config *cfg, const cc_fwd_result *res, const uint64_t *sel,
                   cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(res, err, -1);
    CC_ARG_NOT_NULL(sel, err, -1);
    cc_cache_format fmt;
    if (cc_cache_format_of(path, &fmt, err) != 0) return -1;
    int n = 0;
    chosen_hook *h = list_chosen(cfg, res, sel, &n, err);
    if (!h) return -1;
    cci_npz_array *a = calloc(n ? (size_t)n : 1, sizeof *a);
    int rc = a ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; a && i < n; i++)
        a[i] = (cci_npz_array){.name = h[i].name, .ndim = h[i].shape.ndim, .dim = h[i].shape.dim, .data = h[i].data};
    if (rc == 0) rc = cci_arrays_write(path, a, (size_t)n, err);
    free(a);
    free(h);
    return rc;
}
