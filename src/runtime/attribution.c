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

/* Heads of a per-head hook's activation (key/value heads for k and v). */
static int hook_heads(const cc_config *c, cc_hook_kind k)
{
    return k == CC_HOOK_K || k == CC_HOOK_V ? cc_config_kv_heads(c) : c->n_heads;
}

/* Adds layer L's attributions into OUT [n_pos, n_heads]: DELTA (clean - corrupt)
 * times GRAD, both the hook's [1, T, ...] activation ([1, H, T, T] for the
 * pattern; the pattern's node at position p is query row p). */
static void layer_attr(const cc_config *c, const cc_patch_opts *o, int T, int plo, int phi, const float *clean,
                       const float *corrupt, const float *grad, const cc_patch_result *r, double *out)
{
    bool heads = cc_patch_hook_has_heads(o->hook), pattern = o->hook == CC_HOOK_PATTERN;
    int nh = heads ? hook_heads(c, o->hook) : 1;
    size_t width = pattern ? (size_t)T : heads ? (size_t)c->d_head : (size_t)c->d_model; /* elements per (pos, head) */
    for (int p = plo; p < phi; p++)
        for (int h = 0; h < nh; h++) {
            size_t at = pattern ? ((size_t)h * T + p) * T : ((size_t)p * nh + h) * width;
            double s = 0;
            for (size_t i = 0; i < width; i++) s += ((double)clean[at + i] - corrupt[at + i]) * grad[at + i];
            int pi = o->all_positions ? 0 : p - plo, hi = o->per_head ? h : 0;
            out[(size_t)pi * r->n_heads + hi] += s;
        }
}

int cc_attr_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                  cc_attr_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(clean, err, -1);
    CC_ARG_NOT_NULL(corrupt, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_ENUM(o->hook, CC_HOOK_COUNT, err, -1);
    CC_ARG_ENUM(o->metric.kind, CC_METRIC_LOSS + 1, err, -1);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    char name[64];
    if (!cc_patch_hook_ok(o->hook))
        return cc_fail(err, "attribution: cannot patch %s: choose resid_pre, resid_mid, attn_out, mlp_out, z, "
                            "pattern, q, k or v", cc_hook_name(o->hook, 0, name, sizeof name));
    if (cc_hook_check(c, o->hook, 0, err) != 0) return -1;
    if (o->per_head && !cc_patch_hook_has_heads(o->hook))
        return cc_fail(err, "attribution of %s per head: only z, pattern, q, k and v have heads",
                       cc_patch_hook_name(o->hook));
    if (T < 2) return cc_fail(err, "attribution needs at least 2 positions (got %d)", T);
    int plo = o->pos_lo, phi = o->pos_hi ? o->pos_hi : T;
    if (plo < 0 || plo >= phi || phi > T)
        return cc_fail(err, "attribution: positions [%d, %d) must lie inside the %d positions", plo, phi, T);
    int answer = o->metric.answer, wrong = o->metric.wrong;
    cc_grad_metric gm = {.kind = o->metric.kind == CC_METRIC_LOSS ? CC_GRAD_LOSS : CC_GRAD_LOGIT_DIFF,
                         .answer = &answer, .wrong = &wrong, .loss_lo = o->metric.loss_lo,
                         .loss_hi = o->metric.loss_hi};
    cc_grad_opts go = {.kernel = o->kernel, .keep_acts = true};
    cc_grad_want(&go, o->hook, -1);
    cc_fwd_opts fo = {.kernel = o->kernel}; /* the clean run: its activations and its metric */
    cc_fwd_want(&fo, o->hook, -1), cc_fwd_want(&fo, CC_HOOK_LOGITS, 0);
    cc_grad_result gx; /* the corrupted run's activations and gradient */
    cc_fwd_result fc;
    cc_patch_result *r = &out->est;
    int rc = cc_backward(m, corrupt, 1, T, &gm, &go, &gx, err);
    if (rc == 0) rc = cc_forward(m, clean, 1, T, &fo, &fc, err);
    else memset(&fc, 0, sizeof fc);
    if (rc == 0) rc = cc_grad_metric_eval(m, clean, 1, T, &gm, fc.act[CC_HOOK_LOGITS][0], &r->clean, err);
    if (rc != 0) {
        cc_fwd_result_free(&fc), cc_grad_result_free(&gx);
        return -1;
    }
    r->n_layers = c->n_layers, r->n_pos = o->all_positions ? 1 : phi - plo, r->pos_lo = plo;
    r->n_heads = o->per_head ? hook_heads(c, o->hook) : 1;
    r->corrupt = gx.metric;
    size_t per_layer = (size_t)r->n_pos * r->n_heads, N = (size_t)c->n_layers * per_layer;
    out->attribution = calloc(N, sizeof *out->attribution);
    r->value = malloc(N * sizeof *r->value), r->normalized = malloc(N * sizeof *r->normalized);
    if (out->attribution && r->value && r->normalized) {
        for (int l = 0; l < c->n_layers; l++)
            layer_attr(c, o, T, plo, phi, fc.act[o->hook][l], gx.act[o->hook][l], gx.grad[o->hook][l], r,
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

/* TOP [K] = the indices of the K largest |V[i]| of V [N], largest first (a
 * selection: K is small); returns how many (fewer when N < K). */
static int largest(const double *v, size_t N, int k, int *top)
{
    int n = 0;
    for (; n < k && (size_t)n < N; n++) {
        int best = -1;
        for (size_t i = 0; i < N; i++) {
            bool taken = false;
            for (int t = 0; t < n && !taken; t++) taken = top[t] == (int)i;
            if (!taken && (best < 0 || fabs(v[i]) > fabs(v[best]))) best = (int)i;
        }
        top[n] = best;
    }
    return n;
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
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < N; i++) {
        double x = a->attribution[i], y = exact->value[i] - exact->corrupt;
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double cov = sxy - sx * sy / N, vx = sxx - sx * sx / N, vy = syy - sy * sy / N;
    *correlation = vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : NAN;
    *n_top = largest(a->attribution, N, k, top);
    return 0;
}

/* ------------------------------------------------------------ the mlp_out sweep */

/* Replaces mlp_out[layer][p] of a full pass by the saved value at p - n. */
typedef struct {
    const float *src; /* [1, T, d] the unpatched run's mlp_out of LAYER */
    int layer, p, n, d;
} sweep_patch;

static int sweep_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)s, (void)err;
    const sweep_patch *sp = ctx;
    if (kind == CC_HOOK_MLP_OUT && layer == sp->layer)
        memcpy(act + (size_t)sp->p * sp->d, sp->src + (size_t)(sp->p - sp->n) * sp->d, (size_t)sp->d * sizeof *act);
    return 0;
}

/* The second half's loss with node (LAYER, P) patched, one full forward pass. */
static int patched_loss(const cc_model *m, const int *tokens, const cc_grad_metric *gm, int T, cc_kernel kernel,
                        sweep_patch *sp, double *loss, cc_error *err)
{
    cc_fwd_opts fo = {.kernel = kernel, .hook = sweep_hook, .hook_ctx = sp};
    cc_fwd_want(&fo, CC_HOOK_LOGITS, 0);
    cc_fwd_result r;
    int rc = cc_forward(m, tokens, 1, T, &fo, &r, err);
    if (rc == 0) rc = cc_grad_metric_eval(m, tokens, 1, T, gm, r.act[CC_HOOK_LOGITS][0], loss, err);
    cc_fwd_result_free(&r);
    return rc;
}

int cc_attr_mlp_sweep(const cc_model *m, const int *tokens, int n, int k, cc_kernel kernel, cc_attr_sweep *out,
                      cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    if (c->attn_only || c->d_mlp < 1)
        return cc_fail(err, "the mlp_out sweep needs MLPs: this model is attention-only");
    if (n < 1 || k < 0) return cc_fail(err, "the mlp_out sweep: n (%d) must be at least 1, k (%d) at least 0", n, k);
    int T = 1 + 2 * n, L = c->n_layers, d = c->d_model, P = n + 1;
    cc_grad_metric gm = {.kind = CC_GRAD_LOSS, .loss_lo = n, .loss_hi = 2 * n};
    cc_grad_opts go = {.kernel = kernel, .keep_acts = true};
    cc_grad_want(&go, CC_HOOK_MLP_OUT, -1);
    cc_grad_result g;
    if (cc_backward(m, tokens, 1, T, &gm, &go, &g, err) != 0) {
        cc_grad_result_free(&g);
        return -1;
    }
    out->n_layers = L, out->n = n, out->clean_loss = g.metric, out->peak_bytes = g.peak_bytes;
    out->estimate = calloc((size_t)L * P, sizeof *out->estimate);
    int rc = -1;
    if (!out->estimate) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    for (int l = 0; l < L; l++)
        for (int p = n; p <= 2 * n; p++) {
            const float *act = g.act[CC_HOOK_MLP_OUT][l], *grad = g.grad[CC_HOOK_MLP_OUT][l];
            double s = 0;
            for (int i = 0; i < d; i++)
                s += ((double)act[(size_t)(p - n) * d + i] - act[(size_t)p * d + i]) * grad[(size_t)p * d + i];
            out->estimate[(size_t)l * P + (p - n)] = s;
        }
    size_t N = (size_t)L * P;
    out->top = malloc(((size_t)k + 1) * sizeof *out->top);
    out->top_exact = malloc(((size_t)k + 1) * sizeof *out->top_exact);
    if (!out->top || !out->top_exact) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    out->n_top = largest(out->estimate, N, k, out->top);
    for (int i = 0; i < out->n_top; i++) {
        int node = out->top[i];
        sweep_patch sp = {g.act[CC_HOOK_MLP_OUT][node / P], node / P, n + node % P, n, d};
        double loss;
        if (patched_loss(m, tokens, &gm, T, kernel, &sp, &loss, err) != 0) goto out;
        out->top_exact[i] = loss - out->clean_loss;
    }
    rc = 0;
out:
    cc_grad_result_free(&g);
    if (rc != 0) cc_attr_sweep_free(out);
    return rc;
}

void cc_attr_sweep_free(cc_attr_sweep *s)
{
    if (!s) return;
    free(s->estimate), free(s->top), free(s->top_exact);
    memset(s, 0, sizeof *s);
}
