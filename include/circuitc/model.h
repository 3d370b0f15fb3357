/* circuitc/model.h — a model: config, validated safetensors file, and
 * weights in TransformerLens layout.
 *
 * Opening a model (cc_model_open) reads config.json and the safetensors header
 * and checks every tensor's name and shape against the config, without
 * touching tensor data: that is all `circuitc info` needs. Then either
 * cc_model_load_weights converts every Hugging Face Conv1D tensor into
 * TransformerLens-shaped float32 arrays (owned, because weight processing
 * rewrites every one), or cc_model_need loads and processes only the parts a
 * weight-only analysis reads (one head's W_Q, W_E, ...), straight from the
 * mapping, into the same arrays, bit-identical to the whole-model path.
 *
 * Every tensor whose data is read is checked whole for NaN and infinities
 * (refused, naming the tensor and the first bad index, unless allow_nonfinite
 * is set: then nonfinite_note says where the first one is), and every copy
 * out of the mapping is guarded: a file truncated while mapped gives an error
 * naming it, not a SIGBUS. */
#ifndef CIRCUITC_MODEL_H
#define CIRCUITC_MODEL_H

#include <stdbool.h>

#include "circuitc/config.h"
#include "circuitc/error.h"
#include "circuitc/progress.h"
#include "circuitc/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Weights in TransformerLens naming and layout, row-major float32, whatever
 * the family (cfg.family) the file came from.
 * L = n_layers, H = n_heads, d = d_model, dh = d_head, m = d_mlp, V = d_vocab.
 * Grouped-query attention keeps W_K, W_V, b_K, b_V per query head, as
 * TransformerLens' W_K / W_V properties show them: the n_heads / n_kv_heads
 * query heads of a group hold identical copies of their key/value head. A
 * bias the family does not have is zero; a norm weight the family does not
 * have (RMSNorm's bias) is NULL, as are all of them once folded. */
typedef struct {
    float *W_E;                 /* [V, d] */
    float *W_pos;               /* [n_ctx, d]; NULL with rotary positions */
    float *ln1_w, *ln1_b;       /* [L, d]; NULL once folded */
    float *W_Q, *W_K, *W_V;     /* [L, H, d, dh] */
    float *b_Q, *b_K, *b_V;     /* [L, H, dh] */
    float *W_O;                 /* [L, H, dh, d] */
    float *b_O;                 /* [L, d] */
    float *ln2_w, *ln2_b;       /* [L, d]; NULL once folded, and in attention-only models */
    float *W_in;                /* [L, d, m]; NULL (as every MLP array) in attention-only models */
    float *W_gate;              /* [L, d, m]; gated MLPs only */
    float *b_in;                /* [L, m] */
    float *W_out;               /* [L, m, d] */
    float *b_out;               /* [L, d] */
    float *lnf_w, *lnf_b;       /* [d]; NULL once folded */
    float *W_U;                 /* [d, V] */
    float *b_U;                 /* [V] */
} cc_weights;

/* An open model: opaque (its mappings, shards and bookkeeping are the
 * library's); read it through the functions below. */
typedef struct cc_model cc_model;

/* Its configuration (family, sizes). */
const cc_config *cc_model_config(const cc_model *m);
/* Its weights in TransformerLens layout: arrays are NULL, or not yet filled,
 * until cc_model_load_weights or cc_model_need (cc_model_has) fills them.
 * They live as long as the model. */
const cc_weights *cc_model_weights(const cc_model *m);
const char *cc_model_path(const cc_model *m);          /* the path given to cc_model_open */
const char *cc_model_weights_file(const cc_model *m);  /* the .safetensors file, or a sharded checkpoint's index */
const char *cc_model_config_file(const cc_model *m);   /* the config.json used */
cc_dtype cc_model_dtype(const cc_model *m);            /* dtype of wte.weight (the file's main dtype) */
const char *cc_model_tensor_prefix(const cc_model *m); /* "" or "transformer." as found in the file */
bool cc_model_tied_unembedding(const cc_model *m);     /* no untied lm_head.weight */
uint64_t cc_model_file_bytes(const cc_model *m);       /* the weights file's size (a sharded checkpoint's: all shards) */
size_t cc_model_n_tensors(const cc_model *m);
bool cc_model_processed(const cc_model *m);            /* TransformerLens default processing applied */

/* Set before loading: accept NaN / Inf weights, and forward passes whose
 * activations are NaN / Inf or logits reach 2^24 (for inspection). */
void cc_model_set_allow_nonfinite(cc_model *m, bool allow);
bool cc_model_allow_nonfinite(const cc_model *m);
/* With allow_nonfinite: where the first non-finite weight read is ("" if none). */
const char *cc_model_nonfinite_note(const cc_model *m);
/* Optional, set before cc_model_load_weights: called as tensors are read
 * (values read of all); it may cancel (circuitc/progress.h). */
void cc_model_set_load_progress(cc_model *m, cc_progress_fn progress, void *ctx);
/* Optional, set before loading: the thread count of cc_model_load_weights,
 * cc_process_weights and cc_model_need (0, the default: the online cores, or
 * the count of the call they run inside; docs/library.md, "Threads per call"). */
void cc_model_set_load_threads(cc_model *m, int threads);

/* The parts of the weights a weight-only analysis can ask for. */
typedef enum {
    CC_PART_W_E,    /* W_E */
    CC_PART_W_POS,  /* W_pos */
    CC_PART_W_U,    /* W_U and b_U */
    CC_PART_Q,      /* one head's W_Q and b_Q */
    CC_PART_K,      /* one head's W_K and b_K */
    CC_PART_V,      /* one head's W_V and b_V */
    CC_PART_O,      /* one head's W_O (b_O needs every head: whole-model path only) */
    CC_PART_IN,     /* one layer's W_in and b_in */
    CC_PART_OUT,    /* one layer's W_out and b_out */
    CC_N_PARTS
} cc_part_kind;

/* A part: KIND of head (LAYER, HEAD), of layer LAYER (IN, OUT), or of the
 * model (W_E, W_POS, W_U: layer and head ignored). -1 stands for every layer
 * / every head of the layer. */
typedef struct {
    cc_part_kind kind;
    int layer, head;
} cc_part;

/* Opens PATH: a model folder (config.json + model.safetensors, or the
 * model.safetensors.index.json of a sharded checkpoint and its shards), a
 * .safetensors file or an index file, with its config taken from CONFIG_PATH
 * when not NULL, else from config.json beside the file. Finds the family
 * (circuitc/config.h) and validates every tensor name and shape against it. */
int cc_model_open(const char *path, const char *config_path, cc_model **out, cc_error *err);

/* Converts the file's tensors into m->w (float32, TransformerLens layout). */
int cc_model_load_weights(cc_model *m, cc_error *err);

/* Fills the N PARTS of m->w (the arrays keep their whole-model shape; only the
 * parts asked for are read), with TransformerLens' default processing applied
 * per part when PROCESS: LayerNorm folded into the heads' W_Q/W_K/W_V and
 * biases, into W_in, and into W_U/b_U; W_E, W_pos, W_O, W_out/b_out centred;
 * W_U/b_U centred; b_V zero (fold_value_biases moves it into b_O, which is
 * not a part). Parts already filled are kept. Every call on a model must use
 * the same PROCESS, and a model filled this way cannot be loaded whole. */
int cc_model_need(cc_model *m, const cc_part *parts, int n, bool process, cc_error *err);

/* Whether PART (no -1 wildcards) can be read from m->w: the whole model is
 * loaded, or cc_model_need filled it. */
bool cc_model_has(const cc_model *m, cc_part part);

void cc_model_free(cc_model *m);

/* Hex SHA-256 (65 bytes with the NUL) of the weights file exactly as opened:
 * the file_size bytes mapped then, under the SIGBUS guard; fails, naming the
 * file, when the file was truncated or changed size since. */
int cc_model_sha256(const cc_model *m, char hex[65], cc_error *err);

/* `info --json`'s model facts (no weights read): weights_file, config_file,
 * dtype, file_bytes, n_tensors, tensor_prefix, tied_unembedding, config {...},
 * architecture, hooks, n_params, and sha256 (SHA256: cc_model_sha256's hex,
 * or NULL: null). NULL when out of memory. */
struct json_t *cc_model_info_json(const cc_model *m, const char *sha256);

/* Opens, loads and (when PROCESS) applies the default processing: the usual
 * way the analyzer and the runtime get a model. */
int cc_model_load(const char *path, const char *config_path, bool process, cc_model **out, cc_error *err);

/* The default model path: $CIRCUITC_MODEL if set, else the bundled fixture,
 * models/induction-3l4h in the data directory (circuitc/datadir.h). Caller frees. */
int cc_default_model_path(char **out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
