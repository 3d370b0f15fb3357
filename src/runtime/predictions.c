/* predictions.c — next-token predictions at every position and the logit
 * lens (include/circuitc/predictions.h). */
#include "circuitc/predictions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

cc_row_target cc_logits_row_read(const float *lg, int V, int target, int k, int32_t *top_id, double *top_prob)
{
    CC_ARG_NOT_NULL(lg, NULL, (cc_row_target){NAN, -1});
    CC_ARG_NOT_NULL(top_id, NULL, (cc_row_target){NAN, -1});
    CC_ARG_NOT_NULL(top_prob, NULL, (cc_row_target){NAN, -1});
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)lg[v] - mx);
    double lse = mx + log(sum);
    /* top-K by insertion: a later id displaces only a strictly larger logit, so ties keep the lower id first */
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (n == k && !(lg[v] > lg[top_id[k - 1]])) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && lg[v] > lg[top_id[i - 1]]) {
            top_id[i] = top_id[i - 1];
            i--;
        }
        top_id[i] = v;
    }
    for (int i = 0; i < k; i++) top_prob[i] = exp((double)lg[top_id[i]] - lse);
    cc_row_target out = {NAN, -1};
    if (target >= 0) {
        int rank = 0;
        for (int v = 0; v < V; v++) rank += lg[v] > lg[target] || (lg[v] == lg[target] && v < target);
        out = (cc_row_target){(double)lg[target] - lse, rank};
    }
    return out;
}

/* Rows of logits read in parallel: row r's target, and where its results go. */
typedef struct {
    const float *logits; /* [R, V] */
    const int *target;   /* [R], -1: none */
    int V, k;
    int32_t *top_id;     /* [R, K] */
    double *top_prob;    /* [R, K] */
    double *logprob;     /* [R] */
    int *rank;           /* [R] */
} read_ctx;

static void read_rows(void *p, size_t lo, size_t hi)
{
    const read_ctx *a = p;
    for (size_t r = lo; r < hi; r++) {
        cc_row_target t = cc_logits_row_read(a->logits + r * a->V, a->V, a->target[r], a->k, a->top_id + r * a->k,
                                             a->top_prob + r * a->k);
        a->logprob[r] = t.target_logprob;
        a->rank[r] = t.target_rank;
    }
}

/* ------------------------------------------------------------------ run */

void cc_next_tokens_free(cc_next_tokens *r)
{
    if (!r) return;
    free(r->logprob), free(r->rank), free(r->top_id), free(r->top_prob), free(r->loss);
    memset(r, 0, sizeof *r);
}

/* Reads one sequence's logits [len, V] into row B of OUT. */
static void read_sequence(const float *logits, const int *tok, int len, int V, int b, int *target, double *lp,
                          cc_next_tokens *out)
{
    size_t row = (size_t)b * out->pos;
    for (int t = 0; t < len; t++) target[t] = t + 1 < len ? tok[t + 1] : -1;
    read_ctx a = {logits, target, V, out->k, out->top_id + row * out->k, out->top_prob + row * out->k, lp,
                  out->rank + row};
    cc_par_for((size_t)len, 4, read_rows, &a);
    /* the prediction made at t scores the token at t+1 */
    double loss = 0;
    out->logprob[row] = NAN;
    for (int t = len - 1; t >= 1; t--) {
        out->logprob[row + t] = lp[t - 1];
        out->rank[row + t] = out->rank[row + t - 1];
        loss -= lp[t - 1];
    }
    out->rank[row] = -1;
    out->loss[b] = len > 1 ? loss / (len - 1) : NAN;
}

int cc_next_tokens_run(const cc_model *m, const int *tokens, const int *length, int batch, int pos, int k,
                       cc_kernel kernel, int threads, cc_next_tokens *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(length, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    int V = m->cfg.d_vocab;
    if (k < 1 || k > V) return cc_fail(err, "top-K: K = %d is outside 1..%d (the vocabulary size)", k, V);
    size_t BT = (size_t)batch * pos;
    *out = (cc_next_tokens){batch, pos, k, malloc(BT * sizeof(double)), malloc(BT * sizeof(int)),
                            malloc(BT * k * sizeof(int32_t)), malloc(BT * k * sizeof(double)),
                            malloc((size_t)batch * sizeof(double))};
    int *target = malloc((size_t)pos * sizeof *target);
    double *lp = malloc((size_t)pos * sizeof *lp);
    if (!out->logprob || !out->rank || !out->top_id || !out->top_prob || !out->loss || !target || !lp) {
        free(target), free(lp);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d x %d predictions", batch, pos);
    }
    for (size_t i = 0; i < BT; i++) out->logprob[i] = NAN, out->rank[i] = -1;
    for (size_t i = 0; i < BT * k; i++) out->top_id[i] = -1, out->top_prob[i] = NAN;
    int rc = 0;
    for (int b = 0; b < batch && rc == 0; b++) { /* one pass per prompt: no padding runs, logits of one at a time */
        const int *tok = tokens + (size_t)b * pos;
        cc_fwd_opts fo = {.kernel = kernel};
        cc_fwd_want(&fo, CC_HOOK_LOGITS, 0);
        cc_fwd_result r;
        rc = cc_forward(m, tok, 1, length[b], &fo, &r, err);
        if (rc == 0) read_sequence(cc_fwd_act(&r, CC_HOOK_LOGITS, 0), tok, length[b], V, b, target, lp, out);
        cc_fwd_result_free(&r);
    }
    free(target), free(lp);
    return rc;
}

/* ------------------------------------------------------------------ lens */

void cc_logit_lens_free(cc_logit_lens *r)
{
    if (!r) return;
    free(r->prob), free(r->rank), free(r->top_id), free(r->top_prob);
    memset(r, 0, sizeof *r);
}

/* Rows of the residual streams unembedded at a time ([rows, V] float32 logits). */
enum { LENS_CHUNK_ROWS = 128 };

int cc_logit_lens_run(const cc_model *m, const int *tokens, int pos, int k, cc_kernel kernel, int threads,
                      cc_logit_lens *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    int L = c->n_layers, V = c->d_vocab, d = c->d_model;
    if (k < 1 || k > V) return cc_fail(err, "top-K: K = %d is outside 1..%d (the vocabulary size)", k, V);
    cc_fwd_opts fo = {.kernel = kernel, .skip_unembed = true};
    cc_fwd_want(&fo, CC_HOOK_RESID_PRE, -1);
    cc_fwd_want(&fo, CC_HOOK_RESID_POST, L - 1);
    cc_fwd_result r;
    if (cc_forward(m, tokens, 1, pos, &fo, &r, err) != 0) {
        cc_fwd_result_free(&r);
        return -1;
    }
    size_t n_rows = (size_t)(L + 1) * pos, chunk = LENS_CHUNK_ROWS;
    *out = (cc_logit_lens){L + 1, pos, k, malloc(n_rows * sizeof(double)), malloc(n_rows * sizeof(int)),
                           malloc(n_rows * k * sizeof(int32_t)), malloc(n_rows * k * sizeof(double))};
    float *x = malloc(n_rows * d * sizeof *x), *logits = malloc(chunk * V * sizeof *logits);
    int *target = malloc(n_rows * sizeof *target);
    int rc = -1;
    if (!out->prob || !out->rank || !out->top_id || !out->top_prob || !x || !logits || !target) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the logit lens (%zu rows)", n_rows);
        goto done;
    }
    for (int i = 0; i <= L; i++) {
        const float *resid = i < L ? cc_fwd_act(&r, CC_HOOK_RESID_PRE, i) : cc_fwd_act(&r, CC_HOOK_RESID_POST, L - 1);
        memcpy(x + (size_t)i * pos * d, resid, (size_t)pos * d * sizeof *x);
        for (int t = 0; t < pos; t++) target[(size_t)i * pos + t] = t + 1 < pos ? tokens[t + 1] : -1;
    }
    for (size_t r0 = 0; r0 < n_rows; r0 += chunk) {
        int rows = (int)(n_rows - r0 < chunk ? n_rows - r0 : chunk);
        if (cc_fwd_unembed(m, x + r0 * d, rows, kernel, logits, err) != 0) goto done;
        read_ctx a = {logits, target + r0, V, k, out->top_id + r0 * k, out->top_prob + r0 * k, out->prob + r0,
                      out->rank + r0};
        cc_par_for((size_t)rows, 4, read_rows, &a);
    }
    for (size_t i = 0; i < n_rows; i++) out->prob[i] = exp(out->prob[i]); /* NaN stays NaN */
    rc = 0;
done:
    free(x), free(logits), free(target);
    cc_fwd_result_free(&r);
    return rc;
}
