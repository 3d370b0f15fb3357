/* test_parity_runtime.c — the runtime against TransformerLens goldens
 * (golden/out/induction-3l4h, golden/FORMAT.md): the token generator exactly;
 * logits and log-probs (processed and --no-processing), head scores,
 * detect_head scores, patterns and the mlp_out patching sweep (fast causal
 * path and naive path) within the classes "logits", "logprobs", "accuracy"
 * and "attention" of golden/tolerances.json. Stored tokens are used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "golden.h"
#include "testutil.h"

#define FIXTURE "induction-3l4h"

/* tokens.json as ints; *B, *n filled. */
static int *golden_tokens(int *B, int *n)
{
    json_t *j = golden_load(FIXTURE, "tokens.json");
    golden_tensor t = golden_get_tensor(j, "tokens");
    *B = (int)golden_number(j, "batch"), *n = (int)golden_number(j, "n");
    ck_assert(t.ndim == 2 && t.shape[0] == *B && t.shape[1] == 1 + 2 * *n);
    int *tok = malloc(t.n * sizeof *tok);
    for (size_t i = 0; i < t.n; i++) tok[i] = (int)t.data[i];
    golden_tensor_free(&t);
    json_decref(j);
    return tok;
}

static void near(double got, double want, golden_tol tol, const char *what, long idx)
{
    ck_assert_msg(golden_near(tol, got, want), "%s[%ld]: got %.9g, golden %.9g (|diff| %.3g > %.3g, tolerance class %s)",
                  what, idx, got, want, fabs(got - want), golden_allowed(tol, fabs(want)), tol.name);
}

START_TEST(token_generator_reproduces_tokens_json)
{
    cc_model *m = golden_fixture(true);
    int B, n;
    int *want = golden_tokens(&B, &n);
    json_t *j = golden_load(FIXTURE, "tokens.json");
    int *got = malloc((size_t)B * (1 + 2 * n) * sizeof *got);
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, (uint64_t)golden_number(j, "seed"), B, n, got, &err) == 0);
    for (int i = 0; i < B * (1 + 2 * n); i++) ck_assert_int_eq(got[i], want[i]);
    json_decref(j);
    free(got), free(want);
    cc_model_free(m);
}
END_TEST

static void check_forward(bool process, const char *file)
{
    cc_model *m = golden_fixture(process);
    int B, n, T, V = m->cfg.d_vocab;
    int *tok = golden_tokens(&B, &n);
    T = 1 + 2 * n;
    json_t *g = golden_load(FIXTURE, file);
    golden_tol logits = golden_tolerance("logits", "value"), logprobs = golden_tolerance("logprobs", "value"),
               accuracy = golden_tolerance("accuracy", "value");
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern, .logprobs = true};
        cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
        const float *lg = cc_fwd_act(&r, CC_HOOK_LOGITS, 0); /* [B, T, V] */
        golden_tensor l0 = golden_get_tensor(g, "logits_seq0");
        ck_assert(l0.n == (size_t)T * V);
        for (size_t i = 0; i < l0.n; i++) near(lg[i], l0.data[i], logits, "logits_seq0", (long)i);
        golden_tensor_free(&l0);
        json_t *smp = json_object_get(g, "logits_sample");
        json_t *idx = json_object_get(smp, "index"), *val = json_object_get(smp, "value");
        for (size_t k = 0; k < json_array_size(idx); k++) {
            json_t *e = json_array_get(idx, k);
            size_t b = json_integer_value(json_array_get(e, 0)), t = json_integer_value(json_array_get(e, 1)),
                   v = json_integer_value(json_array_get(e, 2));
            near(lg[(b * T + t) * V + v], json_number_value(json_array_get(val, k)), logits, "logits_sample", (long)k);
        }
        golden_tensor lp = golden_get_tensor(g, "correct_logprobs");
        ck_assert(lp.n == (size_t)B * 2 * n);
        for (size_t i = 0; i < lp.n; i++) near(r.logprob[i], lp.data[i], logprobs, "correct_logprobs", (long)i);
        golden_tensor_free(&lp);
        golden_tensor am = golden_get_tensor(g, "argmax");
        for (size_t i = 0; i < am.n; i++) ck_assert_msg(r.argmax[i] == (int)am.data[i], "argmax[%zu]", i);
        golden_tensor_free(&am);
        cc_repeat_stats s;
        ck_assert(cc_repeat_stats_from(&r, tok, n, &s, &err) == 0);
        near(s.first_mean, golden_number(g, "first_half_mean_logprob"), logprobs, "first_half_mean_logprob", 0);
        near(s.second_mean, golden_number(g, "second_half_mean_logprob"), logprobs, "second_half_mean_logprob", 0);
        near(s.first_acc, golden_number(g, "first_half_accuracy"), accuracy, "first_half_accuracy", 0);
        near(s.second_acc, golden_number(g, "second_half_accuracy"), accuracy, "second_half_accuracy", 0);
        near(s.loss, golden_number(g, "loss"), logprobs, "loss", 0);
        golden_tensor ls = golden_get_tensor(g, "loss_per_seq");
        for (int b = 0; b < B; b++) near(s.loss_per_seq[b], ls.data[b], logprobs, "loss_per_seq", b);
        golden_tensor_free(&ls);
        cc_repeat_stats_free(&s);
        cc_fwd_result_free(&r);

        /* the fixed "Hello world!" sequence */
        json_t *fx = json_object_get(g, "fixed");
        json_t *ft = json_object_get(fx, "tokens");
        int nf = (int)json_array_size(ft);
        int *ftok = malloc((size_t)nf * sizeof *ftok);
        for (int i = 0; i < nf; i++) ftok[i] = (int)json_integer_value(json_array_get(ft, (size_t)i));
        ck_assert(cc_forward(m, ftok, 1, nf, &o, &r, &err) == 0);
        golden_tensor fl = golden_get_tensor(fx, "logits");
        lg = cc_fwd_act(&r, CC_HOOK_LOGITS, 0);
        for (size_t i = 0; i < fl.n; i++) near(lg[i], fl.data[i], logits, "fixed.logits", (long)i);
        double ce = 0;
        for (int i = 0; i < nf - 1; i++) ce -= r.logprob[i];
        near(ce / (nf - 1), golden_number(fx, "loss"), logprobs, "fixed.loss", 0);
        golden_tensor_free(&fl);
        free(ftok);
        cc_fwd_result_free(&r);
    }
    json_decref(g);
    free(tok);
    cc_model_free(m);
}

START_TEST(forward_matches_transformerlens)
{
    check_forward(true, "forward.json");
}
END_TEST

START_TEST(forward_without_processing_matches_transformerlens)
{
    check_forward(false, "raw/forward.json");
}
END_TEST

static void check_scores(const double *got, json_t *obj, const char *key, int L, int H, const char *what)
{
    golden_tensor t = golden_get_tensor(obj, key);
    ck_assert(t.n == (size_t)L * H);
    golden_tol attention = golden_tolerance("attention", "value");
    for (int i = 0; i < L * H; i++) near(got[i], t.data[i], attention, what, i);
    golden_tensor_free(&t);
}

START_TEST(head_scores_match_transformerlens)
{
    cc_model *m = golden_fixture(true);
    int B, n, L = m->cfg.n_layers, H = m->cfg.n_heads;
    int *tok = golden_tokens(&B, &n);
    json_t *g = golden_load(FIXTURE, "head_scores.json");
    cc_head_scores s;
    cc_error err;
    ck_assert_msg(cc_head_scores_run(m, tok, B, n, CC_KERNEL_FAST, &s, &err) == 0, "%s", err.msg);
    for (int k = 0; k < CC_SCORE_COUNT; k++) check_scores(s.diag[k], g, cc_score_name((cc_score_kind)k), L, H, cc_score_name((cc_score_kind)k));
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

    /* patterns.json: three heads of sequence 0 */
    g = golden_load(FIXTURE, "patterns.json");
    golden_tol attention = golden_tolerance("attention", "value");
    int T = 1 + 2 * n;
    cc_fwd_opts o = {.skip_unembed = true};
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    cc_fwd_result r;
    ck_assert(cc_forward(m, tok, 1, T, &o, &r, &err) == 0);
    const char *key;
    json_t *hv;
    json_object_foreach(json_object_get(g, "heads"), key, hv)
    {
        json_t *hd = json_object_get(hv, "head");
        int l = (int)json_integer_value(json_array_get(hd, 0)), h = (int)json_integer_value(json_array_get(hd, 1));
        golden_tensor p = golden_get_tensor(hv, "pattern");
        const float *P = cc_fwd_act(&r, CC_HOOK_PATTERN, l) + (size_t)h * T * T;
        for (size_t i = 0; i < p.n; i++) near(P[i], p.data[i], attention, key, (long)i);
        golden_tensor_free(&p);
    }
    cc_fwd_result_free(&r);
    json_decref(g);
    free(tok);
    cc_model_free(m);
}
END_TEST

START_TEST(patching_sweep_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    int B, n, L = m->cfg.n_layers;
    int *tok = golden_tokens(&B, &n);
    json_t *g = golden_load(FIXTURE, "patching.json");
    int seq = (int)golden_number(g, "seq");
    const int *t0 = tok + (size_t)seq * (1 + 2 * n);
    golden_tensor d = golden_get_tensor(g, "delta"), pl = golden_get_tensor(g, "patched_loss");
    ck_assert(d.n == (size_t)L * (n + 1));
    golden_tol logprobs = golden_tolerance("logprobs", "value");
    for (int naive = 0; naive < 2; naive++) {
        cc_patch_sweep s;
        cc_error err;
        ck_assert_msg(cc_patch_mlp_sweep(m, t0, n, naive, CC_KERNEL_FAST, NULL, NULL, &s, &err) == 0, "%s", err.msg);
        near(s.clean_loss, golden_number(g, "clean_loss"), logprobs, "clean_loss", 0);
        for (size_t i = 0; i < d.n; i++) {
            near(s.delta[i], d.data[i], logprobs, naive ? "delta (naive)" : "delta (causal)", (long)i);
            near(s.patched_loss[i], pl.data[i], logprobs, "patched_loss", (long)i);
        }
        for (int l = 0; l < L; l++) ck_assert(s.delta[l * (n + 1) + n] == 0.0); /* p = 2n */
        cc_patch_sweep_free(&s);
    }
    golden_tensor_free(&d), golden_tensor_free(&pl);
    json_decref(g);
    free(tok);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_runtime");
    TCase *tc = tcase_create("induction-3l4h");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, token_generator_reproduces_tokens_json);
    tcase_add_test(tc, forward_matches_transformerlens);
    tcase_add_test(tc, forward_without_processing_matches_transformerlens);
    tcase_add_test(tc, head_scores_match_transformerlens);
    tcase_add_test(tc, patching_sweep_matches_transformerlens);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
