/* config.c — GPT-2 config.json reading, checking and writing. */
#include "circuitc/config.h"

#include "circuitc/fsio.h"
#include "core/args.h"
#include "core/json_error.h"
#include "gpt2_tensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Reads integer field KEY into *OUT (DFLT when absent or null, unless REQUIRED);
 * it must lie in [0, MAX]. */
static int get_int(json_t *root, const char *path, const char *key, int required, int dflt, int max, int *out,
                   cc_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return cc_fail(err, "%s: missing field \"%s\" (a GPT-2 config.json has it)", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cc_fail(err, "%s: field \"%s\" must be a non-negative integer", path, key);
    if (json_integer_value(v) > max)
        return cc_fail(err, "%s: field \"%s\" is %lld, above circuitc's limit of %d (README \"Reliability\"); "
                            "is this the config of a GPT-2-style model?",
                       path, key, (long long)json_integer_value(v), max);
    *out = (int)json_integer_value(v);
    return 0;
}

/* Fails unless the ROWS x COLS matrix NAME stays within CC_CONFIG_MAX_MATRIX_ELEMENTS. */
static int check_matrix(const char *label, const char *name, long long rows, long long cols, cc_error *err)
{
    long long n;
    if (__builtin_mul_overflow(rows, cols, &n) || n > CC_CONFIG_MAX_MATRIX_ELEMENTS)
        return cc_fail(err, "%s: %s would be %lld x %lld, more than circuitc's limit of %lld elements per matrix",
                       label, name, rows, cols, CC_CONFIG_MAX_MATRIX_ELEMENTS);
    return 0;
}

int cc_config_kv_heads(const cc_config *c)
{
    CC_ARG_NOT_NULL(c, NULL, 0);
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
    return (unsigned)f < CC_N_FAMILIES ? names[f] : "unknown";
}

int cc_config_validate(const cc_config *cfg, const char *label, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    if (!label) label = "<config>"; /* as cc_circuit_parse names an unnamed text */
    if (cfg->n_layers < 1 || cfg->n_heads < 1 || cfg->d_model < 1 || cfg->d_mlp < 1 || cfg->d_vocab < 1 ||
        cfg->n_ctx < 1)
        return cc_fail(err, "%s: n_layer, n_head, n_embd, n_inner, vocab_size and n_positions must all "
                            "be positive", label);
    if (cfg->n_layers > CC_CONFIG_MAX_LAYERS || cfg->n_heads > CC_CONFIG_MAX_HEADS ||
        cfg->d_model > CC_CONFIG_MAX_D_MODEL || cfg->d_mlp > CC_CONFIG_MAX_D_MLP || cfg->d_vocab > CC_CONFIG_MAX_VOCAB ||
        cfg->n_ctx > CC_CONFIG_MAX_CTX)
        return cc_fail(err, "%s: a size is above circuitc's limits (n_layer <= %d, n_head <= %d, n_embd <= %d, "
                            "n_inner <= %d, vocab_size <= %d, n_positions <= %d)",
                       label, CC_CONFIG_MAX_LAYERS, CC_CONFIG_MAX_HEADS, CC_CONFIG_MAX_D_MODEL, CC_CONFIG_MAX_D_MLP,
                       CC_CONFIG_MAX_VOCAB, CC_CONFIG_MAX_CTX);
    if (cfg->d_model % cfg->n_heads != 0)
        return cc_fail(err, "%s: n_embd (%d) is not divisible by n_head (%d)", label, cfg->d_model, cfg->n_heads);
    if (check_matrix(label, "the embedding (vocab_size x n_embd)", cfg->d_vocab, cfg->d_model, err) ||
        check_matrix(label, "the position embedding (n_positions x n_embd)", cfg->n_ctx, cfg->d_model, err) ||
        check_matrix(label, "c_attn (n_embd x 3 n_embd)", cfg->d_model, 3LL * cfg->d_model, err) ||
        check_matrix(label, "the MLP (n_embd x n_inner)", cfg->d_model, cfg->d_mlp, err))
        return -1;
    if (!(cfg->ln_eps > 0 && cfg->ln_eps < 1))
        return cc_fail(err, "%s: layer_norm_epsilon must be in (0, 1), got %g", label, cfg->ln_eps);
    if (cfg->bos_token_id < 0 || cfg->bos_token_id >= cfg->d_vocab)
        return cc_fail(err, "%s: bos_token_id %d is outside the vocabulary [0, %d)", label, cfg->bos_token_id,
                       cfg->d_vocab);
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
        return cc_fail(err, "%s; pass a model folder holding config.json or --config FILE", why);
    }
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (!root) return cc_fail_json(err, path, &jerr);
    int rc = -1;
    cc_config c = {0};
    if (!json_is_object(root)) {
        cc_fail(err, "%s: config must be a JSON object", path);
        goto out;
    }
    json_t *type = json_object_get(root, "model_type");
    if (type && !json_is_null(type) && !json_is_string(type)) {
        cc_fail(err, "%s: field \"model_type\" must be a string (\"gpt2\")", path);
        goto out;
    }
    if (type && json_is_string(type) && strcmp(json_string_value(type), "gpt2") != 0) {
        cc_fail(err, "%s: model_type \"%s\" is not supported; circuitc reads GPT-2 models only (model_type \"gpt2\", "
                     "GPT2LMHeadModel: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2 and other models of that "
                     "architecture); GPT-Neo, GPT-NeoX/Pythia, GPT-J, OPT, Llama and the rest are not",
                path, json_string_value(type));
        goto out;
    }
    json_t *act = json_object_get(root, "activation_function");
    if (act && !json_is_null(act) &&
        (!json_is_string(act) || strcmp(json_string_value(act), "gelu_new") != 0)) {
        cc_fail(err, "%s: field \"activation_function\" is %s; circuitc implements GPT-2's \"gelu_new\" only",
                path, json_is_string(act) ? json_string_value(act) : "not a string");
        goto out;
    }
    int n_pos = 0, n_ctx = 0;
    if (get_int(root, path, "n_layer", 1, 0, CC_CONFIG_MAX_LAYERS, &c.n_layers, err) ||
        get_int(root, path, "n_head", 1, 0, CC_CONFIG_MAX_HEADS, &c.n_heads, err) ||
        get_int(root, path, "n_embd", 1, 0, CC_CONFIG_MAX_D_MODEL, &c.d_model, err) ||
        get_int(root, path, "vocab_size", 1, 0, CC_CONFIG_MAX_VOCAB, &c.d_vocab, err) ||
        get_int(root, path, "n_positions", 0, 0, CC_CONFIG_MAX_CTX, &n_pos, err) ||
        get_int(root, path, "n_ctx", 0, 0, CC_CONFIG_MAX_CTX, &n_ctx, err) ||
        get_int(root, path, "n_inner", 0, -1, CC_CONFIG_MAX_D_MLP, &c.d_mlp, err) ||
        get_int(root, path, "bos_token_id", 0, c.d_vocab - 1, CC_CONFIG_MAX_VOCAB, &c.bos_token_id, err))
        goto out;
    _Static_assert(4LL * CC_CONFIG_MAX_D_MODEL <= CC_CONFIG_MAX_D_MLP, "the default n_inner must fit the limit");
    if (c.d_mlp < 0) c.d_mlp = 4 * c.d_model; /* n_inner null: GPT-2's 4 x n_embd (n_embd is bounded above) */
    c.n_ctx = n_pos ? n_pos : n_ctx;
    if (!c.n_ctx) {
        cc_fail(err, "%s: missing field \"n_positions\" (the context length)", path);
        goto out;
    }
    json_t *eps = json_object_get(root, "layer_norm_epsilon");
    if (eps && !json_is_null(eps)) {
        if (!json_is_number(eps)) {
            cc_fail(err, "%s: field \"layer_norm_epsilon\" must be a number", path);
            goto out;
        }
        c.ln_eps = json_number_value(eps);
    } else {
        c.ln_eps = 1e-5;
    }
    if (c.n_heads > 0) c.d_head = c.d_model / c.n_heads;
    if (cc_config_validate(&c, path, err) != 0) goto out;
    *cfg = c;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int cc_config_save(const cc_config *cfg, const char *path, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(path, err, -1);
    json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i, s:s, s:[s]}",
                             "n_embd", cfg->d_model, "n_head", cfg->n_heads, "n_layer", cfg->n_layers,
                             "n_positions", cfg->n_ctx, "n_inner", cfg->d_mlp, "vocab_size", cfg->d_vocab,
                             "layer_norm_epsilon", cfg->ln_eps, "activation_function", "gelu_new",
                             "bos_token_id", cfg->bos_token_id, "eos_token_id", cfg->bos_token_id,
                             "model_type", "gpt2", "architectures", "GPT2LMHeadModel");
    if (!root) return cc_fail(err, "%s: cannot encode config", path);
    cc_out o;
    int rc = cc_out_open(path, &o, err);
    if (rc == 0 && json_dumpf(root, o.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = cc_fail(err, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    json_decref(root);
    if (rc == 0) return cc_out_commit(&o, err);
    cc_out_abandon(&o);
    return -1;
}

long long cc_config_n_params(const cc_config *cfg)
{
    CC_ARG_NOT_NULL(cfg, NULL, -1);
    return (long long)gpt2_value_count(cfg);
}
