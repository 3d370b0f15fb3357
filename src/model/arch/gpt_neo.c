/* gpt_neo.c — Hugging Face GPT-Neo (model_type "gpt_neo": GPT-Neo, TinyStories).
 *
 * nn.Linear weights are [out, in]; q/k/v projections have no biases; scores
 * are not scaled by 1/sqrt(d_head); the layers listed "local" in
 * attention_types attend to the last window_size positions only. The
 * unembedding is tied to the embedding. */
#include "../arch.h"

#include <string.h>

#define DEST(field) offsetof(cc_weights, field)
#define D ARCH_DIM_D
#define M ARCH_DIM_MLP
#define L "h.%d."

static const arch_tensor NEO[] = {
    {"wte.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_E)}, ARCH_COPY, 0},
    {"wpe.weight", false, {ARCH_DIM_CTX, D}, {DEST(W_pos)}, ARCH_COPY, 0},
    {L "ln_1.weight", true, {D}, {DEST(ln1_w)}, ARCH_COPY, 0},
    {L "ln_1.bias", true, {D}, {DEST(ln1_b)}, ARCH_COPY, 0},
    {L "attn.attention.q_proj.weight", true, {ARCH_DIM_Q, D}, {DEST(W_Q)}, ARCH_HEADS, 0},
    {L "attn.attention.k_proj.weight", true, {ARCH_DIM_Q, D}, {DEST(W_K)}, ARCH_HEADS, 0},
    {L "attn.attention.v_proj.weight", true, {ARCH_DIM_Q, D}, {DEST(W_V)}, ARCH_HEADS, 0},
    {L "attn.attention.out_proj.weight", true, {D, ARCH_DIM_Q}, {DEST(W_O)}, ARCH_TRANSPOSE, 0},
    {L "attn.attention.out_proj.bias", true, {D}, {DEST(b_O)}, ARCH_COPY, 0},
    {L "ln_2.weight", true, {D}, {DEST(ln2_w)}, ARCH_COPY, 0},
    {L "ln_2.bias", true, {D}, {DEST(ln2_b)}, ARCH_COPY, 0},
    {L "mlp.c_fc.weight", true, {M, D}, {DEST(W_in)}, ARCH_TRANSPOSE, 0},
    {L "mlp.c_fc.bias", true, {M}, {DEST(b_in)}, ARCH_COPY, 0},
    {L "mlp.c_proj.weight", true, {D, M}, {DEST(W_out)}, ARCH_TRANSPOSE, 0},
    {L "mlp.c_proj.bias", true, {D}, {DEST(b_out)}, ARCH_COPY, 0},
    {NULL, true, {ARCH_DIM_Q}, {DEST(b_Q)}, ARCH_ZERO, 0},
    {NULL, true, {ARCH_DIM_Q}, {DEST(b_K)}, ARCH_ZERO, 0},
    {NULL, true, {ARCH_DIM_Q}, {DEST(b_V)}, ARCH_ZERO, 0},
    {"ln_f.weight", false, {D}, {DEST(lnf_w)}, ARCH_COPY, 0},
    {"ln_f.bias", false, {D}, {DEST(lnf_b)}, ARCH_COPY, 0},
    {"lm_head.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_U)}, ARCH_TRANSPOSE, ARCH_OPTIONAL | ARCH_UNPREFIXED},
    {NULL, false, {ARCH_DIM_VOCAB}, {DEST(b_U)}, ARCH_ZERO, 0},
};

/* attention_types, e.g. [[["global", "local"], 12]]: the pattern repeated
 * the given number of times must cover the layers exactly. */
static int read_layer_kinds(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    json_t *types = json_object_get(root, "attention_types");
    const char *hint = "it must be a list of [[\"global\" | \"local\", ...], repeat] pairs covering num_layers";
    if (!types) return 0; /* every layer global */
    if (!json_is_array(types)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"attention_types\": %s", path, hint);
    int layer = 0;
    for (size_t i = 0; i < json_array_size(types); i++) {
        json_t *pair = json_array_get(types, i), *kinds = json_array_get(pair, 0), *rep = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_array(kinds) || !json_is_integer(rep) ||
            json_integer_value(rep) < 0 || json_integer_value(rep) > CC_CONFIG_MAX_LAYERS)
            return cc_fail_code(err, CC_E_FORMAT, "%s: field \"attention_types\" entry %zu: %s", path, i, hint);
        for (json_int_t r = 0; r < json_integer_value(rep); r++)
            for (size_t k = 0; k < json_array_size(kinds); k++) {
                const char *kind = json_string_value(json_array_get(kinds, k));
                if (!kind || (strcmp(kind, "global") != 0 && strcmp(kind, "local") != 0))
                    return cc_fail_code(err, CC_E_FORMAT, "%s: field \"attention_types\" entry %zu: \"%s\" is not \"global\" or "
                                        "\"local\"", path, i, kind ? kind : "(not a string)");
                if (layer >= c->n_layers)
                    return cc_fail_code(err, CC_E_FORMAT, "%s: field \"attention_types\" describes more than num_layers (%d) layers",
                                   path, c->n_layers);
                if (kind[0] == 'l') c->local_layers[layer / 64] |= (uint64_t)1 << (layer % 64);
                layer++;
            }
    }
    if (layer != c->n_layers)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"attention_types\" describes %d layers, num_layers is %d", path, layer,
                       c->n_layers);
    return 0;
}

static int read_config(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *act = NULL;
    c->attn_unscaled = true, c->no_qkv_bias = true;
    if (arch_json_int(root, path, "num_layers", true, 0, CC_CONFIG_MAX_LAYERS, &c->n_layers, err) ||
        arch_json_int(root, path, "num_heads", true, 0, CC_CONFIG_MAX_HEADS, &c->n_heads, err) ||
        arch_json_int(root, path, "hidden_size", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_model, err) ||
        arch_json_int(root, path, "intermediate_size", false, -1, CC_CONFIG_MAX_D_MLP, &c->d_mlp, err) ||
        arch_json_int(root, path, "vocab_size", true, 0, CC_CONFIG_MAX_VOCAB, &c->d_vocab, err) ||
        arch_json_int(root, path, "max_position_embeddings", true, 0, CC_CONFIG_MAX_CTX, &c->n_ctx, err) ||
        arch_json_int(root, path, "window_size", false, 256, CC_CONFIG_MAX_CTX, &c->window, err) ||
        arch_json_num(root, path, "layer_norm_epsilon", 1e-5, &c->ln_eps, err) ||
        arch_json_str(root, path, "activation_function", &act, err) ||
        arch_json_act(act ? act : "gelu_new", path, "activation_function", &c->act, err) ||
        read_layer_kinds(root, path, c, err))
        return -1;
    if (c->d_mlp < 0) c->d_mlp = 4 * c->d_model;
    if (c->n_heads > 0) c->d_head = c->d_model / c->n_heads;
    return 0;
}

/* The causal-mask buffers of the attention modules. */
static const char *const BUFFERS[] = {".attention.bias", ".attention.masked_bias", NULL};

const arch_family arch_gpt_neo = {
    CC_FAMILY_GPT_NEO, "gpt_neo", "Hugging Face GPT-Neo (GPTNeoForCausalLM: GPT-Neo, TinyStories)", "transformer.",
    "wte.weight", NEO, (int)(sizeof NEO / sizeof NEO[0]), read_config, BUFFERS,
};
