/* eap_patch.c — the edge-patched forward pass of EAP-IG's circuit evaluation
 * (circuitc/eap.h): a run of the clean tokens whose receivers read, for each
 * edge outside the circuit, the sender's corrupted output instead of its
 * output in this run.
 *
 * The pass is the ordinary forward pass with a hook callback. At each sender's
 * hook the callback records delta[s] = corrupted output - this run's output;
 * at each receiver's hook it rebuilds the receiver's input as the residual
 * stream plus the deltas of its edges outside the circuit (or the corrupted
 * run's residual minus the deltas of the edges inside, when they are fewer),
 * and recomputes the hook's value from it: hook_q / hook_k / hook_v per head (norm, then the
 * head's projection), hook_mlp_pre (and hook_pre_linear) for the MLP input,
 * and the last block's hook_resid_post for the logits. A receiver with no edge
 * outside the circuit is left alone; one with every edge outside takes the
 * corrupted run's value (the same sum, exactly). A pair's circuits run as one
 * batch, a circuit per batch row. */
#include "circuitc/eap.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"
#include "runtime/eap_par.h"
#include "runtime/vecmath.h"
#include "model/model_internal.h"

/* Edge-patched runs of one pair's clean tokens, B circuits at once: batch row
 * b runs circuit in[b], so every matrix product of the pass, and each
 * receiver's projection, is one GEMM over the B runs' rows. */
typedef struct {
    const cc_model *m;
    const cc_eap_graph *g;
    const unsigned char *const *in; /* [B] circuits (pruned), [n_edges] flags each */
    const cc_fwd_result *corr;      /* the corrupted run (batch 1), with the hooks corrupt_cache() asks for */
    int B, T;
    float *delta;               /* [n_senders, B, T, d]: corrupted output - this run's output */
    float *resid;               /* [B, T, d]: the residual stream the next receivers read (resid_pre, resid_mid) */
    const float *resid_corr;    /* [T, d]: the same point of the corrupted run */
    float *pe;                  /* [B, T, d]: shortformer positions (added to the q and k inputs) */
    float *x, *xn;              /* [B, T, d]: one receiver's rebuilt input in the rows that rebuild it, and it normed */
    float *y;                   /* [B, T, max(d_head, d_mlp)]: their projection */
    float *dz;                  /* [B, T, H * dh]: corrupted z - this run's z */
    int *rows;                  /* [B]: the batch rows whose input x holds, in order */
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

static size_t row_floats(const edge_run *r)
{
    return (size_t)r->T * r->m->cfg.d_model;
}

static float *delta_of(const edge_run *r, int s, int b)
{
    return r->delta + ((size_t)s * r->B + b) * row_floats(r);
}

/* ------------------------------------------------------------------ receivers */

/* How many of receiver REC's edges are outside batch row B's circuit. */
static long outside_edges(const edge_run *r, int b, int rec)
{
    const cc_eap_graph *g = r->g;
    const unsigned char *in = r->in[b];
    long outside = 0;
    for (long e = g->first_edge[rec]; e < g->first_edge[rec + 1]; e++) outside += !in[e];
    return outside;
}

/* X [T, d] = receiver REC's input in batch row B: BASE (this run's residual
 * stream there) + the deltas of the edges outside row B's circuit, or, when
 * fewer of its edges are inside, CORR (the corrupted run's residual there)
 * - the deltas of the edges inside: the same sum, with fewer terms. */
static void rebuild_input(const edge_run *r, int b, int rec, long outside, const float *base, const float *corr,
                          float *x)
{
    const cc_eap_graph *g = r->g;
    size_t Td = row_floats(r);
    bool from_corr = outside > g->n_inputs[rec] - outside;
    memcpy(x, from_corr ? corr : base, Td * sizeof *x);
    for (long e = g->first_edge[rec]; e < g->first_edge[rec + 1]; e++) {
        if ((r->in[b][e] != 0) != from_corr) continue;
        const float *dl = delta_of(r, (int)(e - g->first_edge[rec]), b);
        if (from_corr)
            for (size_t i = 0; i < Td; i++) x[i] -= dl[i];
        else
            for (size_t i = 0; i < Td; i++) x[i] += dl[i];
    }
}

/* Rebuilds receiver REC's input into r->x for every batch row that has edges
 * both inside and outside its circuit (listed in r->rows; BASE [B, T, d] this
 * run's residual there, BASE_CORR [T, d] the corrupted run's; BASE NULL: only
 * list them), copies the corrupted run's value CORR [T, n] (row stride LD)
 * into ACT [B, T, LD] at column COL for every row whose circuit has none of
 * them, and leaves the rows whose circuit has all of them alone. Returns how
 * many rows r->x holds. */
static int gather_receiver(edge_run *r, int rec, const float *base, const float *base_corr, const float *corr,
                           float *act, int n, int ld, int col)
{
    int nb = 0;
    for (int b = 0; b < r->B; b++) {
        long outside = outside_edges(r, b, rec);
        if (outside == 0) continue;
        if (outside == r->g->n_inputs[rec]) {
            for (int t = 0; t < r->T; t++)
                memcpy(act + ((size_t)b * r->T + t) * ld + col, corr + (size_t)t * ld + col, (size_t)n * sizeof *act);
            continue;
        }
        if (base)
            rebuild_input(r, b, rec, outside, base + (size_t)b * row_floats(r), base_corr,
                          r->x + (size_t)nb * row_floats(r));
        r->rows[nb++] = b;
    }
    return nb;
}

/* r->xn = the norm (weights W, B when present) of the first N rows of r->x. */
static void norm_input(edge_run *r, int n, const float *w, const float *b)
{
    const cc_config *c = &r->m->cfg;
    for (int t = 0; t < n; t++) {
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

/* The projection of the NB rebuilt inputs, r->y [NB, T, n] = r->xn W [d, n] + B [n] (B may be NULL),
 * written into ACT [B, T, LD] at column COL of each row r->rows lists. */
static void project(edge_run *r, int nb, const float *W, const float *B, int n, float *act, int ld, int col)
{
    int d = r->m->cfg.d_model, rows = nb * r->T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, d, 1.0f, r->xn, d, W, n, 0.0f, r->y, n);
    for (int i = 0; i < rows; i++) {
        float *y = r->y + (size_t)i * n;
        if (B)
            for (int j = 0; j < n; j++) y[j] += B[j];
        size_t at = ((size_t)r->rows[i / r->T] * r->T + i % r->T) * ld + col;
        memcpy(act + at, y, (size_t)n * sizeof *act);
    }
}

/* hook_q / hook_k / hook_v of layer L, ACT [B, T, H, dh]: each head's own input. */
static void patch_heads(edge_run *r, cc_hook_kind kind, int l, float *act)
{
    const cc_config *c = &r->m->cfg;
    const cc_weights *w = &r->m->w;
    int H = c->n_heads, dh = c->d_head, d = c->d_model, qkv = (int)(kind - CC_HOOK_Q);
    const float *W = qkv == 0 ? w->W_Q : qkv == 1 ? w->W_K : w->W_V;
    const float *B = qkv == 0 ? w->b_Q : qkv == 1 ? w->b_K : w->b_V;
    const float *corr = cc_fwd_act(r->corr, kind, l);
    size_t Td = row_floats(r);
    for (int h = 0; h < H; h++) {
        int nb = gather_receiver(r, head_receiver(r->g, l, qkv, h), r->resid, r->resid_corr, corr, act, dh, H * dh,
                                 h * dh);
        if (!nb) continue;
        norm_input(r, nb * r->T, layer_row(w->ln1_w, l, d), layer_row(w->ln1_b, l, d));
        if (c->pos == CC_POS_SHORTFORMER && qkv < 2) /* the positions enter the queries and keys only */
            for (int i = 0; i < nb; i++)
                for (size_t j = 0; j < Td; j++) r->xn[i * Td + j] += r->pe[r->rows[i] * Td + j];
        size_t hw = (size_t)l * H + h;
        project(r, nb, W + hw * d * dh, B ? B + hw * dh : NULL, dh, act, H * dh, h * dh);
    }
}

/* hook_mlp_pre (and a gated MLP's hook_pre_linear, which follows it and
 * reuses its normed input) of layer L, ACT [B, T, m]. */
static void patch_mlp(edge_run *r, cc_hook_kind kind, int l, float *act)
{
    const cc_config *c = &r->m->cfg;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, M = c->d_mlp;
    bool pre = kind == CC_HOOK_MLP_PRE;
    int nb = gather_receiver(r, mlp_receiver(r->g, l), pre ? r->resid : NULL, r->resid_corr,
                             cc_fwd_act(r->corr, kind, l), act, M, M, 0);
    if (!nb) return;
    if (pre) norm_input(r, nb * r->T, layer_row(w->ln2_w, l, d), layer_row(w->ln2_b, l, d));
    size_t dM = (size_t)d * M;
    if (c->gated) /* x W_gate, x W_in: b_in is added after the gate */
        project(r, nb, (pre ? w->W_gate : w->W_in) + l * dM, NULL, M, act, M, 0);
    else
        project(r, nb, w->W_in + l * dM, layer_row(w->b_in, l, M), M, act, M, 0);
}

/* The last block's hook_resid_post, ACT [B, T, d]: what the logits read. */
static void patch_logits(edge_run *r, float *act)
{
    int d = r->m->cfg.d_model;
    const float *corr = cc_fwd_act(r->corr, CC_HOOK_RESID_POST, r->g->n_layers - 1);
    int nb = gather_receiver(r, r->g->n_receivers - 1, act, corr, corr, act, d, d, 0);
    size_t Td = row_floats(r);
    for (int i = 0; i < nb; i++) memcpy(act + r->rows[i] * Td, r->x + i * Td, Td * sizeof *act);
}

/* ------------------------------------------------------------------ senders */

/* DST = CORR - ACT over N floats. */
static void difference(float *dst, const float *corr, const float *act, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = corr[i] - act[i];
}

/* The deltas of layer L's heads in B runs of T positions against one
 * corrupted run: DELTA (the graph's [n_senders, B, T, d]) of head h = (ZC -
 * Z)_h W_O[h], for ZC [T, H, dh] and Z [B, T, H, dh]; DZ [B, T, H * dh] is
 * scratch. */
static void head_deltas(const cc_model *m, const cc_eap_graph *g, int B, int T, int l, const float *zc,
                        const float *z, float *dz, float *delta)
{
    const cc_config *c = &m->cfg;
    int H = c->n_heads, dh = c->d_head, d = c->d_model;
    size_t n = (size_t)T * H * dh;
    for (int b = 0; b < B; b++) difference(dz + b * n, zc, z + b * n, n);
    for (int h = 0; h < H; h++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B * T, d, dh, 1.0f, dz + (size_t)h * dh, H * dh,
                    m->w.W_O + ((size_t)l * H + h) * dh * d, d, 0.0f,
                    delta + (size_t)head_sender(g, l, h) * B * T * d, d);
}

/* The senders' deltas of every batch row, ACT [B, T, d], against the corrupted run's CORR [T, d]. */
static void sender_deltas(edge_run *r, int s, const float *corr, const float *act)
{
    size_t Td = row_floats(r);
    for (int b = 0; b < r->B; b++) difference(delta_of(r, s, b), corr, act + b * Td, Td);
}

static int on_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *shape, cc_error *err)
{
    (void)err;
    edge_run *r = ctx;
    switch (kind) {
    case CC_HOOK_EMBED: sender_deltas(r, 0, cc_fwd_act(r->corr, kind, 0), act); break;
    case CC_HOOK_POS_EMBED: memcpy(r->pe, act, shape->numel * sizeof *act); break;
    case CC_HOOK_RESID_PRE:
    case CC_HOOK_RESID_MID:
        memcpy(r->resid, act, shape->numel * sizeof *act);
        r->resid_corr = cc_fwd_act(r->corr, kind, layer);
        break;
    case CC_HOOK_Q:
    case CC_HOOK_K:
    case CC_HOOK_V: patch_heads(r, kind, layer, act); break;
    case CC_HOOK_Z:
        head_deltas(r->m, r->g, r->B, r->T, layer, cc_fwd_act(r->corr, kind, layer), act, r->dz, r->delta);
        break;
    case CC_HOOK_MLP_PRE:
    case CC_HOOK_MLP_PRE_LINEAR: patch_mlp(r, kind, layer, act); break;
    case CC_HOOK_MLP_OUT: sender_deltas(r, mlp_sender(r->g, layer), cc_fwd_act(r->corr, kind, layer), act); break;
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
    cc_fwd_want(o, CC_HOOK_RESID_PRE, -1);
    if (!c->attn_only && !c->parallel) cc_fwd_want(o, CC_HOOK_RESID_MID, -1);
    for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer; i++) cc_fwd_want(o, per_layer[i], -1);
    if (!c->attn_only) {
        cc_fwd_want(o, CC_HOOK_MLP_PRE, -1);
        cc_fwd_want(o, CC_HOOK_MLP_OUT, -1);
        if (c->gated) cc_fwd_want(o, CC_HOOK_MLP_PRE_LINEAR, -1);
    }
    cc_fwd_want(o, CC_HOOK_RESID_POST, c->n_layers - 1);
}

/* LOGITS [B, V] at the last position of each of the B runs of T positions whose last block's
 * resid_post RES holds; XG [B, d] is scratch. */
static int last_logits(const cc_model *m, const cc_fwd_result *res, int B, int T, cc_kernel kernel, float *xg,
                       float *logits, cc_error *err)
{
    size_t d = (size_t)m->cfg.d_model;
    const float *x = cc_fwd_act(res, CC_HOOK_RESID_POST, m->cfg.n_layers - 1);
    for (int b = 0; b < B; b++) memcpy(xg + b * d, x + ((size_t)b * T + T - 1) * d, d * sizeof *xg);
    return cc_fwd_unembed(m, xg, B, kernel, logits, err);
}

/* A plain run of TOKENS [T] (CACHE_ALL: with corrupt_cache()'s hooks, else only
 * the last resid_post) into RES, and its last-position LOGITS [V]; XG [d] is scratch. */
static int plain_run(const cc_model *m, const int *tokens, int T, bool cache_all, cc_kernel kernel,
                     cc_fwd_result *res, float *xg, float *logits, cc_error *err)
{
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true};
    if (cache_all) corrupt_cache(m, &o);
    else cc_fwd_want(&o, CC_HOOK_RESID_POST, m->cfg.n_layers - 1);
    if (cc_forward(m, tokens, 1, T, &o, res, err) != 0) return -1;
    return last_logits(m, res, 1, T, kernel, xg, logits, err);
}

/* The edge-patched runs of TOKENS [B, T] (a pair's clean tokens in each row) for r->in's circuits,
 * given the corrupted run r->corr; LOGITS [B, V] at the last position. */
static int patched_run(edge_run *r, const int *tokens, cc_kernel kernel, float *logits, cc_error *err)
{
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true, .hook = on_hook, .hook_ctx = r};
    cc_fwd_want(&o, CC_HOOK_RESID_POST, r->m->cfg.n_layers - 1);
    cc_fwd_result res;
    int rc = cc_forward(r->m, tokens, r->B, r->T, &o, &res, err);
    if (rc == 0) rc = last_logits(r->m, &res, r->B, r->T, kernel, r->x, logits, err);
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
    free(r->y);
    free(r->dz);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

/* Buffers for up to MAX_RUNS runs and MAX_ROWS rows (runs x positions) in all; r->B and r->T are set
 * for each batch. */
static int edge_run_init(edge_run *r, const cc_model *m, const cc_eap_graph *g, int max_runs, int max_rows,
                         cc_error *err)
{
    const cc_config *c = &m->cfg;
    size_t rows = (size_t)max_rows, Rd = rows * c->d_model, width = c->d_head > c->d_mlp ? c->d_head : c->d_mlp;
    *r = (edge_run){.m = m, .g = g};
    r->delta = malloc((size_t)g->n_senders * Rd * sizeof *r->delta);
    r->resid = malloc(Rd * sizeof *r->resid);
    r->pe = calloc(Rd, sizeof *r->pe);
    r->x = malloc(Rd * sizeof *r->x);
    r->xn = malloc(Rd * sizeof *r->xn);
    r->y = malloc(rows * width * sizeof *r->y);
    r->dz = malloc(rows * c->n_heads * c->d_head * sizeof *r->dz);
    r->rows = malloc((size_t)max_runs * sizeof *r->rows);
    if (r->delta && r->resid && r->pe && r->x && r->xn && r->y && r->dz && r->rows) return 0;
    edge_run_free(r);
    return cc_fail_code(err, CC_E_NOMEM, "out of memory for the edge-patched runs (%d senders x %d rows)",
                        g->n_senders, max_rows);
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
                         cc_kernel kernel, int threads, float *delta, cc_error *err)
{
    CC_PAR_CALL(threads);
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
        head_deltas(m, g, 1, T, l, cc_fwd_act(&rx, CC_HOOK_Z, l), cc_fwd_act(&rk, CC_HOOK_Z, l), dz, delta);
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

/* A pair's edge-patched runs go through the model together, at most this many
 * rows (runs x positions) at a time: their deltas take n_senders x rows x
 * d_model floats (GPT-2 small: 120 MB). */
#define EVAL_ROWS 256

/* What a circuit needs: a run of its own, or the corrupted run's value (no
 * edge left after pruning: every receiver takes its corrupted input) or the
 * clean run's (every edge: no receiver is touched), exactly. */
enum { RUN_CORRUPT = -1, RUN_CLEAN = -2, RUN_UNSEEN = -3 };

typedef struct {
    int n_runs;                /* distinct circuits that need an edge-patched run */
    const unsigned char **run; /* [n_runs] their pruned flags */
    int *run_of;               /* [n_circuits] index into run, or RUN_CORRUPT / RUN_CLEAN */
} eval_plan;

/* Which of the N pruned circuits need a run; each distinct circuit runs once. */
static int plan_runs(const cc_eap_graph *g, unsigned char *const *pruned, int n, eval_plan *pl, cc_error *err)
{
    pl->n_runs = 0;
    pl->run = malloc((size_t)(n ? n : 1) * sizeof *pl->run);
    pl->run_of = malloc((size_t)(n ? n : 1) * sizeof *pl->run_of);
    if (!pl->run || !pl->run_of) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d circuits", n);
    for (int c = 0; c < n; c++) {
        long kept = 0;
        for (long e = 0; e < g->n_edges; e++) kept += pruned[c][e];
        int *to = &pl->run_of[c];
        *to = kept == 0 ? RUN_CORRUPT : kept == g->n_edges ? RUN_CLEAN : RUN_UNSEEN;
        for (int k = 0; *to == RUN_UNSEEN && k < pl->n_runs; k++)
            if (memcmp(pl->run[k], pruned[c], (size_t)g->n_edges) == 0) *to = k;
        if (*to == RUN_UNSEEN) pl->run[*to = pl->n_runs++] = pruned[c];
    }
    return 0;
}

static void plan_free(eval_plan *pl)
{
    free(pl->run);
    free(pl->run_of);
}

/* One thread's buffers for evaluate_pair, kept from pair to pair: a pair takes a free slot and gives it
 * back (a fresh 120 MB of sender deltas for every pair cost more in page faults than its copies). There
 * are never more pairs in flight than threads, at most CC_PAR_MAX. */
typedef struct {
    atomic_flag busy;
    bool ready;          /* the buffers are allocated */
    edge_run r;          /* for up to max_runs runs, max_rows rows */
    float *lc, *lx, *xg; /* [V], [V], [d]: the clean and corrupted logits, scratch */
    float *lr;           /* [max_runs, V]: the patched runs' logits */
    int *tokens;         /* [max_rows] */
    double *value;       /* [n_runs] */
} eval_slot;

typedef struct {
    const cc_model *m;
    const cc_eap_graph *g;
    const cc_eap_pairs *p;
    const eval_plan *plan;
    int n_circuits;
    cc_pair_metric metric;
    cc_kernel kernel;
    double *values; /* [n_pairs, 2 + n_circuits]: each pair's clean, corrupted and circuits' metrics */
    int max_runs, max_rows; /* the largest batch of any pair: runs, and runs x positions */
    eval_slot slots[CC_PAR_MAX];
} eval_job;

/* The edge-patched runs of a pair of T tokens go through in batches of this many. */
static int batch_runs(const eval_plan *pl, int T)
{
    int fit = EVAL_ROWS / T > 1 ? EVAL_ROWS / T : 1;
    return pl->n_runs < fit ? pl->n_runs : fit;
}

/* Frees S's buffers and marks it not ready (a later pair allocates them again). */
static void slot_free(eval_slot *s)
{
    edge_run_free(&s->r);
    free(s->lc), free(s->lx), free(s->xg), free(s->lr), free(s->tokens), free(s->value);
    s->lc = s->lx = s->xg = s->lr = NULL, s->tokens = NULL, s->value = NULL;
    s->ready = false;
}

/* A free slot of J, its buffers allocated (NULL with ERR filled when they cannot be). */
static eval_slot *take_slot(eval_job *j, cc_error *err)
{
    eval_slot *s = j->slots;
    while (atomic_flag_test_and_set(&s->busy))
        if (++s == j->slots + CC_PAR_MAX) s = j->slots;
    if (s->ready) return s;
    int V = j->m->cfg.d_vocab, runs = j->max_runs ? j->max_runs : 1;
    s->lc = malloc((size_t)V * sizeof *s->lc), s->lx = malloc((size_t)V * sizeof *s->lx);
    s->xg = malloc((size_t)j->m->cfg.d_model * sizeof *s->xg);
    s->lr = malloc((size_t)runs * V * sizeof *s->lr);
    s->tokens = malloc((size_t)(j->max_rows ? j->max_rows : 1) * sizeof *s->tokens);
    s->value = malloc((size_t)(j->plan->n_runs ? j->plan->n_runs : 1) * sizeof *s->value);
    if (!s->lc || !s->lx || !s->xg || !s->lr || !s->tokens || !s->value) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the logits (%d x %d)", runs, V);
    } else if (!j->max_runs || edge_run_init(&s->r, j->m, j->g, j->max_runs, j->max_rows, err) == 0) {
        s->ready = true;
        return s;
    }
    slot_free(s);
    atomic_flag_clear(&s->busy);
    return NULL;
}

/* Pair I's clean, corrupted and every circuit's metric into its row of j->values. */
static int evaluate_pair(void *ctx, int i, cc_error *err)
{
    eval_job *j = ctx;
    const cc_model *m = j->m;
    const cc_eap_pairs *p = j->p;
    const eval_plan *pl = j->plan;
    int T = p->offset[i + 1] - p->offset[i], V = m->cfg.d_vocab, B = batch_runs(pl, T);
    const int *clean = p->clean + p->offset[i], *corrupt = p->corrupt + p->offset[i];
    double *out = j->values + (size_t)i * (2 + j->n_circuits);
    eval_slot *s = take_slot(j, err);
    if (!s) return -1;
    edge_run *r = &s->r;
    cc_fwd_result cr = {0}, xr = {0};
    int rc = -1;
    if (plain_run(m, clean, T, false, j->kernel, &cr, s->xg, s->lc, err) != 0 ||
        plain_run(m, corrupt, T, true, j->kernel, &xr, s->xg, s->lx, err) != 0)
        goto done;
    out[0] = cc_pair_metric_value(j->metric, s->lc, s->lc, V, p->answer[i], p->wrong[i]);
    out[1] = cc_pair_metric_value(j->metric, s->lx, s->lc, V, p->answer[i], p->wrong[i]);
    for (int b = 0; b < B; b++) memcpy(s->tokens + (size_t)b * T, clean, (size_t)T * sizeof *s->tokens);
    r->corr = &xr, r->T = T;
    for (int k0 = 0; k0 < pl->n_runs; k0 += B) {
        r->B = pl->n_runs - k0 < B ? pl->n_runs - k0 : B;
        r->in = pl->run + k0;
        if (patched_run(r, s->tokens, j->kernel, s->lr, err) != 0) goto done;
        for (int b = 0; b < r->B; b++)
            s->value[k0 + b] =
                cc_pair_metric_value(j->metric, s->lr + (size_t)b * V, s->lc, V, p->answer[i], p->wrong[i]);
    }
    for (int c = 0; c < j->n_circuits; c++) {
        int k = pl->run_of[c];
        out[2 + c] = k == RUN_CLEAN ? out[0] : k == RUN_CORRUPT ? out[1] : s->value[k];
    }
    rc = 0;
done:
    r->corr = NULL;
    cc_fwd_result_free(&cr);
    cc_fwd_result_free(&xr);
    atomic_flag_clear(&s->busy);
    return rc;
}

int cc_eap_evaluate(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p,
                    const unsigned char *const *circuits, int n_circuits, cc_pair_metric metric, cc_kernel kernel,
                    int threads, double *values, double *clean, double *corrupt, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(circuits, err, -1);
    CC_ARG_NOT_NULL(values, err, -1);
    CC_ARG_AT_LEAST(n_circuits, 0, err, -1);
    CC_ARG_ENUM(metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    return cci_eap_evaluate(m, g, p, circuits, n_circuits, metric, kernel, NULL, values, clean, corrupt, err);
}

int cci_eap_evaluate(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p,
                     const unsigned char *const *circuits, int n_circuits, cc_pair_metric metric, cc_kernel kernel,
                     cci_eap_progress *progress, double *values, double *clean, double *corrupt, cc_error *err)
{
    if (check_graph(m, g, err) != 0 || cc_eap_pairs_check(p, m, err) != 0) return -1;
    int w = 2 + n_circuits;
    unsigned char **pruned = calloc((size_t)n_circuits + 1, sizeof *pruned);
    eval_plan pl = {0};
    eval_job job = {.m = m, .g = g, .p = p, .plan = &pl, .n_circuits = n_circuits, .metric = metric,
                    .kernel = kernel, .values = malloc((size_t)p->n_pairs * w * sizeof *job.values)};
    for (int k = 0; k < CC_PAR_MAX; k++) atomic_flag_clear(&job.slots[k].busy);
    int rc = -1;
    if (!pruned || !job.values) {
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
    if (plan_runs(g, pruned, n_circuits, &pl, err) != 0) goto done;
    for (int i = 0; i < p->n_pairs; i++) {
        int T = p->offset[i + 1] - p->offset[i], B = batch_runs(&pl, T);
        if (B > job.max_runs) job.max_runs = B;
        if (B * T > job.max_rows) job.max_rows = B * T;
    }
    if (cci_eap_for_pairs(0, p->n_pairs, evaluate_pair, &job, progress, err) != 0) goto done;
    double clean_sum = 0, corrupt_sum = 0;
    for (int c = 0; c < n_circuits; c++) values[c] = 0;
    for (int i = 0; i < p->n_pairs; i++) { /* in pair order, as one thread would */
        const double *v = job.values + (size_t)i * w;
        clean_sum += v[0], corrupt_sum += v[1];
        for (int c = 0; c < n_circuits; c++) values[c] += v[2 + c];
    }
    for (int c = 0; c < n_circuits; c++) values[c] /= p->n_pairs;
    if (clean) *clean = clean_sum / p->n_pairs;
    if (corrupt) *corrupt = corrupt_sum / p->n_pairs;
    rc = 0;
done:
    for (int k = 0; k < CC_PAR_MAX; k++) slot_free(&job.slots[k]);
    plan_free(&pl);
    for (int c = 0; pruned && c < n_circuits; c++) free(pruned[c]);
    free(pruned);
    free(job.values);
    return rc;
}
