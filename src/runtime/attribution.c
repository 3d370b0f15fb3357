/* attribution.c — attribution patching (include/circuitc/attribution.h): the
 * corrupted run's gradient (cc_backward) dotted with clean - corrupt, summed
 * over each node of cc_act_patch's layout. */
#include "circuitc/attribution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"
#include "runtime/patch_internal.h"

/* Heads of a per-head hook's activation (key/value heads for k and v). */
static int hook_heads(const cc_config *c, cc_hook_kind k)
{
    return k == CC_HOOK_K || k == CC_HOOK_V ? cc_config_kv_heads(c) : c->n_heads;
}

/* Adds layer L's attributions into OUT [n_pos, n_heads]: (clean - corrupt)
 * times GRAD, all three the hook's [1, T, ...] activation ([1, H, T, T] for the
 * pattern; the pattern's node at position p is query row p), the clean value
 * of position p read at p + src_shift as cc_act_patch reads it. */
static void layer_attr(const cc_config *c, const cc_patch_opts *o, int T, int plo, int phi, const float *clean,
                       const float *corrupt, const float *grad, const cc_patch_result *r, double *out)
{
    bool heads = cc_patch_hook_has_heads(o->hook), pattern = o->hook == CC_HOOK_PATTERN;
    int nh = heads ? hook_heads(c, o->hook) : 1;
    size_t width = pattern ? (size_t)T : heads ? (size_t)c->d_head : (size_t)c->d_model; /* elements per (pos, head) */
    for (int p = plo; p < phi; p++)
        for (int h = 0; h < nh; h++) {
            int sp = p + o->src_shift;
            size_t at = pattern ? ((size_t)h * T + p) * T : ((size_t)p * nh + h) * width;
            size_t from = pattern ? ((size_t)h * T + sp) * T : ((size_t)sp * nh + h) * width;
            double s = 0;
            for (size_t i = 0; i < width; i++) s += ((double)clean[from + i] - corrupt[at + i]) * grad[at + i];
            int pi = o->all_positions ? 0 : p - plo, hi = o->per_head ? h : 0;
            out[(size_t)pi * r->n_heads + hi] += s;
        }
}

int cc_attr_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                  cc_attr_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CCI_PATCH_PAIR_ARGS(m, clean, corrupt, o, out, err);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    int plo, phi;
    if (cci_patch_opts_check(m, T, o, &plo, &phi, err) != 0) return cc_fail_prefix(err, "attribution");
    int answer = o->metric.answer, wrong = o->metric.wrong;
    cc_grad_metric gm = {.kind = o->metric.kind == CC_METRIC_LOSS ? CC_GRAD_LOSS : CC_GRAD_LOGIT_DIFF,
                         .answer = &answer, .wrong = &wrong, .loss_lo = o->metric.loss_lo,
                         .loss_hi = o->metric.loss_hi};
    cc_grad_opts go = {.kernel = o->kernel, .keep_acts = true};
    cc_grad_want(&go, o->hook, -1);
    cc_fwd_opts fo = {.kernel = o->kernel}; /* the clean run: its activations and its metric (never its logits) */
    cc_fwd_want(&fo, o->hook, -1);
    cc_grad_result gx; /* the corrupted run's activations and gradient */
    cc_fwd_result fc;
    cc_patch_result *r = &out->est;
    bool same = memcmp(clean, corrupt, (size_t)T * sizeof *clean) == 0; /* one run is both (a shifted patch) */
    memset(&fc, 0, sizeof fc);
    int rc = cc_backward(m, corrupt, 1, T, &gm, &go, &gx, err);
    if (rc == 0 && !same) rc = cci_patch_run_metric(m, clean, T, &fo, &o->metric, &fc, &r->clean, err);
    if (rc != 0) {
        cc_fwd_result_free(&fc), cc_grad_result_free(&gx);
        return -1;
    }
    r->n_layers = c->n_layers, r->n_pos = o->all_positions ? 1 : phi - plo, r->pos_lo = plo;
    r->n_heads = o->per_head ? hook_heads(c, o->hook) : 1;
    r->corrupt = gx.metric;
    if (same) r->clean = gx.metric;
    size_t per_layer = (size_t)r->n_pos * r->n_heads, N = (size_t)c->n_layers * per_layer;
    out->attribution = calloc(N, sizeof *out->attribution);
    r->value = malloc(N * sizeof *r->value), r->normalized = malloc(N * sizeof *r->normalized);
    if (out->attribution && r->value && r->normalized) {
        for (int l = 0; l < c->n_layers; l++)
            layer_attr(c, o, T, plo, phi, (same ? gx.act : fc.act)[o->hook][l], gx.act[o->hook][l], gx.grad[o->hook][l], r,
                       out->attribution + l * per_layer);
        for (size_t i = 0; i < N; i++)
            r->value[i] = r->corrupt + out->attribution[i],
            r->normalized[i] = out->attribution[i] / (r->clean - r->corrupt);
    }
    out->peak_bytes = gx.peak_bytes;
    cc_fwd_result_free(&fc), cc_grad_result_free(&gx);
    if (!out->attribution || !r->value || !r->normalized) {
        cc_attr_result_free(out);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    return 0;
}

void cc_attr_result_free(cc_attr_result *r)
{
    if (!r) return;
    cc_patch_result_free(&r->est);
    free(r->attribution);
    memset(r, 0, sizeof *r);
}

typedef struct {
    double mag;
    int i;
} ranked;

/* Larger |value| first; equal ones in index order. */
static int by_magnitude(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->mag != b->mag) return a->mag > b->mag ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* TOP [K] = the indices of the K largest |V[i]| of V [N], largest first;
 * returns how many (fewer when N < K), -1 when out of memory. */
static int largest(const double *v, size_t N, int k, int *top)
{
    ranked *r = malloc((N ? N : 1) * sizeof *r);
    if (!r) return -1;
    for (size_t i = 0; i < N; i++) r[i] = (ranked){fabs(v[i]), (int)i};
    qsort(r, N, sizeof *r, by_magnitude);
    int n = (size_t)k < N ? k : (int)N;
    for (int t = 0; t < n; t++) top[t] = r[t].i;
    free(r);
    return n;
}

/* Pearson's correlation of X [N] and Y [N]; NAN when either is constant. */
static double pearson(const double *x, const double *y, size_t N)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < N; i++) sx += x[i], sy += y[i], sxx += x[i] * x[i], syy += y[i] * y[i], sxy += x[i] * y[i];
    double cov = sxy - sx * sy / N, vx = sxx - sx * sx / N, vy = syy - sy * sy / N;
    return vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : NAN;
}

int cc_attr_top(const cc_attr_result *a, int k, int *top, int *n_top, cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_AT_LEAST(k, 0, err, -1);
    CC_ARG_NOT_NULL(top, err, -1);
    CC_ARG_NOT_NULL(n_top, err, -1);
    *n_top = largest(a->attribution, (size_t)a->est.n_layers * a->est.n_pos * a->est.n_heads, k, top);
    return *n_top < 0 ? cc_fail_code(err, CC_E_NOMEM, "out of memory") : 0;
}

int cc_attr_compare(const cc_attr_result *a, const cc_patch_result *exact, int k, int *top, int *n_top,
                    double *correlation, cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_NOT_NULL(exact, err, -1);
    CC_ARG_NOT_NULL(top, err, -1);
    CC_ARG_NOT_NULL(n_top, err, -1);
    CC_ARG_NOT_NULL(correlation, err, -1);
    const cc_patch_result *e = &a->est;
    if (exact->n_layers != e->n_layers || exact->n_pos != e->n_pos || exact->n_heads != e->n_heads)
        return cc_fail(err, "attribution compare: the exact patching is [%d, %d, %d], the attribution [%d, %d, %d]",
                       exact->n_layers, exact->n_pos, exact->n_heads, e->n_layers, e->n_pos, e->n_heads);
    size_t N = (size_t)e->n_layers * e->n_pos * e->n_heads;
    double *effect = malloc(N * sizeof *effect);
    if (!effect) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (size_t i = 0; i < N; i++) effect[i] = exact->value[i] - exact->corrupt;
    *correlation = pearson(a->attribution, effect, N);
    free(effect);
    *n_top = largest(a->attribution, N, k, top);
    return *n_top < 0 ? cc_fail_code(err, CC_E_NOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------ the mlp_out sweep */

int cc_attr_mlp_sweep(const cc_model *m, const int *tokens, int n, int k, cc_kernel kernel, int threads,
                      cc_attr_sweep *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    if (c->attn_only || c->d_mlp < 1)
        return cc_fail(err, "the mlp_out sweep needs MLPs: this model is attention-only");
    if (n < 1 || k < 0) return cc_fail(err, "the mlp_out sweep: n (%d) must be at least 1, k (%d) at least 0", n, k);
    /* cc_patch_mlp_sweep's patches: the same tokens clean and corrupted, position p taking the value at p-n */
    int T = 1 + 2 * n, L = c->n_layers, P = n + 1;
    cc_patch_opts o = {.hook = CC_HOOK_MLP_OUT, .pos_lo = n, .pos_hi = 2 * n + 1, .src_shift = -n,
                       .metric = {.kind = CC_METRIC_LOSS, .loss_lo = n, .loss_hi = 2 * n}, .kernel = kernel};
    cc_attr_result a;
    cc_patch_result e = {0};
    if (cc_attr_patch(m, tokens, tokens, T, &o, &a, err) != 0) return cc_fail_prefix(err, "the mlp_out sweep");
    size_t N = (size_t)L * P;
    int want = (size_t)k < N ? k : (int)N;
    out->n_layers = L, out->n = n, out->clean_loss = a.est.corrupt, out->peak_bytes = a.peak_bytes;
    out->estimate = a.attribution, a.attribution = NULL; /* [L, n+1]: cc_act_patch's layout for these options */
    out->correlation = NAN;
    out->top = malloc(((size_t)want + 1) * sizeof *out->top);
    out->top_exact = malloc(((size_t)want + 1) * sizeof *out->top_exact);
    int rc = -1;
    if (!out->top || !out->top_exact) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    if ((out->n_top = largest(out->estimate, N, want, out->top)) < 0) {
        out->n_top = 0;
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    if (out->n_top > 0 && cc_act_patch_nodes(m, tokens, tokens, T, &o, out->top, out->n_top, &e, err) != 0) goto out;
    for (int i = 0; i < out->n_top; i++) out->top_exact[i] = e.value[out->top[i]] - e.corrupt;
    if ((size_t)out->n_top == N) {
        for (size_t i = 0; i < N; i++) e.value[i] -= e.corrupt;
        out->correlation = pearson(out->estimate, e.value, N);
    }
    rc = 0;
out:
    cc_attr_result_free(&a), cc_patch_result_free(&e);
    if (rc != 0) cc_attr_sweep_free(out);
    return rc;
}

void cc_attr_sweep_free(cc_attr_sweep *s)
{
    if (!s) return;
    free(s->estimate), free(s->top), free(s->top_exact);
    memset(s, 0, sizeof *s);
}
