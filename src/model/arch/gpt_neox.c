/* gpt_neox.c — Hugging Face GPT-NeoX (model_type "gpt_neox": Pythia).
 *
 * nn.Linear weights are [out, in]. query_key_value's rows run (head, q/k/v,
 * d_head): each head's Q, K and V rows sit together, unlike GPT-2's [Q|K|V].
 * Attention and MLP both read the block's input (use_parallel_residual), the
 * first rotary_pct of each head's dimensions rotate, and the unembedding
 * (embed_out) is separate from the embedding. */
#include "../arch.h"

#include <string.h>

#define DEST(field) offsetof(cc_weights, field)
#define D ARCH_DIM_D
#define M ARCH_DIM_MLP
#define L "gpt_neox.layers.%d."

static const arch_tensor NEOX[] = {
    {"gpt_neox.embed_in.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_E)}, ARCH_COPY, 0},
    {L "input_layernorm.weight", true, {D}, {DEST(ln1_w)}, ARCH_COPY, 0},
    {L "input_layernorm.bias", true, {D}, {DEST(ln1_b)}, ARCH_COPY, 0},
    {L "attention.query_key_value.weight", true, {ARCH_DIM_QKV, D}, {DEST(W_Q), DEST(W_K), DEST(W_V)}, ARCH_NEOX_QKV,
     0},
    {L "attention.query_key_value.bias", true, {ARCH_DIM_QKV}, {DEST(b_Q), DEST(b_K), DEST(b_V)}, ARCH_NEOX_QKV,
     ARCH_IF_QKV_BIAS},
    {L "attention.dense.weight", true, {D, ARCH_DIM_Q}, {DEST(W_O)}, ARCH_TRANSPOSE, 0},
    {L "attention.dense.bias", true, {D}, {DEST(b_O)}, ARCH_COPY, ARCH_IF_O_BIAS},
    {L "post_attention_layernorm.weight", true, {D}, {DEST(ln2_w)}, ARCH_COPY, 0},
    {L "post_attention_layernorm.bias", true, {D}, {DEST(ln2_b)}, ARCH_COPY, 0},
    {L "mlp.dense_h_to_4h.weight", true, {M, D}, {DEST(W_in)}, ARCH_TRANSPOSE, 0},
    {L "mlp.dense_h_to_4h.bias", true, {M}, {DEST(b_in)}, ARCH_COPY, 0},
    {L "mlp.dense_4h_to_h.weight", true, {D, M}, {DEST(W_out)}, ARCH_TRANSPOSE, 0},
    {L "mlp.dense_4h_to_h.bias", true, {D}, {DEST(b_out)}, ARCH_COPY, 0},
    {"gpt_neox.final_layer_norm.weight", false, {D}, {DEST(lnf_w)}, ARCH_COPY, 0},
    {"gpt_neox.final_layer_norm.bias", false, {D}, {DEST(lnf_b)}, ARCH_COPY, 0},
    {"embed_out.weight", false, {ARCH_DIM_VOCAB, D}, {DEST(W_U)}, ARCH_TRANSPOSE, ARCH_IF_UNTIED},
    {NULL, false, {ARCH_DIM_VOCAB}, {DEST(b_U)}, ARCH_ZERO, 0},
};

static int read_config(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *act = NULL;
    double pct = 0;
    bool bias = true;
    c->pos = CC_POS_ROTARY;
    if (arch_json_int(root, path, "num_hidden_layers", true, 0, CC_CONFIG_MAX_LAYERS, &c->n_layers, err) ||
        arch_json_int(root, path, "num_attention_heads", true, 0, CC_CONFIG_MAX_HEADS, &c->n_heads, err) ||
        arch_json_int(root, path, "hidden_size", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_model, err) ||
        arch_json_int(root, path, "intermediate_size", true, 0, CC_CONFIG_MAX_D_MLP, &c->d_mlp, err) ||
        arch_json_int(root, path, "vocab_size", true, 0, CC_CONFIG_MAX_VOCAB, &c->d_vocab, err) ||
        arch_json_int(root, path, "max_position_embeddings", true, 0, CC_CONFIG_MAX_CTX, &c->n_ctx, err) ||
        arch_json_num(root, path, "layer_norm_eps", 1e-5, &c->ln_eps, err) ||
        arch_json_str(root, path, "hidden_act", &act, err) ||
        arch_json_act(act ? act : "gelu", path, "hidden_act", &c->act, err) ||
        arch_json_num(root, path, json_object_get(root, "partial_rotary_factor") ? "partial_rotary_factor" : "rotary_pct",
                      0.25, &pct, err) ||
        arch_json_num(root, path, json_object_get(root, "rope_theta") ? "rope_theta" : "rotary_emb_base", 10000,
                      &c->rotary_base, err) ||
        arch_json_bool(root, path, "use_parallel_residual", true, &c->parallel, err) ||
        arch_json_bool(root, path, "tie_word_embeddings", false, &c->tied, err) ||
        arch_json_bool(root, path, "attention_bias", true, &bias, err))
        return -1;
    json_t *scaling = json_object_get(root, "rope_scaling");
    if (scaling && !json_is_null(scaling))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"rope_scaling\" is set; circuitc implements plain rotary embeddings only "
                            "(rope_scaling null)", path);
    if (c->n_heads > 0) c->d_head = c->d_model / c->n_heads;
    if (!(pct > 0 && pct <= 1))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"rotary_pct\" must be in (0, 1], got %g", path, pct);
    /* as the model defines it, int(d_head * rotary_pct); TransformerLens rounds
       instead, which differs only when the product is not whole */
    c->rotary_dim = (int)(c->d_head * pct);
    c->no_qkv_bias = c->no_o_bias = !bias;
    return 0;
}

/* Causal-mask and rotary buffers older exports carry. */
static const char *const BUFFERS[] = {".attention.bias", ".attention.masked_bias", "rotary_emb.inv_freq", NULL};

const arch_family arch_gpt_neox = {
    CC_FAMILY_GPT_NEOX, "gpt_neox", "Hugging Face GPT-NeoX (GPTNeoXForCausalLM: Pythia)", NULL,
    "gpt_neox.embed_in.weight", NEOX, (int)(sizeof NEOX / sizeof NEOX[0]), read_config, BUFFERS,
};
