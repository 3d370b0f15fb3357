/* circuitc/dla.h — direct logit attribution at a prompt's last position.
 *
 * The final residual stream is a sum of parts: the token and position
 * embeddings (hook_embed, hook_pos_embed), every head's output z[h] W_O[h]
 * (TransformerLens' stack_head_results), every layer's attention bias b_O
 * (the rest of hook_attn_out: attn_out[l] = sum_h head[l,h] + b_O[l]) and
 * every hook_mlp_out. Each part is centred and divided by the final
 * LayerNorm's scale of the full residual stream (apply_ln_to_stack:
 * ln_final.hook_scale, not recomputed per part), then dotted with the logit
 * direction W_U[:, answer] (minus W_U[:, wrong] for a logit difference).
 * Centring and the shared scale are linear, so the parts plus the
 * unembedding bias b_U[answer] (- b_U[wrong]) sum to the model's logit
 * (difference). Without weight processing, ln_final's weight multiplies the
 * direction and its bias joins the unembedding-bias term, so the sum stays
 * exact; with processing (the default) every figure is TransformerLens'.
 * With RMSNorm nothing is centred and the scale is sqrt(mean(x^2) + eps).
 * Rotary and shortformer models add no positional embedding to the residual
 * stream and attention-only models no MLP output: those parts are 0. */
#ifndef CIRCUITC_DLA_H
#define CIRCUITC_DLA_H

#include <stdint.h>

#include "circuitc/forward.h"

typedef struct {
    int n_layers, n_heads, position;
    int32_t answer, wrong;  /* wrong = -1: the answer's logit alone */
    double embed, pos_embed;
    double *head;           /* [L, H] */
    double *attn_bias;      /* [L]: b_O[l] */
    double *attn_out;       /* [L]: sum of layer l's heads + attn_bias[l] (decompose_resid's attn_out) */
    double *mlp_out;        /* [L] */
    double unembed_bias;    /* b_U[answer] - b_U[wrong] (+ ln_final bias . direction, unprocessed) */
    double sum;             /* every part above (heads and attn_bias, not attn_out) */
    double logit;           /* the model's logit (difference) at POSITION, from its own forward pass */
    double scale;           /* ln_final's scale of the final residual stream at POSITION */
} cc_dla;

/* Attributes the logit of ANSWER (minus WRONG unless WRONG < 0) at the last
 * position of TOKENS [pos]. THREADS: the call's thread count, 0: the default
 * (docs/library.md, "Threads per call"). */
int cc_dla_run(const cc_model *m, const int *tokens, int pos, int32_t answer, int32_t wrong, cc_kernel kernel,
               int threads, cc_dla *out, cc_error *err);
void cc_dla_free(cc_dla *d);

#endif
