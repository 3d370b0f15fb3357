/* test_attribution.c — attribution patching (circuitc/attribution.h) against
 * activation patching (cc_act_patch):
 *
 *   - on a network where the metric is linear in the patched activation
 *     (one attention-only block, its norms made linear by an epsilon far above
 *     the residual's variance, the matrices that read them scaled back up): hook_attn_out,
 *     and per head z, v and pattern (z is linear in v and in the pattern), the
 *     estimate equals the exact patch up to float32 rounding;
 *   - the same model patched at resid_pre (through the queries' and keys'
 *     softmax) is not linear: the estimate is off there, which the first check
 *     would catch if attribution ignored the hook's place in the network;
 *   - on a model that is not linear, each node's attribution is the derivative
 *     of the metric along the straight path from the corrupted activation to
 *     the clean one, at the corrupted end (finite differences of runs of the
 *     corrupted tokens with the node moved by alpha (clean - corrupt)): the
 *     gradient is the corrupted run's;
 *   - the comparison (Pearson correlation, top nodes) and the refusals;
 *   - the repeated-token mlp_out sweep estimated (cc_attr_mlp_sweep): its
 *     exact top nodes equal cc_patch_mlp_sweep's values there;
 *   - `circuitc attribute` end to end on the bundled fixture: its JSON
 *     (estimates consistent with value and normalized, --verify's exact values
 *     equal to `patch`'s, the sweep's top nodes equal to `patch mlp_out`'s),
 *     the heatmap, refused requests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/attribution.h"
#include "circuitc/experiments.h"
#include "golden.h"
#include "shape_models.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define T 7
#define EXACT_TOL 1e-6 /* |estimate - exact| / largest |exact effect|: float32 rounding of a linear map
                         (worst measured 1.05e-7) */

/* One attention-only block whose norms are linear: (x - mean) / sqrt(var + 1e8)
 * differs from (x - mean) / 1e4 by var / 2e8 relatively (var ~ 10 here). */
static cc_model *linear_model(void)
{
    cc_config c = tu_shape_config();
    c.n_layers = 1, c.attn_only = true, c.d_mlp = 0, c.ln_eps = 1e8;
    cc_model *m = tu_shape_model(&c, false, 11);
    size_t n = (size_t)c.n_heads * c.d_model * c.d_head; /* every matrix reading a norm's output, scaled back up */
    for (size_t i = 0; i < n; i++) m->w.W_Q[i] *= 1e4f, m->w.W_K[i] *= 1e4f, m->w.W_V[i] *= 1e4f;
    for (size_t i = 0; i < (size_t)c.d_model * c.d_vocab; i++) m->w.W_U[i] *= 1e4f;
    return m;
}

static const int CLEAN[T] = {36, 4, 9, 17, 4, 22, 9}, CORRUPT[T] = {36, 4, 30, 17, 5, 22, 9};

/* Largest |estimate - exact effect| over the nodes, relative to the largest |exact effect|. */
static double misfit(const cc_model *m, cc_hook_kind hook, bool per_head, double *largest)
{
    cc_patch_opts o = {.hook = hook, .per_head = per_head, .kernel = CC_KERNEL_REF,
                       .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = 3, .wrong = 8}};
    cc_attr_result a;
    cc_patch_result e;
    cc_error err;
    ck_assert_msg(cc_attr_patch(m, CLEAN, CORRUPT, T, &o, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_act_patch(m, CLEAN, CORRUPT, T, &o, &e, &err) == 0, "%s", err.msg);
    ck_assert(fabs(a.est.clean - e.clean) <= 1e-5 * fmax(1, fabs(e.clean)));
    ck_assert(fabs(a.est.corrupt - e.corrupt) <= 1e-5 * fmax(1, fabs(e.corrupt)));
    size_t N = (size_t)e.n_layers * e.n_pos * e.n_heads;
    double worst = 0;
    *largest = 0;
    for (size_t i = 0; i < N; i++) *largest = fmax(*largest, fabs(e.value[i] - e.corrupt));
    for (size_t i = 0; i < N; i++) worst = fmax(worst, fabs(a.attribution[i] - (e.value[i] - e.corrupt)));
    cc_attr_result_free(&a), cc_patch_result_free(&e);
    return worst / *largest;
}

START_TEST(exact_where_the_metric_is_linear)
{
    cc_model *m = linear_model();
    struct { cc_hook_kind hook; bool per_head; } cases[] = {
        {CC_HOOK_ATTN_OUT, false}, {CC_HOOK_Z, true}, {CC_HOOK_V, true}, {CC_HOOK_PATTERN, true}, {CC_HOOK_Z, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double largest, r = misfit(m, cases[i].hook, cases[i].per_head, &largest);
        ck_assert_msg(largest > 1e-2, "%s: the patches barely move the metric (%g)", cc_patch_hook_name(cases[i].hook),
                      largest);
        ck_assert_msg(r <= EXACT_TOL, "%s (per head %d): estimate and exact patch differ by %g of the largest effect",
                      cc_patch_hook_name(cases[i].hook), cases[i].per_head, r);
    }
    double largest, r = misfit(m, CC_HOOK_RESID_PRE, false, &largest); /* through the softmax: not linear */
    ck_assert_msg(r > 100 * EXACT_TOL, "resid_pre: the estimate is exact (%g), the check cannot tell", r);
    tu_shape_model_free(m);
}
END_TEST

/* Moves node (LAYER, position P, head H) of hook_z by ALPHA (clean - act). */
typedef struct {
    const float *clean; /* [1, T, H, dh] */
    int layer, p, h;
    double alpha;
} path_step;

static int step_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    const path_step *st = ctx;
    if (kind != CC_HOOK_Z || layer != st->layer) return 0;
    size_t at = ((size_t)st->p * s->dim[2] + st->h) * s->dim[3];
    for (int i = 0; i < s->dim[3]; i++) act[at + i] += (float)(st->alpha * (st->clean[at + i] - act[at + i]));
    return 0;
}

static double stepped_metric(const cc_model *m, path_step *st, double alpha)
{
    st->alpha = alpha;
    cc_fwd_opts o = {.kernel = CC_KERNEL_REF, .logprobs = false, .hook = step_hook, .hook_ctx = st};
    cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
    cc_fwd_result r;
    cc_error err;
    ck_assert_msg(cc_forward(m, CORRUPT, 1, T, &o, &r, &err) == 0, "%s", err.msg);
    const float *lg = cc_fwd_act(&r, CC_HOOK_LOGITS, 0) + (size_t)(T - 1) * m->cfg.d_vocab;
    double v = (double)lg[3] - lg[8];
    cc_fwd_result_free(&r);
    return v;
}

START_TEST(the_gradient_is_the_corrupted_runs)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 13);
    cc_patch_opts o = {.hook = CC_HOOK_Z, .per_head = true, .kernel = CC_KERNEL_REF,
                       .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = 3, .wrong = 8}};
    cc_attr_result a;
    cc_error err;
    ck_assert_msg(cc_attr_patch(m, CLEAN, CORRUPT, T, &o, &a, &err) == 0, "%s", err.msg);
    cc_fwd_opts fo = {.kernel = CC_KERNEL_REF};
    cc_fwd_want(&fo, CC_HOOK_Z, -1);
    cc_fwd_result clean;
    ck_assert(cc_forward(m, CLEAN, 1, T, &fo, &clean, &err) == 0);
    double largest = 0;
    size_t N = (size_t)c.n_layers * T * c.n_heads;
    for (size_t i = 0; i < N; i++) largest = fmax(largest, fabs(a.attribution[i]));
    for (int l = 0; l < c.n_layers; l++)
        for (int p = 2; p < T; p += 2) /* positions where the prompts differ or follow a difference */
            for (int h = 0; h < c.n_heads; h += 3) {
                path_step st = {cc_fwd_act(&clean, CC_HOOK_Z, l), l, p, h, 0};
                double eps = 1e-2, d = (stepped_metric(m, &st, eps) - stepped_metric(m, &st, -eps)) / (2 * eps);
                double got = a.attribution[((size_t)l * T + p) * c.n_heads + h];
                ck_assert_msg(fabs(got - d) <= 1e-3 * largest, "z L%d P%d H%d: attribution %.7g, derivative at the "
                              "corrupted end %.7g", l, p, h, got, d);
            }
    cc_fwd_result_free(&clean), cc_attr_result_free(&a);
    tu_shape_model_free(m);
}
END_TEST

START_TEST(comparison_and_refusals)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 12);
    cc_patch_opts o = {.hook = CC_HOOK_Z, .per_head = true, .kernel = CC_KERNEL_FAST,
                       .metric = {.kind = CC_METRIC_LOSS}};
    cc_attr_result a;
    cc_patch_result e;
    cc_error err;
    ck_assert_msg(cc_attr_patch(m, CLEAN, CORRUPT, T, &o, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_act_patch(m, CLEAN, CORRUPT, T, &o, &e, &err) == 0, "%s", err.msg);
    int top[5], n;
    double corr;
    ck_assert(cc_attr_compare(&a, &e, 5, top, &n, &corr, &err) == 0);
    ck_assert_int_eq(n, 5);
    for (int i = 1; i < n; i++) ck_assert(fabs(a.attribution[top[i - 1]]) >= fabs(a.attribution[top[i]]));
    size_t N = (size_t)e.n_layers * e.n_pos * e.n_heads;
    for (size_t i = 0; i < N; i++) ck_assert(fabs(a.attribution[i]) <= fabs(a.attribution[top[4]]) || (int)i == top[0]
                                             || (int)i == top[1] || (int)i == top[2] || (int)i == top[3] ||
                                             (int)i == top[4]);
    ck_assert_msg(corr > 0.5 && corr < 1, "correlation %g", corr);
    cc_patch_result_free(&e);
    o.per_head = false;
    ck_assert_msg(cc_act_patch(m, CLEAN, CORRUPT, T, &o, &e, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cc_attr_compare(&a, &e, 5, top, &n, &corr, &err), -1);
    tu_assert_contains(err.msg, "attribution compare: the exact patching is [2, 7, 1], the attribution [2, 7, 4]");
    cc_patch_result_free(&e), cc_attr_result_free(&a);
    tu_shape_model_free(m);
}
END_TEST

/* --verify K's exact patches: cc_act_patch_nodes runs only the asked nodes
 * (every other is NAN, and fewer patches are run than cc_act_patch runs), each
 * equal to cc_act_patch's value there; a node outside the layout is refused. */
START_TEST(exact_patching_of_the_top_nodes_only)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 12);
    cc_patch_opts o = {.hook = CC_HOOK_Z, .per_head = true, .kernel = CC_KERNEL_REF,
                       .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = 3, .wrong = 8}};
    cc_attr_result a;
    cc_patch_result all, some;
    cc_error err;
    int top[5], n;
    ck_assert_msg(cc_attr_patch(m, CLEAN, CORRUPT, T, &o, &a, &err) == 0, "%s", err.msg);
    ck_assert(cc_attr_top(&a, 5, top, &n, &err) == 0);
    ck_assert_int_eq(n, 5);
    for (int i = 1; i < n; i++) ck_assert(fabs(a.attribution[top[i - 1]]) >= fabs(a.attribution[top[i]]));
    ck_assert_msg(cc_act_patch(m, CLEAN, CORRUPT, T, &o, &all, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_act_patch_nodes(m, CLEAN, CORRUPT, T, &o, top, n, &some, &err) == 0, "%s", err.msg);
    ck_assert(some.clean == all.clean && some.corrupt == all.corrupt);
    ck_assert_int_eq(some.n_layers * some.n_pos * some.n_heads, all.n_layers * all.n_pos * all.n_heads);
    size_t N = (size_t)all.n_layers * all.n_pos * all.n_heads, asked = 0;
    for (size_t i = 0; i < N; i++) {
        bool in_top = false;
        for (int t = 0; t < n; t++) in_top |= top[t] == (int)i;
        asked += in_top;
        if (in_top) ck_assert_msg(some.value[i] == all.value[i], "node %zu: %.9g, patch %.9g", i, some.value[i], all.value[i]);
        else ck_assert_msg(isnan(some.value[i]), "node %zu was patched: %g", i, some.value[i]);
    }
    ck_assert_uint_eq(asked, 5);
    int outside = (int)N;
    cc_patch_result_free(&some);
    ck_assert_int_eq(cc_act_patch_nodes(m, CLEAN, CORRUPT, T, &o, &outside, 1, &some, &err), -1);
    tu_assert_contains(err.msg, "patching: node 56 is not in the 56 nodes [2 layers, 7 positions, 4 heads]");
    cc_patch_result_free(&all), cc_attr_result_free(&a);
    tu_shape_model_free(m);
}
END_TEST

/* cc_attr_patch refuses exactly what cc_act_patch refuses, with its message:
 * the source shift, the metric's token ids and loss range, the positions, per
 * head, the hook. */
START_TEST(refuses_what_patching_refuses)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 12);
    const cc_patch_opts ok = {.hook = CC_HOOK_RESID_PRE, .kernel = CC_KERNEL_REF,
                              .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = 3, .wrong = 8}};
    struct {
        const char *what;
        cc_patch_opts o;
    } bad[] = {{"source shift past the end", ok}, {"source shift before 0", ok}, {"answer outside the vocabulary", ok},
               {"negative wrong token", ok},      {"empty loss range", ok},      {"loss range past the end", ok},
               {"positions [3, 0)", ok},          {"per head without heads", ok}, {"unpatchable hook", ok}};
    bad[0].o.pos_lo = 2, bad[0].o.pos_hi = T, bad[0].o.src_shift = 1;
    bad[1].o.pos_lo = 2, bad[1].o.pos_hi = T, bad[1].o.src_shift = -3;
    bad[2].o.metric.answer = c.d_vocab;
    bad[3].o.metric.wrong = -1;
    bad[4].o.metric = (cc_metric){.kind = CC_METRIC_LOSS, .loss_lo = 3, .loss_hi = 2};
    bad[5].o.metric = (cc_metric){.kind = CC_METRIC_LOSS, .loss_lo = 0, .loss_hi = T};
    bad[6].o.pos_lo = 3;
    bad[7].o.per_head = true;
    bad[8].o.hook = CC_HOOK_MLP_PRE;
    cc_attr_result a;
    cc_patch_result e;
    cc_error err, aerr;
    char report[4096] = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(cc_act_patch(m, CLEAN, CORRUPT, T, &bad[i].o, &e, &err) == -1, "%s: patching accepted it",
                      bad[i].what);
        char want[sizeof err.msg + 16];
        snprintf(want, sizeof want, "attribution: %s", err.msg);
        int rc = cc_attr_patch(m, CLEAN, CORRUPT, T, &bad[i].o, &a, &aerr);
        if (rc == 0) cc_attr_result_free(&a);
        if (rc != -1 || strcmp(aerr.msg, want) != 0) /* every case reported, not only the first */
            snprintf(report + strlen(report), sizeof report - strlen(report), "\n%s: attribution %s (\"%s\")",
                     bad[i].what, rc == 0 ? "accepted it" : "said", rc == 0 ? want : aerr.msg);
    }
    ck_assert_msg(report[0] == 0, "attribution and patching differ:%s", report);
    ck_assert_msg(cc_attr_patch(m, CLEAN, CORRUPT, T, &ok, &a, &err) == 0, "%s", err.msg);
    cc_attr_result_free(&a);
    tu_shape_model_free(m);
}
END_TEST

START_TEST(mlp_sweep_top_nodes_are_exact)
{
    cc_config c = tu_shape_config();
    cc_model *m = tu_shape_model(&c, true, 14);
    int n = 5, tok[11];
    cc_error err;
    ck_assert(cc_repeat_tokens(&c, 3, 1, n, tok, &err) == 0);
    cc_attr_sweep a;
    cc_patch_sweep e;
    ck_assert_msg(cc_attr_mlp_sweep(m, tok, n, 6, CC_KERNEL_REF, 0, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_patch_mlp_sweep(m, tok, n, true, CC_KERNEL_REF, 0, NULL, NULL, &e, &err) == 0, "%s", err.msg);
    ck_assert(fabs(a.clean_loss - e.clean_loss) <= 1e-6 * fmax(1, e.clean_loss));
    ck_assert_int_eq(a.n_top, 6);
    double largest = 0;
    for (int i = 0; i < c.n_layers * (n + 1); i++) largest = fmax(largest, fabs(e.delta[i]));
    for (int i = 0; i < a.n_top; i++) {
        ck_assert(i == 0 || fabs(a.estimate[a.top[i - 1]]) >= fabs(a.estimate[a.top[i]]));
        ck_assert_msg(fabs(a.top_exact[i] - e.delta[a.top[i]]) <= 1e-6 * largest, "node %d: %.9g, patch %.9g",
                      a.top[i], a.top_exact[i], e.delta[a.top[i]]);
    }
    ck_assert(a.peak_bytes > 0);
    cc_attr_sweep_free(&a), cc_patch_sweep_free(&e);
    c.attn_only = true;
    cc_model *ao = tu_shape_model(&c, true, 14);
    ck_assert_int_eq(cc_attr_mlp_sweep(ao, tok, n, 1, CC_KERNEL_REF, 0, &a, &err), -1);
    tu_assert_contains(err.msg, "the mlp_out sweep needs MLPs");
    tu_shape_model_free(ao), tu_shape_model_free(m);
}
END_TEST

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})
#define FX_CLEAN "511,10,20,30,40,50,10"
#define FX_CORRUPT "511,10,20,30,40,60,70"

/* Element [l][p][h] of a [layer][position][head] JSON array. */
static double at3(json_t *a, int l, int p, int h)
{
    return json_number_value(json_array_get(json_array_get(json_array_get(a, (size_t)l), (size_t)p), (size_t)h));
}

START_TEST(cli_attribute)
{
    char *fx = golden_path("models/induction-3l4h");
    tu_run_result r = RUN("attribute", "z", "--per-head", "--model", fx, "--clean-tokens", FX_CLEAN,
                          "--corrupt-tokens", FX_CORRUPT, "--answer", "#20", "--wrong", "#99", "--verify", "4", "--json");
    json_t *j = tu_parse_ok(&r);
    tu_run_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "attribution");
    ck_assert_str_eq(json_string_value(json_object_get(j, "gradient_run")), "corrupt");
    double clean = json_number_value(json_object_get(j, "clean")), corrupt = json_number_value(json_object_get(j, "corrupt"));
    json_t *attr = json_object_get(j, "attribution"), *val = json_object_get(j, "value"), *ver = json_object_get(j, "verify");
    ck_assert_int_eq(json_array_size(attr), 3);
    for (int l = 0; l < 3; l++)
        for (int p = 0; p < 7; p++)
            for (int h = 0; h < 4; h++)
                ck_assert(fabs(at3(val, l, p, h) - corrupt - at3(attr, l, p, h)) < 1e-6 * fmax(1, fabs(clean)));
    ck_assert_int_eq(json_array_size(json_object_get(ver, "top")), 4);
    ck_assert(json_is_false(json_object_get(ver, "all")));
    ck_assert(json_is_null(json_object_get(ver, "correlation")) && json_is_null(json_object_get(ver, "exact_value")));
    ck_assert(json_integer_value(json_object_get(j, "peak_bytes")) > 0);
    tu_run_result p = RUN("patch", "z", "--per-head", "--model", fx, "--clean-tokens", FX_CLEAN, "--corrupt-tokens",
                          FX_CORRUPT, "--answer", "#20", "--wrong", "#99", "--json");
    json_t *pj = tu_parse_ok(&p);
    tu_run_free(&p);
    json_t *pv = json_object_get(pj, "value");
    double pcorrupt = json_number_value(json_object_get(pj, "corrupt"));
    /* the K exact values are patch's, to float32 rounding: their resumed passes stack other rows with them */
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_array_get(json_object_get(ver, "top"), i);
        int l = (int)json_integer_value(json_object_get(t, "layer")), q = (int)json_integer_value(json_object_get(t, "position"));
        int h = (int)json_integer_value(json_object_get(t, "head"));
        ck_assert(fabs(json_number_value(json_object_get(t, "exact")) - (at3(pv, l, q, h) - pcorrupt)) < 1e-6 * fabs(clean));
    }
    json_decref(j);
    r = RUN("attribute", "z", "--per-head", "--model", fx, "--clean-tokens", FX_CLEAN, "--corrupt-tokens", FX_CORRUPT,
            "--answer", "#20", "--wrong", "#99", "--verify", "all", "--top", "3", "--json");
    j = tu_parse_ok(&r);
    tu_run_free(&r);
    ver = json_object_get(j, "verify");
    ck_assert(json_is_true(json_object_get(ver, "all")));
    ck_assert_int_eq(json_array_size(json_object_get(ver, "top")), 3);
    ck_assert(json_number_value(json_object_get(ver, "correlation")) > 0.9);
    json_t *exact = json_object_get(ver, "exact_value");
    for (int l = 0; l < 3; l++)
        for (int q = 0; q < 7; q++)
            for (int h = 0; h < 4; h++) ck_assert(at3(exact, l, q, h) == at3(pv, l, q, h));
    json_decref(j), json_decref(pj);
    tu_expect_fail(RUN("attribute", "z", "--model", fx, "--clean-tokens", FX_CLEAN, "--corrupt-tokens", FX_CORRUPT,
                       "--verify", "some"), 2, "--verify takes a count K from 0 to 1000000 or \"all\", got \"some\"");
    char *dir = tu_tmpdir(), png[4096];
    snprintf(png, sizeof png, "%s/attr.png", dir);
    r = RUN("attribute", "resid_pre", "--model", fx, "--clean-tokens", FX_CLEAN, "--corrupt-tokens", FX_CORRUPT,
            "--answer", "#20", "--wrong", "#99", "--plot", png);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "gradient of the corrupted run");
    size_t len;
    free(tu_read_file(png, &len));
    ck_assert(len > 1000);
    tu_run_free(&r);
    tu_expect_fail(RUN("attribute", "resid_pre", "--model", fx), 2, "attributing resid_pre needs a prompt pair");
    tu_expect_fail(RUN("attribute", "mlp_out", "--model", fx, "--answer", "#20"), 2, "--answer needs a prompt pair");
    tu_expect_fail(RUN("attribute", "resid_pre", "--per-head", "--model", fx, "--clean-tokens", FX_CLEAN,
                       "--corrupt-tokens", FX_CORRUPT), 2, "--per-head: resid_pre has no heads");
    r = RUN("attribute", "mlp_out", "--model", fx, "--seq-len", "6", "--verify", "3", "--json");
    j = tu_parse_ok(&r);
    tu_run_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "gradient_run")), "unpatched");
    p = RUN("patch", "mlp_out", "--model", fx, "--seq-len", "6", "--json");
    pj = tu_parse_ok(&p);
    tu_run_free(&p);
    json_t *top = json_object_get(json_object_get(j, "verify"), "top"), *delta = json_object_get(pj, "delta");
    ck_assert_int_eq(json_array_size(top), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *t = json_array_get(top, i);
        int l = (int)json_integer_value(json_object_get(t, "layer")), q = (int)json_integer_value(json_object_get(t, "position"));
        double want = json_number_value(json_array_get(json_array_get(delta, (size_t)l), (size_t)(q - 6)));
        ck_assert_msg(fabs(json_number_value(json_object_get(t, "exact")) - want) < 1e-4, "L%d P%d", l, q);
    }
    json_decref(j);
    r = RUN("attribute", "mlp_out", "--model", fx, "--seq-len", "6", "--verify", "all", "--json");
    j = tu_parse_ok(&r);
    tu_run_free(&r);
    json_t *ex = json_object_get(json_object_get(j, "verify"), "exact");
    ck_assert(json_number_value(json_object_get(json_object_get(j, "verify"), "correlation")) > 0.5);
    for (int l = 0; l < 3; l++)
        for (int q = 0; q <= 6; q++) {
            double got = json_number_value(json_array_get(json_array_get(ex, (size_t)l), (size_t)q));
            double want = json_number_value(json_array_get(json_array_get(delta, (size_t)l), (size_t)q));
            ck_assert_msg(fabs(got - want) < 1e-4, "L%d P%d: %g, patch %g", l, q + 6, got, want);
        }
    json_decref(j), json_decref(pj);
    tu_rmtree(dir);
    free(dir), free(fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attribution");
    TCase *tc = tcase_create("attribution");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exact_where_the_metric_is_linear);
    tcase_add_test(tc, the_gradient_is_the_corrupted_runs);
    tcase_add_test(tc, comparison_and_refusals);
    tcase_add_test(tc, refuses_what_patching_refuses);
    tcase_add_test(tc, exact_patching_of_the_top_nodes_only);
    tcase_add_test(tc, mlp_sweep_top_nodes_are_exact);
    tcase_add_test(tc, cli_attribute);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
