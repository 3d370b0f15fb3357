/* synth.c — the seeded synthetic-model generator (docs/synthetic-models.md). */
#include "circuitc/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/args.h"
#include "arch.h"

int cc_synth_preset(const char *name, cc_config *cfg, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(cfg, err, -1);
    cc_config c = {.ln_eps = 1e-5};
    if (strcmp(name, "gpt2-small") == 0) {
        c.n_layers = 12, c.n_heads = 12, c.d_model = 768, c.d_mlp = 3072, c.d_vocab = 50257, c.n_ctx = 1024;
    } else if (strcmp(name, "tiny") == 0) {
        c.n_layers = 2, c.n_heads = 2, c.d_model = 16, c.d_mlp = 64, c.d_vocab = 64, c.n_ctx = 32;
    } else {
        return cc_fail(err, "unknown preset \"%s\": choose gpt2-small or tiny", name);
    }
    c.d_head = c.d_model / c.n_heads;
    c.bos_token_id = c.d_vocab - 1;
    *cfg = c;
    return 0;
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The layer-norm scales centre on 1 with spread 0.1; everything else on 0 with 0.02. */
static void distribution(const char *name, double *center, double *std)
{
    size_t n = strlen(name);
    bool ln_scale = n > 7 && strcmp(name + n - 7, ".weight") == 0 &&
                    (strstr(name, "ln_1.") || strstr(name, "ln_2.") || strstr(name, "ln_f."));
    *center = ln_scale ? 1.0 : 0.0;
    *std = ln_scale ? 0.1 : 0.02;
}

static float value_from(uint64_t s0, uint64_t k, double center, double scale)
{
    uint64_t u = mix64(s0 + (k + 1) * 0x9e3779b97f4a7c15ull) >> 40;
    return (float)(center + (((double)u + 0.5) * 0x1p-23 - 1.0) * scale);
}

float cc_synth_value(uint64_t seed, const char *name, uint64_t k)
{
    CC_ARG_NOT_NULL(name, NULL, NAN);
    double center, std;
    distribution(name, &center, &std);
    return value_from(seed ^ fnv1a64(name), k, center, std * sqrt(3.0));
}

/* Names and shapes of the GPT-2 tensors (arch/gpt2.c's table), sorted by name as the
 * reference safetensors writer orders them (so both writers produce the same bytes). */
static int build_entries(const cc_config *c, const cc_synth_options *o, cc_st_entry **out, char **names_out,
                         size_t *n_out)
{
    const arch_family *gpt2 = arch_family_get(CC_FAMILY_GPT2);
    size_t cap = (size_t)arch_tensor_count(gpt2, c) + 2; /* + lm_head.weight */
    cc_st_entry *e = calloc(cap, sizeof *e);
    char *names = calloc(cap, 80);
    if (!e || !names) {
        free(e);
        free(names);
        return -1;
    }
    size_t k = 0;
    for (int id = 0; id < gpt2->n_tensors; id++) {
        const arch_tensor *t = &gpt2->tensors[id];
        if (!t->name || ((t->when & ARCH_OPTIONAL) && !o->lm_head)) continue;
        for (int l = 0; l < (t->per_layer ? c->n_layers : 1); l++) {
            char *nm = names + 80 * k;
            arch_name(t, o->prefix ? gpt2->prefix : NULL, l, nm, 80);
            e[k] = (cc_st_entry){.name = nm, .dtype = o->dtype};
            uint64_t shape[3];
            e[k].ndim = arch_shape(c, t, shape);
            e[k].shape[0] = shape[0];
            e[k].shape[1] = e[k].ndim == 2 ? shape[1] : 0;
            k++;
        }
    }
    for (size_t i = 1; i < k; i++) /* insertion sort by name: a few hundred entries */
        for (size_t j = i; j > 0 && strcmp(e[j - 1].name, e[j].name) > 0; j--) {
            cc_st_entry t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    *out = e;
    *names_out = names;
    *n_out = k;
    return 0;
}

/* Streams tensor E's values into W in chunks, converted to E's dtype. */
static int write_tensor(cc_st_writer *w, const cc_st_entry *e, uint64_t seed, const char *gen_name, cc_error *err)
{
    enum { CHUNK = 1 << 16 };
    float *buf = malloc(CHUNK * sizeof *buf);
    uint16_t *half = malloc(CHUNK * sizeof *half);
    int rc = buf && half ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    uint64_t n = e->shape[0] * (e->ndim == 2 ? e->shape[1] : 1);
    double center, std;
    distribution(gen_name, &center, &std);
    uint64_t s0 = seed ^ fnv1a64(gen_name);
    double scale = std * sqrt(3.0);
    for (uint64_t off = 0; rc == 0 && off < n; off += CHUNK) {
        size_t len = (size_t)(n - off < CHUNK ? n - off : CHUNK);
        for (size_t i = 0; i < len; i++) buf[i] = value_from(s0, off + i, center, scale);
        if (e->dtype == CC_DT_F32) {
            rc = cc_st_writer_put(w, buf, len * 4, err);
        } else {
            for (size_t i = 0; i < len; i++) {
                uint32_t u;
                memcpy(&u, &buf[i], 4);
                /* bfloat16: round to nearest even on the dropped 16 bits */
                half[i] = e->dtype == CC_DT_F16 ? cc_f32_to_f16(buf[i])
                                                : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
            }
            rc = cc_st_writer_put(w, half, len * 2, err);
        }
    }
    free(buf);
    free(half);
    return rc;
}

int cc_synth_write(const cc_config *cfg, uint64_t seed, const cc_synth_options *opt, const char *dir,
                   cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    if (opt) CC_ARG_ENUM(opt->dtype, CC_DT_COUNT, err, -1);
    CC_ARG_NOT_NULL(dir, err, -1);
    cc_synth_options o = opt ? *opt : (cc_synth_options){.dtype = CC_DT_F32};
    if (o.dtype != CC_DT_F32 && o.dtype != CC_DT_F16 && o.dtype != CC_DT_BF16)
        return cc_fail(err, "synthetic models are written as F32, F16 or BF16");
    if (cc_config_validate(cfg, "synthetic config", err) != 0) return -1;
    if (cfg->family != CC_FAMILY_GPT2)
        return cc_fail(err, "synthetic models are GPT-2s; a %s config cannot be written", cc_family_name(cfg->family));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cc_fail_code(err, CC_E_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    cc_st_entry *entries = NULL;
    char *names = NULL;
    size_t n = 0;
    if (build_entries(cfg, &o, &entries, &names, &n) != 0) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cc_st_writer *w = NULL;
    int rc = cc_st_writer_open(path, entries, n, NULL, 0, &w, err);
    size_t plen = o.prefix ? strlen("transformer.") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* lm_head is generated as its own tensor; prefixed names draw the same values as unprefixed ones */
        const char *gen_name = strncmp(entries[i].name, "lm_head", 7) == 0 ? entries[i].name : entries[i].name + plen;
        rc = write_tensor(w, &entries[i], seed, gen_name, err);
    }
    if (rc == 0) rc = cc_st_writer_finish(w, err);
    else if (w) cc_st_writer_abort(w);
    free(entries);
    free(names);
    if (rc != 0) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return cc_config_save(cfg, path, err);
}
