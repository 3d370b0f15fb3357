/* circuitc/pair_metric.h — the metrics of a prompt pair's run that edge
 * attribution patching scores and faithfulness are measured with, read from
 * the logits at the prompt's last position (docs/eap.md):
 *
 *   logit_diff  logits[answer] - logits[wrong]
 *   loss        -log softmax(logits)[answer]
 *   kl          KL(clean || run) = sum_v p_clean(v) (log p_clean(v) - log p_run(v)),
 *               the divergence of the run's next-token distribution from the
 *               clean run's (0 on the clean run itself)
 *
 * A batch's metric is the mean over its pairs. Values and gradients are
 * computed in float64 from float32 logits; the gradient with respect to the
 * logits is what a backward pass starts from. */
#ifndef CIRCUITC_PAIR_METRIC_H
#define CIRCUITC_PAIR_METRIC_H

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_PAIR_LOGIT_DIFF = 0, CC_PAIR_LOSS, CC_PAIR_KL } cc_pair_metric;

/* "logit_diff", "loss", "kl". */
const char *cc_pair_metric_name(cc_pair_metric k);

/* Parses one of the names above; the error lists them. */
int cc_pair_metric_parse(const char *name, cc_pair_metric *k, cc_error *err);

/* The metric of one run from its last-position LOGITS [V]; CLEAN [V] is the
 * clean run's last-position logits (read by kl only). ANSWER and WRONG are
 * token ids in [0, V) (wrong is read by logit_diff only). */
double cc_pair_metric_value(cc_pair_metric k, const float *logits, const float *clean, int V, int answer, int wrong);

/* GRAD [V] = d metric / d logits at LOGITS, for the same arguments. */
void cc_pair_metric_grad(cc_pair_metric k, const float *logits, const float *clean, int V, int answer, int wrong,
                         double *grad);

#ifdef __cplusplus
}
#endif

#endif
