/* hooks.c — hook point names, availability per block shape and activation
 * shapes (include/circuitc/hooks.h). */
#include "circuitc/hooks.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/args.h"

/* The block-shape enums of CFG must be in range (an uninitialised config is caught here). */
#define CHECK_SHAPE(cfg, err, ...)                                 \
    do {                                                           \
        CC_ARG_ENUM(cfg->family, CC_N_FAMILIES, err, __VA_ARGS__); \
        CC_ARG_ENUM(cfg->norm, CC_NORM_RMS + 1, err, __VA_ARGS__); \
        CC_ARG_ENUM(cfg->pos, CC_POS_ROTARY + 1, err, __VA_ARGS__); \
        CC_ARG_ENUM(cfg->act, CC_ACT_RELU + 1, err, __VA_ARGS__);  \
    } while (0)

static const char *const HOOK_SUFFIX[CC_HOOK_COUNT] = {
    [CC_HOOK_EMBED] = "hook_embed",
    [CC_HOOK_POS_EMBED] = "hook_pos_embed",
    [CC_HOOK_RESID_PRE] = "hook_resid_pre",
    [CC_HOOK_Q] = "attn.hook_q",
    [CC_HOOK_K] = "attn.hook_k",
    [CC_HOOK_V] = "attn.hook_v",
    [CC_HOOK_ROT_Q] = "attn.hook_rot_q",
    [CC_HOOK_ROT_K] = "attn.hook_rot_k",
    [CC_HOOK_ATTN_SCORES] = "attn.hook_attn_scores",
    [CC_HOOK_PATTERN] = "attn.hook_pattern",
    [CC_HOOK_Z] = "attn.hook_z",
    [CC_HOOK_ATTN_OUT] = "hook_attn_out",
    [CC_HOOK_RESID_MID] = "hook_resid_mid",
    [CC_HOOK_MLP_PRE] = "mlp.hook_pre",
    [CC_HOOK_MLP_PRE_LINEAR] = "mlp.hook_pre_linear",
    [CC_HOOK_MLP_POST] = "mlp.hook_post",
    [CC_HOOK_MLP_OUT] = "hook_mlp_out",
    [CC_HOOK_RESID_POST] = "hook_resid_post",
    [CC_HOOK_LN_FINAL] = "ln_final.hook_normalized",
    [CC_HOOK_LOGITS] = "logits",
};

bool cc_hook_per_layer(cc_hook_kind k)
{
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, false);
    return k != CC_HOOK_EMBED && k != CC_HOOK_POS_EMBED && k != CC_HOOK_LN_FINAL && k != CC_HOOK_LOGITS;
}

static bool is_mlp_hook(cc_hook_kind k)
{
    return k == CC_HOOK_MLP_PRE || k == CC_HOOK_MLP_PRE_LINEAR || k == CC_HOOK_MLP_POST || k == CC_HOOK_MLP_OUT;
}

/* Why CFG's blocks have no hook K, as "the block shape; the advice", or NULL
 * when they have it. SHAPE receives the part of the block shape that rules
 * the hook out ("parallel attention and MLP"). */
static const char *missing(const cc_config *cfg, cc_hook_kind k, const char **shape)
{
    bool rotary = cfg->pos == CC_POS_ROTARY;
    if (k == CC_HOOK_POS_EMBED && rotary) {
        *shape = "rotary positions";
        return "no positional embedding is added: positions rotate q and k, see blocks.{l}.attn.hook_rot_q and "
               "hook_rot_k";
    }
    if ((k == CC_HOOK_ROT_Q || k == CC_HOOK_ROT_K) && !rotary) {
        *shape = cfg->pos == CC_POS_SHORTFORMER ? "shortformer positions" : "learned positions";
        return "only rotary models rotate q and k: use attn.hook_q / hook_k (positions enter at hook_pos_embed)";
    }
    if (cfg->attn_only && (k == CC_HOOK_RESID_MID || is_mlp_hook(k))) {
        *shape = "attention only";
        return k == CC_HOOK_RESID_MID ? "its blocks have no MLP, so hook_resid_post is resid_pre + attn_out"
                                      : "its blocks have no MLP: use hook_attn_out or hook_resid_post";
    }
    if (k == CC_HOOK_RESID_MID && cfg->parallel) {
        *shape = "parallel attention and MLP";
        return "attention and MLP both read hook_resid_pre and add to hook_resid_post: use those, hook_attn_out "
               "or hook_mlp_out";
    }
    if (k == CC_HOOK_MLP_PRE_LINEAR && !cfg->gated) {
        *shape = "MLP not gated";
        return "only a gated MLP has a linear branch: use mlp.hook_pre";
    }
    return NULL;
}

bool cc_hook_available(const cc_config *cfg, cc_hook_kind k)
{
    CC_ARG_NOT_NULL(cfg, NULL, false);
    CHECK_SHAPE(cfg, NULL, false);
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, false);
    const char *shape;
    return missing(cfg, k, &shape) == NULL;
}

int cc_hook_check(const cc_config *cfg, cc_hook_kind k, int layer, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CHECK_SHAPE(cfg, err, -1);
    CC_ARG_ENUM(k, CC_HOOK_COUNT, err, -1);
    const char *shape, *why = missing(cfg, k, &shape);
    if (!why) return 0;
    char name[96], hook[64];
    cc_hook_name(k, layer < 0 ? 0 : layer, name, sizeof name);
    const char *dot = strrchr(HOOK_SUFFIX[k], '.');
    snprintf(hook, sizeof hook, "%s", dot ? dot + 1 : HOOK_SUFFIX[k]);
    return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: this model (%s, %s) has no %s; %s", name, cc_family_name(cfg->family), shape,
                   strncmp(hook, "hook_", 5) == 0 ? hook + 5 : hook, why);
}

const char *cc_hook_name(cc_hook_kind k, int layer, char *buf, size_t size)
{
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, "?");
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    assert(k >= 0 && k < CC_HOOK_COUNT);
    if (cc_hook_per_layer(k)) snprintf(buf, size, "blocks.%d.%s", layer, HOOK_SUFFIX[k]);
    else snprintf(buf, size, "%s", HOOK_SUFFIX[k]);
    return buf;
}

int cc_hook_parse(const char *name, const cc_config *cfg, cc_hook_kind *k, int *layer, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    CC_ARG_NOT_NULL(layer, err, -1);
    if (cfg) CHECK_SHAPE(cfg, err, -1);
    for (int i = 0; i < CC_HOOK_COUNT; i++) {
        if (!cc_hook_per_layer((cc_hook_kind)i) && strcmp(name, HOOK_SUFFIX[i]) == 0) {
            if (cfg && cc_hook_check(cfg, (cc_hook_kind)i, -1, err) != 0) return -1;
            *k = (cc_hook_kind)i, *layer = -1;
            return 0;
        }
    }
    int l = -1, n = 0;
    if (sscanf(name, "blocks.%d.%n", &l, &n) == 1 && n > 0 && l >= 0) {
        for (int i = 0; i < CC_HOOK_COUNT; i++) {
            if (cc_hook_per_layer((cc_hook_kind)i) && strcmp(name + n, HOOK_SUFFIX[i]) == 0) {
                if (cfg && l >= cfg->n_layers)
                    return cc_fail(err, "hook \"%s\": layer %d is out of range (this model has layers 0..%d)", name,
                                   l, cfg->n_layers - 1);
                if (cfg && cc_hook_check(cfg, (cc_hook_kind)i, l, err) != 0) return -1;
                *k = (cc_hook_kind)i, *layer = l;
                return 0;
            }
        }
    }
    return cc_fail(err, "unknown hook \"%s\": use a TransformerLens name such as blocks.0.attn.hook_pattern, "
                        "blocks.1.hook_mlp_out, hook_embed or ln_final.hook_normalized", name);
}

/* Whether NAME is hook K without its layer: the whole suffix ("attn.hook_z"),
 * its last part ("hook_z") or that without "hook_" ("z"). */
static bool names_kind(const char *name, size_t len, cc_hook_kind k)
{
    const char *full = HOOK_SUFFIX[k], *dot = strrchr(full, '.');
    const char *last = dot ? dot + 1 : full;
    const char *bare = strncmp(last, "hook_", 5) == 0 ? last + 5 : last;
    const char *forms[] = {full, last, bare};
    for (int i = 0; i < 3; i++)
        if (strlen(forms[i]) == len && strncmp(name, forms[i], len) == 0) return true;
    return false;
}

int cc_hook_parse_any(const char *name, cc_hook_kind *k, int *layer, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    CC_ARG_NOT_NULL(layer, err, -1);
    int l = -1, n = 0;
    if (sscanf(name, "blocks.%d.%n", &l, &n) != 1 || n == 0 || l < 0) l = -1, n = 0;
    size_t len = strlen(name + n);
    for (int i = 0; i < CC_HOOK_COUNT; i++) {
        if (!names_kind(name + n, len, (cc_hook_kind)i)) continue;
        if (l >= 0 && !cc_hook_per_layer((cc_hook_kind)i))
            return cc_fail(err, "hook \"%s\": %s is not a block's hook, name it without \"blocks.%d.\"", name,
                           HOOK_SUFFIX[i], l);
        *k = (cc_hook_kind)i, *layer = l;
        return 0;
    }
    return cc_fail(err, "unknown hook \"%s\": use a TransformerLens name (blocks.0.attn.hook_pattern, "
                        "hook_resid_pre, resid_pre, ln_final.hook_normalized, logits)", name);
}

cc_act_shape cc_hook_shape(const cc_config *cfg, cc_hook_kind k, int batch, int pos)
{
    CC_ARG_NOT_NULL(cfg, NULL, (cc_act_shape){0});
    CHECK_SHAPE(cfg, NULL, (cc_act_shape){0});
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, (cc_act_shape){0});
    cc_act_shape s = {.ndim = 3, .dim = {batch, pos, cfg->d_model, 0}};
    switch (k) {
    case CC_HOOK_Q: case CC_HOOK_ROT_Q: case CC_HOOK_Z:
        s.ndim = 4, s.dim[2] = cfg->n_heads, s.dim[3] = cfg->d_head;
        break;
    case CC_HOOK_K: case CC_HOOK_ROT_K: case CC_HOOK_V:
        s.ndim = 4, s.dim[2] = cc_config_kv_heads(cfg), s.dim[3] = cfg->d_head;
        break;
    case CC_HOOK_ATTN_SCORES: case CC_HOOK_PATTERN:
        s.ndim = 4, s.dim[1] = cfg->n_heads, s.dim[2] = pos, s.dim[3] = pos;
        break;
    case CC_HOOK_MLP_PRE: case CC_HOOK_MLP_PRE_LINEAR: case CC_HOOK_MLP_POST: s.dim[2] = cfg->d_mlp; break;
    case CC_HOOK_LOGITS: s.dim[2] = cfg->d_vocab; break;
    default: break;
    }
    s.numel = 1;
    for (int i = 0; i < s.ndim; i++) s.numel *= (size_t)s.dim[i];
    return s;
}
