/* gpt2.c — Hugging Face GPT-2 (model_type "gpt2", GPT2LMHeadModel).
 *
 * Conv1D weights are [in, out]: c_attn's columns are Q, K, V of every head;
 * c_proj's rows h*dh+i are W_O[h, i, :], the same memory as [H, dh, d]. The
 * unembedding is lm_head.weight transposed when the file has it, else the
 * embedding's (tied). Names may carry a "transformer." prefix. */
#include "../arch.h"

#include <string.h>

#define DEST(field) offsetof(cc_weights, field)
#define D ARCH_DIM_D

static const arch_tensor GPT2[] = {
    {"wte.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_E)}, ARCH_COPY, 0},
    {"wpe.weight", false, {ARCH_DIM_CTX, D}, {DEST(W_pos)}, ARCH_COPY, 0},
    {"h.%d.ln_1.weight", true, {D}, {DEST(ln1_w)}, ARCH_COPY, 0},
    {"h.%d.ln_1.bias", true, {D}, {DEST(ln1_b)}, ARCH_COPY, 0},
    {"h.%d.attn.c_attn.weight", true, {D, ARCH_DIM_QKV}, {DEST(W_Q), DEST(W_K), DEST(W_V)}, ARCH_CONV1D_QKV, 0},
    {"h.%d.attn.c_attn.bias", true, {ARCH_DIM_QKV}, {DEST(b_Q), DEST(b_K), DEST(b_V)}, ARCH_CONV1D_QKV, 0},
    {"h.%d.attn.c_proj.weight", true, {ARCH_DIM_Q, D}, {DEST(W_O)}, ARCH_COPY, 0},
    {"h.%d.attn.c_proj.bias", true, {D}, {DEST(b_O)}, ARCH_COPY, 0},
    {"h.%d.ln_2.weight", true, {D}, {DEST(ln2_w)}, ARCH_COPY, 0},
    {"h.%d.ln_2.bias", true, {D}, {DEST(ln2_b)}, ARCH_COPY, 0},
    {"h.%d.mlp.c_fc.weight", true, {D, ARCH_DIM_MLP}, {DEST(W_in)}, ARCH_COPY, 0},
    {"h.%d.mlp.c_fc.bias", true, {ARCH_DIM_MLP}, {DEST(b_in)}, ARCH_COPY, 0},
    {"h.%d.mlp.c_proj.weight", true, {ARCH_DIM_MLP, D}, {DEST(W_out)}, ARCH_COPY, 0},
    {"h.%d.mlp.c_proj.bias", true, {D}, {DEST(b_out)}, ARCH_COPY, 0},
    {"ln_f.weight", false, {D}, {DEST(lnf_w)}, ARCH_COPY, 0},
    {"ln_f.bias", false, {D}, {DEST(lnf_b)}, ARCH_COPY, 0},
    {"lm_head.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_U)}, ARCH_TRANSPOSE, ARCH_OPTIONAL | ARCH_UNPREFIXED},
    {NULL, false, {ARCH_DIM_VOCAB}, {DEST(b_U)}, ARCH_ZERO, 0},
};

static int read_config(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *act = NULL;
    if (arch_json_str(root, path, "activation_function", &act, err) != 0) return -1;
    if (act && strcmp(act, "gelu_new") != 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"activation_function\" is \"%s\"; circuitc implements GPT-2's \"gelu_new\" only",
                       path, act);
    int n_pos = 0, n_ctx = 0;
    if (arch_json_int(root, path, "n_layer", true, 0, CC_CONFIG_MAX_LAYERS, &c->n_layers, err) ||
        arch_json_int(root, path, "n_head", true, 0, CC_CONFIG_MAX_HEADS, &c->n_heads, err) ||
        arch_json_int(root, path, "n_embd", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_model, err) ||
        arch_json_int(root, path, "vocab_size", true, 0, CC_CONFIG_MAX_VOCAB, &c->d_vocab, err) ||
        arch_json_int(root, path, "n_positions", false, 0, CC_CONFIG_MAX_CTX, &n_pos, err) ||
        arch_json_int(root, path, "n_ctx", false, 0, CC_CONFIG_MAX_CTX, &n_ctx, err) ||
        arch_json_int(root, path, "n_inner", false, -1, CC_CONFIG_MAX_D_MLP, &c->d_mlp, err) ||
        arch_json_num(root, path, "layer_norm_epsilon", 1e-5, &c->ln_eps, err))
        return -1;
    _Static_assert(4LL * CC_CONFIG_MAX_D_MODEL <= CC_CONFIG_MAX_D_MLP, "the default n_inner must fit the limit");
    if (c->d_mlp < 0) c->d_mlp = 4 * c->d_model; /* n_inner null: GPT-2's 4 x n_embd (n_embd is bounded above) */
    c->n_ctx = n_pos ? n_pos : n_ctx;
    if (!c->n_ctx) return cc_fail_code(err, CC_E_FORMAT, "%s: missing field \"n_positions\" (the context length)", path);
    if (c->n_heads > 0) c->d_head = c->d_model / c->n_heads;
    return 0;
}

/* The causal-mask buffers some checkpoints carry. */
static const char *const BUFFERS[] = {".attn.bias", ".attn.masked_bias", NULL};

const arch_family arch_gpt2 = {
    CC_FAMILY_GPT2, "gpt2", "Hugging Face GPT-2 (GPT2LMHeadModel)", "transformer.", "wte.weight",
    GPT2, (int)(sizeof GPT2 / sizeof GPT2[0]), read_config, BUFFERS,
};
