/* circuitc/hooks.h — TransformerLens hook points: their names, which ones a
 * model's blocks have, and the shape of each one's activation.
 *
 * Which hooks exist depends on the block shape (cc_config, docs/hooks.md has
 * the table per architecture): a rotary model has no hook_pos_embed but
 * attn.hook_rot_q / hook_rot_k; a parallel block (GPT-NeoX) and an
 * attention-only one have no hook_resid_mid; an attention-only block has no
 * MLP hooks; only a gated MLP (Llama) has mlp.hook_pre_linear. Shapes are
 * TransformerLens' (B = batch, T = pos, H = n_heads, K = key/value heads
 * (cc_config_kv_heads), dh = d_head, d = d_model, m = d_mlp, V = d_vocab):
 *
 *   hook_embed, hook_pos_embed                          [B, T, d]
 *   blocks.{l}.hook_resid_pre / resid_mid / resid_post / hook_attn_out / hook_mlp_out   [B, T, d]
 *   blocks.{l}.attn.hook_q / hook_rot_q / hook_z        [B, T, H, dh]
 *   blocks.{l}.attn.hook_k / hook_rot_k / hook_v        [B, T, K, dh]
 *   blocks.{l}.attn.hook_attn_scores / hook_pattern     [B, H, T, T] (scores: -inf where masked)
 *   blocks.{l}.mlp.hook_pre / hook_pre_linear / hook_post   [B, T, m]
 *   ln_final.hook_normalized                            [B, T, d]
 *   logits                                              [B, T, V]
 *
 * As in TransformerLens, an unprocessed LayerNorm's hook_normalized includes
 * its weight and bias, an unprocessed RMSNorm's does not (x / scale). */
#ifndef CIRCUITC_HOOKS_H
#define CIRCUITC_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "circuitc/config.h"
#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The hook points, in the order the forward pass reaches them within a block. */
typedef enum {
    CC_HOOK_EMBED = 0,      /* hook_embed                       (layer-less) */
    CC_HOOK_POS_EMBED,      /* hook_pos_embed                   (layer-less; learned and shortformer positions) */
    CC_HOOK_RESID_PRE,      /* blocks.{l}.hook_resid_pre */
    CC_HOOK_Q,              /* blocks.{l}.attn.hook_q */
    CC_HOOK_K,              /* blocks.{l}.attn.hook_k */
    CC_HOOK_V,              /* blocks.{l}.attn.hook_v */
    CC_HOOK_ROT_Q,          /* blocks.{l}.attn.hook_rot_q       (rotary only: q after the rotation) */
    CC_HOOK_ROT_K,          /* blocks.{l}.attn.hook_rot_k       (rotary only) */
    CC_HOOK_ATTN_SCORES,    /* blocks.{l}.attn.hook_attn_scores */
    CC_HOOK_PATTERN,        /* blocks.{l}.attn.hook_pattern */
    CC_HOOK_Z,              /* blocks.{l}.attn.hook_z */
    CC_HOOK_ATTN_OUT,       /* blocks.{l}.hook_attn_out */
    CC_HOOK_RESID_MID,      /* blocks.{l}.hook_resid_mid        (sequential blocks with an MLP) */
    CC_HOOK_MLP_PRE,        /* blocks.{l}.mlp.hook_pre          (gated: x W_gate) */
    CC_HOOK_MLP_PRE_LINEAR, /* blocks.{l}.mlp.hook_pre_linear   (gated only: x W_in) */
    CC_HOOK_MLP_POST,       /* blocks.{l}.mlp.hook_post */
    CC_HOOK_MLP_OUT,        /* blocks.{l}.hook_mlp_out */
    CC_HOOK_RESID_POST,     /* blocks.{l}.hook_resid_post */
    CC_HOOK_LN_FINAL,       /* ln_final.hook_normalized        (layer-less) */
    CC_HOOK_LOGITS,         /* logits                          (layer-less) */
    CC_HOOK_COUNT
} cc_hook_kind;

/* Shape of one hook's activation for a [batch, pos] run. */
typedef struct {
    int ndim;
    int dim[4];
    size_t numel;
} cc_act_shape;

/* True for hooks that exist once per block (blocks.{l}.*). */
bool cc_hook_per_layer(cc_hook_kind k);

/* Whether a model of block shape CFG has hook K (the table in docs/hooks.md). */
bool cc_hook_available(const cc_config *cfg, cc_hook_kind k);

/* 0 when a model of block shape CFG has hook K, else -1 with ERR naming the
 * hook (at LAYER) and saying why it does not exist and what to use instead. */
int cc_hook_check(const cc_config *cfg, cc_hook_kind k, int layer, cc_error *err);

/* TransformerLens name of hook K at LAYER into BUF ("blocks.3.attn.hook_pattern"). */
const char *cc_hook_name(cc_hook_kind k, int layer, char *buf, size_t size);

/* Parses a TransformerLens hook name; when CFG is not NULL, checks the layer
 * against it and refuses a hook its blocks do not have (cc_hook_check). */
int cc_hook_parse(const char *name, const cc_config *cfg, cc_hook_kind *k, int *layer, cc_error *err);

/* Parses a hook named in any of TransformerLens' forms, with or without its
 * layer: "blocks.3.attn.hook_pattern", "attn.hook_pattern", "hook_pattern" or
 * "pattern" (get_act_name's short name; "pre" and "post" are the MLP's,
 * "normalized" is ln_final's), each optionally after "blocks.L.". *LAYER is
 * L when the name gives one (a per-layer hook only), else -1. No model check:
 * cc_hook_check does that. */
int cc_hook_parse_any(const char *name, cc_hook_kind *k, int *layer, cc_error *err);

cc_act_shape cc_hook_shape(const cc_config *cfg, cc_hook_kind k, int batch, int pos);

#ifdef __cplusplus
}
#endif

#endif
