/* circuitc/model.h — a GPT-2 model: config, validated safetensors file, and
 * weights in TransformerLens layout.
 *
 * Opening a model (cc_model_open) reads config.json and the safetensors header
 * and checks every tensor's name and shape against the config, without
 * touching tensor data: that is all `circuitc info` needs. cc_model_load_weights
 * then converts the Hugging Face Conv1D tensors into TransformerLens-shaped
 * float32 arrays (owned, because weight processing rewrites every one). */
#ifndef CIRCUITC_MODEL_H
#define CIRCUITC_MODEL_H

#include <stdbool.h>

#include "circuitc/config.h"
#include "circuitc/error.h"
#include "circuitc/safetensors.h"

/* Weights in TransformerLens naming and layout, row-major float32.
 * L = n_layers, H = n_heads, d = d_model, dh = d_head, m = d_mlp, V = d_vocab. */
typedef struct {
    float *W_E;                 /* [V, d] */
    float *W_pos;               /* [n_ctx, d] */
    float *ln1_w, *ln1_b;       /* [L, d]; NULL once folded */
    float *W_Q, *W_K, *W_V;     /* [L, H, d, dh] */
    float *b_Q, *b_K, *b_V;     /* [L, H, dh] */
    float *W_O;                 /* [L, H, dh, d] */
    float *b_O;                 /* [L, d] */
    float *ln2_w, *ln2_b;       /* [L, d]; NULL once folded */
    float *W_in;                /* [L, d, m] */
    float *b_in;                /* [L, m] */
    float *W_out;               /* [L, m, d] */
    float *b_out;               /* [L, d] */
    float *lnf_w, *lnf_b;       /* [d]; NULL once folded */
    float *W_U;                 /* [d, V] */
    float *b_U;                 /* [V] */
} cc_weights;

typedef struct {
    char *model_path;           /* the path given by the user */
    char *weights_path;         /* the .safetensors file */
    char *config_path;          /* the config.json used */
    cc_config cfg;
    cc_st_file *st;             /* validated, mmapped */
    const char *prefix;         /* "" or "transformer." as found in the file */
    bool has_lm_head;           /* an untied lm_head.weight is present */
    cc_dtype dtype;             /* dtype of wte.weight (the file's main dtype) */
    bool loaded;                /* weights below are filled */
    bool processed;             /* TransformerLens default processing applied */
    cc_weights w;
} cc_model;

/* Opens PATH: a model folder (config.json + model.safetensors) or a
 * .safetensors file, with its config taken from CONFIG_PATH when not NULL,
 * else from config.json beside the file. Validates every tensor name and shape. */
int cc_model_open(const char *path, const char *config_path, cc_model **out, cc_error *err);

/* Converts the file's tensors into m->w (float32, TransformerLens layout). */
int cc_model_load_weights(cc_model *m, cc_error *err);

void cc_model_free(cc_model *m);

/* Opens, loads and (when PROCESS) applies the default processing: the usual
 * way the analyzer and the runtime get a model. */
int cc_model_load(const char *path, const char *config_path, bool process, cc_model **out, cc_error *err);

/* The default model path: $CIRCUITC_MODEL if set, else the bundled fixture
 * (compiled-in path to the source tree's golden/models/...). */
const char *cc_default_model_path(void);

#endif
