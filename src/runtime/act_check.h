/* act_check.h — refusing a forward pass whose activations left float32's
 * meaningful range (internal; both kernels, full and resumed passes).
 *
 * Finite weights can still drive a pass out of range: a weight of 1e20 makes
 * logits of 1e17, where softmax saturates and every figure printed from them is
 * noise. So, at every hook point, after the caller's edit:
 *   - every activation must be finite: NaN, +Inf and -Inf are refused (the
 *     attention scores' -inf is the causal mask and is allowed there);
 *   - every logit must be below CC_LOGIT_LIMIT = 2^24 in magnitude: there
 *     float32's spacing reaches 2, so logits that differ by 1 can no longer be
 *     told apart and log-probs and probabilities computed from them are wrong
 *     by factors of e or more. (Trained GPT-2 logits stay within a few hundred.)
 * The error names the hook, the layer and the element. Nothing is checked when
 * the model's allow_nonfinite is set (--allow-nonfinite), as for weights. */
#ifndef CC_RUNTIME_ACT_CHECK_H
#define CC_RUNTIME_ACT_CHECK_H

#include "circuitc/forward.h"

#define CC_LOGIT_LIMIT 16777216.0f /* 2^24 */

/* Checks ACT, activation KIND of block LAYER of a pass over the segments
 * SEG[0..N_SEG) of a [batch, pos] token array: rows stacked segment after
 * segment ([rows, width]); the scores and pattern per segment [H, n, end].
 * With SEG NULL, ACT is N_SEG plain rows (cc_fwd_unembed's logits). */
int cc_act_check(const cc_model *m, const cc_segment *seg, int n_seg, cc_hook_kind kind, int layer,
                 const float *act, cc_error *err);

/* Checks the logits LG [rows, n] of stacked row ROW0 onwards, columns
 * [col0, col0 + n) of the vocabulary, with row stride LD (the fused
 * unembedding's tiles). */
int cc_logits_check(const cc_model *m, const cc_segment *seg, int n_seg, size_t row0, int rows, int col0, int n,
                    int ld, const float *lg, cc_error *err);

#endif
