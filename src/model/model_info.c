/* model_info.c — `circuitc info --json`'s model facts: what a model file holds,
 * read from its header and config (no weights need be loaded). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "circuitc/hooks.h"
#include "circuitc/model.h"
#include "core/args.h"

/* The hooks a forward pass of C offers, per-block ones as "blocks.{l}.NAME". */
static json_t *hooks_json(const cc_config *c)
{
    json_t *list = json_array();
    for (int k = 0; list && k < CC_HOOK_COUNT; k++) {
        if (!cc_hook_available(c, (cc_hook_kind)k)) continue;
        char name[96], shown[112];
        cc_hook_name((cc_hook_kind)k, 0, name, sizeof name);
        bool per_layer = cc_hook_per_layer((cc_hook_kind)k);
        snprintf(shown, sizeof shown, "%s%s", per_layer ? "blocks.{l}." : "", per_layer ? name + strlen("blocks.0.") : name);
        json_array_append_new(list, json_string(shown));
    }
    return list;
}

static json_t *path_json(const char *path)
{
    return path ? json_string_nocheck(path) : json_null();
}

json_t *cc_model_info_json(const cc_model *m, const char *sha256)
{
    CC_ARG_NOT_NULL(m, NULL, NULL);
    const cc_config *c = cc_model_config(m);
    long long unembedding = cc_model_tied_unembedding(m) ? 0 : (long long)c->d_vocab * c->d_model;
    return json_pack("{s:o, s:o, s:s, s:I, s:I, s:s, s:b, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i}, "
                     "s:o, s:o, s:I, s:o}",
                     "weights_file", path_json(cc_model_weights_file(m)), "config_file",
                     path_json(cc_model_config_file(m)), "dtype", cc_dtype_name(cc_model_dtype(m)), "file_bytes",
                     (json_int_t)cc_model_file_bytes(m), "n_tensors", (json_int_t)cc_model_n_tensors(m),
                     "tensor_prefix", cc_model_tensor_prefix(m), "tied_unembedding", cc_model_tied_unembedding(m),
                     "config", "n_layers", c->n_layers, "n_heads", c->n_heads, "d_model", c->d_model, "d_head",
                     c->d_head, "d_mlp", c->d_mlp, "d_vocab", c->d_vocab, "n_ctx", c->n_ctx, "ln_eps", c->ln_eps,
                     "bos_token_id", c->bos_token_id, "architecture", cc_config_arch_json(c), "hooks", hooks_json(c),
                     "n_params", (json_int_t)(cc_config_n_params(c) + unembedding), "sha256",
                     sha256 ? json_string(sha256) : json_null());
}
