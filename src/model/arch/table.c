/* table.c — evaluating a family's tensor table for one config (arch.h). */
#include "../arch.h"

#include <stdio.h>
#include <string.h>

/* Saturating uint64 arithmetic: a hostile config cannot wrap the counts. */
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

uint64_t arch_dim_size(const cc_config *c, arch_dim d)
{
    uint64_t H = (uint64_t)c->n_heads, KV = (uint64_t)cc_config_kv_heads(c), dh = (uint64_t)c->d_head;
    switch (d) {
    case ARCH_DIM_D: return (uint64_t)c->d_model;
    case ARCH_DIM_Q: return H * dh;
    case ARCH_DIM_KV: return KV * dh;
    case ARCH_DIM_QKV: return 3 * H * dh;
    case ARCH_DIM_H: return H;
    case ARCH_DIM_KVH: return KV;
    case ARCH_DIM_DH: return dh;
    case ARCH_DIM_MLP: return (uint64_t)c->d_mlp;
    case ARCH_DIM_VOCAB: return (uint64_t)c->d_vocab;
    case ARCH_DIM_CTX: return (uint64_t)c->n_ctx;
    default: return 1;
    }
}

int arch_shape(const cc_config *c, const arch_tensor *t, uint64_t shape[3])
{
    int n = 0;
    while (n < 3 && t->shape[n] != ARCH_DIM_NONE) {
        shape[n] = arch_dim_size(c, t->shape[n]);
        n++;
    }
    return n;
}

uint64_t arch_numel(const cc_config *c, const arch_tensor *t)
{
    uint64_t shape[3], n = 1;
    int rank = arch_shape(c, t, shape);
    for (int i = 0; i < rank; i++) n = sat_mul(n, shape[i]);
    return n;
}

bool arch_exists(const cc_config *c, const arch_tensor *t)
{
    unsigned w = t->when;
    bool mlp = !c->attn_only;
    if ((w & ARCH_IF_MLP) && !mlp) return false;
    if ((w & ARCH_IF_GATED) && !(mlp && c->gated)) return false;
    if ((w & ARCH_IF_POS) && c->pos == CC_POS_ROTARY) return false;
    if ((w & ARCH_IF_NORM) && c->norm_folded) return false;
    if ((w & ARCH_IF_NORM_BIAS) && c->norm != CC_NORM_LN) return false;
    return true;
}

bool arch_present(const cc_config *c, const arch_tensor *t)
{
    unsigned w = t->when;
    bool gqa = c->n_kv_heads > 0; /* set explicitly: TransformerLens then names K, V _W_K, _W_V */
    if (!t->name || !arch_exists(c, t)) return false;
    if ((w & ARCH_IF_UNTIED) && c->tied) return false;
    if ((w & ARCH_IF_QKV_BIAS) && c->no_qkv_bias) return false;
    if ((w & ARCH_IF_O_BIAS) && c->no_o_bias) return false;
    if ((w & ARCH_IF_MLP_BIAS) && c->no_mlp_bias) return false;
    if ((w & ARCH_IF_GQA) && !gqa) return false;
    if ((w & ARCH_IF_MHA) && gqa) return false;
    return true;
}

bool arch_ignorable(const arch_family *fam, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *s = fam->ignored_suffixes; s && *s; s++) {
        size_t k = strlen(*s);
        if (n > k && strcmp(name + n - k, *s) == 0) return true;
    }
    return false;
}

const char *arch_name(const arch_tensor *t, const char *prefix, int layer, char *buf, size_t size)
{
    char base[96];
    if (t->per_layer) snprintf(base, sizeof base, t->name, layer);
    else snprintf(base, sizeof base, "%s", t->name);
    snprintf(buf, size, "%s%s", (t->when & ARCH_UNPREFIXED) || !prefix ? "" : prefix, base);
    return buf;
}

int arch_n_dests(const arch_tensor *t)
{
    return t->layout == ARCH_CONV1D_QKV || t->layout == ARCH_NEOX_QKV ? 3 : 1;
}

float **arch_dest(cc_weights *w, const arch_tensor *t, int i)
{
    return (float **)((char *)w + t->dest[i]);
}

/* Copies of T in a checkpoint of C: one per layer, or one. */
static uint64_t copies(const cc_config *c, const arch_tensor *t)
{
    return t->per_layer ? (uint64_t)c->n_layers : 1;
}

size_t arch_dest_floats(const cc_config *c, const arch_tensor *t)
{
    uint64_t n = sat_mul(copies(c, t), arch_numel(c, t));
    switch (t->layout) {
    case ARCH_CONV1D_QKV:
    case ARCH_NEOX_QKV: return (size_t)(n / 3);
    case ARCH_HEADS:
    case ARCH_KV_REPEAT: /* [n, ...] of n key/value heads widens to n_heads */
        if (t->shape[0] == ARCH_DIM_KV || t->shape[0] == ARCH_DIM_KVH)
            return (size_t)sat_mul(n / (uint64_t)cc_config_kv_heads(c), (uint64_t)c->n_heads);
        return (size_t)n;
    default: return (size_t)n;
    }
}

/* The tensors every checkpoint of C holds (present and not optional). */
static bool required(const cc_config *c, const arch_tensor *t)
{
    return arch_present(c, t) && !(t->when & ARCH_OPTIONAL);
}

uint64_t arch_tensor_count(const arch_family *fam, const cc_config *c)
{
    uint64_t n = 0;
    for (int i = 0; i < fam->n_tensors; i++)
        if (required(c, &fam->tensors[i])) n = sat_add(n, copies(c, &fam->tensors[i]));
    return n;
}

uint64_t arch_value_count(const arch_family *fam, const cc_config *c)
{
    uint64_t n = 0;
    for (int i = 0; i < fam->n_tensors; i++)
        if (required(c, &fam->tensors[i]))
            n = sat_add(n, sat_mul(copies(c, &fam->tensors[i]), arch_numel(c, &fam->tensors[i])));
    return n;
}
