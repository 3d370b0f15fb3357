/* eap_patch.c — the edge-patched forward pass of EAP-IG's circuit evaluation
 * (circuitc/eap.h): a run of the clean tokens whose receivers read, for each
 * edge outside the circuit, the sender's corrupted output instead of its
 * output in this run.
 *
 * The pass is the ordinary forward pass with a hook callback. At each sender's
 * hook the callback records delta[s] = corrupted output - this run's output;
 * at each receiver's hook it rebuilds the receiver's input as the residual
 * stream plus the deltas of its edges outside the circuit, and recomputes the
 * hook's value from it: hook_q / hook_k / hook_v per head (norm, then the
 * head's projection), hook_mlp_pre (and hook_pre_linear) for the MLP input,
 * and the last block's hook_resid_post for the logits. A receiver with no edge
 * outside the circuit is left alone; one with every edge outside takes the
 * corrupted run's value (the same sum, exactly). */
#include "circuitc/eap.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "runtime/vecmath.h"
#include "model/model_internal.h"

typedef enum { RECV_KEEP, RECV_CORRUPT, RECV_BUILD } recv_state;

typedef struct {
    const cc_model *m;
    const cc_eap_graph *g;
    const unsigned char *in;    /* the circuit: [n_edges] */
    const cc_fwd_result *corr;  /* the corrupted run, with the hooks corrupt_cache() asks for */
    int T;
    float *delta;               /* [n_senders, T, d]: corrupted output - this run's output */
    float *resid;               /* [T, d]: the residual stream the next receivers read (resid_pre, resid_mid) */
    float *pe;                  /* [T, d]: shortformer positions (added to the q and k inputs) */
    float *x, *xn;              /* [T, d]: a receiver's rebuilt input, and it normed */
    float *dz;                  /* [T, H * dh]: corrupted z - this run's z */
} edge_run;

/* ------------------------------------------------------------------ indices */

static int per_layer_senders(const cc_eap_graph *g)
{
    return g->n_heads + !g->attn_only;
}

static int head_sender(const cc_eap_graph *g, int l, int h)
{
    return 1 + l * per_layer_senders(g) + h;
}

static int mlp_sender(const cc_eap_graph *g, int l)
{
    return 1 + l * per_layer_senders(g) + g->n_heads;
}

static int head_receiver(const cc_eap_graph *g, int l, int qkv, int h)
{
    return l * (3 * g->n_heads + !g->attn_only) + qkv * g->n_heads + h;
}

static int mlp_receiver(const cc_eap_graph *g, int l)
{
    return l * (3 * g->n_heads + 1) + 3 * g->n_heads;
}

static float *delta_of(const edge_run *r, int s)
{
    return r->delta + (size_t)s * r->T * r->m->cfg.d_model;
}

/* ------------------------------------------------------------------ receivers */

static recv_state receiver_state(const edge_run *r, int rec)
{
    const cc_eap_graph *g = r->g;
    long outside = 0, n = g->first_edge[rec + 1] - g->first_edge[rec];
    for (long e = g->first_edge[rec]; e < g->first_edge[rec + 1]; e++) outside += !r->in[e];
    return outside == 0 ? RECV_KEEP : outside == n ? RECV_CORRUPT : RECV_BUILD;
}

/* r->x = BASE + the deltas of receiver REC's edges outside the circuit. */
static void rebuild_input(edge_run *r, int rec, const float *base)
{
    const cc_eap_graph *g = r->g;
    size_t Td = (size_t)r->T * r->m->cfg.d_model;
    memcpy(r->x, base, Td * sizeof *r->x);
    for (long e = g->first_edge[rec]; e < g->first_edge[rec + 1]; e++) {
        if (r->in[e]) continue;
        const float *dl = delta_of(r, (int)(e - g->first_edge[rec]));
        for (size_t i = 0; i < Td; i++) r->x[i] += dl[i];
    }
}

/* r->xn = the norm (weights W, B when present) of every row of r->x. */
static void norm_input(edge_run *r, const float *w, const float *b)
{
    const cc_config *c = &r->m->cfg;
    for (int t = 0; t < r->T; t++) {
        const float *x = r->x + (size_t)t * c->d_model;
        float *out = r->xn + (size_t)t * c->d_model;
        if (c->norm == CC_NORM_RMS) cc_vec_rmsnorm(x, c->d_model, w, c->ln_eps, out);
        else cc_vec_layernorm(x, c->d_model, w, b, c->ln_eps, out);
    }
}

static const float *layer_row(const float *a, int l, size_t n)
{
    return a ? a + (size_t)l * n : NULL;
}

/* OUT [T, n] (row stride LDO) = r->xn [T, d] W [d, n] + B [n] (B may be NULL). */
static void project(const edge_run *r, const float *W, const float *B, int n, float *out, int ldo)
{
    int d = r->m->cfg.d_model;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r->T, n, d, 1.0f, r->xn, d, W, n, 0.0f, out, ldo);
    if (B)
        for (int t = 0; t < r->T; t++)
            for (int j = 0; j < n; j++) out[(size_t)t * ldo + j] += B[j];
}

/* hook_q / hook_k / hook_v of layer L, ACT [T, H, dh]: each head's own input. */
static void patch_heads(edge_run *r, cc_hook_kind kind, int l, float *act)
{
    const cc_config *c = &r->m->cfg;
    const cc_weights *w = &r->m->w;
    int H = c->n_heads, dh = c->d_head, d = c->d_model, qkv = (int)(kind - CC_HOOK_Q);
    const float *W = qkv == 0 ? w->W_Q : qkv == 1 ? w->W_K : w->W_V;
    const float *B = qkv == 0 ? w->b_Q : qkv == 1 ? w->b_K : w->b_V;
    const float *corr = cc_fwd_act(r->corr, kind, l);
    for (int h = 0; h < H; h++) {
        int rec = head_receiver(r->g, l, qkv, h);
        recv_state st = receiver_state(r, rec);
        if (st == RECV_KEEP) continue;
        if (st == RECV_CORRUPT) {
            for (int t = 0; t < r->T; t++)
                memcpy(act + ((size_t)t * H + h) * dh, corr + ((size_t)t * H + h) * dh, (size_t)dh * sizeof *act);
            continue;
        }
        rebuild_input(r, rec, r->resid);
        norm_input(r, layer_row(w->ln1_w, l, d), layer_row(w->ln1_b, l, d));
        if (c->pos == CC_POS_SHORTFORMER && qkv < 2) /* the positions enter the queries and keys only */
            for (size_t i = 0; i < (size_t)r->T * d; i++) r->xn[i] += r->pe[i];
        size_t hw = (size_t)l * H + h;
        project(r, W + hw * d * dh, B ? B + hw * dh : NULL, dh, act + (size_t)h * dh, H * dh);
    }
}

/* hook_mlp_pre (and a gated MLP's hook_pre_linear, which follows it and
 * reuses its normed input) of layer L, ACT [T, m]. */
static void patch_mlp(edge_run *r, cc_hook_kind kind, int l, float *act)
{
    const cc_config *c = &r->m->cfg;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, M = c->d_mlp;
    int rec = mlp_receiver(r->g, l);
    recv_state st = receiver_state(r, rec);
    if (st == RECV_KEEP) return;
    if (st == RECV_CORRUPT) {
        memcpy(act, cc_fwd_act(r->corr, kind, l), (size_t)r->T * M * sizeof *act);
        return;
    }
    if (kind == CC_HOOK_MLP_PRE) {
        rebuild_input(r, rec, r->resid);
        norm_input(r, layer_row(w->ln2_w, l, d), layer_row(w->ln2_b, l, d));
    }
    size_t dM = (size_t)d * M;
    if (c->gated) /* x W_gate, x W_in: b_in is added after the gate */
        project(r, (kind == CC_HOOK_MLP_PRE ? w->W_gate : w->W_in) + l * dM, NULL, M, act, M);
    else
        project(r, w->W_in + l * dM, layer_row(w->b_in, l, M), M, act, M);
}

/* The last block's hook_resid_post, ACT [T, d]: what the logits read. */
static void patch_logits(edge_run *r, float *act)
{
    int rec = r->g->n_receivers - 1;
    recv_state st = receiver_state(r, rec);
    size_t Td = (size_t)r->T * r->m->cfg.d_model;
    if (st == RECV_CORRUPT) memcpy(act, cc_fwd_act(r->corr, CC_HOOK_RESID_POST, r->g->n_layers - 1), Td * sizeof *act);
    if (st != RECV_BUILD) return;
    rebuild_input(r, rec, act);
    memcpy(act, r->x, Td * sizeof *act);
}

/* ------------------------------------------------------------------ senders */

/* DST = CORR - ACT over N floats. */
static void difference(float *dst, const float *corr, const float *act, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = corr[i] - act[i];
}

/* The deltas of layer L's heads: DELTA (the graph's [n_senders, T, d]) of
 * head h = (ZC - Z)_h W_O[h], for Z, ZC [T, H, dh]; DZ [T, H * dh] is scratch. */
static void head_deltas(const cc_model *m, const cc_eap_graph *g, int T, int l, const float *zc, const float *z,
                        float *dz, float *delta)
{
    const cc_config *c = &m->cfg;
    int H = c->n_heads, dh = c->d_head, d = c->d_model;
    difference(dz, zc, z, (size_t)T * H * dh);
    for (int h = 0; h < H; h++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, dh, 1.0f, dz + (size_t)h * dh, H * dh,
                    m->w.W_O + ((size_t)l * H + h) * dh * d, d, 0.0f,
                    delta + (size_t)head_sender(g, l, h) * T * d, d);
}

static int on_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *shape, cc_error *err)
{
    (void)err;
    edge_run *r = ctx;
    size_t Td = (size_t)r->T * r->m->cfg.d_model;
    switch (kind) {
    case CC_HOOK_EMBED: difference(delta_of(r, 0), cc_fwd_act(r->corr, kind, 0), act, Td); break;
    case CC_HOOK_POS_EMBED: memcpy(r->pe, act, shape->numel * sizeof *act); break;
    case CC_HOOK_RESID_PRE:
    case CC_HOOK_RESID_MID: memcpy(r->resid, act, Td * sizeof *act); break;
    case CC_HOOK_Q:
    case CC_HOOK_K:
    case CC_HOOK_V: patch_heads(r, kind, layer, act); break;
    case CC_HOOK_Z: head_deltas(r->m, r->g, r->T, layer, cc_fwd_act(r->corr, kind, layer), act, r->dz, r->delta); break;
    case CC_HOOK_MLP_PRE:
    case CC_HOOK_MLP_PRE_LINEAR: patch_mlp(r, kind, layer, act); break;
    case CC_HOOK_MLP_OUT:
        difference(delta_of(r, mlp_sender(r->g, layer)), cc_fwd_act(r->corr, kind, layer), act, Td);
        break;
    case CC_HOOK_RESID_POST:
        if (layer == r->g->n_layers - 1) patch_logits(r, act);
        break;
    default: break;
    }
    return 0;
}

/* ------------------------------------------------------------------ runs */

/* The hooks of the corrupted run that the edge-patched run reads. */
static void corrupt_cache(const cc_model *m, cc_fwd_opts *o)
{
    const cc_config *c = &m->cfg;
    static const cc_hook_kind per_layer[] = {CC_HOOK_Q, CC_HOOK_K, CC_HOOK_V, CC_HOOK_Z};
    cc_fwd_want(o, CC_HOOK_EMBED, 0);
    for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer; i++) cc_fwd_want(o, per_layer[i], -1);
    if (!c->attn_only) {
        cc_fwd_want(o, CC_HOOK_MLP_PRE, -1);
        cc_fwd_want(o, CC_HOOK_MLP_OUT, -1);
        if (c->gated) cc_fwd_want(o, CC_HOOK_MLP_PRE_LINEAR, -1);
    }
    cc_fwd_want(o, CC_HOOK_RESID_POST, c->n_layers - 1);
}

/* LOGITS [V] at the last position of a run whose last block's resid_post RES holds. */
static int last_logits(const cc_model *m, const cc_fwd_result *res, int T, cc_kernel kernel, float *logits,
                       cc_error *err)
{
    const float *x = cc_fwd_act(res, CC_HOOK_RESID_POST, m->cfg.n_layers - 1);
    return cc_fwd_unembed(m, x + (size_t)(T - 1) * m->cfg.d_model, 1, kernel, logits, err);
}

/* A plain run of TOKENS [T] (CACHE_ALL: with corrupt_cache()'s hooks, else only
 * the last resid_post) into RES, and its last-position LOGITS [V]. */
static int plain_run(const cc_model *m, const int *tokens, int T, bool cache_all, cc_kernel kernel,
                     cc_fwd_result *res, float *logits, cc_error *err)
{
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true};
    if (cache_all) corrupt_cache(m, &o);
    else cc_fwd_want(&o, CC_HOOK_RESID_POST, m->cfg.n_layers - 1);
    if (cc_forward(m, tokens, 1, T, &o, res, err) != 0) return -1;
    return last_logits(m, res, T, kernel, logits, err);
}

/* The edge-patched run of TOKENS [T] for circuit IN (pruned), given the
 * corrupted run CORR; LOGITS [V] at the last position. */
static int patched_run(edge_run *r, const int *tokens, cc_kernel kernel, float *logits, cc_error *err)
{
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true, .hook = on_hook, .hook_ctx = r};
    cc_fwd_want(&o, CC_HOOK_RESID_POST, r->m->cfg.n_layers - 1);
    cc_fwd_result res;
    int rc = cc_forward(r->m, tokens, 1, r->T, &o, &res, err);
    if (rc == 0) rc = last_logits(r->m, &res, r->T, kernel, logits, err);
    cc_fwd_result_free(&res);
    return rc;
}

static void edge_run_free(edge_run *r)
{
    free(r->delta);
    free(r->resid);
    free(r->pe);
    free(r->x);
    free(r->xn);
    free(r->dz);
}

static int edge_run_init(edge_run *r, const cc_model *m, const cc_eap_graph *g, int T, cc_error *err)
{
    size_t Td = (size_t)T * m->cfg.d_model;
    *r = (edge_run){.m = m, .g = g, .T = T};
    r->delta = malloc((size_t)g->n_senders * Td * sizeof *r->delta);
    r->resid = malloc(Td * sizeof *r->resid);
    r->pe = calloc(Td, sizeof *r->pe);
    r->x = malloc(Td * sizeof *r->x);
    r->xn = malloc(Td * sizeof *r->xn);
    r->dz = malloc((size_t)T * m->cfg.n_heads * m->cfg.d_head * sizeof *r->dz);
    if (r->delta && r->resid && r->pe && r->x && r->xn && r->dz) return 0;
    edge_run_free(r);
    return cc_fail_code(err, CC_E_NOMEM, "out of memory for the edge-patched run (%d senders x %d positions)", g->n_senders, T);
}

/* ------------------------------------------------------------------ sender deltas */

/* The model's weights are loaded and G is its graph. */
static int check_graph(const cc_model *m, const cc_eap_graph *g, cc_error *err)
{
    if (!m->loaded) return cc_fail(err, "the model's weights are not loaded (cc_model_load_weights)");
    if (g->n_layers != m->cfg.n_layers || g->n_heads != m->cfg.n_heads || g->attn_only != m->cfg.attn_only ||
        g->parallel != m->cfg.parallel)
        return cc_fail(err, "the EAP graph was built for another block shape (%d layers x %d heads) than the model's "
                            "(%d x %d): build it from the model's config",
                       g->n_layers, g->n_heads, m->cfg.n_layers, m->cfg.n_heads);
    return 0;
}

int cc_eap_sender_deltas(const cc_model *m, const cc_eap_graph *g, const int *clean, const int *corrupt, int T,
                         cc_kernel kernel, float *delta, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(clean, err, -1);
    CC_ARG_NOT_NULL(corrupt, err, -1);
    CC_ARG_NOT_NULL(delta, err, -1);
    CC_ARG_AT_LEAST(T, 1, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    const cc_config *c = &m->cfg;
    size_t Td = (size_t)T * c->d_model;
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true};
    cc_fwd_want(&o, CC_HOOK_EMBED, 0);
    cc_fwd_want(&o, CC_HOOK_Z, -1);
    if (!c->attn_only) cc_fwd_want(&o, CC_HOOK_MLP_OUT, -1);
    cc_fwd_result rk = {0}, rx = {0};
    if (check_graph(m, g, err) != 0) return -1;
    float *dz = malloc((size_t)T * c->n_heads * c->d_head * sizeof *dz);
    int rc = -1;
    if (!dz) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the sender deltas");
        goto done;
    }
    if (cc_forward(m, clean, 1, T, &o, &rk, err) != 0 || cc_forward(m, corrupt, 1, T, &o, &rx, err) != 0) goto done;
    difference(delta, cc_fwd_act(&rx, CC_HOOK_EMBED, 0), cc_fwd_act(&rk, CC_HOOK_EMBED, 0), Td);
    for (int l = 0; l < c->n_layers; l++) {
        head_deltas(m, g, T, l, cc_fwd_act(&rx, CC_HOOK_Z, l), cc_fwd_act(&rk, CC_HOOK_Z, l), dz, delta);
        if (!c->attn_only)
            difference(delta + (size_t)mlp_sender(g, l) * Td, cc_fwd_act(&rx, CC_HOOK_MLP_OUT, l),
                       cc_fwd_act(&rk, CC_HOOK_MLP_OUT, l), Td);
    }
    rc = 0;
done:
    free(dz);
    cc_fwd_result_free(&rk);
    cc_fwd_result_free(&rx);
    return rc;
}

/* ------------------------------------------------------------------ evaluation */

/* One pair: the clean, corrupted and every circuit's metric added to the sums. */
static int evaluate_pair(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, int i,
                         unsigned char *const *pruned, int n_c, cc_pair_metric metric, cc_kernel kernel, double *sums,
                         double *clean_sum, double *corrupt_sum, cc_error *err)
{
    int T = p->offset[i + 1] - p->offset[i], V = m->cfg.d_vocab;
    const int *clean = p->clean + p->offset[i], *corrupt = p->corrupt + p->offset[i];
    float *lc = malloc((size_t)V * sizeof *lc), *lx = malloc((size_t)V * sizeof *lx);
    cc_fwd_result cr = {0}, xr = {0};
    edge_run r = {0};
    int rc = -1;
    if (!lc || !lx) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the logits (%d)", V);
        goto done;
    }
    if (plain_run(m, clean, T, false, kernel, &cr, lc, err) != 0 ||
        plain_run(m, corrupt, T, true, kernel, &xr, lx, err) != 0 || edge_run_init(&r, m, g, T, err) != 0)
        goto done;
    *clean_sum += cc_pair_metric_value(metric, lc, lc, V, p->answer[i], p->wrong[i]);
    *corrupt_sum += cc_pair_metric_value(metric, lx, lc, V, p->answer[i], p->wrong[i]);
    r.corr = &xr;
    for (int c = 0; c < n_c; c++) {
        r.in = pruned[c];
        if (patched_run(&r, clean, kernel, lx, err) != 0) goto done;
        sums[c] += cc_pair_metric_value(metric, lx, lc, V, p->answer[i], p->wrong[i]);
    }
    rc = 0;
done:
    edge_run_free(&r);
    cc_fwd_result_free(&cr);
    cc_fwd_result_free(&xr);
    free(lc);
    free(lx);
    return rc;
}

int cc_eap_evaluate(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p,
                    const unsigned char *const *circuits, int n_circuits, cc_pair_metric metric, cc_kernel kernel,
                    double *values, double *clean, double *corrupt, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(circuits, err, -1);
    CC_ARG_NOT_NULL(values, err, -1);
    CC_ARG_AT_LEAST(n_circuits, 0, err, -1);
    CC_ARG_ENUM(metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    if (check_graph(m, g, err) != 0 || cc_eap_pairs_check(p, m, err) != 0) return -1;
    unsigned char **pruned = calloc((size_t)n_circuits + 1, sizeof *pruned);
    double *sums = calloc((size_t)n_circuits + 1, sizeof *sums), clean_sum = 0, corrupt_sum = 0;
    int rc = -1;
    if (!pruned || !sums) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for %d circuits", n_circuits);
        goto done;
    }
    for (int c = 0; c < n_circuits; c++) {
        if (!circuits[c]) {
            cc_fail(err, "cc_eap_evaluate: argument circuits[%d] is NULL", c);
            goto done;
        }
        if (!(pruned[c] = malloc((size_t)g->n_edges))) {
            cc_fail_code(err, CC_E_NOMEM, "out of memory for circuit %d", c);
            goto done;
        }
        memcpy(pruned[c], circuits[c], (size_t)g->n_edges);
        cc_eap_prune(g, pruned[c]);
    }
    for (int i = 0; i < p->n_pairs; i++)
        if (evaluate_pair(m, g, p, i, pruned, n_circuits, metric, kernel, sums, &clean_sum, &corrupt_sum, err) != 0)
            goto done;
    for (int c = 0; c < n_circuits; c++) values[c] = sums[c] / p->n_pairs;
    if (clean) *clean = clean_sum / p->n_pairs;
    if (corrupt) *corrupt = corrupt_sum / p->n_pairs;
    rc = 0;
done:
    for (int c = 0; pruned && c < n_circuits; c++) free(pruned[c]);
    free(pruned);
    free(sums);
    return rc;
}

/* ------------------------------------------------------------------ scores */

int cc_eap_scores_add(const cc_eap_graph *g, int T, int D, const float *delta, const float *grad, double weight,
                      double *scores, cc_error *err)
{
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(delta, err, -1);
    CC_ARG_NOT_NULL(grad, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    CC_ARG_AT_LEAST(T, 1, err, -1);
    CC_ARG_AT_LEAST(D, 1, err, -1);
    /* every (sender, receiver) dot product at once: DOT [n_senders, n_receivers] = DELTA GRAD^T over T * D */
    int nS = g->n_senders, nR = g->n_receivers, K = T * D;
    float *dot = malloc((size_t)nS * nR * sizeof *dot);
    if (!dot) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d x %d edge products", nS, nR);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nS, nR, K, 1.0f, delta, K, grad, K, 0.0f, dot, nR);
    for (int r = 0; r < nR; r++)
        for (int s = 0; s < g->n_inputs[r]; s++) scores[g->first_edge[r] + s] += weight * dot[(size_t)s * nR + r];
    free(dot);
    return 0;
}
