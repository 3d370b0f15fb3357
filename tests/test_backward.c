/* test_backward.c — the backward pass (circuitc/backward.h) on every block
 * shape, on the small random models of shape_models.c:
 *
 *   - the reference kernel's gradient at every hook the shape has (every
 *     layer) against central finite differences of the reference forward
 *     pass, for each metric (logit difference, loss, KL), with and without
 *     the norms' weights; the differences are Richardson-extrapolated
 *     (4 D(h/2) - D(h)) / 3 so that the float32 activations' rounding, not the
 *     step, sets the error;
 *   - the fast kernel against the reference at every hook (within FAST_TOL
 *     of each gradient's scale, its largest magnitude), the metric values
 *     against cc_grad_metric_eval on the forward pass's logits;
 *   - the activations returned with keep_acts are the forward pass's;
 *   - refusals: a hook the shape lacks, a position out of range, a metric
 *     without its arrays. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "circuitc/forward.h"
#include "core/parallel.h"
#include "shape_models.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define B 2
#define T 7
#define FD_STEP 2e-2  /* h of the finite differences (D(h) and D(h/2)) */
#define FD_STEP_RELU 5e-3 /* relu models: a smaller step crosses fewer kinks */
#define FD_TOL 1e-3   /* |fd - grad| / the gradient tensor's scale */
#define FAST_TOL 3e-5 /* |fast - ref| / the gradient tensor's scale: the forward pass's float32 differences
                         (1e-5 of each hook's scale, test_forward_shapes) carried through the backward pass;
                         worst measured 1.03e-5 (llama, KL, hook_q) */
#define METRIC_TOL 1e-5

/* ------------------------------------------------------------ metrics */

typedef struct {
    int position[B], answer[B], wrong[B];
    float clean[B * 64];
    cc_grad_metric metric;
} metric_case;

/* Metric KIND on a model of C: logit difference at positions (-1, 4), loss, or
 * KL to the distribution of another token sequence at those positions. */
static void metric_setup(metric_case *mc, const cc_model *m, cc_grad_metric_kind kind)
{
    const cc_config *c = &m->cfg;
    ck_assert_int_le(c->d_vocab, 64);
    int pos[B] = {-1, 4};
    for (int b = 0; b < B; b++)
        mc->position[b] = pos[b], mc->answer[b] = 3 + b, mc->wrong[b] = 11 + 2 * b;
    mc->metric = (cc_grad_metric){.kind = kind, .position = mc->position, .answer = mc->answer,
                                  .wrong = mc->wrong, .clean_logprobs = mc->clean};
    if (kind == CC_GRAD_KL) {
        int *other = tu_shape_tokens(c, B * T, 77);
        cc_error err;
        ck_assert_msg(cc_grad_metric_logprobs(m, other, B, T, mc->position, CC_KERNEL_REF, mc->clean, &err) == 0,
                      "%s", err.msg);
        free(other);
    }
}

/* ------------------------------------------------------------ finite differences */

typedef struct {
    cc_hook_kind kind;
    int layer;
    size_t index;
    float delta;
} poke;

static int poke_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)s, (void)err;
    const poke *p = ctx;
    if (kind == p->kind && (layer == p->layer || layer < 0)) act[p->index] += p->delta;
    return 0;
}

/* Signs of every MLP pre-activation of a run (relu models), packed as bytes [L, B, T, m]. */
typedef struct {
    unsigned char *sign;
    size_t n;
} relu_signs;

/* The metric of the reference forward pass with element INDEX of hook (KIND,
 * LAYER) moved by DELTA. With SIGNS (relu models): fills them when empty,
 * else sets *CROSSED when a pre-activation's sign differs from them (the step
 * crossed a kink: the difference is a secant there). */
static double poked_metric(const cc_model *m, const int *tok, const cc_grad_metric *mt, cc_hook_kind kind,
                           int layer, size_t index, double delta, relu_signs *signs, bool *crossed)
{
    const cc_config *c = &m->cfg;
    poke p = {kind, layer, index, (float)delta};
    cc_fwd_opts o = {.kernel = CC_KERNEL_REF, .hook = poke_hook, .hook_ctx = &p};
    cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
    if (signs) cc_fwd_want(&o, CC_HOOK_MLP_PRE, -1);
    cc_fwd_result r;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
    double v;
    ck_assert_msg(cc_grad_metric_eval(m, tok, B, T, mt, cc_fwd_act(&r, CC_HOOK_LOGITS, 0), &v, &err) == 0, "%s",
                  err.msg);
    if (signs) {
        size_t per = (size_t)B * T * c->d_mlp;
        if (!signs->sign) signs->n = per * c->n_layers, signs->sign = malloc(signs->n);
        for (int l = 0; l < c->n_layers; l++)
            for (size_t i = 0; i < per; i++) {
                unsigned char s = cc_fwd_act(&r, CC_HOOK_MLP_PRE, l)[i] > 0;
                if (delta == 0) signs->sign[l * per + i] = s;
                else if (signs->sign[l * per + i] != s) *crossed = true;
            }
    }
    cc_fwd_result_free(&r);
    return v;
}

/* Richardson-extrapolated central difference at element INDEX of hook (KIND,
 * LAYER); *CROSSED is set on a relu model when a step crossed a kink. */
static double finite_difference(const cc_model *m, const int *tok, const cc_grad_metric *mt, cc_hook_kind kind,
                                int layer, size_t index, bool *crossed)
{
    bool relu = m->cfg.act == CC_ACT_RELU && !m->cfg.attn_only;
    relu_signs signs = {0}, *sg = relu ? &signs : NULL;
    double h = relu ? FD_STEP_RELU : FD_STEP, f[4];
    *crossed = false;
    if (relu) poked_metric(m, tok, mt, kind, layer, index, 0, sg, crossed);
    for (int i = 0; i < 4; i++) /* +h, -h, +h/2, -h/2 */
        f[i] = poked_metric(m, tok, mt, kind, layer, index, (i % 2 ? -h : h) / (i < 2 ? 1 : 2), sg, crossed);
    free(signs.sign);
    double d1 = (f[0] - f[1]) / (2 * h), d2 = (f[2] - f[3]) / h;
    return (4 * d2 - d1) / 3;
}

static double max_abs(const float *x, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(x[i]));
    return mx;
}

/* Every hook the shape has, every layer: the reference gradient at its
 * largest element and two others against finite differences. Returns the
 * worst error seen, relative to each tensor's scale. */
static double check_finite_differences(const char *what, const cc_model *m, const int *tok, const metric_case *mc,
                                       const cc_grad_result *g)
{
    const cc_config *c = &m->cfg;
    double worst = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        if (!cc_hook_available(c, (cc_hook_kind)k)) continue;
        for (int l = 0; l < (cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1); l++) {
            char name[64];
            cc_hook_name((cc_hook_kind)k, l, name, sizeof name);
            size_t n = cc_hook_shape(c, (cc_hook_kind)k, B, T).numel;
            const float *grad = cc_grad_of(g, (cc_hook_kind)k, l);
            ck_assert_msg(grad, "%s: no gradient at %s", what, name);
            double scale = max_abs(grad, n);
            size_t top = 0;
            for (size_t i = 0; i < n; i++)
                if (fabs(grad[i]) == scale) top = i;
            size_t picks[3] = {top, (n * 2) / 7, (n * 5) / 9};
            for (int i = 0; i < 3; i++) {
                /* relu: an element whose step crosses a kink is replaced by the next one (at most 16 tried) */
                size_t at = picks[i];
                bool crossed = false;
                double fd = 0;
                for (int tries = 0; tries < 16; tries++, at = (at + 1) % n) {
                    fd = finite_difference(m, tok, &mc->metric, (cc_hook_kind)k, l, at, &crossed);
                    if (!crossed) break;
                }
                ck_assert_msg(!crossed, "%s: %s: every tried element's step crosses a relu kink", what, name);
                double e = fabs(fd - grad[at]) / fmax(scale, 1e-3);
                worst = fmax(worst, e);
                ck_assert_msg(e <= FD_TOL, "%s, %s: %s[%zu]: gradient %.7g, finite difference %.7g (scale %.3g)",
                              what, cc_grad_metric_name(mc->metric.kind), name, at, grad[at], fd, scale);
            }
        }
    }
    return worst;
}

/* ------------------------------------------------------------ fast vs reference */

static void want_every_hook(const cc_config *c, cc_grad_opts *o)
{
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_available(c, (cc_hook_kind)k)) cc_grad_want(o, (cc_hook_kind)k, -1);
}

static void compare_kernels(const char *what, const cc_model *m, const metric_case *mc, const cc_grad_result *ref,
                            const cc_grad_result *fast)
{
    const cc_config *c = &m->cfg;
    ck_assert_msg(fabs(fast->metric - ref->metric) <= METRIC_TOL * fmax(1, fabs(ref->metric)),
                  "%s, %s: metric fast %.9g, reference %.9g", what, cc_grad_metric_name(mc->metric.kind),
                  fast->metric, ref->metric);
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        if (!cc_hook_available(c, (cc_hook_kind)k)) continue;
        for (int l = 0; l < (cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1); l++) {
            char name[64];
            cc_hook_name((cc_hook_kind)k, l, name, sizeof name);
            size_t n = cc_hook_shape(c, (cc_hook_kind)k, B, T).numel;
            const float *a = cc_grad_of(fast, (cc_hook_kind)k, l), *b = cc_grad_of(ref, (cc_hook_kind)k, l);
            double scale = max_abs(b, n), worst = 0;
            for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
            ck_assert_msg(worst <= FAST_TOL * scale, "%s, %s: %s: fast and reference differ by %g (scale %g)", what,
                          cc_grad_metric_name(mc->metric.kind), name, worst, scale);
        }
    }
}

/* The metric cc_backward reports is cc_grad_metric_eval's on the forward pass's logits. */
static void check_metric_value(const char *what, const cc_model *m, const int *tok, const metric_case *mc,
                               const cc_grad_result *g, cc_kernel kernel)
{
    cc_fwd_opts o = {.kernel = kernel};
    cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
    cc_fwd_result r;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
    double v;
    ck_assert(cc_grad_metric_eval(m, tok, B, T, &mc->metric, cc_fwd_act(&r, CC_HOOK_LOGITS, 0), &v, &err) == 0);
    ck_assert_msg(fabs(v - g->metric) <= METRIC_TOL * fmax(1, fabs(v)), "%s: metric %.9g, on the logits %.9g", what,
                  g->metric, v);
    cc_fwd_result_free(&r);
}

static void check_shape(const char *what, const cc_config *c)
{
    for (int weights = 0; weights < 2; weights++) {
        cc_model *m = tu_shape_model(c, weights, 300 + (uint64_t)weights);
        int *tok = tu_shape_tokens(c, B * T, 21);
        for (int kind = 0; kind < CC_GRAD_METRIC_COUNT; kind++) {
            metric_case mc;
            metric_setup(&mc, m, (cc_grad_metric_kind)kind);
            cc_grad_opts o = {.kernel = CC_KERNEL_REF};
            want_every_hook(c, &o);
            cc_grad_result ref, fast;
            cc_error err;
            ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &o, &ref, &err) == 0, "%s: %s", what, err.msg);
            o.kernel = CC_KERNEL_FAST;
            ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &o, &fast, &err) == 0, "%s: %s", what, err.msg);
            char label[96];
            snprintf(label, sizeof label, "%s (norm weights %d)", what, weights);
            check_metric_value(label, m, tok, &mc, &ref, CC_KERNEL_REF);
            check_metric_value(label, m, tok, &mc, &fast, CC_KERNEL_FAST);
            compare_kernels(label, m, &mc, &ref, &fast);
            check_finite_differences(label, m, tok, &mc, &ref);
            ck_assert(ref.peak_bytes > 0);
            cc_grad_result_free(&ref), cc_grad_result_free(&fast);
        }
        free(tok);
        tu_shape_model_free(m);
    }
}

/* ------------------------------------------------------------ the shapes */

/* Every block shape of shape_models.c, one loop iteration (a forked test) each. */
START_TEST(every_block_shape)
{
    const char *name;
    cc_config c = tu_shape_case(_i, &name);
    check_shape(name, &c);
}
END_TEST

/* ------------------------------------------------------------ activations and refusals */

START_TEST(kept_activations_are_the_forward_passes)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 5);
    int *tok = tu_shape_tokens(&c, B * T, 6);
    metric_case mc;
    metric_setup(&mc, m, CC_GRAD_LOGIT_DIFF);
    cc_grad_opts o = {.kernel = CC_KERNEL_FAST, .keep_acts = true};
    cc_grad_want(&o, CC_HOOK_Z, 1), cc_grad_want(&o, CC_HOOK_RESID_PRE, -1), cc_grad_want(&o, CC_HOOK_EMBED, 0);
    cc_fwd_opts fo = {.kernel = CC_KERNEL_FAST};
    cc_fwd_want(&fo, CC_HOOK_Z, 1), cc_fwd_want(&fo, CC_HOOK_RESID_PRE, -1), cc_fwd_want(&fo, CC_HOOK_EMBED, 0);
    cc_grad_result g;
    cc_fwd_result f;
    cc_error err;
    ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &o, &g, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_forward(m, tok, B, T, &fo, &f, &err) == 0, "%s", err.msg);
    struct { cc_hook_kind k; int l; } hooks[] = {{CC_HOOK_Z, 1}, {CC_HOOK_RESID_PRE, 0}, {CC_HOOK_RESID_PRE, 1},
                                                 {CC_HOOK_EMBED, 0}};
    for (size_t i = 0; i < 4; i++) {
        size_t n = cc_hook_shape(&c, hooks[i].k, B, T).numel;
        ck_assert(g.act[hooks[i].k][hooks[i].l] && g.grad[hooks[i].k][hooks[i].l]);
        ck_assert(memcmp(g.act[hooks[i].k][hooks[i].l], cc_fwd_act(&f, hooks[i].k, hooks[i].l), n * sizeof(float)) == 0);
    }
    ck_assert(!g.act[CC_HOOK_Z][0] && !g.grad[CC_HOOK_Z][0] && !g.act[CC_HOOK_PATTERN][1]);
    cc_grad_result_free(&g), cc_fwd_result_free(&f);
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

/* split_inputs: the heads' q, k and v input gradients sum to what attention
 * adds to resid_pre's gradient (resid_pre - resid_mid), and the MLP input's is
 * what the MLP adds (resid_mid - resid_post), in every layer. */
START_TEST(split_inputs_sum_to_the_block_gradients)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 5);
    int *tok = tu_shape_tokens(&c, B * T, 6);
    metric_case mc;
    metric_setup(&mc, m, CC_GRAD_LOGIT_DIFF);
    cc_grad_opts o = {.kernel = CC_KERNEL_FAST, .split_inputs = true};
    cc_hook_kind kinds[] = {CC_HOOK_RESID_PRE, CC_HOOK_RESID_MID, CC_HOOK_RESID_POST};
    for (int i = 0; i < 3; i++) cc_grad_want(&o, kinds[i], -1);
    cc_grad_result g;
    cc_error err;
    ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &o, &g, &err) == 0, "%s", err.msg);
    size_t d = (size_t)c.d_model, R = (size_t)B * T;
    int H = c.n_heads;
    for (int l = 0; l < c.n_layers; l++) {
        const float *pre = g.grad[CC_HOOK_RESID_PRE][l], *mid = g.grad[CC_HOOK_RESID_MID][l];
        const float *post = g.grad[CC_HOOK_RESID_POST][l];
        double scale = 0;
        for (size_t i = 0; i < R * d; i++) scale = fmax(scale, fabs(pre[i]));
        for (size_t r = 0; r < R; r++)
            for (size_t j = 0; j < d; j++) {
                double heads = 0;
                for (int q = 0; q < 3; q++)
                    for (int h = 0; h < H; h++) heads += g.qkv_input[q][l][(r * H + h) * d + j];
                size_t i = r * d + j;
                ck_assert_msg(fabs(heads - (pre[i] - mid[i])) <= 1e-5 * scale, "layer %d row %zu: %g vs %g", l, r,
                              heads, pre[i] - mid[i]);
                ck_assert_msg(fabs(g.mlp_input[l][i] - (mid[i] - post[i])) <= 1e-5 * scale, "layer %d MLP row %zu", l,
                              r);
            }
    }
    cc_grad_result_free(&g);
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

/* The logit difference without the logits' gradient reads only the answer and
 * wrong columns of the unembedding: the same metric and gradients as the pass
 * that wants the logits' gradient (the full [R, V] path), bit for bit with the
 * reference kernel and to float32 rounding with the fast one; a row whose
 * answer is its wrong token has no gradient. */
START_TEST(logit_diff_reads_two_columns_as_the_full_logits_do)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 5);
    int *tok = tu_shape_tokens(&c, B * T, 6);
    metric_case mc;
    metric_setup(&mc, m, CC_GRAD_LOGIT_DIFF);
    for (int same = 0; same < 2; same++) {
        if (same) mc.wrong[1] = mc.answer[1];
        for (int kernel = 0; kernel <= CC_KERNEL_REF; kernel++) {
            cc_grad_opts two = {.kernel = (cc_kernel)kernel}, full = {.kernel = (cc_kernel)kernel};
            cc_grad_want(&two, CC_HOOK_RESID_POST, -1), cc_grad_want(&full, CC_HOOK_RESID_POST, -1);
            cc_grad_want(&full, CC_HOOK_LOGITS, 0);
            cc_grad_result gt, gf;
            cc_error err;
            ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &two, &gt, &err) == 0, "%s", err.msg);
            ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &full, &gf, &err) == 0, "%s", err.msg);
            double tol = kernel == CC_KERNEL_REF ? 0.0 : 1e-6; /* of the metric, of each gradient's scale */
            ck_assert_msg(fabs(gt.metric - gf.metric) <= tol * fmax(1, fabs(gf.metric)), "kernel %d: metric %.9g, %.9g",
                          kernel, gt.metric, gf.metric);
            size_t n = (size_t)T * c.d_model; /* one row of the batch */
            for (int l = 0; l < c.n_layers; l++) {
                const float *a = gt.grad[CC_HOOK_RESID_POST][l], *b = gf.grad[CC_HOOK_RESID_POST][l];
                double scale = max_abs(b, 2 * n), worst = 0;
                ck_assert(scale > 0);
                for (size_t i = 0; i < 2 * n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
                ck_assert_msg(worst <= tol * scale, "kernel %d, layer %d: the two paths differ by %g (scale %g)",
                              kernel, l, worst, scale);
                if (same && l == c.n_layers - 1)
                    ck_assert_msg(max_abs(a + n, n) == 0, "kernel %d: answer = wrong has a gradient", kernel);
            }
            cc_grad_result_free(&gt), cc_grad_result_free(&gf);
        }
    }
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

/* The fast kernel's products run on the library's threads with OpenBLAS held
 * to one (backward_fast.c): the gradients are the same to the bit whatever
 * OpenBLAS' own thread count, on products big enough for OpenBLAS to thread. */
START_TEST(gradients_do_not_depend_on_openblas_threads)
{
    if (cc_par_threads() <= 1) return; /* one core: OpenBLAS is not held, nothing to compare */
    cc_config c = tu_shape_config();
    c.n_heads = 4, c.d_model = 256, c.d_head = 64, c.d_mlp = 1024, c.n_ctx = 64;
    cc_model *m = tu_shape_model(&c, true, 8);
    int Tl = 64, *tok = tu_shape_tokens(&c, B * Tl, 9), answer[B] = {3, 4}, wrong[B] = {11, 12};
    cc_grad_metric mt = {.kind = CC_GRAD_LOGIT_DIFF, .answer = answer, .wrong = wrong};
    cc_grad_opts o = {.kernel = CC_KERNEL_FAST};
    cc_grad_want(&o, CC_HOOK_RESID_PRE, -1), cc_grad_want(&o, CC_HOOK_Q, -1);
    int before = openblas_get_num_threads();
    cc_grad_result g[2];
    cc_error err;
    for (int i = 0; i < 2; i++) {
        openblas_set_num_threads(i ? 2 : 1);
        ck_assert_msg(cc_backward(m, tok, B, Tl, &mt, &o, &g[i], &err) == 0, "%s", err.msg);
    }
    openblas_set_num_threads(before);
    for (int l = 0; l < c.n_layers; l++) {
        ck_assert_msg(memcmp(g[0].grad[CC_HOOK_RESID_PRE][l], g[1].grad[CC_HOOK_RESID_PRE][l],
                             (size_t)B * Tl * c.d_model * sizeof(float)) == 0, "resid_pre %d differs", l);
        ck_assert_msg(memcmp(g[0].grad[CC_HOOK_Q][l], g[1].grad[CC_HOOK_Q][l],
                             (size_t)B * Tl * c.n_heads * c.d_head * sizeof(float)) == 0, "q %d differs", l);
    }
    cc_grad_result_free(&g[0]), cc_grad_result_free(&g[1]);
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

/* embed: the pass at another input embedding is the pass of the tokens whose embedding it is. */
START_TEST(embedding_override_is_another_input)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 5);
    int *tok = tu_shape_tokens(&c, B * T, 6), *other = tu_shape_tokens(&c, B * T, 7);
    size_t d = (size_t)c.d_model;
    float *embed = malloc((size_t)B * T * d * sizeof *embed);
    for (int i = 0; i < B * T; i++) memcpy(embed + i * d, m->w.W_E + (size_t)other[i] * d, d * sizeof *embed);
    metric_case mc;
    metric_setup(&mc, m, CC_GRAD_LOGIT_DIFF);
    cc_grad_opts o = {.kernel = CC_KERNEL_FAST}, oe = {.kernel = CC_KERNEL_FAST, .embed = embed};
    cc_grad_want(&o, CC_HOOK_RESID_PRE, 0), cc_grad_want(&oe, CC_HOOK_RESID_PRE, 0);
    cc_grad_result want, got;
    cc_error err;
    ck_assert_msg(cc_backward(m, other, B, T, &mc.metric, &o, &want, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_backward(m, tok, B, T, &mc.metric, &oe, &got, &err) == 0, "%s", err.msg);
    ck_assert(got.metric == want.metric);
    ck_assert(memcmp(got.grad[CC_HOOK_RESID_PRE][0], want.grad[CC_HOOK_RESID_PRE][0], B * T * d * sizeof(float)) == 0);
    cc_grad_result_free(&want), cc_grad_result_free(&got);
    free(embed), free(tok), free(other);
    tu_shape_model_free(m);
}
END_TEST

START_TEST(refusals_say_why)
{
    cc_config c = tu_shape_config();
    c.parallel = true;
    cc_model *m = tu_shape_model(&c, true, 5);
    int *tok = tu_shape_tokens(&c, B * T, 6);
    metric_case mc;
    metric_setup(&mc, m, CC_GRAD_LOGIT_DIFF);
    cc_grad_opts o = {.kernel = CC_KERNEL_FAST};
    cc_grad_want(&o, CC_HOOK_RESID_MID, 0);
    cc_grad_result g;
    cc_error err;
    ck_assert_int_eq(cc_backward(m, tok, B, T, &mc.metric, &o, &g, &err), -1);
    tu_assert_contains(err.msg, "has no resid_mid");
    o.want[CC_HOOK_RESID_MID] = 0;
    mc.position[1] = T;
    ck_assert_int_eq(cc_backward(m, tok, B, T, &mc.metric, &o, &g, &err), -1);
    tu_assert_contains(err.msg, "metric logit_diff: position 7 of row 1 is outside the sequence (length 7)");
    mc.position[1] = 0, mc.answer[0] = c.d_vocab;
    ck_assert_int_eq(cc_backward(m, tok, B, T, &mc.metric, &o, &g, &err), -1);
    tu_assert_contains(err.msg, "answer token 37 of row 0 is outside the vocabulary");
    cc_grad_metric kl = {.kind = CC_GRAD_KL};
    ck_assert_int_eq(cc_backward(m, tok, B, T, &kl, &o, &g, &err), -1);
    tu_assert_contains(err.msg, "metric kl: the clean log-probabilities");
    cc_grad_metric loss = {.kind = CC_GRAD_LOSS};
    ck_assert_int_eq(cc_backward(m, tok, B, 1, &loss, &o, &g, &err), -1);
    tu_assert_contains(err.msg, "metric loss: needs at least 2 positions");
    cc_grad_result_free(&g);
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backward");
    TCase *tc = tcase_create("shapes");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, every_block_shape, 0, tu_n_shape_cases());
    tcase_add_test(tc, kept_activations_are_the_forward_passes);
    tcase_add_test(tc, split_inputs_sum_to_the_block_gradients);
    tcase_add_test(tc, logit_diff_reads_two_columns_as_the_full_logits_do);
    tcase_add_test(tc, gradients_do_not_depend_on_openblas_threads);
    tcase_add_test(tc, embedding_override_is_another_input);
    tcase_add_test(tc, refusals_say_why);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
