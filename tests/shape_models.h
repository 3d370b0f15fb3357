/* shape_models.h — small random models of any block shape for the test
 * suites (shape_models.c). */
#ifndef CIRCUITC_TEST_SHAPE_MODELS_H
#define CIRCUITC_TEST_SHAPE_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/model.h"

/* A GPT-2 block shape of 2 layers, 4 heads, d_model 20, d_head 6 (heads * d_head
 * != d_model on purpose), d_mlp 28, vocab 37, n_ctx 16: change its block-shape
 * fields to get the others. */
cc_config tu_shape_config(void);

/* The block shapes the forward and backward suites run, each a variation of
 * tu_shape_config(): GPT-2; RMSNorm; rotary (full; partial with adjacent pairs
 * and another base); shortformer; grouped-query; unscaled; local windows;
 * parallel; attention-only; each activation plain and gated; the Llama,
 * Pythia, GPT-Neo and TransformerLens toy blocks. Case I of
 * tu_n_shape_cases(), named in *NAME. */
int tu_n_shape_cases(void);
cc_config tu_shape_case(int i, const char **name);

/* Random weights for C: matrices of std 0.4 (attention patterns far from
 * uniform), biases 0.1, norm weights 1 +- 0.1. With WITH_NORM_WEIGHTS false
 * the norms have no weights (LNPre / RMSPre). GQA: the query heads of a group
 * hold copies of their key/value head, as cc_weights keeps them. */
cc_model *tu_shape_model(const cc_config *c, bool with_norm_weights, uint64_t seed);
void tu_shape_model_free(cc_model *m);

/* N tokens uniform in [0, d_vocab) from SEED. Caller frees. */
int *tu_shape_tokens(const cc_config *c, int n, uint64_t seed);

#endif
