/* circuitc/config.h — a model's hyper-parameters and block shape, read from a
 * Hugging Face config.json (gpt2, gpt_neo, gpt_neox, llama and the model types
 * that reduce to llama's block) or a TransformerLens HookedTransformerConfig
 * saved as JSON. docs/architectures.md says which keys map to which field. */
#ifndef CIRCUITC_CONFIG_H
#define CIRCUITC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a model's weights come from: one table per family (src/model/arch/). */
typedef enum {
    CC_FAMILY_GPT2,     /* Hugging Face gpt2 (GPT2LMHeadModel) */
    CC_FAMILY_GPT_NEO,  /* Hugging Face gpt_neo (TinyStories, GPT-Neo) */
    CC_FAMILY_GPT_NEOX, /* Hugging Face gpt_neox (Pythia) */
    CC_FAMILY_LLAMA,    /* Hugging Face llama, and mistral / qwen2 without their extras */
    CC_FAMILY_TL,       /* a TransformerLens state dict (canonical names) + its config */
    CC_N_FAMILIES
} cc_family;

typedef enum {
    CC_NORM_LN,  /* LayerNorm: centre, scale, then * w + b (LNPre once folded) */
    CC_NORM_RMS, /* RMSNorm: scale only, then * w (RMSPre once folded) */
} cc_norm_kind;

typedef enum {
    CC_POS_LEARNED,     /* W_pos added to the residual stream (TL "standard") */
    CC_POS_SHORTFORMER, /* W_pos added to the queries' and keys' inputs only, after ln1 */
    CC_POS_ROTARY,      /* rotary embedding of q and k (hook_rot_q / hook_rot_k); no W_pos */
} cc_pos_kind;

typedef enum {
    CC_ACT_GELU_NEW, /* tanh approximation (GPT-2, GPT-Neo: "gelu_new") */
    CC_ACT_GELU,     /* exact, with erf (GPT-NeoX: "gelu") */
    CC_ACT_SILU,     /* x sigmoid(x) (Llama: "silu") */
    CC_ACT_RELU,
} cc_act_kind;

#define CC_CONFIG_MAX_LAYERS 1024 /* (the limits below say why) */

typedef struct {
    int n_layers;      /* n_layer */
    int n_heads;       /* n_head */
    int d_model;       /* n_embd */
    int d_head;        /* n_embd / n_head unless the config says otherwise (head_dim, TL d_head) */
    int d_mlp;         /* n_inner, or 4 * n_embd when null; 0 in an attention-only model */
    int d_vocab;       /* vocab_size */
    int n_ctx;         /* n_positions (or n_ctx, max_position_embeddings) */
    double ln_eps;     /* layer_norm_epsilon (LayerNorm and RMSNorm alike) */
    int bos_token_id;  /* bos_token_id, default d_vocab - 1 */
    /* block shape (docs/architectures.md): the zero value of every field below is GPT-2's */
    cc_family family;
    int n_kv_heads;    /* key/value heads for grouped-query attention (each serves n_heads /
                          n_kv_heads consecutive query heads); 0: n_heads (multi-head) */
    cc_norm_kind norm;
    cc_pos_kind pos;
    int rotary_dim;    /* rotary: leading dimensions of each head that rotate (<= d_head, even) */
    double rotary_base;
    bool rotary_adjacent; /* rotary: pairs (2i, 2i+1) (GPT-J) instead of (i, i + rotary_dim/2) */
    bool attn_unscaled; /* scores = q.k (GPT-Neo), not q.k / sqrt(d_head) */
    bool parallel;     /* attention and MLP both read resid_pre; no hook_resid_mid (GPT-NeoX) */
    bool attn_only;    /* no MLP at all (d_mlp = 0; TransformerLens' attn-only models) */
    bool gated;        /* MLP out = (act(x W_gate) * (x W_in) + b_in) W_out + b_out (Llama) */
    cc_act_kind act;
    int window;        /* local layers attend to the last WINDOW positions (GPT-Neo); 0: none */
    uint64_t local_layers[CC_CONFIG_MAX_LAYERS / 64]; /* bit l: layer l is local */
    bool tied;         /* the file stores no unembedding: W_U is W_E transposed */
    /* what the file stores (absent biases are zero in cc_weights) */
    bool no_qkv_bias;  /* q/k/v projections without biases (GPT-Neo, Llama) */
    bool no_o_bias;    /* output projection without a bias (Llama) */
    bool no_mlp_bias;  /* MLP projections without biases (Llama) */
    bool norm_folded;  /* no norm weights stored: a TransformerLens export with LNPre / RMSPre */
} cc_config;

/* Limits on every size (far above any GPT-2-style model: GPT-2 XL has 48
 * layers, 25 heads, n_embd 1600, vocab 50257, 1024 positions). They keep a
 * hostile config from asking for absurd allocations and keep every size
 * product well inside 64 bits; files beyond them are refused by name. */
#define CC_CONFIG_MAX_HEADS 1024
#define CC_CONFIG_MAX_D_MODEL 32768
#define CC_CONFIG_MAX_D_MLP 131072 /* 4 x CC_CONFIG_MAX_D_MODEL: the default n_inner always fits */
#define CC_CONFIG_MAX_VOCAB 1048576
#define CC_CONFIG_MAX_CTX 1048576
/* No weight matrix may hold more elements than this (2^32: 16 GiB as float32). */
#define CC_CONFIG_MAX_MATRIX_ELEMENTS 4294967296LL

/* Key/value heads of C (n_kv_heads, or n_heads when that is 0; -1 for NULL). */
int cc_config_kv_heads(const cc_config *c);

/* Whether layer L of C attends within a local window. */
bool cc_config_layer_is_local(const cc_config *c, int layer);

/* The family's name as circuitc prints it ("gpt2", "gpt_neox", ..., "transformer_lens"). */
const char *cc_family_name(cc_family f);

/* C's architecture as JSON (a new reference): family, norm, positions,
 * attention (heads, key/value heads, scale, local layers), block order, MLP,
 * stored biases, tied unembedding; the keys are listed in docs/architectures.md. */
struct json_t;
struct json_t *cc_config_arch_json(const cc_config *c);

/* Reads and checks PATH (config.json). Every missing or wrong field is an
 * error naming the file and the field. */
int cc_config_load(const char *path, cc_config *cfg, cc_error *err);

/* Checks internal consistency (sizes within the limits above, n_embd divisible by n_head...).
 * LABEL names the source in messages ("<config>" when NULL). */
int cc_config_validate(const cc_config *cfg, const char *label, cc_error *err);

/* Writes CFG (a GPT-2: other families are refused) as a Hugging Face GPT-2 config.json at PATH (the output-path rule, circuitc/fsio.h). */
int cc_config_save(const cc_config *cfg, const char *path, cc_error *err);

/* Values a checkpoint of CFG stores: its family's tensors, an optional or
 * tied unembedding not counted. */
long long cc_config_n_params(const cc_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
