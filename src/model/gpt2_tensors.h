/* gpt2_tensors.h — the one table of GPT-2's tensors: for each, its name in a
 * Hugging Face checkpoint, its shape in terms of the config, the array of
 * cc_weights it fills and how it is transformed on the way. Opening a model
 * checks a file against it, loading and freeing walk it, `synth` writes it
 * and the parameter count sums it. Internal to the library. */
#ifndef CIRCUITC_GPT2_TENSORS_H
#define CIRCUITC_GPT2_TENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "circuitc/config.h"
#include "circuitc/model.h"

/* A tensor dimension in terms of the config (GPT2_DIM_NONE: a vector's second). */
typedef enum { GPT2_DIM_NONE, GPT2_DIM_D, GPT2_DIM_3D, GPT2_DIM_MLP, GPT2_DIM_VOCAB, GPT2_DIM_CTX } gpt2_dim;

typedef enum {
    GPT2_COPY,       /* the destination's slice has the file's row-major layout */
    GPT2_SPLIT_QKV,  /* columns [Q | K | V], each H heads x d_head, into [H, rows, d_head] per destination */
    GPT2_TRANSPOSE,  /* [V, d] into [d, V] */
    GPT2_ZERO,       /* not in the file: the destination stays zero */
} gpt2_transform;

typedef enum {
    GPT2_WTE, GPT2_WPE,
    GPT2_LN1_W, GPT2_LN1_B, GPT2_ATTN_W, GPT2_ATTN_B, GPT2_ATTN_PROJ_W, GPT2_ATTN_PROJ_B,
    GPT2_LN2_W, GPT2_LN2_B, GPT2_FC_W, GPT2_FC_B, GPT2_MLP_PROJ_W, GPT2_MLP_PROJ_B,
    GPT2_LNF_W, GPT2_LNF_B,
    GPT2_LM_HEAD,    /* optional: without it the unembedding is tied to wte.weight */
    GPT2_UNEMBED_BIAS, /* b_U: GPT-2 has none */
    GPT2_N_TENSORS
} gpt2_tensor_id;

typedef struct {
    const char *name;        /* without the "transformer." prefix; "%d" stands for the layer; NULL: not in the file */
    bool per_layer;
    gpt2_dim rows, cols;     /* the file's shape (cols GPT2_DIM_NONE: a vector of ROWS values) */
    size_t dest[3];          /* offsetof(cc_weights, ...): the array, or Q, K, V for GPT2_SPLIT_QKV */
    gpt2_transform transform;
} gpt2_tensor;

extern const gpt2_tensor GPT2_TENSORS[GPT2_N_TENSORS];

/* The size of dimension D under config C. */
uint64_t gpt2_dim_size(const cc_config *c, gpt2_dim d);

/* Rank (1 or 2) and shape of tensor T as stored in a file. */
int gpt2_shape(const cc_config *c, const gpt2_tensor *t, uint64_t shape[2]);

/* Values of one layer's copy of T (of the whole tensor when not per layer). */
uint64_t gpt2_numel(const cc_config *c, const gpt2_tensor *t);

/* T's file name for LAYER (ignored unless per layer), unprefixed, into BUF. */
const char *gpt2_name(const gpt2_tensor *t, int layer, char *buf, size_t size);

/* Tensors a checkpoint of config C must hold (lm_head.weight not counted) and
 * their values: saturating at UINT64_MAX, so any config can be checked. */
uint64_t gpt2_tensor_count(const cc_config *c);
uint64_t gpt2_value_count(const cc_config *c);

/* The array destination I of T in W (I < 3 for GPT2_SPLIT_QKV, else 0). */
float **gpt2_dest(cc_weights *w, const gpt2_tensor *t, int i);

/* Floats of that array: every layer's share of T (a third of it per Q, K, V). */
size_t gpt2_dest_floats(const cc_config *c, const gpt2_tensor *t);

#endif
