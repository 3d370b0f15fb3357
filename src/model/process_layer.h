/* process_layer.h — cc_process_weights' steps cut into one layer (or the
 * embedding / unembedding) at a time, so that cc_model_need can process the
 * parts it reads alone and get the bits the whole-model path gives: every
 * array goes through the same operations in the same order either way. */
#ifndef CIRCUITC_MODEL_PROCESS_LAYER_H
#define CIRCUITC_MODEL_PROCESS_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "circuitc/model.h"

/* Which steps a model gets (TransformerLens' choice per block; cc_processing_steps names them). */
typedef struct {
    bool fold_ln, center_writing, center_unembed; /* fold_value_biases always applies */
} proc_steps;
proc_steps proc_steps_of(const cc_config *c);

/* Folds the norm (LW, LB: [d]; LB NULL for RMSNorm) that layer L's attention
 * reads into its W_Q, W_K, W_V and biases. ACC holds max(d_head, d_mlp, d_vocab) doubles. */
void proc_fold_attn_norm(const cc_config *c, cc_weights *w, size_t l, const float *lw, const float *lb, double *acc);
/* The same for layer L's MLP input (W_in, b_in; W_gate takes the scale only). */
void proc_fold_mlp_norm(const cc_config *c, cc_weights *w, size_t l, const float *lw, const float *lb, double *acc);
/* The same for the final norm into W_U, b_U. */
void proc_fold_unembed_norm(const cc_config *c, cc_weights *w, const float *lw, const float *lb, double *acc);
/* center_writing_weights for layer L's W_O, b_O / W_out, b_out. */
void proc_center_attn_out(const cc_config *c, cc_weights *w, size_t l);
void proc_center_mlp_out(const cc_config *c, cc_weights *w, size_t l);
/* fold_value_biases for layer L: b_O += b_V W_O, then b_V = 0. ACC holds d doubles. */
void proc_fold_value_biases(const cc_config *c, cc_weights *w, size_t l, double *acc);

#endif
