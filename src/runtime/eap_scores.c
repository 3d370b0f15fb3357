/* eap_scores.c — EAP and EAP-IG edge scores (circuitc/eap.h): per prompt
 * pair, the senders' corrupted - clean outputs (cc_eap_sender_deltas) and the
 * receivers' input gradients from the backward pass (cc_backward with
 * split_inputs: each head's own q/k/v path, each MLP's input, the last
 * resid_post for the logits), combined by cc_eap_scores_add.
 *
 * EAP takes the gradient on the clean run. EAP-IG averages it over STEPS runs
 * of the clean tokens whose token embedding (hook_embed) is moved from the
 * corrupted one towards the clean one: corrupt + (k / STEPS) (clean - corrupt),
 * k = 0 .. STEPS - 1 (golden/gen_eap.py's definition). */
#include "circuitc/eap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "core/args.h"
#include "model/model_internal.h"

/* The backward pass's form of pair metric K for one pair (batch 1, the last
 * position). loss, -log p(answer), is written as KL from a one-hot
 * distribution on the answer: CLEAN_LP [V] receives that distribution's
 * log-probabilities (kl: the clean run's, from the caller). */
static void grad_metric_of(cc_pair_metric k, const int *answer, const int *wrong, float *clean_lp, int V,
                           cc_grad_metric *gm)
{
    *gm = (cc_grad_metric){.kind = k == CC_PAIR_LOGIT_DIFF ? CC_GRAD_LOGIT_DIFF : CC_GRAD_KL,
                           .answer = answer, .wrong = wrong, .clean_logprobs = clean_lp};
    if (k == CC_PAIR_LOSS)
        for (int v = 0; v < V; v++) clean_lp[v] = v == *answer ? 0.0f : -INFINITY;
}

/* GRAD [n_receivers, T, d] += WEIGHT * each receiver's input gradient in RES (batch 1). */
static void add_receiver_grads(const cc_eap_graph *g, const cc_grad_result *res, int T, int d, double weight,
                               float *grad)
{
    for (int r = 0; r < g->n_receivers; r++) {
        const cc_eap_node *n = &g->receivers[r];
        float *dst = grad + (size_t)r * T * d;
        for (int t = 0; t < T; t++) {
            const float *src;
            if (n->kind == CC_EAP_HEAD) {
                int i = n->qkv == 'q' ? 0 : n->qkv == 'k' ? 1 : 2;
                src = res->qkv_input[i][n->layer] + ((size_t)t * g->n_heads + n->head) * d;
            } else if (n->kind == CC_EAP_MLP) {
                src = res->mlp_input[n->layer] + (size_t)t * d;
            } else {
                src = res->grad[CC_HOOK_RESID_POST][g->n_layers - 1] + (size_t)t * d;
            }
            for (int i = 0; i < d; i++) dst[(size_t)t * d + i] += (float)(weight * src[i]);
        }
    }
}

/* EMBED [T, d] = the corrupted token embedding + ALPHA (clean - corrupted). */
static void interpolate_embed(const cc_model *m, const int *clean, const int *corrupt, int T, double alpha,
                              float *embed)
{
    size_t d = (size_t)m->cfg.d_model;
    for (int t = 0; t < T; t++) {
        const float *ec = m->w.W_E + (size_t)clean[t] * d, *ex = m->w.W_E + (size_t)corrupt[t] * d;
        for (size_t i = 0; i < d; i++) embed[t * d + i] = (float)(ex[i] + alpha * ((double)ec[i] - ex[i]));
    }
}

/* Adds pair I's scores, weighted 1 / n_pairs, to SCORES. */
static int pair_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, int i, cc_pair_metric metric,
                       int ig_steps, cc_kernel kernel, double *scores, cc_error *err)
{
    const cc_config *c = &m->cfg;
    int T = p->offset[i + 1] - p->offset[i], d = c->d_model, runs = ig_steps ? ig_steps : 1;
    const int *clean = p->clean + p->offset[i], *corrupt = p->corrupt + p->offset[i];
    float *delta = malloc((size_t)g->n_senders * T * d * sizeof *delta);
    float *grad = calloc((size_t)g->n_receivers * T * d, sizeof *grad);
    float *clean_lp = malloc((size_t)c->d_vocab * sizeof *clean_lp);
    float *embed = ig_steps ? malloc((size_t)T * d * sizeof *embed) : NULL;
    int rc = -1;
    if (!delta || !grad || !clean_lp || (ig_steps && !embed)) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the edge scores of pair %d (%d tokens)", i, T);
        goto out;
    }
    if (cc_eap_sender_deltas(m, g, clean, corrupt, T, kernel, delta, err) != 0) goto out;
    if (metric == CC_PAIR_KL && cc_grad_metric_logprobs(m, clean, 1, T, NULL, kernel, clean_lp, err) != 0) goto out;
    cc_grad_metric gm;
    grad_metric_of(metric, &p->answer[i], &p->wrong[i], clean_lp, c->d_vocab, &gm);
    cc_grad_opts o = {.kernel = kernel, .split_inputs = true, .embed = embed};
    cc_grad_want(&o, CC_HOOK_RESID_POST, c->n_layers - 1);
    for (int k = 0; k < runs; k++) {
        if (ig_steps) interpolate_embed(m, clean, corrupt, T, (double)k / ig_steps, embed);
        cc_grad_result res;
        int brc = cc_backward(m, clean, 1, T, &gm, &o, &res, err);
        if (brc == 0) add_receiver_grads(g, &res, T, d, 1.0 / runs, grad);
        cc_grad_result_free(&res);
        if (brc != 0) goto out;
    }
    rc = cc_eap_scores_add(g, T, d, delta, grad, 1.0 / p->n_pairs, scores, err);
out:
    free(delta), free(grad), free(clean_lp), free(embed);
    return rc;
}

int cc_eap_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, cc_pair_metric metric,
                  int ig_steps, cc_kernel kernel, double *scores, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_ENUM(metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_AT_LEAST(ig_steps, 0, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    if (cc_eap_pairs_check(p, m, err) != 0) return -1;
    memset(scores, 0, (size_t)g->n_edges * sizeof *scores);
    for (int i = 0; i < p->n_pairs; i++)
        if (pair_scores(m, g, p, i, metric, ig_steps, kernel, scores, err) != 0) return -1;
    return 0;
}
