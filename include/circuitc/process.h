/* circuitc/process.h — the weight processing HookedTransformer.from_pretrained
 * applies by default (docs/processing.md), in its order:
 * fold_ln -> center_writing_weights -> center_unembed -> fold_value_biases.
 * After it the LayerNorms carry no weights (ln*_w / ln*_b are NULL): the
 * forward pass uses "LNPre", centring and scaling only. */
#ifndef CIRCUITC_PROCESS_H
#define CIRCUITC_PROCESS_H

#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

int cc_process_weights(cc_model *m, cc_error *err);

/* The steps cc_process_weights applies to a model of C, by name, into STEPS
 * (room for 4); returns how many. TransformerLens' choice per block: all
 * four for LayerNorm models; no centring of writing weights for RMSNorm
 * models; fold_value_biases alone with shortformer positions (the norm's
 * output is summed with W_pos before W_Q and W_K read it). */
int cc_processing_steps(const cc_config *c, const char **steps);

/* The steps, exposed for tests; each works on m->w in place. */
int cc_fold_layer_norm(cc_model *m, cc_error *err);
void cc_center_writing_weights(cc_model *m);
void cc_center_unembed(cc_model *m);
int cc_fold_value_biases(cc_model *m, cc_error *err);

/* The per-matrix kernels of the steps above, shared with the part-wise
 * loading of cc_model_need so that both paths give identical bits. */

/* Folds a LayerNorm (scale LW, bias LB, both [rows]) into the matrix W
 * [rows, cols] that reads its output and its bias B [cols]. ACC holds cols doubles. */
void cc_fold_ln_into(float *W, float *B, const float *LW, const float *LB, size_t rows, size_t cols, double *acc);

/* Subtracts each row's mean from the row: X [rows, cols]. */
void cc_center_rows(float *X, size_t rows, size_t cols);

#ifdef __cplusplus
}
#endif

#endif
