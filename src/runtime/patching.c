/* patching.c — activation patching at any hook (a naive path of full reruns
 * with a hook, and a causal path resuming from the corrupted run's cache) and
 * path patching (see include/circuitc/patching.h). T positions, L layers,
 * H heads, d = d_model, dh = d_head; batch 1 throughout. */
#include "circuitc/patching.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/progress_report.h"
#include "runtime/patch_internal.h"
#include "runtime/pass.h"
#include "core/parallel.h"
#include "model/model_internal.h"

/* ------------------------------------------------------------ hooks */

static const struct {
    cc_hook_kind kind;
    const char *name;
} PATCH_HOOKS[] = {
    {CC_HOOK_RESID_PRE, "resid_pre"}, {CC_HOOK_RESID_MID, "resid_mid"}, {CC_HOOK_ATTN_OUT, "attn_out"},
    {CC_HOOK_MLP_OUT, "mlp_out"},     {CC_HOOK_Z, "z"},                 {CC_HOOK_PATTERN, "pattern"},
    {CC_HOOK_Q, "q"},                 {CC_HOOK_K, "k"},                 {CC_HOOK_V, "v"},
};
#define N_PATCH_HOOKS (sizeof PATCH_HOOKS / sizeof PATCH_HOOKS[0])

bool cc_patch_hook_ok(cc_hook_kind k)
{
    for (size_t i = 0; i < N_PATCH_HOOKS; i++)
        if (PATCH_HOOKS[i].kind == k) return true;
    return false;
}

bool cc_patch_hook_has_heads(cc_hook_kind k)
{
    return k == CC_HOOK_Z || k == CC_HOOK_PATTERN || k == CC_HOOK_Q || k == CC_HOOK_K || k == CC_HOOK_V;
}

int cc_patch_hook_parse(const char *name, cc_hook_kind *k, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    int layer;
    cc_hook_kind kind;
    if (cc_hook_parse_any(name, &kind, &layer, NULL) != 0 || !cc_patch_hook_ok(kind))
        return cc_fail(err, "cannot patch \"%s\": choose resid_pre, resid_mid, attn_out, mlp_out, z, pattern, q, k "
                            "or v (or their TransformerLens names: hook_resid_pre, attn.hook_z)",
                       name);
    if (layer >= 0)
        return cc_fail(err, "cannot patch \"%s\": patching sweeps every layer, so name the hook without "
                            "\"blocks.%d.\"",
                       name, layer);
    *k = kind;
    return 0;
}

const char *cc_patch_hook_name(cc_hook_kind k)
{
    for (size_t i = 0; i < N_PATCH_HOOKS; i++)
        if (PATCH_HOOKS[i].kind == k) return PATCH_HOOKS[i].name;
    return "?";
}

/* ------------------------------------------------------------ metric */

/* Rows [*lo, *hi) whose output the metric reads. */
static void metric_rows(const cc_metric *mt, int T, int *lo, int *hi)
{
    if (mt->kind == CC_METRIC_LOGIT_DIFF) *lo = T - 1, *hi = T;
    else if (mt->loss_lo == 0 && mt->loss_hi == 0) *lo = 0, *hi = T - 1;
    else *lo = mt->loss_lo, *hi = mt->loss_hi;
}

static int check_metric(const cc_model *m, const cc_metric *mt, int T, cc_error *err)
{
    int V = m->cfg.d_vocab, lo, hi;
    if (mt->kind == CC_METRIC_LOGIT_DIFF) {
        if (mt->answer < 0 || mt->answer >= V || mt->wrong < 0 || mt->wrong >= V)
            return cc_fail(err, "logit difference: answer %d and wrong %d must be token ids in [0, %d)", mt->answer,
                           mt->wrong, V);
        return 0;
    }
    metric_rows(mt, T, &lo, &hi);
    if (lo < 0 || lo >= hi || hi > T - 1)
        return cc_fail(err, "loss: predicted positions [%d, %d) must be a non-empty range inside [0, %d)", lo, hi,
                       T - 1);
    return 0;
}

/* The metric of a run: LP [T-1] its next-token log-probs (loss), XLAST [d] its
 * final residual at the last position (logit difference). */
static int metric_value(const cc_model *m, const cc_metric *mt, int T, const double *lp, const float *xlast,
                        double *out, cc_error *err)
{
    if (mt->kind == CC_METRIC_LOGIT_DIFF) {
        int cols[2] = {mt->answer, mt->wrong};
        double lg[2];
        if (cc_logits_cols(m, xlast, 1, cols, 2, lg, err) != 0) return -1;
        *out = lg[0] - lg[1];
        return 0;
    }
    int lo, hi;
    metric_rows(mt, T, &lo, &hi);
    double s = 0;
    for (int t = lo; t < hi; t++) s += lp[t];
    *out = -s / (hi - lo);
    return 0;
}

int cci_patch_run_metric(const cc_model *m, const int *tokens, int T, cc_fwd_opts *o, const cc_metric *mt,
                         cc_fwd_result *r, double *value, cc_error *err)
{
    int L = m->cfg.n_layers;
    if (mt->kind == CC_METRIC_LOSS) o->logprobs = true;
    else o->skip_unembed = true, cc_fwd_want(o, CC_HOOK_RESID_POST, L - 1);
    if (cc_forward(m, tokens, 1, T, o, r, err) != 0) return -1;
    const float *xlast = r->act[CC_HOOK_RESID_POST][L - 1];
    return metric_value(m, mt, T, r->logprob, xlast ? xlast + (size_t)(T - 1) * m->cfg.d_model : NULL, value, err);
}

/* ------------------------------------------------------------ patches */

/* One patch: hook P.kind of LAYER, positions [P.pos_lo, P.pos_hi), head P.head
 * (-1: all), from P.src (the clean run's activation of that hook and layer). */
typedef struct {
    cc_row_patch p;
    int layer;
    const cc_config *c;
    int T;
} site;

/* Heads of patchable hook K: the key/value heads for k and v, else the query heads. */
static int patch_heads(const cc_config *c, cc_hook_kind k)
{
    return k == CC_HOOK_K || k == CC_HOOK_V ? cc_config_kv_heads(c) : c->n_heads;
}

/* Copies the site's clean values into ACT, a full run's activation of its hook
 * ([1, T, ...], or [1, H, T, T] for the pattern), or (COPY false) only tells
 * whether ACT already holds exactly those values. */
static bool site_rows(const site *s, float *act, bool copy)
{
    const cc_row_patch *p = &s->p;
    int T = s->T, H = patch_heads(s->c, p->kind), dh = s->c->d_head, d = s->c->d_model;
    int h0 = p->head < 0 ? 0 : p->head, h1 = p->head < 0 ? H : p->head + 1;
    bool heads = cc_patch_hook_has_heads(p->kind);
    for (int t = p->pos_lo; t < p->pos_hi; t++) {
        int st = t + p->src_shift;
        for (int h = h0; h < (p->kind == CC_HOOK_PATTERN ? h1 : h0 + 1); h++) {
            size_t dst, src, n;
            if (p->kind == CC_HOOK_PATTERN) /* row t of head h */
                dst = ((size_t)h * T + t) * T, src = ((size_t)h * T + st) * T, n = (size_t)T;
            else if (heads) /* heads h0..h1-1 of position t */
                dst = ((size_t)t * H + h0) * dh, src = ((size_t)st * H + h0) * dh, n = (size_t)(h1 - h0) * dh;
            else
                dst = (size_t)t * d, src = (size_t)st * d, n = (size_t)d;
            if (copy) memcpy(act + dst, p->src + src, n * sizeof *act);
            else if (memcmp(act + dst, p->src + src, n * sizeof *act) != 0) return false;
        }
    }
    return true;
}

static int site_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *shape, cc_error *err)
{
    (void)shape, (void)err;
    const site *s = ctx;
    if (k == s->p.kind && layer == s->layer) site_rows(s, act, true);
    return 0;
}

/* ------------------------------------------------------------ activation patching */

void cc_patch_result_free(cc_patch_result *r)
{
    if (!r) return;
    free(r->value);
    free(r->normalized);
    memset(r, 0, sizeof *r);
}

/* Where a resumed run starts for a patch at hook K: the residual point after
 * which the patched value is only added, so it can be written into the
 * residual directly (resid_pre, resid_mid, attn_out, mlp_out) or by the
 * segment's patch (head hooks). A block without resid_mid (parallel,
 * attention-only) resumes after itself from its outputs' sum. */
static cc_hook_kind resume_from(const cc_config *c, cc_hook_kind k)
{
    bool has_mid = cc_hook_available(c, CC_HOOK_RESID_MID);
    switch (k) {
    case CC_HOOK_RESID_MID: return CC_HOOK_RESID_MID;
    case CC_HOOK_ATTN_OUT: return has_mid ? CC_HOOK_RESID_MID : CC_HOOK_RESID_POST;
    case CC_HOOK_MLP_OUT: return CC_HOOK_RESID_POST;
    default: return CC_HOOK_RESID_PRE;
    }
}

/* XR [d]: the residual at resume_from(K) of block L at position T with output
 * hook K (attn_out or mlp_out) replaced by SV, summed in the order the block
 * sums it: resid_mid + mlp_out; resid_pre + attn_out (sequential, attention
 * only); (resid_pre + attn_out) + mlp_out (parallel). */
static void patched_residual(const cc_config *c, const cc_fwd_result *b, cc_hook_kind k, int l, int t,
                             const float *sv, float *xr)
{
    size_t d = (size_t)c->d_model, at = (size_t)t * d;
    const float *pre = b->act[CC_HOOK_RESID_PRE][l] + at;
    if (c->parallel && !c->attn_only) {
        const float *a = k == CC_HOOK_ATTN_OUT ? sv : b->act[CC_HOOK_ATTN_OUT][l] + at;
        const float *m = k == CC_HOOK_MLP_OUT ? sv : b->act[CC_HOOK_MLP_OUT][l] + at;
        for (size_t i = 0; i < d; i++) {
            float pa = pre[i] + a[i];
            xr[i] = pa + m[i];
        }
        return;
    }
    const float *under = k == CC_HOOK_ATTN_OUT ? pre : b->act[CC_HOOK_RESID_MID][l] + at;
    for (size_t i = 0; i < d; i++) xr[i] = under[i] + sv[i];
}

/* Hooks whose patch at the last layer changes only the patched positions (no
 * later attention reads them). */
static bool row_local(cc_hook_kind k)
{
    return k != CC_HOOK_RESID_PRE && k != CC_HOOK_K && k != CC_HOOK_V;
}

/* The sites of layer L in output order ([n_pos, n_heads]) into OUT; returns the count. */
static int layer_sites(const cc_model *m, const cc_patch_opts *o, int T, int plo, int phi, int l, const float *src,
                       site *out)
{
    int nh = o->per_head ? patch_heads(&m->cfg, o->hook) : 1, n = 0;
    for (int p = plo; p < phi; p++) {
        for (int h = 0; h < nh; h++)
            out[n++] = (site){{o->hook, o->per_head ? h : -1, o->all_positions ? plo : p, o->all_positions ? phi : p + 1,
                               o->src_shift, src},
                              l, &m->cfg, T};
        if (o->all_positions) break;
    }
    return n;
}

/* Stacked segments of one resumed pass. */
typedef struct {
    const cc_model *m;
    const int *tokens;
    int T, layer, mlo, mhi;
    const cc_patch_opts *o;
    const cc_fwd_result *base;
    cc_segment *seg;      /* [cap_seg] */
    cc_row_patch *patch;  /* [cap_seg] */
    int *unit;            /* [cap_seg] output index of each segment */
    float *x;             /* [cap_rows, d] */
    double *lp;           /* [cap_rows] */
    double *lp_run;       /* [T-1] one patched run's log-probs */
    size_t cap_rows, rows;
    int n;
} chunk;

#define CHUNK_ROWS 4096 /* rows stacked into one resumed pass (more when T is larger) */

/* Runs the stacked segments and writes each one's metric into VALUE. */
static int chunk_flush(chunk *ch, double *value, cc_error *err)
{
    if (ch->n == 0) return 0;
    const cc_model *m = ch->m;
    int T = ch->T, d = m->cfg.d_model;
    bool loss = ch->o->metric.kind == CC_METRIC_LOSS;
    if (cc_forward_resume(m, ch->tokens, 1, T, ch->base, resume_from(&m->cfg, ch->o->hook), ch->layer, ch->seg, ch->n, ch->x,
                          loss ? ch->lp : NULL, ch->o->kernel, err) != 0)
        return -1;
    size_t row = 0;
    for (int i = 0; i < ch->n; i++) {
        const cc_segment *g = &ch->seg[i];
        const float *xlast = NULL;
        if (loss) {
            memcpy(ch->lp_run, ch->base->logprob, (size_t)(T - 1) * sizeof *ch->lp_run);
            for (int t = g->start; t < g->end && t < T - 1; t++) ch->lp_run[t] = ch->lp[row + (size_t)(t - g->start)];
        } else {
            xlast = ch->x + (row + (size_t)(T - 1 - g->start)) * d; /* the segment ends at T */
        }
        if (metric_value(m, &ch->o->metric, T, ch->lp_run, xlast, &value[ch->unit[i]], err) != 0) return -1;
        row += (size_t)(g->end - g->start);
    }
    ch->n = 0, ch->rows = 0;
    return 0;
}

/* Adds site S (output index UNIT) to the chunk, or settles it without a run. */
static int chunk_add(chunk *ch, const site *s, int unit, double corrupt, double *value, long *skipped, cc_error *err)
{
    const cc_config *c = &ch->m->cfg;
    const cc_fwd_result *b = ch->base;
    cc_hook_kind k = ch->o->hook;
    int l = ch->layer, d = c->d_model, p0 = s->p.pos_lo, p1 = s->p.pos_hi;
    bool local = l == c->n_layers - 1 && row_local(k);
    int end = local ? (p1 < ch->mhi ? p1 : ch->mhi) : ch->mhi;
    if (p0 >= ch->mhi || (local && p1 <= ch->mlo) || site_rows(s, b->act[k][l], false)) {
        value[unit] = corrupt; /* the patched run is the corrupted run, or the metric cannot see the change */
        ++*skipped;
        return 0;
    }
    size_t n = (size_t)(end - p0);
    if (ch->rows + n > ch->cap_rows && chunk_flush(ch, value, err) != 0) return -1;
    int hi = p1 < end ? p1 : end;
    float *x = ch->x + ch->rows * d;
    memcpy(x, b->act[resume_from(c, k)][l] + (size_t)p0 * d, n * d * sizeof *x);
    ch->patch[ch->n] = s->p;
    ch->patch[ch->n].pos_hi = hi;
    ch->seg[ch->n] = (cc_segment){0, p0, end, cc_patch_hook_has_heads(k) ? &ch->patch[ch->n] : NULL};
    for (int t = p0; t < hi && !cc_patch_hook_has_heads(k); t++) {
        float *xr = x + (size_t)(t - p0) * d;
        const float *sv = s->p.src + (size_t)(t + s->p.src_shift) * d;
        if (k == CC_HOOK_ATTN_OUT || k == CC_HOOK_MLP_OUT) patched_residual(c, b, k, l, t, sv, xr);
        else memcpy(xr, sv, (size_t)d * sizeof *xr);
    }
    ch->unit[ch->n++] = unit;
    ch->rows += n;
    return 0;
}

int cci_patch_opts_check(const cc_model *m, int T, const cc_patch_opts *o, int *plo, int *phi, cc_error *err)
{
    const cc_config *c = &m->cfg;
    char name[64];
    if (!cc_patch_hook_ok(o->hook))
        return cc_fail(err, "cannot patch %s: choose resid_pre, resid_mid, attn_out, mlp_out, z, pattern, q, k or v",
                       cc_hook_name(o->hook, 0, name, sizeof name));
    if (cc_hook_check(c, o->hook, 0, err) != 0) return -1;
    if (o->per_head && !cc_patch_hook_has_heads(o->hook))
        return cc_fail(err, "patching %s per head: only z, pattern, q, k and v have heads",
                       cc_patch_hook_name(o->hook));
    if (T < 2) return cc_fail(err, "patching needs at least 2 positions (got %d)", T);
    *plo = o->pos_lo, *phi = o->pos_hi;
    if (*plo == 0 && *phi == 0) *phi = T;
    if (*plo < 0 || *plo >= *phi || *phi > T || *plo + o->src_shift < 0 || *phi + o->src_shift > T)
        return cc_fail(err, "patched positions [%d, %d) (source shift %d) must lie inside the %d positions", *plo,
                       *phi, o->src_shift, T);
    return check_metric(m, &o->metric, T, err);
}

/* cc_act_patch, or with NODES only those nodes (the others' value NAN). */
static int act_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                     const int *nodes, int n_nodes, cc_patch_result *out, cc_error *err)
{
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    int L = c->n_layers, d = c->d_model, plo, phi, mlo, mhi;
    if (cci_patch_opts_check(m, T, o, &plo, &phi, err) != 0) return -1;
    metric_rows(&o->metric, T, &mlo, &mhi);
    out->n_layers = L, out->n_pos = o->all_positions ? 1 : phi - plo;
    out->n_heads = o->per_head ? patch_heads(c, o->hook) : 1;
    out->pos_lo = plo;
    int per_layer = out->n_pos * out->n_heads;
    size_t N = (size_t)L * per_layer;
    out->value = malloc(N * sizeof *out->value);
    out->normalized = malloc(N * sizeof *out->normalized);
    site *sites = malloc((size_t)per_layer * sizeof *sites);
    bool *asked = nodes ? calloc(N, sizeof *asked) : NULL; /* [N] with NODES: the nodes to patch */
    size_t cap_rows = T > CHUNK_ROWS ? (size_t)T : CHUNK_ROWS;
    chunk ch = {.m = m, .tokens = corrupt, .T = T, .mlo = mlo, .mhi = mhi, .o = o, .cap_rows = cap_rows};
    ch.seg = malloc((size_t)per_layer * sizeof *ch.seg);
    ch.patch = malloc((size_t)per_layer * sizeof *ch.patch);
    ch.unit = malloc((size_t)per_layer * sizeof *ch.unit);
    ch.x = malloc(cap_rows * d * sizeof *ch.x);
    ch.lp = malloc(cap_rows * sizeof *ch.lp);
    ch.lp_run = malloc((size_t)T * sizeof *ch.lp_run);
    cc_fwd_result cr = {0}, br = {0};
    int rc = -1;
    if (!out->value || !out->normalized || !sites || !ch.seg || !ch.patch || !ch.unit || !ch.x || !ch.lp ||
        !ch.lp_run || (nodes && !asked)) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_nodes; i++) {
        if (nodes[i] < 0 || (size_t)nodes[i] >= N) {
            cc_fail(err, "patching: node %d is not in the %zu nodes [%d layers, %d positions, %d heads]", nodes[i], N,
                    L, out->n_pos, out->n_heads);
            goto done;
        }
        asked[nodes[i]] = true;
    }
    /* the corrupted run is the base every patched run starts from; the clean
     * run gives the patched values (one run when the tokens are the same) */
    cc_fwd_opts bo = {.kernel = o->kernel}, co = {.kernel = o->kernel};
    cc_fwd_want(&bo, o->hook, -1), cc_fwd_want(&co, o->hook, -1);
    if (!o->naive) {
        /* what resuming reads: the keys and values, the residual points, a block's outputs */
        cc_hook_kind keep[] = {cc_pass_key_hook(c), CC_HOOK_V, CC_HOOK_RESID_PRE, CC_HOOK_RESID_MID, CC_HOOK_RESID_POST,
                               CC_HOOK_ATTN_OUT, CC_HOOK_MLP_OUT};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
            if (cc_hook_available(c, keep[i])) cc_fwd_want(&bo, keep[i], -1);
    }
    bool same = memcmp(clean, corrupt, (size_t)T * sizeof *clean) == 0;
    if (cci_patch_run_metric(m, corrupt, T, &bo, &o->metric, &br, &out->corrupt, err) != 0) goto done;
    if (same) out->clean = out->corrupt;
    else if (cci_patch_run_metric(m, clean, T, &co, &o->metric, &cr, &out->clean, err) != 0) goto done;
    const cc_fwd_result *src = same ? &br : &cr;
    ch.base = &br;
    for (int l = 0; l < L; l++) {
        int n = layer_sites(m, o, T, plo, phi, l, src->act[o->hook][l], sites);
        double *value = out->value + (size_t)l * per_layer;
        ch.layer = l;
        for (int i = 0; i < n; i++) {
            if (asked && !asked[(size_t)l * per_layer + i]) {
                value[i] = NAN;
            } else if (o->naive) {
                cc_fwd_opts po = {.kernel = o->kernel, .hook = site_hook, .hook_ctx = &sites[i]};
                cc_fwd_result pr;
                int r2 = cci_patch_run_metric(m, corrupt, T, &po, &o->metric, &pr, &value[i], err);
                cc_fwd_result_free(&pr);
                if (r2 != 0) goto done;
            } else if (chunk_add(&ch, &sites[i], i, out->corrupt, value, &out->skipped, err) != 0) {
                goto done;
            }
        }
        if (!o->naive && chunk_flush(&ch, value, err) != 0) goto done;
        if (cci_progress(o->progress, o->progress_ctx, l + 1, L, "patching", err) != 0) goto done;
    }
    for (size_t i = 0; i < N; i++) out->normalized[i] = (out->value[i] - out->corrupt) / (out->clean - out->corrupt);
    rc = 0;
done:
    cc_fwd_result_free(&cr), cc_fwd_result_free(&br);
    free(sites), free(asked), free(ch.seg), free(ch.patch), free(ch.unit), free(ch.x), free(ch.lp), free(ch.lp_run);
    if (rc != 0) cc_patch_result_free(out);
    return rc;
}

int cc_act_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                 cc_patch_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CCI_PATCH_PAIR_ARGS(m, clean, corrupt, o, out, err);
    return act_patch(m, clean, corrupt, T, o, NULL, 0, out, err);
}

int cc_act_patch_nodes(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                       const int *nodes, int n_nodes, cc_patch_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CCI_PATCH_PAIR_ARGS(m, clean, corrupt, o, out, err);
    CC_ARG_NOT_NULL(nodes, err, -1);
    CC_ARG_AT_LEAST(n_nodes, 0, err, -1);
    return act_patch(m, clean, corrupt, T, o, nodes, n_nodes, out, err);
}

/* ------------------------------------------------------------ path patching */

void cc_path_result_free(cc_path_result *r)
{
    if (!r) return;
    free(r->value);
    free(r->normalized);
    memset(r, 0, sizeof *r);
}

/* Step 1's hook: every head's z frozen to the clean run's, the sender's from the corrupted run. */
typedef struct {
    const cc_fwd_result *clean, *corrupt;
    cc_head sender;
    int H, dh;
} freeze_ctx;

static int freeze_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    const freeze_ctx *f = ctx;
    if (k != CC_HOOK_Z) return 0;
    memcpy(act, f->clean->act[CC_HOOK_Z][layer], s->numel * sizeof *act);
    if (layer == f->sender.layer)
        for (int t = 0; t < s->dim[1]; t++) {
            size_t off = ((size_t)t * f->H + f->sender.head) * f->dh;
            memcpy(act + off, f->corrupt->act[CC_HOOK_Z][layer] + off, (size_t)f->dh * sizeof *act);
        }
    return 0;
}

/* Step 2's hook: the receivers' TO activations from step 1's run. */
typedef struct {
    const cc_fwd_result *from;
    const cc_head *receivers;
    int n, H, dh;
    cc_hook_kind to;
} receiver_ctx;

static int receiver_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    const receiver_ctx *r = ctx;
    if (k != r->to) return 0;
    for (int i = 0; i < r->n; i++) {
        if (r->receivers[i].layer != layer) continue;
        for (int t = 0; t < s->dim[1]; t++) {
            size_t off = ((size_t)t * r->H + r->receivers[i].head) * r->dh;
            memcpy(act + off, r->from->act[r->to][layer] + off, (size_t)r->dh * sizeof *act);
        }
    }
    return 0;
}

static int check_head(const cc_config *c, cc_head h, const char *role, cc_error *err)
{
    if (h.layer < 0 || h.layer >= c->n_layers || h.head < 0 || h.head >= c->n_heads)
        return cc_fail(err, "path patching: %s head L%dH%d is outside this model (%d layers x %d heads)", role, h.layer,
                       h.head, c->n_layers, c->n_heads);
    return 0;
}

int cc_path_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_head *senders,
                  int n_senders, const cc_head *receivers, int n_receivers, cc_hook_kind to, const cc_metric *metric,
                  cc_kernel kernel, int threads, cc_progress_fn progress, void *progress_ctx, cc_path_result *out,
                  cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(clean, err, -1);
    CC_ARG_NOT_NULL(corrupt, err, -1);
    CC_ARG_NOT_NULL(senders, err, -1);
    CC_ARG_NOT_NULL(receivers, err, -1);
    CC_ARG_ENUM(to, CC_HOOK_COUNT, err, -1);
    CC_ARG_NOT_NULL(metric, err, -1);
    CC_ARG_ENUM(metric->kind, CC_METRIC_LOSS + 1, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    if (to != CC_HOOK_Q && to != CC_HOOK_K && to != CC_HOOK_V)
        return cc_fail(err, "path patching: the receivers' input must be q, k or v");
    if (to != CC_HOOK_Q && cc_config_kv_heads(c) != c->n_heads)
        return cc_fail_code(err, CC_E_UNSUPPORTED, "path patching into %s: this model (%s) has grouped-query attention, %d key/value heads "
                            "for %d query heads, so a receiver's %s is shared by its whole group; patch into q",
                       to == CC_HOOK_K ? "k" : "v", cc_family_name(c->family), cc_config_kv_heads(c), c->n_heads,
                       to == CC_HOOK_K ? "k" : "v");
    if (n_senders < 1 || n_receivers < 1) return cc_fail(err, "path patching: give at least one sender and one receiver");
    for (int i = 0; i < n_senders; i++)
        if (check_head(c, senders[i], "sender", err) != 0) return -1;
    for (int i = 0; i < n_receivers; i++)
        if (check_head(c, receivers[i], "receiver", err) != 0) return -1;
    if (check_metric(m, metric, T, err) != 0) return -1;
    out->n_senders = n_senders;
    out->value = malloc((size_t)n_senders * sizeof *out->value);
    out->normalized = malloc((size_t)n_senders * sizeof *out->normalized);
    if (!out->value || !out->normalized) {
        cc_path_result_free(out);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    cc_fwd_result cr = {0}, xr = {0}, r1 = {0}, r2 = {0};
    cc_fwd_opts co = {.kernel = kernel}, xo = {.kernel = kernel};
    cc_fwd_want(&co, CC_HOOK_Z, -1), cc_fwd_want(&xo, CC_HOOK_Z, -1);
    int rc = -1;
    if (cci_patch_run_metric(m, clean, T, &co, metric, &cr, &out->clean, err) != 0 ||
        cci_patch_run_metric(m, corrupt, T, &xo, metric, &xr, &out->corrupt, err) != 0)
        goto done;
    for (int s = 0; s < n_senders; s++) {
        freeze_ctx f = {&cr, &xr, senders[s], c->n_heads, c->d_head};
        cc_fwd_opts o1 = {.kernel = kernel, .hook = freeze_hook, .hook_ctx = &f, .skip_unembed = true};
        for (int i = 0; i < n_receivers; i++) cc_fwd_want(&o1, to, receivers[i].layer);
        if (cc_forward(m, clean, 1, T, &o1, &r1, err) != 0) goto done;
        receiver_ctx rcv = {&r1, receivers, n_receivers, c->n_heads, c->d_head, to};
        cc_fwd_opts o2 = {.kernel = kernel, .hook = receiver_hook, .hook_ctx = &rcv};
        if (cci_patch_run_metric(m, clean, T, &o2, metric, &r2, &out->value[s], err) != 0) goto done;
        cc_fwd_result_free(&r1), cc_fwd_result_free(&r2);
        out->normalized[s] = (out->value[s] - out->clean) / (out->clean - out->corrupt);
        if (cci_progress(progress, progress_ctx, s + 1, n_senders, "path patching", err) != 0) goto done;
    }
    rc = 0;
done:
    cc_fwd_result_free(&cr), cc_fwd_result_free(&xr), cc_fwd_result_free(&r1), cc_fwd_result_free(&r2);
    if (rc != 0) cc_path_result_free(out);
    return rc;
}
