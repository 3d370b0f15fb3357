/* llama.c — Hugging Face Llama (model_type "llama": TinyLlama, SmolLM, ...),
 * and "mistral" and "qwen2" checkpoints whose extras are off.
 *
 * nn.Linear weights are [out, in]: q_proj's rows are (head, d_head), k_proj's
 * and v_proj's the same over the key/value heads (grouped-query attention).
 * RMSNorm, rotary positions over the whole head (pairs (i, i + d_head/2)),
 * MLP down(silu(gate(x)) * up(x)). Qwen2 adds q/k/v biases. */
#include "../arch.h"

#include <string.h>

#define DEST(field) offsetof(cc_weights, field)
#define D ARCH_DIM_D
#define M ARCH_DIM_MLP
#define L "model.layers.%d."

static const arch_tensor LLAMA[] = {
    {"model.embed_tokens.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_E)}, ARCH_COPY, 0},
    {L "input_layernorm.weight", true, {D}, {DEST(ln1_w)}, ARCH_COPY, 0},
    {L "self_attn.q_proj.weight", true, {ARCH_DIM_Q, D}, {DEST(W_Q)}, ARCH_HEADS, 0},
    {L "self_attn.k_proj.weight", true, {ARCH_DIM_KV, D}, {DEST(W_K)}, ARCH_HEADS, 0},
    {L "self_attn.v_proj.weight", true, {ARCH_DIM_KV, D}, {DEST(W_V)}, ARCH_HEADS, 0},
    {L "self_attn.q_proj.bias", true, {ARCH_DIM_Q}, {DEST(b_Q)}, ARCH_COPY, ARCH_IF_QKV_BIAS},
    {L "self_attn.k_proj.bias", true, {ARCH_DIM_KV}, {DEST(b_K)}, ARCH_KV_REPEAT, ARCH_IF_QKV_BIAS},
    {L "self_attn.v_proj.bias", true, {ARCH_DIM_KV}, {DEST(b_V)}, ARCH_KV_REPEAT, ARCH_IF_QKV_BIAS},
    {L "self_attn.o_proj.weight", true, {D, ARCH_DIM_Q}, {DEST(W_O)}, ARCH_TRANSPOSE, 0},
    {L "self_attn.o_proj.bias", true, {D}, {DEST(b_O)}, ARCH_COPY, ARCH_IF_O_BIAS},
    {L "post_attention_layernorm.weight", true, {D}, {DEST(ln2_w)}, ARCH_COPY, 0},
    {L "mlp.gate_proj.weight", true, {M, D}, {DEST(W_gate)}, ARCH_TRANSPOSE, 0},
    {L "mlp.up_proj.weight", true, {M, D}, {DEST(W_in)}, ARCH_TRANSPOSE, 0},
    {L "mlp.down_proj.weight", true, {D, M}, {DEST(W_out)}, ARCH_TRANSPOSE, 0},
    {NULL, true, {M}, {DEST(b_in)}, ARCH_ZERO, 0},
    {NULL, true, {D}, {DEST(b_out)}, ARCH_ZERO, 0},
    {"model.norm.weight", false, {D}, {DEST(lnf_w)}, ARCH_COPY, 0},
    {"lm_head.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_U)}, ARCH_TRANSPOSE, ARCH_IF_UNTIED},
    {NULL, false, {ARCH_DIM_VOCAB}, {DEST(b_U)}, ARCH_ZERO, 0},
};

/* Refuses KEY when set to anything but null / false / 0: a feature of the
 * family's block that circuitc does not implement (WHY says which). */
static int read_config(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *act = NULL, *type = NULL;
    bool bias = false;
    c->norm = CC_NORM_RMS, c->pos = CC_POS_ROTARY, c->gated = true, c->no_mlp_bias = true;
    if (arch_json_str(root, path, "model_type", &type, err) ||
        arch_json_int(root, path, "num_hidden_layers", true, 0, CC_CONFIG_MAX_LAYERS, &c->n_layers, err) ||
        arch_json_int(root, path, "num_attention_heads", true, 0, CC_CONFIG_MAX_HEADS, &c->n_heads, err) ||
        arch_json_int(root, path, "num_key_value_heads", false, 0, CC_CONFIG_MAX_HEADS, &c->n_kv_heads, err) ||
        arch_json_int(root, path, "hidden_size", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_model, err) ||
        arch_json_int(root, path, "head_dim", false, 0, CC_CONFIG_MAX_D_MODEL, &c->d_head, err) ||
        arch_json_int(root, path, "intermediate_size", true, 0, CC_CONFIG_MAX_D_MLP, &c->d_mlp, err) ||
        arch_json_int(root, path, "vocab_size", true, 0, CC_CONFIG_MAX_VOCAB, &c->d_vocab, err) ||
        arch_json_int(root, path, "max_position_embeddings", true, 0, CC_CONFIG_MAX_CTX, &c->n_ctx, err) ||
        arch_json_num(root, path, "rms_norm_eps", 1e-6, &c->ln_eps, err) ||
        arch_json_num(root, path, "rope_theta", 10000, &c->rotary_base, err) ||
        arch_json_str(root, path, "hidden_act", &act, err) ||
        arch_json_act(act ? act : "silu", path, "hidden_act", &c->act, err) ||
        arch_json_bool(root, path, "tie_word_embeddings", false, &c->tied, err) ||
        arch_json_bool(root, path, "attention_bias", false, &bias, err))
        return -1;
    const char *no_extras = "circuitc does not implement that: it reads the plain Llama block (no rope scaling, no "
                            "MLP biases, no sliding-window or qk-norm variants); see docs/architectures.md";
    static const char *const extras[] = {"rope_scaling", "mlp_bias", "use_sliding_window", "qk_layernorm", NULL};
    if (arch_json_refuse_on(root, path, extras, no_extras, err) != 0) return -1;
    /* Mistral's sliding window changes nothing while it covers the whole context. */
    json_t *window = json_object_get(root, "sliding_window");
    if (type && strcmp(type, "mistral") == 0 && json_is_integer(window) && json_integer_value(window) < c->n_ctx)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"sliding_window\" (%lld) is shorter than max_position_embeddings (%d); "
                            "%s",
                       path, (long long)json_integer_value(window), c->n_ctx, no_extras);
    if (!c->d_head && c->n_heads > 0) c->d_head = c->d_model / c->n_heads;
    c->rotary_dim = c->d_head;
    /* Qwen2 has q/k/v biases and no output bias; Llama's attention_bias adds all four. */
    bool qwen2 = type && strcmp(type, "qwen2") == 0;
    c->no_qkv_bias = !(bias || qwen2);
    c->no_o_bias = !bias;
    return 0;
}

/* Rotary buffers older exports carry. */
static const char *const BUFFERS[] = {"rotary_emb.inv_freq", NULL};

const arch_family arch_llama = {
    CC_FAMILY_LLAMA, "llama|mistral|qwen2", "Hugging Face Llama (LlamaForCausalLM; Mistral and Qwen2 without extras)",
    NULL, "model.embed_tokens.weight", LLAMA, (int)(sizeof LLAMA / sizeof LLAMA[0]), read_config, BUFFERS,
};
