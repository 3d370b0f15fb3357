/* attribution.c — attribution patching (include/circuitc/attribution.h): the
 * corrupted run's gradient (cc_backward) dotted with clean - corrupt, summed
 * over each node of cc_act_patch's layout. */
#include "circuitc/attribution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "core/args.h"

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
    if (o->metric.kind == CC_METRIC_LOSS && (o->metric.loss_lo != 0 || o->metric.loss_hi != 0))
        return cc_fail(err, "attribution: a loss over a range of positions is not supported, only every position");
    int plo = o->pos_lo, phi = o->pos_hi ? o->pos_hi : T;
    if (plo < 0 || plo >= phi || phi > T)
        return cc_fail(err, "attribution: positions [%d, %d) must lie inside the %d positions", plo, phi, T);
    int answer = o->metric.answer, wrong = o->metric.wrong;
    cc_grad_metric gm = {.kind = o->metric.kind == CC_METRIC_LOSS ? CC_GRAD_LOSS : CC_GRAD_LOGIT_DIFF,
                         .answer = &answer, .wrong = &wrong};
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
        return cc_fail(err, "out of memory");
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
    *n_top = 0;
    for (int j = 0; j < k && (size_t)j < N; j++) { /* selection of the K largest |attribution| */
        int best = -1;
        for (size_t i = 0; i < N; i++) {
            bool taken = false;
            for (int t = 0; t < *n_top && !taken; t++) taken = top[t] == (int)i;
            if (!taken && (best < 0 || fabs(a->attribution[i]) > fabs(a->attribution[best]))) best = (int)i;
        }
        top[(*n_top)++] = best;
    }
    return 0;
}
