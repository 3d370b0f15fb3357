/* config.c — reading a config file through its family (arch.h), checking it, and
 * writing GPT-2 configs (synth). */
#include "circuitc/config.h"

#include "circuitc/fsio.h"
#include "core/args.h"
#include "core/json_error.h"
#include "arch.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arch_json_int(json_t *root, const char *path, const char *key, bool required, int dflt, int max, int *out,
                  cc_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return cc_fail_code(err, CC_E_FORMAT, "%s: missing field \"%s\"", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" must be a non-negative integer", path, key);
    if (json_integer_value(v) > max)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" is %lld, above circuitc's limit of %d (README \"Reliability\"); "
                            "is this the config of a transformer language model?",
                       path, key, (long long)json_integer_value(v), max);
    *out = (int)json_integer_value(v);
    return 0;
}

int arch_json_num(json_t *root, const char *path, const char *key, double dflt, double *out, cc_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" must be a number", path, key);
    *out = json_number_value(v);
    return 0;
}

int arch_json_bool(json_t *root, const char *path, const char *key, bool dflt, bool *out, cc_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

int arch_json_str(json_t *root, const char *path, const char *key, const char **out, cc_error *err)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" must be a string", path, key);
    *out = json_string_value(v);
    return 0;
}

int arch_json_act(const char *name, const char *path, const char *key, cc_act_kind *out, cc_error *err)
{
    static const struct {
        const char *name;
        cc_act_kind act;
    } acts[] = {{"gelu_new", CC_ACT_GELU_NEW}, {"gelu", CC_ACT_GELU}, {"silu", CC_ACT_SILU}, {"swish", CC_ACT_SILU},
                {"relu", CC_ACT_RELU}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(name, acts[i].name) == 0) {
            *out = acts[i].act;
            return 0;
        }
    return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s\" is \"%s\"; circuitc implements gelu_new, gelu, silu and relu", path, key,
                   name);
}

int arch_json_refuse_on(json_t *root, const char *path, const char *const *keys, const char *why, cc_error *err)
{
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(root, *k);
        bool off = !v || json_is_null(v) || json_is_false(v) || (json_is_number(v) && json_number_value(v) <= 0);
        if (off) continue;
        char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = cc_fail_code(err, CC_E_UNSUPPORTED, "%s: field \"%s\" is %.60s; %s", path, *k, shown ? shown : "set", why);
        free(shown);
        return rc;
    }
    return 0;
}

/* Fails unless the ROWS x COLS matrix NAME stays within CC_CONFIG_MAX_MATRIX_ELEMENTS. */
static int check_matrix(const char *label, const char *name, long long rows, long long cols, cc_error *err)
{
    long long n;
    if (__builtin_mul_overflow(rows, cols, &n) || n > CC_CONFIG_MAX_MATRIX_ELEMENTS)
        return cc_fail_code(err, CC_E_FORMAT, "%s: %s would be %lld x %lld, more than circuitc's limit of %lld elements per matrix",
                       label, name, rows, cols, CC_CONFIG_MAX_MATRIX_ELEMENTS);
    return 0;
}

int cc_config_kv_heads(const cc_config *c)
{
    CC_ARG_NOT_NULL(c, NULL, -1);
    return c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
}

bool cc_config_layer_is_local(const cc_config *c, int layer)
{
    if (!c || layer < 0 || layer >= CC_CONFIG_MAX_LAYERS) return false;
    return (c->local_layers[layer / 64] >> (layer % 64)) & 1;
}

const char *cc_family_name(cc_family f)
{
    static const char *const names[CC_N_FAMILIES] = {
        [CC_FAMILY_GPT2] = "gpt2", [CC_FAMILY_GPT_NEO] = "gpt_neo", [CC_FAMILY_GPT_NEOX] = "gpt_neox",
        [CC_FAMILY_LLAMA] = "llama", [CC_FAMILY_TL] = "transformer_lens"};
    CC_ARG_ENUM(f, CC_N_FAMILIES, NULL, "?");
    return names[f];
}

int cc_config_validate(const cc_config *cfg, const char *label, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_ENUM(cfg->family, CC_N_FAMILIES, err, -1);
    CC_ARG_ENUM(cfg->norm, CC_NORM_RMS + 1, err, -1);
    CC_ARG_ENUM(cfg->pos, CC_POS_ROTARY + 1, err, -1);
    CC_ARG_ENUM(cfg->act, CC_ACT_RELU + 1, err, -1);
    if (!label) label = "<config>"; /* as cc_circuit_parse names an unnamed text */
    if (cfg->n_layers < 1 || cfg->n_heads < 1 || cfg->d_model < 1 || cfg->d_vocab < 1 || cfg->n_ctx < 1 ||
        (cfg->d_mlp < 1 && !cfg->attn_only))
        return cc_fail_code(err, CC_E_FORMAT, "%s: the number of layers and heads, d_model, d_head, the MLP width (unless the model "
                            "is attention-only), the vocabulary and the context length must all be positive", label);
    if (cfg->n_layers > CC_CONFIG_MAX_LAYERS || cfg->n_heads > CC_CONFIG_MAX_HEADS ||
        cfg->d_model > CC_CONFIG_MAX_D_MODEL || cfg->d_head > CC_CONFIG_MAX_D_MODEL ||
        cfg->d_mlp > CC_CONFIG_MAX_D_MLP || cfg->d_vocab > CC_CONFIG_MAX_VOCAB || cfg->n_ctx > CC_CONFIG_MAX_CTX)
        return cc_fail_code(err, CC_E_FORMAT, "%s: a size is above circuitc's limits (layers <= %d, heads <= %d, d_model and d_head "
                            "<= %d, MLP width <= %d, vocabulary <= %d, context <= %d)",
                       label, CC_CONFIG_MAX_LAYERS, CC_CONFIG_MAX_HEADS, CC_CONFIG_MAX_D_MODEL, CC_CONFIG_MAX_D_MLP,
                       CC_CONFIG_MAX_VOCAB, CC_CONFIG_MAX_CTX);
    if (cfg->family == CC_FAMILY_GPT2 && cfg->d_model % cfg->n_heads != 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: n_embd (%d) is not divisible by n_head (%d)", label, cfg->d_model, cfg->n_heads);
    if (cfg->d_head < 1) return cc_fail_code(err, CC_E_FORMAT, "%s: d_head must be positive", label);
    int kv = cc_config_kv_heads(cfg);
    if (cfg->n_kv_heads < 0 || kv > cfg->n_heads || cfg->n_heads % kv != 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: the key/value heads (%d) must divide the attention heads (%d)", label, kv,
                       cfg->n_heads);
    long long qdim = (long long)cfg->n_heads * cfg->d_head;
    if (check_matrix(label, "the embedding (vocabulary x d_model)", cfg->d_vocab, cfg->d_model, err) ||
        check_matrix(label, "the position embedding (context x d_model)", cfg->n_ctx, cfg->d_model, err) ||
        check_matrix(label, "the fused q/k/v projection (d_model x 3 heads x d_head)", cfg->d_model, 3 * qdim, err) ||
        check_matrix(label, "the MLP (d_model x MLP width)", cfg->d_model, cfg->d_mlp, err))
        return -1;
    if (!(cfg->ln_eps > 0 && cfg->ln_eps < 1))
        return cc_fail_code(err, CC_E_FORMAT, "%s: the norm epsilon must be in (0, 1), got %g", label, cfg->ln_eps);
    if (cfg->bos_token_id < 0 || cfg->bos_token_id >= cfg->d_vocab)
        return cc_fail_code(err, CC_E_FORMAT, "%s: bos_token_id %d is outside the vocabulary [0, %d)", label, cfg->bos_token_id,
                       cfg->d_vocab);
    if (cfg->pos == CC_POS_ROTARY &&
        (cfg->rotary_dim < 2 || cfg->rotary_dim > cfg->d_head || cfg->rotary_dim % 2 != 0 || !(cfg->rotary_base > 1)))
        return cc_fail_code(err, CC_E_FORMAT, "%s: the rotary dimension (%d) must be even, in [2, d_head = %d], and the rotary base (%g) "
                            "above 1", label, cfg->rotary_dim, cfg->d_head, cfg->rotary_base);
    bool any_local = false;
    for (int l = 0; l < cfg->n_layers; l++) any_local |= cc_config_layer_is_local(cfg, l);
    if (any_local && cfg->window < 1)
        return cc_fail_code(err, CC_E_FORMAT, "%s: local attention layers need a window of at least 1 position", label);
    if (cfg->attn_only && (cfg->gated || cfg->parallel))
        return cc_fail_code(err, CC_E_FORMAT, "%s: an attention-only model has no MLP to gate or run in parallel", label);
    return 0;
}

int cc_config_load(const char *path, cc_config *cfg, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(cfg, err, -1);
    FILE *fp = cc_fopen_regular(path, "config", err);
    if (!fp) {
        if (!err) return -1;
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return cc_fail_code(err, CC_E_IO, "%s; pass a model folder holding config.json or --config FILE", why);
    }
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (!root) return cc_fail_json(err, path, &jerr);
    int rc = -1;
    cc_config c = {0};
    const arch_family *fam = NULL;
    if (!json_is_object(root)) {
        cc_fail_code(err, CC_E_FORMAT, "%s: config must be a JSON object", path);
        goto out;
    }
    if (arch_family_of(root, path, &fam, err) != 0) goto out;
    c.family = fam->family;
    if (fam->read_config(root, path, &c, err) != 0 ||
        arch_json_int(root, path, "bos_token_id", false, c.d_vocab - 1, CC_CONFIG_MAX_VOCAB, &c.bos_token_id, err) ||
        cc_config_validate(&c, path, err) != 0)
        goto out;
    *cfg = c;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

json_t *cc_config_arch_json(const cc_config *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    static const char *const norms[] = {"LayerNorm", "RMSNorm"}, *const positions[] = {"learned", "shortformer", "rotary"},
                             *const acts[] = {"gelu_new", "gelu", "silu", "relu"};
    if ((unsigned)c->norm > CC_NORM_RMS || (unsigned)c->pos > CC_POS_ROTARY || (unsigned)c->act > CC_ACT_RELU)
        return NULL;
    json_t *local = json_array();
    for (int l = 0; l < c->n_layers; l++)
        if (cc_config_layer_is_local(c, l)) json_array_append_new(local, json_integer(l));
    json_t *rotary = c->pos != CC_POS_ROTARY
                         ? json_null()
                         : json_pack("{s:i, s:f, s:s}", "dim", c->rotary_dim, "base", c->rotary_base, "pairs",
                                     c->rotary_adjacent ? "adjacent (2i, 2i+1)" : "halves (i, i + dim/2)");
    json_t *mlp = c->attn_only ? json_null()
                               : json_pack("{s:s, s:s, s:i}", "kind", c->gated ? "gated" : "plain", "act", acts[c->act],
                                           "d_mlp", c->d_mlp);
    return json_pack("{s:s, s:s, s:b, s:s, s:o, s:{s:i, s:i, s:s, s:o, s:i}, s:s, s:o, s:{s:b, s:b, s:b}, s:b}",
                     "family", cc_family_name(c->family), "norm", norms[c->norm], "norm_folded", c->norm_folded,
                     "positions", positions[c->pos], "rotary", rotary, "attention", "heads", c->n_heads, "kv_heads",
                     cc_config_kv_heads(c), "scale", c->attn_unscaled ? "none" : "1/sqrt(d_head)", "local_layers",
                     local, "window", c->window, "block",
                     c->attn_only ? "attention-only" : c->parallel ? "parallel" : "sequential", "mlp", mlp, "biases",
                     "qkv", !c->no_qkv_bias, "o", !c->no_o_bias, "mlp", !c->attn_only && !c->no_mlp_bias,
                     "tied_unembedding", c->tied);
}

int cc_config_save(const cc_config *cfg, const char *path, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(path, err, -1);
    if (cfg->family != CC_FAMILY_GPT2)
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: circuitc writes GPT-2 configs only, not %s", path, cc_family_name(cfg->family));
    json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i, s:s, s:[s]}",
                             "n_embd", cfg->d_model, "n_head", cfg->n_heads, "n_layer", cfg->n_layers,
                             "n_positions", cfg->n_ctx, "n_inner", cfg->d_mlp, "vocab_size", cfg->d_vocab,
                             "layer_norm_epsilon", cfg->ln_eps, "activation_function", "gelu_new",
                             "bos_token_id", cfg->bos_token_id, "eos_token_id", cfg->bos_token_id,
                             "model_type", "gpt2", "architectures", "GPT2LMHeadModel");
    if (!root) return cc_fail_code(err, CC_E_FORMAT, "%s: cannot encode config", path);
    cc_out o;
    int rc = cc_out_open(path, &o, err);
    if (rc == 0 && json_dumpf(root, o.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = cc_fail_code(err, CC_E_IO, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    json_decref(root);
    if (rc == 0) return cc_out_commit(&o, err);
    cc_out_abandon(&o);
    return -1;
}

long long cc_config_n_params(const cc_config *cfg)
{
    CC_ARG_NOT_NULL(cfg, NULL, -1);
    CC_ARG_ENUM(cfg->family, CC_N_FAMILIES, NULL, -1);
    return (long long)arch_value_count(arch_family_get(cfg->family), cfg);
}
