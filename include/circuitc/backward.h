/* circuitc/backward.h — gradients of a metric with respect to hook
 * activations: one forward pass keeping what the backward pass reads, then
 * the backward pass through every block shape the forward pass supports
 * (circuitc/forward.h), block by block in reverse.
 *
 * A gradient is TransformerLens' backward-hook gradient: d metric / d act at
 * hook (KIND, LAYER), with the same name and shape as the activation
 * (circuitc/hooks.h), for every hook the model has, including the logits, the
 * input embeddings (hook_embed) and the positional embedding (hook_pos_embed).
 * The per-head output of attention (TransformerLens' hook_result,
 * z_h W_O[h]) has no hook here: its gradient is hook_attn_out's for every
 * head, and (delta z_h) . d metric / d z_h equals (delta result_h) . d metric
 * / d attn_out, so per-head attributions read hook_z.
 *
 * Metrics (docs/gradients.md):
 *   CC_GRAD_LOGIT_DIFF  mean over the batch of logits[b, p_b, answer_b] - logits[b, p_b, wrong_b]
 *   CC_GRAD_LOSS        mean next-token cross-entropy over [B, T-1] (TransformerLens' loss), or over
 *                       the predictions at positions [loss_lo, loss_hi)
 *   CC_GRAD_KL          mean over the batch of KL(clean_b || model_b) at p_b, in nats,
 *                         clean_b given as log-probabilities over the vocabulary
 *
 * Two kernels, as for the forward pass: CC_KERNEL_FAST (OpenBLAS sgemm,
 * float32 buffers) and CC_KERNEL_REF (the reference: float64 dot products
 * and sums). The element-wise and row-wise steps (norms, activations,
 * rotation, softmax, the metric) are computed in float64 once for both
 * kernels; the matrix products are the kernels' own. */
#ifndef CIRCUITC_BACKWARD_H
#define CIRCUITC_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"
#include "circuitc/forward.h"
#include "circuitc/hooks.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_GRAD_LOGIT_DIFF = 0, CC_GRAD_LOSS, CC_GRAD_KL, CC_GRAD_METRIC_COUNT } cc_grad_metric_kind;

/* A metric over a [B, T] batch (patching.h's cc_metric is the batch-1 form
 * activation patching takes: its logit_diff reads the last position, its loss
 * every position unless a range is given). */
typedef struct {
    cc_grad_metric_kind kind;
    const int *position;        /* [B] position read by LOGIT_DIFF and KL (negative: from the end, -1 the last);
                                   NULL: the last position of every row */
    const int *answer, *wrong;  /* [B] LOGIT_DIFF's token ids */
    const float *clean_logprobs; /* [B, V] KL: log-probabilities of the clean run at each row's position
                                   (cc_grad_metric_logprobs) */
    int loss_lo, loss_hi;       /* LOSS: the predictions made at positions [loss_lo, loss_hi); both 0: every
                                   position, [0, T-1) */
} cc_grad_metric;

typedef struct {
    cc_kernel kernel;
    uint64_t want[CC_HOOK_COUNT]; /* bit l of want[k]: return the gradient at (k, l) (layer-less hooks: bit 0);
                                     cc_grad_want fills it */
    bool keep_acts;               /* also return the forward activations at the wanted hooks */
    bool split_inputs;            /* also return every head's q, k and v input gradient and every MLP's input
                                     gradient (below) */
    const float *embed;           /* [B, T, d_model] replaces hook_embed (the token embedding) when not NULL:
                                     the backward pass at any input embedding (EAP-IG's interpolated runs) */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_grad_opts;

typedef struct {
    int batch, pos, n_layers;
    double metric;                                   /* the metric's value on this run */
    float *grad[CC_HOOK_COUNT][CC_FWD_MAX_LAYERS];   /* d metric / d act, the activation's shape; NULL unless wanted */
    float *act[CC_HOOK_COUNT][CC_FWD_MAX_LAYERS];    /* the activation (keep_acts); NULL otherwise */
    /* split_inputs: TransformerLens' use_split_qkv_input and use_hook_mlp_in gradients. Each head reads
       the residual stream through its own copy of ln1: qkv_input[0][l] [B, T, H, d] is d metric / d
       hook_q_input (the residual before ln1 as head h's query path alone sees it), qkv_input[1] and [2]
       the key and value paths ([B, T, n_key_value_heads, d]); mlp_input[l] [B, T, d] is d metric /
       d hook_mlp_in (the residual before ln2 as the MLP alone sees it). NULL otherwise. */
    float *qkv_input[3][CC_FWD_MAX_LAYERS];
    float *mlp_input[CC_FWD_MAX_LAYERS];
    size_t peak_bytes; /* most bytes held at once by the saved activations, the gradients and the backward
                          pass's buffers (weights and the forward pass's own workspace not counted) */
} cc_grad_result;

/* Requests the gradient at hook (K, LAYER) in OPTS->want (LAYER < 0: every layer). */
void cc_grad_want(cc_grad_opts *opts, cc_hook_kind k, int layer);

/* Runs TOKENS [batch, pos] through M (as cc_forward does), evaluates METRIC
 * and returns its gradient at every wanted hook. A hook the model does not
 * have, a token or position out of range, or a metric without the arrays its
 * kind needs is an error saying which. RES is overwritten; free it with
 * cc_grad_result_free (also after a failure). */
int cc_backward(const cc_model *m, const int *tokens, int batch, int pos, const cc_grad_metric *metric,
                const cc_grad_opts *opts, cc_grad_result *res, cc_error *err);

void cc_grad_result_free(cc_grad_result *res);

/* The gradient at (K, LAYER) in RES, or NULL if it was not wanted. */
float *cc_grad_of(const cc_grad_result *res, cc_hook_kind k, int layer);

/* METRIC's value on the float32 logits LOGITS [batch, pos, V] of a run of
 * TOKENS (the same arithmetic as cc_backward's, in float64). */
int cc_grad_metric_eval(const cc_model *m, const int *tokens, int batch, int pos, const cc_grad_metric *metric,
                   const float *logits, double *value, cc_error *err);

/* OUT [batch, V]: the log-probabilities of the run of TOKENS at each row's
 * position POSITION[b] (NULL: the last; negative counts from the end), the
 * clean distribution a KL metric compares against. */
int cc_grad_metric_logprobs(const cc_model *m, const int *tokens, int batch, int pos, const int *position,
                       cc_kernel kernel, float *out, cc_error *err);

/* The metric's name as docs and JSON spell it ("logit_diff", "loss", "kl"). */
const char *cc_grad_metric_name(cc_grad_metric_kind kind);

#ifdef __cplusplus
}
#endif

#endif
