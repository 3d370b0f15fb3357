/* config.c — GPT-2 config.json reading, checking and writing. */
#include "circuitc/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int get_int(json_t *root, const char *path, const char *key, int required, int dflt, int *out,
                   cc_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return cc_fail(err, "%s: missing field \"%s\" (a GPT-2 config.json has it)", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
        return cc_fail(err, "%s: field \"%s\" must be a non-negative integer", path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

int cc_config_validate(const cc_config *c, const char *label, cc_error *err)
{
    if (c->n_layers < 1 || c->n_heads < 1 || c->d_model < 1 || c->d_mlp < 1 || c->d_vocab < 1 || c->n_ctx < 1)
        return cc_fail(err, "%s: n_layer, n_head, n_embd, n_inner, vocab_size and n_positions must all "
                            "be positive", label);
    if (c->d_model % c->n_heads != 0)
        return cc_fail(err, "%s: n_embd (%d) is not divisible by n_head (%d)", label, c->d_model, c->n_heads);
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return cc_fail(err, "%s: layer_norm_epsilon must be in (0, 1), got %g", label, c->ln_eps);
    if (c->bos_token_id < 0 || c->bos_token_id >= c->d_vocab)
        return cc_fail(err, "%s: bos_token_id %d is outside the vocabulary [0, %d)", label, c->bos_token_id,
                       c->d_vocab);
    return 0;
}

int cc_config_load(const char *path, cc_config *cfg, cc_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0)
            return cc_fail(err, "%s: cannot read config: %s; pass a model folder holding config.json "
                                "or --config FILE", path, strerror(errno));
        return cc_fail(err, "%s: not valid JSON (%s, line %d)", path, jerr.text, jerr.line);
    }
    int rc = -1;
    cc_config c = {0};
    if (!json_is_object(root)) {
        cc_fail(err, "%s: config must be a JSON object", path);
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
    if (get_int(root, path, "n_layer", 1, 0, &c.n_layers, err) || get_int(root, path, "n_head", 1, 0, &c.n_heads, err) ||
        get_int(root, path, "n_embd", 1, 0, &c.d_model, err) || get_int(root, path, "vocab_size", 1, 0, &c.d_vocab, err) ||
        get_int(root, path, "n_positions", 0, 0, &n_pos, err) || get_int(root, path, "n_ctx", 0, 0, &n_ctx, err) ||
        get_int(root, path, "n_inner", 0, 4 * c.d_model, &c.d_mlp, err) ||
        get_int(root, path, "bos_token_id", 0, c.d_vocab - 1, &c.bos_token_id, err))
        goto out;
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

int cc_config_save(const cc_config *c, const char *path, cc_error *err)
{
    json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i, s:s, s:[s]}",
                             "n_embd", c->d_model, "n_head", c->n_heads, "n_layer", c->n_layers,
                             "n_positions", c->n_ctx, "n_inner", c->d_mlp, "vocab_size", c->d_vocab,
                             "layer_norm_epsilon", c->ln_eps, "activation_function", "gelu_new",
                             "bos_token_id", c->bos_token_id, "eos_token_id", c->bos_token_id,
                             "model_type", "gpt2", "architectures", "GPT2LMHeadModel");
    if (!root) return cc_fail(err, "%s: cannot encode config", path);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return cc_fail(err, "%s: cannot write config: %s", path, strerror(errno));
    }
    return 0;
}

long long cc_config_n_params(const cc_config *c)
{
    long long d = c->d_model, m = c->d_mlp;
    long long per_layer = 2 * d                    /* ln_1 */
                          + d * 3 * d + 3 * d      /* c_attn */
                          + d * d + d              /* c_proj */
                          + 2 * d                  /* ln_2 */
                          + d * m + m + m * d + d; /* mlp */
    return (long long)c->d_vocab * d + (long long)c->n_ctx * d + c->n_layers * per_layer + 2 * d;
}
