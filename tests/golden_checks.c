/* golden_checks.c — parity checks shared by the parity suites (golden_checks.h). */
#include "golden_checks.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/composition.h"
#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "circuitc/measure.h"
#include "circuitc/patching.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

int *golden_tokens(const char *model, int *B, int *n)
{
    json_t *j = golden_load(model, "tokens.json");
    golden_tensor t = golden_get_tensor(j, "tokens");
    *B = (int)golden_number(j, "batch"), *n = (int)golden_number(j, "n");
    ck_assert(t.ndim == 2 && t.shape[0] == *B && t.shape[1] == 1 + 2 * *n);
    int *tok = malloc(t.n * sizeof *tok);
    for (size_t i = 0; i < t.n; i++) tok[i] = (int)t.data[i];
    golden_tensor_free(&t);
    json_decref(j);
    return tok;
}

void golden_check_near(double got, double want, golden_tol tol, const char *what, long idx)
{
    ck_assert_msg(golden_near(tol, got, want), "%s[%ld]: got %.9g, golden %.9g (|diff| %.3g > %.3g, tolerance class %s)",
                  what, idx, got, want, fabs(got - want), golden_allowed(tol, fabs(want)), tol.name);
}

/* ---- forward ------------------------------------------------------------ */

/* The golden "fixed" sequence: its logits and loss. */
static void check_fixed(const cc_model *m, json_t *fx, const cc_fwd_opts *o, golden_tol logits, golden_tol logprobs)
{
    json_t *ft = json_object_get(fx, "tokens");
    int nf = (int)json_array_size(ft);
    int *ftok = malloc((size_t)nf * sizeof *ftok);
    for (int i = 0; i < nf; i++) ftok[i] = (int)json_integer_value(json_array_get(ft, (size_t)i));
    cc_fwd_result r;
    cc_error err;
    ck_assert_msg(cc_forward(m, ftok, 1, nf, o, &r, &err) == 0, "%s", err.msg);
    golden_tensor fl = golden_get_tensor(fx, "logits");
    const float *lg = cc_fwd_act(&r, CC_HOOK_LOGITS, 0);
    for (size_t i = 0; i < fl.n; i++) golden_check_near(lg[i], fl.data[i], logits, "fixed.logits", (long)i);
    double ce = 0;
    for (int i = 0; i < nf - 1; i++) ce -= r.logprob[i];
    golden_check_near(ce / (nf - 1), golden_number(fx, "loss"), logprobs, "fixed.loss", 0);
    golden_tensor_free(&fl);
    free(ftok);
    cc_fwd_result_free(&r);
}

void golden_check_forward(const cc_model *m, const char *model, const char *file)
{
    int B, n, T, V = m->cfg.d_vocab;
    int *tok = golden_tokens(model, &B, &n);
    T = 1 + 2 * n;
    json_t *g = golden_load(model, file);
    golden_tol logits = golden_tolerance("logits", "value"), logprobs = golden_tolerance("logprobs", "value"),
               accuracy = golden_tolerance("accuracy", "value");
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern, .logprobs = true};
        cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
        const float *lg = cc_fwd_act(&r, CC_HOOK_LOGITS, 0); /* [B, T, V] */
        if (json_object_get(g, "logits_seq0")) {
            golden_tensor l0 = golden_get_tensor(g, "logits_seq0");
            ck_assert(l0.n == (size_t)T * V);
            for (size_t i = 0; i < l0.n; i++) golden_check_near(lg[i], l0.data[i], logits, "logits_seq0", (long)i);
            golden_tensor_free(&l0);
        }
        json_t *smp = json_object_get(g, "logits_sample");
        json_t *idx = json_object_get(smp, "index"), *val = json_object_get(smp, "value");
        ck_assert_int_gt(json_array_size(idx), 0);
        for (size_t k = 0; k < json_array_size(idx); k++) {
            json_t *e = json_array_get(idx, k);
            size_t b = json_integer_value(json_array_get(e, 0)), t = json_integer_value(json_array_get(e, 1)),
                   v = json_integer_value(json_array_get(e, 2));
            golden_check_near(lg[(b * T + t) * V + v], json_number_value(json_array_get(val, k)), logits,
                              "logits_sample", (long)k);
        }
        golden_tensor lp = golden_get_tensor(g, "correct_logprobs");
        ck_assert(lp.n == (size_t)B * 2 * n);
        for (size_t i = 0; i < lp.n; i++) golden_check_near(r.logprob[i], lp.data[i], logprobs, "correct_logprobs", (long)i);
        golden_tensor_free(&lp);
        golden_tensor am = golden_get_tensor(g, "argmax");
        for (size_t i = 0; i < am.n; i++) ck_assert_msg(r.argmax[i] == (int)am.data[i], "argmax[%zu]", i);
        golden_tensor_free(&am);
        cc_repeat_stats s;
        ck_assert(cc_repeat_stats_from(&r, tok, n, &s, &err) == 0);
        golden_check_near(s.first_mean, golden_number(g, "first_half_mean_logprob"), logprobs, "first_half_mean_logprob", 0);
        golden_check_near(s.second_mean, golden_number(g, "second_half_mean_logprob"), logprobs,
                          "second_half_mean_logprob", 0);
        golden_check_near(s.first_acc, golden_number(g, "first_half_accuracy"), accuracy, "first_half_accuracy", 0);
        golden_check_near(s.second_acc, golden_number(g, "second_half_accuracy"), accuracy, "second_half_accuracy", 0);
        golden_check_near(s.loss, golden_number(g, "loss"), logprobs, "loss", 0);
        golden_tensor ls = golden_get_tensor(g, "loss_per_seq");
        for (int b = 0; b < B; b++) golden_check_near(s.loss_per_seq[b], ls.data[b], logprobs, "loss_per_seq", b);
        golden_tensor_free(&ls);
        cc_repeat_stats_free(&s);
        cc_fwd_result_free(&r);
        json_t *fx = json_object_get(g, "fixed");
        if (fx) check_fixed(m, fx, &o, logits, logprobs);
    }
    json_decref(g);
    free(tok);
}

/* ---- head scores and patterns --------------------------------------------- */

static void check_scores(const double *got, json_t *obj, const char *key, int L, int H, const char *what)
{
    golden_tensor t = golden_get_tensor(obj, key);
    ck_assert(t.n == (size_t)L * H);
    golden_tol attention = golden_tolerance("attention", "value");
    for (int i = 0; i < L * H; i++) golden_check_near(got[i], t.data[i], attention, what, i);
    golden_tensor_free(&t);
}

static void check_patterns(const cc_model *m, const char *model, const int *tok, int T)
{
    json_t *g = golden_load(model, "patterns.json");
    golden_tol attention = golden_tolerance("attention", "value");
    cc_fwd_opts o = {.skip_unembed = true};
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    cc_fwd_result r;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, 1, T, &o, &r, &err) == 0, "%s", err.msg);
    const char *key;
    json_t *hv;
    json_object_foreach(json_object_get(g, "heads"), key, hv)
    {
        json_t *hd = json_object_get(hv, "head");
        int l = (int)json_integer_value(json_array_get(hd, 0)), h = (int)json_integer_value(json_array_get(hd, 1));
        golden_tensor p = golden_get_tensor(hv, "pattern");
        const float *P = cc_fwd_act(&r, CC_HOOK_PATTERN, l) + (size_t)h * T * T;
        for (size_t i = 0; i < p.n; i++) golden_check_near(P[i], p.data[i], attention, key, (long)i);
        golden_tensor_free(&p);
    }
    cc_fwd_result_free(&r);
    json_decref(g);
}

void golden_check_head_scores(const cc_model *m, const char *model)
{
    int B, n, L = m->cfg.n_layers, H = m->cfg.n_heads;
    int *tok = golden_tokens(model, &B, &n);
    json_t *g = golden_load(model, "head_scores.json");
    cc_head_scores s;
    cc_error err;
    ck_assert_msg(cc_head_scores_run(m, tok, B, n, CC_KERNEL_FAST, 0, NULL, NULL, &s, &err) == 0, "%s", err.msg);
    for (int k = 0; k < CC_SCORE_COUNT; k++)
        check_scores(s.diag[k], g, cc_score_name((cc_score_kind)k), L, H, cc_score_name((cc_score_kind)k));
    static const char *const variant[4] = {"default", "exclude_bos", "exclude_current_token", "exclude_both"};
    json_t *det = json_object_get(g, "detect_head");
    for (int k = 0; k < CC_DETECT_COUNT; k++) {
        json_t *dk = json_object_get(det, cc_detect_name((cc_detect_kind)k));
        ck_assert(dk != NULL);
        for (int v = 0; v < 4; v++) {
            char what[96];
            snprintf(what, sizeof what, "detect_head.%s.%s", cc_detect_name((cc_detect_kind)k), variant[v]);
            check_scores(s.detect[k][v], dk, variant[v], L, H, what);
        }
    }
    cc_head_scores_free(&s);
    json_decref(g);
    check_patterns(m, model, tok, 1 + 2 * n);
    free(tok);
}

/* ---- factored circuits ------------------------------------------------------ */

static cc_fm compile(const cc_model *m, const char *circuit, const char *const *names, const cc_head *heads, int n)
{
    cc_circuit *c;
    cc_error err;
    ck_assert_msg(cc_circuit_open(circuit, &c, &err) == 0, "%s", err.msg);
    cc_fm fm;
    ck_assert_msg(cc_circuit_compile(c, m, names, heads, n, &fm, NULL, &err) == 0, "%s", err.msg);
    cc_circuit_free(c);
    return fm;
}

/* Top-1 and top-5 counts of FM's rows (one direction: the OV and QK goldens). */
static void row_counts(const cc_fm *fm, long *top1, long *top5)
{
    cc_error err;
    cc_topk_options o = {.k_max = 5, .method = CC_TOPK_FAST};
    cc_topk_result r;
    ck_assert_msg(cc_topk_diagonal(fm, &o, &r, &err) == 0, "%s", err.msg);
    *top1 = r.correct[0];
    *top5 = r.correct[4];
}

static cc_head head_of(json_t *pair)
{
    return (cc_head){(int)json_integer_value(json_array_get(pair, 0)), (int)json_integer_value(json_array_get(pair, 1))};
}

void golden_check_kcomp(const cc_model *m, json_t *factored, size_t brute_pairs)
{
    json_t *list = json_object_get(factored, "kcomp"), *e;
    size_t i;
    ck_assert_int_gt(json_array_size(list), 0);
    json_array_foreach(list, i, e) {
        cc_head heads[2] = {head_of(json_object_get(e, "prev")), head_of(json_object_get(e, "ind"))};
        const char *names[2] = {"prev", "ind"};
        cc_fm fm = compile(m, "kcomp", names, heads, 2);
        for (int method = 0; method < (i < brute_pairs ? 2 : 1); method++) {
            cc_measure_options o = {.k_max = 5, .ranks = CC_RANKS_NEVER,
                                    .method = method == 0 ? CC_TOPK_FAST : CC_TOPK_BRUTE};
            cc_circuit_measurement r;
            cc_error err;
            ck_assert_msg(cc_circuit_measure(NULL, &fm, &o, &r, &err) == 0, "%s", err.msg);
            long r1 = r.rows.correct[0], r5 = r.rows.correct[4], c1 = r.cols.correct[0], c5 = r.cols.correct[4];
            cc_circuit_measurement_free(&r);
            ck_assert_msg(r1 == json_integer_value(json_object_get(e, "top1_rows")) &&
                              r5 == json_integer_value(json_object_get(e, "top5_rows")) &&
                              c1 == json_integer_value(json_object_get(e, "top1_cols")) &&
                              c5 == json_integer_value(json_object_get(e, "top5_cols")),
                          "kcomp L%dH%d->L%dH%d (%s): rows %ld/%ld cols %ld/%ld vs golden %lld/%lld %lld/%lld",
                          heads[0].layer, heads[0].head, heads[1].layer, heads[1].head, method ? "brute" : "fast", r1,
                          r5, c1, c5, json_integer_value(json_object_get(e, "top1_rows")),
                          json_integer_value(json_object_get(e, "top5_rows")),
                          json_integer_value(json_object_get(e, "top1_cols")),
                          json_integer_value(json_object_get(e, "top5_cols")));
        }
        cc_fm_free(&fm);
    }
}

/* Compiles CIRCUIT ("ov" or "qk") of head HD and checks its row top-1 (and, when
 * WANT5 >= 0, top-5) count. */
static void check_head_counts(const cc_model *m, const char *circuit, cc_head hd, long want1, long want5)
{
    const char *name = "head";
    long t1, t5;
    cc_fm fm = compile(m, circuit, &name, &hd, 1);
    row_counts(&fm, &t1, &t5);
    ck_assert_msg(t1 == want1 && (want5 < 0 || t5 == want5), "%s L%dH%d: top-1 %ld top-5 %ld, golden %ld %ld", circuit,
                  hd.layer, hd.head, t1, t5, want1, want5);
    cc_fm_free(&fm);
}

void golden_check_ov_qk(const cc_model *m, json_t *factored)
{
    json_t *ov = json_object_get(factored, "ov"), *qk = json_object_get(factored, "qk"), *e;
    json_t *heads = json_object_get(ov, "heads");
    if (heads) { /* a list of heads, OV only */
        size_t i;
        json_array_foreach(heads, i, e)
            check_head_counts(m, "ov", head_of(e), (long)json_integer_value(json_array_get(json_object_get(ov, "top1"), i)),
                              (long)json_integer_value(json_array_get(json_object_get(ov, "top5"), i)));
        return;
    }
    golden_tensor ov1 = golden_get_tensor(ov, "top1"), ov5 = golden_get_tensor(ov, "top5"),
                  qk1 = golden_get_tensor(qk, "top1");
    ck_assert(ov1.n == (size_t)m->cfg.n_layers * m->cfg.n_heads && ov5.n == ov1.n && qk1.n == ov1.n);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int h = 0; h < m->cfg.n_heads; h++) {
            size_t idx = (size_t)l * m->cfg.n_heads + h;
            check_head_counts(m, "ov", (cc_head){l, h}, (long)ov1.data[idx], (long)ov5.data[idx]);
            check_head_counts(m, "qk", (cc_head){l, h}, (long)qk1.data[idx], -1);
        }
    golden_tensor_free(&ov1), golden_tensor_free(&ov5), golden_tensor_free(&qk1);
}

void golden_check_composition_scores(const cc_model *m, json_t *factored, const char *model)
{
    json_t *cs = json_object_get(factored, "composition_scores");
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    double *s = malloc((size_t)n * n * sizeof *s), worst = 0;
    golden_tol tol = golden_tolerance("composition_scores", "value");
    static const char *const modes[] = {"q", "k", "v"};
    int checked = 0;
    for (int mode = 0; mode < 3; mode++) {
        if (!json_object_get(cs, modes[mode])) continue;
        golden_tensor g = golden_get_tensor(cs, modes[mode]);
        ck_assert(g.ndim == 4 && g.shape[0] == L && g.shape[1] == H && g.shape[2] == L && g.shape[3] == H);
        cc_error err;
        ck_assert_msg(cc_composition_scores(m, (cc_comp_mode)mode, s, &err) == 0, "%s", err.msg);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                double want = g.data[(size_t)a * n + b], got = s[(size_t)a * n + b];
                if (a / H >= b / H) {
                    ck_assert_msg(want == 0.0 && got == 0.0, "%s: masked entry [%d,%d,%d,%d] is %g (TL %g)",
                                  modes[mode], a / H, a % H, b / H, b % H, got, want);
                    continue;
                }
                double rel = fabs(got - want) / fabs(want);
                if (rel > worst) worst = rel;
                ck_assert_msg(golden_near(tol, got, want),
                              "%s %s-composition [%d,%d,%d,%d]: %.9g, TransformerLens %.9g (rel %.2g)", model,
                              modes[mode], a / H, a % H, b / H, b % H, got, want, rel);
            }
        golden_tensor_free(&g);
        checked++;
    }
    ck_assert_msg(checked > 0, "%s factored.json: no composition scores", model);
    fprintf(stderr, "%s composition scores: worst relative difference %.3g\n", model, worst);
    free(s);
}

/* ---- activation patching ------------------------------------------------------ */

static int *int_list(json_t *obj, const char *key, int *n)
{
    json_t *a = json_object_get(obj, key);
    ck_assert_msg(json_is_array(a), "golden key %s is not a list", key);
    *n = (int)json_array_size(a);
    int *v = malloc((size_t)*n * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* The options that give the TransformerLens result KEY ("resid_pre",
 * "z_by_pos", "pattern_all_pos", ...). */
static cc_patch_opts opts_for(const char *key)
{
    char hook[32];
    snprintf(hook, sizeof hook, "%s", key);
    char *suffix = strstr(hook, "_by_pos");
    if (!suffix) suffix = strstr(hook, "_all_pos");
    cc_patch_opts o = {.kernel = CC_KERNEL_FAST};
    if (suffix) {
        o.per_head = true, o.all_positions = strcmp(suffix, "_all_pos") == 0;
        *suffix = '\0';
    }
    cc_error err;
    ck_assert_msg(cc_patch_hook_parse(hook, &o.hook, &err) == 0, "%s", err.msg);
    return o;
}

/* The index of golden entry ROW (values along AXES: "layer", "pos" or
 * "dest_pos", "head" or "head_index") in circuitc's [layer][position][head]. */
static size_t result_index(const cc_patch_result *r, json_t *axes, json_t *row)
{
    int at[3] = {0, 0, 0}; /* layer, position, head */
    for (size_t a = 0; a < json_array_size(axes); a++) {
        const char *name = json_string_value(json_array_get(axes, a));
        int v = (int)json_integer_value(json_array_get(row, a));
        at[strcmp(name, "layer") == 0 ? 0 : strstr(name, "pos") ? 1 : 2] = v;
    }
    ck_assert(at[0] < r->n_layers && at[1] - r->pos_lo < r->n_pos && at[2] < r->n_heads);
    return ((size_t)at[0] * r->n_pos + (at[1] - r->pos_lo)) * r->n_heads + at[2];
}

void golden_check_act_patching(cc_model *m, const char *model, bool naive_too)
{
    json_t *g = golden_load(model, "act_patching.json");
    int T, T2;
    int *clean = int_list(g, "clean_tokens", &T), *corrupt = int_list(g, "corrupt_tokens", &T2);
    ck_assert_int_eq(T, T2);
    golden_tol tol = golden_tolerance("patching", "value");
    int checked = 0;
    const char *metric_name;
    json_t *mv;
    json_object_foreach(json_object_get(g, "metrics"), metric_name, mv)
    {
        cc_metric metric = {.kind = strcmp(metric_name, "loss") == 0 ? CC_METRIC_LOSS : CC_METRIC_LOGIT_DIFF,
                            .answer = (int)golden_number(g, "answer"), .wrong = (int)golden_number(g, "wrong")};
        const char *key;
        json_t *res;
        json_object_foreach(json_object_get(mv, "results"), key, res)
        {
            json_t *axes = json_object_get(res, "axes"), *index = json_object_get(res, "index"),
                   *want = json_object_get(res, "value");
            ck_assert_msg(json_array_size(index) == json_array_size(want) && json_array_size(want) > 0,
                          "%s %s: index and value lists differ", model, key);
            for (int naive = 0; naive < 1 + naive_too; naive++) {
                cc_patch_opts o = opts_for(key);
                o.metric = metric, o.naive = naive;
                cc_patch_result r;
                cc_error err;
                ck_assert_msg(cc_act_patch(m, clean, corrupt, T, &o, &r, &err) == 0, "%s: %s", key, err.msg);
                char what[128];
                snprintf(what, sizeof what, "%s %s %s %s", model, metric_name, key, naive ? "(naive)" : "(causal)");
                golden_check_near(r.clean, golden_number(mv, "clean"), tol, what, -1);
                golden_check_near(r.corrupt, golden_number(mv, "corrupt"), tol, what, -2);
                for (size_t i = 0; i < json_array_size(want); i++)
                    golden_check_near(r.value[result_index(&r, axes, json_array_get(index, i))],
                                      json_number_value(json_array_get(want, i)), tol, what, (long)i);
                checked++;
                cc_patch_result_free(&r);
            }
        }
    }
    ck_assert_int_ge(checked, 4);
    free(clean), free(corrupt);
    json_decref(g);
}
