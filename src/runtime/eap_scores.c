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

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"
#include "runtime/eap_par.h"

/* The backward pass's form of pair metric K for a batch of B runs of one pair
 * (each read at its last position). loss, -log p(answer), is written as KL
 * from a one-hot distribution on the answer. ANSWER, WRONG [B] receive the
 * pair's tokens; CLEAN_LP [B, V] holds the clean run's log-probabilities in
 * its first row (kl; from the caller) and receives them, or the one-hot
 * distribution's (loss), in every row. */
static void grad_metric_of(cc_pair_metric k, int B, int answer, int wrong, int *answers, int *wrongs,
                           float *clean_lp, int V, cc_grad_metric *gm)
{
    *gm = (cc_grad_metric){.kind = k == CC_PAIR_LOGIT_DIFF ? CC_GRAD_LOGIT_DIFF : CC_GRAD_KL,
                           .answer = answers, .wrong = wrongs, .clean_logprobs = clean_lp};
    for (int b = 0; b < B; b++) answers[b] = answer, wrongs[b] = wrong;
    if (k == CC_PAIR_LOSS)
        for (int v = 0; v < V; v++) clean_lp[v] = v == answer ? 0.0f : -INFINITY;
    for (int b = 1; b < B; b++) memcpy(clean_lp + (size_t)b * V, clean_lp, (size_t)V * sizeof *clean_lp);
}

/* GRAD [n_receivers, T, d] += each receiver's input gradient in RES summed over its batch of B runs. */
static void add_receiver_grads(const cc_eap_graph *g, const cc_grad_result *res, int B, int T, int d, float *grad)
{
    for (int r = 0; r < g->n_receivers; r++) {
        const cc_eap_node *n = &g->receivers[r];
        float *dst = grad + (size_t)r * T * d;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *src;
                size_t bt = (size_t)b * T + t;
                if (n->kind == CC_EAP_HEAD) {
                    int i = n->qkv == 'q' ? 0 : n->qkv == 'k' ? 1 : 2;
                    src = res->qkv_input[i][n->layer] + (bt * g->n_heads + n->head) * d;
                } else if (n->kind == CC_EAP_MLP) {
                    src = res->mlp_input[n->layer] + bt * d;
                } else {
                    src = res->grad[CC_HOOK_RESID_POST][g->n_layers - 1] + bt * d;
                }
                for (int i = 0; i < d; i++) dst[(size_t)t * d + i] += src[i];
            }
    }
}

/* EMBED [STEPS, T, d]: run k's token embedding, the corrupted one + (k / STEPS) (clean - corrupted). */
static void interpolate_embed(const cc_model *m, const int *clean, const int *corrupt, int T, int steps,
                              float *embed)
{
    size_t d = (size_t)m->cfg.d_model;
    for (int k = 0; k < steps; k++) {
        double alpha = (double)k / steps;
        for (int t = 0; t < T; t++) {
            const float *ec = m->w.W_E + (size_t)clean[t] * d, *ex = m->w.W_E + (size_t)corrupt[t] * d;
            float *e = embed + ((size_t)k * T + t) * d;
            for (size_t i = 0; i < d; i++) e[i] = (float)(ex[i] + alpha * ((double)ec[i] - ex[i]));
        }
    }
}

/* The per-pair work of cc_eap_scores: WAVE pairs at a time on the library's
 * threads, each pair's edge products into its own DOTS slot, then added to the
 * scores in pair order. */
#define SCORE_WAVE 16

typedef struct {
    const cc_model *m;
    const cc_eap_graph *g;
    const cc_eap_pairs *p;
    cc_pair_metric metric;
    int ig_steps, wave_lo;
    cc_kernel kernel;
    float *dots; /* [SCORE_WAVE, n_senders, n_receivers] */
} score_job;

/* DOT [n_senders, n_receivers] = DELTA GRAD^T over T * D: every (sender, receiver) product at once. */
static void edge_dots(const cc_eap_graph *g, int T, int D, const float *delta, const float *grad, float *dot)
{
    int nS = g->n_senders, nR = g->n_receivers, K = T * D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nS, nR, K, 1.0f, delta, K, grad, K, 0.0f, dot, nR);
}

/* SCORES [n_edges] += WEIGHT * DOT's entry of every edge. */
static void add_dots(const cc_eap_graph *g, const float *dot, double weight, double *scores)
{
    int nR = g->n_receivers;
    for (int r = 0; r < nR; r++)
        for (int s = 0; s < g->n_inputs[r]; s++) scores[g->first_edge[r] + s] += weight * dot[(size_t)s * nR + r];
}

int cc_eap_scores_add(const cc_eap_graph *g, int T, int D, const float *delta, const float *grad, double weight,
                      double *scores, cc_error *err)
{
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(delta, err, -1);
    CC_ARG_NOT_NULL(grad, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    CC_ARG_AT_LEAST(T, 1, err, -1);
    CC_ARG_AT_LEAST(D, 1, err, -1);
    float *dot = malloc((size_t)g->n_senders * g->n_receivers * sizeof *dot);
    if (!dot) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d x %d edge products", g->n_senders,
                                  g->n_receivers);
    edge_dots(g, T, D, delta, grad, dot);
    add_dots(g, dot, weight, scores);
    free(dot);
    return 0;
}

/* Pair I's edge products into its slot of j->dots. EAP-IG's runs go through
 * one backward pass as a batch of IG_STEPS rows: its metric is their mean, so
 * the summed input gradients are the mean over the steps. */
static int pair_dots(void *ctx, int i, cc_error *err)
{
    const score_job *j = ctx;
    const cc_model *m = j->m;
    const cc_eap_graph *g = j->g;
    const cc_eap_pairs *p = j->p;
    const cc_config *c = &m->cfg;
    int T = p->offset[i + 1] - p->offset[i], d = c->d_model, B = j->ig_steps ? j->ig_steps : 1;
    const int *clean = p->clean + p->offset[i], *corrupt = p->corrupt + p->offset[i];
    float *delta = malloc((size_t)g->n_senders * T * d * sizeof *delta);
    float *grad = calloc((size_t)g->n_receivers * T * d, sizeof *grad);
    float *clean_lp = malloc((size_t)B * c->d_vocab * sizeof *clean_lp);
    float *embed = j->ig_steps ? malloc((size_t)B * T * d * sizeof *embed) : NULL;
    int *tokens = malloc((size_t)B * T * sizeof *tokens), *answers = malloc(2 * (size_t)B * sizeof *answers);
    int rc = -1;
    if (!delta || !grad || !clean_lp || (j->ig_steps && !embed) || !tokens || !answers) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the edge scores of pair %d (%d tokens)", i, T);
        goto out;
    }
    if (cc_eap_sender_deltas(m, g, clean, corrupt, T, j->kernel, 0, delta, err) != 0) goto out;
    if (j->metric == CC_PAIR_KL && cc_grad_metric_logprobs(m, clean, 1, T, NULL, j->kernel, clean_lp, err) != 0)
        goto out;
    cc_grad_metric gm;
    grad_metric_of(j->metric, B, p->answer[i], p->wrong[i], answers, answers + B, clean_lp, c->d_vocab, &gm);
    for (int b = 0; b < B; b++) memcpy(tokens + (size_t)b * T, clean, (size_t)T * sizeof *tokens);
    if (j->ig_steps) interpolate_embed(m, clean, corrupt, T, j->ig_steps, embed);
    cc_grad_opts o = {.kernel = j->kernel, .split_inputs = true, .embed = embed};
    cc_grad_want(&o, CC_HOOK_RESID_POST, c->n_layers - 1);
    cc_grad_result res;
    rc = cc_backward(m, tokens, B, T, &gm, &o, &res, err);
    if (rc == 0) {
        add_receiver_grads(g, &res, B, T, d, grad);
        edge_dots(g, T, d, delta, grad, j->dots + (size_t)(i - j->wave_lo) * g->n_senders * g->n_receivers);
    }
    cc_grad_result_free(&res);
out:
    free(delta), free(grad), free(clean_lp), free(embed), free(tokens), free(answers);
    return rc;
}

int cc_eap_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, cc_pair_metric metric,
                  int ig_steps, cc_kernel kernel, int threads, double *scores, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_ENUM(metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_AT_LEAST(ig_steps, 0, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    return cci_eap_scores(m, g, p, metric, ig_steps, kernel, NULL, scores, err);
}

int cci_eap_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, cc_pair_metric metric,
                   int ig_steps, cc_kernel kernel, cci_eap_progress *progress, double *scores, cc_error *err)
{
    if (cc_eap_pairs_check(p, m, err) != 0) return -1;
    size_t per_pair = (size_t)g->n_senders * g->n_receivers;
    score_job j = {m, g, p, metric, ig_steps, 0, kernel, malloc(SCORE_WAVE * per_pair * sizeof *j.dots)};
    if (!j.dots) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the edge products of %d pairs", SCORE_WAVE);
    memset(scores, 0, (size_t)g->n_edges * sizeof *scores);
    int rc = 0;
    for (int lo = 0; lo < p->n_pairs && rc == 0; lo += SCORE_WAVE) {
        int hi = p->n_pairs - lo < SCORE_WAVE ? p->n_pairs : lo + SCORE_WAVE;
        j.wave_lo = lo;
        rc = cci_eap_for_pairs(lo, hi, pair_dots, &j, progress, err);
        for (int i = lo; rc == 0 && i < hi; i++) add_dots(g, j.dots + (size_t)(i - lo) * per_pair, 1.0 / p->n_pairs, scores);
    }
    free(j.dots);
    return rc;
}
