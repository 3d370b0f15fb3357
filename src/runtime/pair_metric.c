/* pair_metric.c — logit difference, loss and KL to the clean run on a pair's
 * last-position logits, and their gradients (circuitc/pair_metric.h). */
#include "circuitc/pair_metric.h"

#include <math.h>
#include <string.h>

#include "core/args.h"

static const char *const NAMES[] = {"logit_diff", "loss", "kl"};

const char *cc_pair_metric_name(cc_pair_metric k)
{
    CC_ARG_ENUM(k, CC_PAIR_KL + 1, NULL, "?");
    return NAMES[k];
}

int cc_pair_metric_parse(const char *name, cc_pair_metric *k, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    for (int i = 0; i <= CC_PAIR_KL; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *k = (cc_pair_metric)i;
            return 0;
        }
    return cc_fail(err, "unknown metric '%s': use logit_diff, loss or kl", name);
}

/* log sum_v exp(x[v]) in float64. */
static double log_sum_exp(const float *x, int V)
{
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
    for (int v = 0; v < V; v++) s += exp((double)x[v] - mx);
    return mx + log(s);
}

double cc_pair_metric_value(cc_pair_metric k, const float *logits, const float *clean, int V, int answer, int wrong)
{
    CC_ARG_ENUM(k, CC_PAIR_KL + 1, NULL, NAN);
    CC_ARG_NOT_NULL(logits, NULL, NAN);
    if (V < 1 || answer < 0 || answer >= V || (k == CC_PAIR_LOGIT_DIFF && (wrong < 0 || wrong >= V))) return NAN;
    if (k == CC_PAIR_LOGIT_DIFF) return (double)logits[answer] - logits[wrong];
    double lse = log_sum_exp(logits, V);
    if (k == CC_PAIR_LOSS) return lse - logits[answer];
    CC_ARG_NOT_NULL(clean, NULL, NAN);
    double clse = log_sum_exp(clean, V), kl = 0;
    for (int v = 0; v < V; v++) {
        double lc = clean[v] - clse;
        kl += exp(lc) * (lc - (logits[v] - lse));
    }
    return kl;
}

void cc_pair_metric_grad(cc_pair_metric k, const float *logits, const float *clean, int V, int answer, int wrong,
                         double *grad)
{
    CC_ARG_ENUM(k, CC_PAIR_KL + 1, NULL);
    CC_ARG_NOT_NULL(logits, NULL);
    CC_ARG_NOT_NULL(grad, NULL);
    if (V < 1 || answer < 0 || answer >= V) return;
    memset(grad, 0, (size_t)V * sizeof *grad);
    if (k == CC_PAIR_LOGIT_DIFF) {
        if (wrong < 0 || wrong >= V) return;
        grad[answer] += 1;
        grad[wrong] -= 1;
        return;
    }
    /* loss: softmax - onehot(answer); kl: softmax - p_clean (d/dx of -sum p_clean log_softmax(x)) */
    if (k == CC_PAIR_KL && !clean) return;
    double lse = log_sum_exp(logits, V), clse = k == CC_PAIR_KL ? log_sum_exp(clean, V) : 0;
    for (int v = 0; v < V; v++) {
        grad[v] = exp(logits[v] - lse);
        if (k == CC_PAIR_KL) grad[v] -= exp(clean[v] - clse);
    }
    if (k == CC_PAIR_LOSS) grad[answer] -= 1;
}
