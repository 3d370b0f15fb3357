/* transformer_lens.c — a TransformerLens HookedTransformer exported as its
 * state dict (safetensors, TransformerLens' own names and layouts) plus its
 * HookedTransformerConfig as JSON (docs/architectures.md shows the two lines
 * of Python). This is how TransformerLens' toy models (attention-only,
 * shortformer positions) and anything else TransformerLens can load reach
 * circuitc. The weights are already in canonical layout; an export of a
 * processed model (LNPre / RMSPre) stores no norm weights. */
#include "../arch.h"

#include <math.h>
#include <string.h>

#define DEST(field) offsetof(cc_weights, field)
#define D ARCH_DIM_D
#define M ARCH_DIM_MLP
#define H ARCH_DIM_H
#define DH ARCH_DIM_DH
#define A "blocks.%d.attn."

static const arch_tensor TL[] = {
    {"embed.W_E", false, {ARCH_DIM_VOCAB, D}, {DEST(W_E)}, ARCH_COPY, 0},
    {"pos_embed.W_pos", false, {ARCH_DIM_CTX, D}, {DEST(W_pos)}, ARCH_COPY, ARCH_IF_POS},
    {"blocks.%d.ln1.w", true, {D}, {DEST(ln1_w)}, ARCH_COPY, ARCH_IF_NORM},
    {"blocks.%d.ln1.b", true, {D}, {DEST(ln1_b)}, ARCH_COPY, ARCH_IF_NORM | ARCH_IF_NORM_BIAS},
    {A "W_Q", true, {H, D, DH}, {DEST(W_Q)}, ARCH_COPY, 0},
    {A "W_K", true, {H, D, DH}, {DEST(W_K)}, ARCH_COPY, ARCH_IF_MHA},
    {A "W_V", true, {H, D, DH}, {DEST(W_V)}, ARCH_COPY, ARCH_IF_MHA},
    {A "_W_K", true, {ARCH_DIM_KVH, D, DH}, {DEST(W_K)}, ARCH_KV_REPEAT, ARCH_IF_GQA},
    {A "_W_V", true, {ARCH_DIM_KVH, D, DH}, {DEST(W_V)}, ARCH_KV_REPEAT, ARCH_IF_GQA},
    {A "b_Q", true, {H, DH}, {DEST(b_Q)}, ARCH_COPY, 0},
    {A "b_K", true, {H, DH}, {DEST(b_K)}, ARCH_COPY, ARCH_IF_MHA},
    {A "b_V", true, {H, DH}, {DEST(b_V)}, ARCH_COPY, ARCH_IF_MHA},
    {A "_b_K", true, {ARCH_DIM_KVH, DH}, {DEST(b_K)}, ARCH_KV_REPEAT, ARCH_IF_GQA},
    {A "_b_V", true, {ARCH_DIM_KVH, DH}, {DEST(b_V)}, ARCH_KV_REPEAT, ARCH_IF_GQA},
    {A "W_O", true, {H, DH, D}, {DEST(W_O)}, ARCH_COPY, 0},
    {A "b_O", true, {D}, {DEST(b_O)}, ARCH_COPY, 0},
    {"blocks.%d.ln2.w", true, {D}, {DEST(ln2_w)}, ARCH_COPY, ARCH_IF_MLP | ARCH_IF_NORM},
    {"blocks.%d.ln2.b", true, {D}, {DEST(ln2_b)}, ARCH_COPY, ARCH_IF_MLP | ARCH_IF_NORM | ARCH_IF_NORM_BIAS},
    {"blocks.%d.mlp.W_in", true, {D, M}, {DEST(W_in)}, ARCH_COPY, ARCH_IF_MLP},
    {"blocks.%d.mlp.W_gate", true, {D, M}, {DEST(W_gate)}, ARCH_COPY, ARCH_IF_GATED},
    {"blocks.%d.mlp.b_in", true, {M}, {DEST(b_in)}, ARCH_COPY, ARCH_IF_MLP},
    {"blocks.%d.mlp.W_out", true, {M, D}, {DEST(W_out)}, ARCH_COPY, ARCH_IF_MLP},
    {"blocks.%d.mlp.b_out", true, {D}, {DEST(b_out)}, ARCH_COPY, ARCH_IF_MLP},
    {"ln_final.w", false, {D}, {DEST(lnf_w)}, ARCH_COPY, ARCH_IF_NORM},
    {"ln_final.b", false, {D}, {DEST(lnf_b)}, ARCH_COPY, ARCH_IF_NORM | ARCH_IF_NORM_BIAS},
    {"unembed.W_U", false, {D, ARCH_DIM_VOCAB}, {DEST(W_U)}, ARCH_COPY, 0},
    {"unembed.b_U", false, {ARCH_DIM_VOCAB}, {DEST(b_U)}, ARCH_COPY, 0},
};

/* Config keys that change the computation in ways circuitc does not
 * implement (qk-norm, extra norms, NTK rope, soft caps, mixture of experts). */
static int refuse_features(json_t *root, const char *path, cc_error *err)
{
    static const char *const features[] = {
        "use_qk_norm", "post_embedding_ln", "use_normalization_before_and_after", "use_NTK_by_parts_rope",
        "scale_attn_by_inverse_layer_idx", "ungroup_grouped_query_attention", "attn_scores_soft_cap",
        "output_logits_soft_cap", "num_experts", NULL};
    return arch_json_refuse_on(root, path, features,
                               "circuitc does not implement it (docs/architectures.md lists what a TransformerLens "
                               "config may use)",
                               err);
}

static int read_norm(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *norm = NULL;
    if (arch_json_str(root, path, "normalization_type", &norm, err) != 0) return -1;
    if (!norm)
        return cc_fail_code(err, CC_E_FORMAT, "%s: \"normalization_type\" is null; circuitc reads models with LayerNorm (\"LN\", "
                            "\"LNPre\") or RMSNorm (\"RMS\", \"RMSPre\")", path);
    c->norm = strncmp(norm, "RMS", 3) == 0 ? CC_NORM_RMS : CC_NORM_LN;
    c->norm_folded = strcmp(norm, "LNPre") == 0 || strcmp(norm, "RMSPre") == 0;
    if (strcmp(norm, "LN") != 0 && strcmp(norm, "RMS") != 0 && !c->norm_folded)
        return cc_fail_code(err, CC_E_FORMAT, "%s: \"normalization_type\" \"%s\" is not one of LN, LNPre, RMS, RMSPre", path, norm);
    bool final_rms = false;
    if (arch_json_bool(root, path, "final_rms", false, &final_rms, err) != 0) return -1;
    if (final_rms && c->norm != CC_NORM_RMS)
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: \"final_rms\" with LayerNorm blocks is not supported (one norm kind per model)", path);
    return 0;
}

static int read_positions(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *pos = NULL;
    if (arch_json_str(root, path, "positional_embedding_type", &pos, err) != 0) return -1;
    if (!pos || strcmp(pos, "standard") == 0) c->pos = CC_POS_LEARNED;
    else if (strcmp(pos, "shortformer") == 0) c->pos = CC_POS_SHORTFORMER;
    else if (strcmp(pos, "rotary") == 0) c->pos = CC_POS_ROTARY;
    else
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: \"positional_embedding_type\" \"%s\" is not supported; circuitc reads standard, "
                            "shortformer and rotary", path, pos);
    if (c->pos != CC_POS_ROTARY) return 0;
    return arch_json_int(root, path, "rotary_dim", true, 0, CC_CONFIG_MAX_D_MODEL, &c->rotary_dim, err) ||
                   arch_json_num(root, path, "rotary_base", 10000, &c->rotary_base, err) ||
                   arch_json_bool(root, path, "rotary_adjacent_pairs", false, &c->rotary_adjacent, err)
               ? -1
               : 0;
}

/* attn_types, a list of "global" / "local" per layer, when use_local_attn. */
static int read_local(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    bool local = false;
    if (arch_json_bool(root, path, "use_local_attn", false, &local, err) != 0) return -1;
    if (!local) return 0;
    json_t *types = json_object_get(root, "attn_types");
    if (!json_is_array(types) || json_array_size(types) != (size_t)c->n_layers)
        return cc_fail_code(err, CC_E_FORMAT, "%s: \"attn_types\" must list \"global\" or \"local\" for each of the %d layers", path,
                       c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        const char *kind = json_string_value(json_array_get(types, (size_t)l));
        if (!kind || (strcmp(kind, "global") != 0 && strcmp(kind, "local") != 0))
            return cc_fail_code(err, CC_E_FORMAT, "%s: \"attn_types\"[%d] must be \"global\" or \"local\"", path, l);
        if (kind[0] == 'l') c->local_layers[l / 64] |= (uint64_t)1 << (l % 64);
    }
    return arch_json_int(root, path, "window_size", true, 0, CC_CONFIG_MAX_CTX, &c->window, err);
}

static int read_config(json_t *root, const char *path, cc_config *c, cc_error *err)
{
    const char *act = NULL;
    bool scaled = true;
    double scale = -1;
    int d_vocab_out = -1;
    if (arch_json_int(root, path, "n_layers", true, 0, CC_CONFIG_MAX_LAYERS, &c->n_layers, err) ||
        arch_json_int(root, path, "n_heads", true, 0, CC_CONFIG_MAX_HEADS, &c->n_heads, err) ||
        arch_json_int(root, path, "d_model", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_model, err) ||
        arch_json_int(root, path, "d_head", true, 0, CC_CONFIG_MAX_D_MODEL, &c->d_head, err) ||
        arch_json_int(root, path, "d_vocab", true, 0, CC_CONFIG_MAX_VOCAB, &c->d_vocab, err) ||
        arch_json_int(root, path, "n_ctx", true, 0, CC_CONFIG_MAX_CTX, &c->n_ctx, err) ||
        arch_json_int(root, path, "n_key_value_heads", false, 0, CC_CONFIG_MAX_HEADS, &c->n_kv_heads, err) ||
        arch_json_num(root, path, "eps", 1e-5, &c->ln_eps, err) ||
        arch_json_bool(root, path, "attn_only", false, &c->attn_only, err) ||
        arch_json_bool(root, path, "parallel_attn_mlp", false, &c->parallel, err) ||
        arch_json_bool(root, path, "gated_mlp", false, &c->gated, err) ||
        arch_json_bool(root, path, "use_attn_scale", true, &scaled, err) ||
        arch_json_num(root, path, "attn_scale", -1, &scale, err) ||
        arch_json_int(root, path, "d_vocab_out", false, -1, CC_CONFIG_MAX_VOCAB, &d_vocab_out, err) ||
        refuse_features(root, path, err) || read_norm(root, path, c, err) || read_positions(root, path, c, err) ||
        read_local(root, path, c, err))
        return -1;
    if (d_vocab_out > 0 && d_vocab_out != c->d_vocab)
        return cc_fail_code(err, CC_E_FORMAT, "%s: \"d_vocab_out\" (%d) differs from \"d_vocab\" (%d); circuitc needs one vocabulary",
                       path, d_vocab_out, c->d_vocab);
    c->attn_unscaled = !scaled;
    if (scaled && scale > 0 && fabs(scale - sqrt((double)c->d_head)) > 1e-6 * scale)
        return cc_fail_code(err, CC_E_FORMAT, "%s: \"attn_scale\" is %g; circuitc scales scores by sqrt(d_head) = %g or not at all",
                       path, scale, sqrt((double)c->d_head));
    if (c->attn_only) return 0;
    if (arch_json_int(root, path, "d_mlp", true, 0, CC_CONFIG_MAX_D_MLP, &c->d_mlp, err) ||
        arch_json_str(root, path, "act_fn", &act, err))
        return -1;
    if (!act) return cc_fail_code(err, CC_E_FORMAT, "%s: \"act_fn\" is null in a model with MLPs", path);
    return arch_json_act(act, path, "act_fn", &c->act, err);
}

/* The attention modules' buffers (mask, IGNORE, rotary tables). */
static const char *const BUFFERS[] = {".attn.mask", ".attn.IGNORE", ".attn.rotary_sin", ".attn.rotary_cos", NULL};

const arch_family arch_transformer_lens = {
    CC_FAMILY_TL, NULL, "a TransformerLens state dict with its HookedTransformerConfig", NULL, "embed.W_E",
    TL, (int)(sizeof TL / sizeof TL[0]), read_config, BUFFERS,
};
