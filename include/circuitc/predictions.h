/* circuitc/predictions.h — what a model predicts on a prompt: the next-token
 * distribution at every position (`circuitc run`) and the logit lens
 * (`circuitc lens`), the same read-out applied to the residual stream after
 * every layer.
 *
 * Probabilities are softmax over the whole vocabulary in float64 of the
 * float32 logits. A token's rank is 0-based: the number of tokens with a
 * larger logit, plus those with an equal logit and a lower id (the order of a
 * stable descending sort). Top-K lists are in that order too. THREADS: the
 * call's thread count, 0: the default (docs/library.md, "Threads per call"). */
#ifndef CIRCUITC_PREDICTIONS_H
#define CIRCUITC_PREDICTIONS_H

#include <stdint.h>

#include "circuitc/forward.h"

/* The distribution one logits row gives, as top-K and one token's standing. */
typedef struct {
    double target_logprob; /* log_softmax(row)[target]; NaN without a target */
    int target_rank;       /* -1 without a target */
} cc_row_target;

/* Reads logits row LG [V]: TARGET's log-prob and rank (TARGET < 0: none) and
 * the K most likely tokens into TOP_ID [K] / TOP_PROB [K] (K <= V). */
cc_row_target cc_logits_row_read(const float *lg, int V, int target, int k, int32_t *top_id, double *top_prob);

/* --- circuitc run: next-token predictions at every position ---------------- */

typedef struct {
    int batch, pos, k;
    double *logprob;  /* [B, T]: log-prob of tokens[b, t] given positions < t; NaN at t = 0 and t >= length[b] */
    int *rank;        /* [B, T]: that token's rank among the predictions at t-1; -1 where logprob is NaN */
    int32_t *top_id;  /* [B, T, K]: the most likely next tokens at t (positions t >= length[b]: -1) */
    double *top_prob; /* [B, T, K] */
    double *loss;     /* [B]: mean of -logprob over t in [1, length[b]); NaN when length[b] = 1 */
} cc_next_tokens;

/* Runs TOKENS [batch, pos] (row b real up to LENGTH[b], right-padded after:
 * positions past it are not read) through M and reads every real position's
 * prediction. */
int cc_next_tokens_run(const cc_model *m, const int *tokens, const int *length, int batch, int pos, int k,
                       cc_kernel kernel, int threads, cc_next_tokens *out, cc_error *err);
void cc_next_tokens_free(cc_next_tokens *r);

/* --- circuitc lens: the logit lens ------------------------------------------
 *
 * Row i of the lens is the accumulated residual stream before block i
 * (blocks.{i}.hook_resid_pre) for i < n_layers, and after the last block
 * (blocks.{n_layers-1}.hook_resid_post) for i = n_layers, each through
 * ln_final with its own statistics and the unembedding (W_U and b_U):
 * TransformerLens' model.unembed(cache.accumulated_resid(apply_ln=True)).
 * The last row is therefore the model's own output. */
typedef struct {
    int n_rows, pos, k; /* n_rows = n_layers + 1 */
    double *prob;       /* [n_rows, T]: probability of the next token tokens[t+1]; NaN at t = T-1 */
    int *rank;          /* [n_rows, T]: its rank; -1 at t = T-1 */
    int32_t *top_id;    /* [n_rows, T, K] */
    double *top_prob;   /* [n_rows, T, K] */
} cc_logit_lens;

/* The lens of one sequence TOKENS [pos]. */
int cc_logit_lens_run(const cc_model *m, const int *tokens, int pos, int k, cc_kernel kernel, int threads,
                      cc_logit_lens *out, cc_error *err);
void cc_logit_lens_free(cc_logit_lens *r);

#endif
