/* test_circuit_report.c — the circuit commands' library calls
 * (circuitc/circuit_report.h) on the bundled fixture, opened but not loaded:
 * top-k counts, spectrum and composition scores against the TransformerLens
 * goldens (golden/out/induction-3l4h/factored.json), the baseline against
 * cc_composition_baseline, the JSON against the struct, and the two halves
 * with the model freed between them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit_report.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_model *open_fixture(void)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(tu_fixture_model(), NULL, &m, &err) == 0, "%s", err.msg);
    return m;
}

static cc_head head_of(json_t *pair) /* [layer, head] */
{
    return (cc_head){(int)json_integer_value(json_array_get(pair, 0)), (int)json_integer_value(json_array_get(pair, 1))};
}

static void run_report(cc_model *m, const cc_circuit_report_options *o, cc_circuit_report *r)
{
    cc_error err;
    ck_assert_msg(cc_circuit_report_run(m, o, r, &err) == 0, "%s", err.msg);
}

/* Every golden K-composition pair: exact top-1/top-5 both ways and the
 * K-composition score (TransformerLens' all_composition_scores("K")). */
START_TEST(kcomp_every_pair_matches_the_goldens)
{
    json_t *f = golden_load("induction-3l4h", "factored.json"), *e;
    golden_tensor k = golden_get_tensor(json_object_get(f, "composition_scores"), "k");
    golden_tol tol = golden_tolerance("composition_scores", "value");
    cc_model *m = open_fixture();
    int H = m->cfg.n_heads, L = m->cfg.n_layers;
    size_t i;
    json_array_foreach(json_object_get(f, "kcomp"), i, e) {
        cc_circuit_report_options o;
        cc_circuit_report_defaults(&o);
        o.heads[0] = head_of(json_object_get(e, "prev"));
        o.heads[1] = head_of(json_object_get(e, "ind"));
        o.measure.ranks = CC_RANKS_NEVER;
        o.baseline_samples = 0;
        cc_circuit_report r;
        run_report(m, &o, &r);
        ck_assert(r.processed && r.measured && r.has_composition && r.n_heads == 2);
        ck_assert_int_eq(r.measurement.rows.correct[0], json_integer_value(json_object_get(e, "top1_rows")));
        ck_assert_int_eq(r.measurement.rows.correct[4], json_integer_value(json_object_get(e, "top5_rows")));
        ck_assert_int_eq(r.measurement.cols.correct[0], json_integer_value(json_object_get(e, "top1_cols")));
        ck_assert_int_eq(r.measurement.cols.correct[4], json_integer_value(json_object_get(e, "top5_cols")));
        double want = k.data[((o.heads[0].layer * H + o.heads[0].head) * L + o.heads[1].layer) * H + o.heads[1].head];
        ck_assert_msg(golden_near(tol, r.composition.score, want), "k-composition L%dH%d -> L%dH%d: %.9g vs %.9g",
                      o.heads[0].layer, o.heads[0].head, o.heads[1].layer, o.heads[1].head, r.composition.score, want);
        ck_assert_int_eq(r.composition.mode, CC_COMP_K);
        cc_circuit_report_free(&r);
    }
    golden_tensor_free(&k);
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* ov and qk of every head: top-1 (and ov's top-5) over rows. */
START_TEST(ov_and_qk_every_head_match_the_goldens)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    golden_tensor ov1 = golden_get_tensor(json_object_get(f, "ov"), "top1"),
                  ov5 = golden_get_tensor(json_object_get(f, "ov"), "top5"),
                  qk1 = golden_get_tensor(json_object_get(f, "qk"), "top1");
    cc_model *m = open_fixture();
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int h = 0; h < m->cfg.n_heads; h++) {
            size_t idx = (size_t)l * m->cfg.n_heads + h;
            cc_circuit_report_options o;
            cc_circuit_report_defaults(&o);
            o.heads[0] = (cc_head){l, h};
            o.circuit = CC_BUILTIN_OV;
            cc_circuit_report r;
            run_report(m, &o, &r);
            ck_assert(!r.has_composition && r.n_heads == 1);
            ck_assert_msg(r.measurement.rows.correct[0] == (long)ov1.data[idx] &&
                              r.measurement.rows.correct[4] == (long)ov5.data[idx],
                          "ov L%dH%d: %ld/%ld vs %g/%g", l, h, r.measurement.rows.correct[0],
                          r.measurement.rows.correct[4], ov1.data[idx], ov5.data[idx]);
            cc_circuit_report_free(&r);
            o.circuit = CC_BUILTIN_QK;
            run_report(m, &o, &r);
            ck_assert_msg(r.measurement.rows.correct[0] == (long)qk1.data[idx], "qk L%dH%d: %ld vs %g", l, h,
                          r.measurement.rows.correct[0], qk1.data[idx]);
            cc_circuit_report_free(&r);
        }
    golden_tensor_free(&ov1), golden_tensor_free(&ov5), golden_tensor_free(&qk1);
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* qcomp and vcomp score with their own modes; the baseline is
 * cc_composition_baseline's for the options' samples and seed. */
START_TEST(q_and_v_composition_and_baseline)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    json_t *scores = json_object_get(f, "composition_scores");
    golden_tol tol = golden_tolerance("composition_scores", "value");
    cc_model *m = open_fixture();
    int H = m->cfg.n_heads, L = m->cfg.n_layers;
    const struct {
        cc_builtin_circuit b;
        const char *key;
        cc_comp_mode mode;
    } cases[] = {{CC_BUILTIN_QCOMP, "q", CC_COMP_Q}, {CC_BUILTIN_VCOMP, "v", CC_COMP_V}};
    for (int c = 0; c < 2; c++) {
        golden_tensor g = golden_get_tensor(scores, cases[c].key);
        cc_circuit_report_options o;
        cc_circuit_report_defaults(&o);
        o.circuit = cases[c].b;
        o.heads[0] = (cc_head){0, 1};
        o.heads[1] = (cc_head){2, 3};
        o.baseline_samples = 20;
        o.seed = 3;
        cc_circuit_report r;
        run_report(m, &o, &r);
        double want = g.data[((0 * H + 1) * L + 2) * H + 3];
        ck_assert_int_eq(r.composition.mode, cases[c].mode);
        ck_assert_msg(golden_near(tol, r.composition.score, want), "%s: %.9g vs %.9g", cases[c].key,
                      r.composition.score, want);
        double mean, std;
        cc_error err;
        ck_assert(cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, 20, 3, NULL, &mean, &std, &err) == 0);
        ck_assert(r.composition.baseline_mean == mean && r.composition.baseline_std == std);
        ck_assert_double_eq(r.composition.ratio_to_baseline, r.composition.score / mean);
        cc_circuit_report_free(&r);
        golden_tensor_free(&g);
    }
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* The JSON says what the struct holds, and the leading singular values of
 * kcomp L0H0 -> L1H0 are TransformerLens' FactoredMatrix.S. */
START_TEST(json_matches_the_struct_and_the_spectrum_golden)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    json_t *S = json_object_get(json_object_get(json_object_get(f, "spectra"), "kcomp"), "S");
    golden_tol s_tol = golden_tolerance("singular_values", "list_max");
    cc_model *m = open_fixture();
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o);
    o.baseline_samples = 0;
    cc_circuit_report r;
    run_report(m, &o, &r);
    for (int i = 0; i < r.measurement.n_singular; i++)
        ck_assert_msg(fabs(r.measurement.singular_values[i] - json_number_value(json_array_get(S, (size_t)i))) <=
                          golden_allowed(s_tol, json_number_value(json_array_get(S, 0))),
                      "S[%d] %.9g", i, r.measurement.singular_values[i]);
    json_t *j = cc_circuit_report_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "circuit")), "kcomp");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rows"), "top1")),
                     r.measurement.rows.correct[0]);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "shape"), 0)), m->cfg.d_vocab);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "bindings"), "prev")), "L0H0");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "bindings"), "ind")), "L1H0");
    json_t *comp = json_object_get(j, "composition");
    ck_assert_str_eq(json_string_value(json_object_get(comp, "mode")), "k");
    ck_assert_double_eq(json_real_value(json_object_get(comp, "score")), r.composition.score);
    ck_assert(json_is_null(json_object_get(comp, "baseline"))); /* no samples: no baseline */
    ck_assert(json_is_null(json_object_get(comp, "ratio_to_baseline")));
    ck_assert_ptr_null(json_object_get(j, "seconds")); /* the envelope's */
    ck_assert_double_eq(json_real_value(json_object_get(json_object_get(j, "phase_seconds"), "topk_spectrum")),
                        r.measurement.seconds);
    json_decref(j);
    cc_circuit_report_free(&r);
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* The second half reads only the factors: the model can be freed before it. */
START_TEST(measure_after_the_model_is_freed)
{
    cc_model *m = open_fixture();
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o);
    o.baseline_samples = 0;
    cc_circuit_report whole, halves;
    run_report(m, &o, &whole);
    cc_model_free(m);
    m = open_fixture();
    cc_error err;
    ck_assert_msg(cc_circuit_report_compile(m, &o, &halves, &err) == 0, "%s", err.msg);
    ck_assert(!halves.measured);
    cc_model_free(m);
    ck_assert_msg(cc_circuit_report_measure(&halves, &o.measure, &err) == 0, "%s", err.msg);
    for (int k = 0; k < o.measure.k_max; k++) {
        ck_assert_int_eq(halves.measurement.rows.correct[k], whole.measurement.rows.correct[k]);
        ck_assert_int_eq(halves.measurement.cols.correct[k], whole.measurement.cols.correct[k]);
    }
    cc_circuit_report_free(&whole);
    cc_circuit_report_free(&halves);
}
END_TEST

/* A circuit file whose parameters do not match the command is refused by name. */
START_TEST(builtin_with_the_wrong_parameter_count)
{
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/kcomp.circuit", dir);
    const char *text = "name: kcomp\nparams: head\nchain: W_E W_Q[head] W_K[head]^T W_E^T\n";
    tu_write_file(path, text, strlen(text));
    setenv("CIRCUITC_CIRCUITS", dir, 1);
    cc_model *m = open_fixture();
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o);
    cc_circuit_report r;
    cc_error err;
    ck_assert_int_eq(cc_circuit_report_run(m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "circuit file for kcomp declares 1 parameters; this command binds 2 heads"), "%s",
                  err.msg);
    cc_circuit_report_free(&r);
    unsetenv("CIRCUITC_CIRCUITS");
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* compile kcomp: the shapes of the K-composition chain, the split at d_head,
 * TransformerLens' Frobenius norm, the order asked for, and bindings kept
 * when the caller's strings change. */
START_TEST(compile_kcomp_matches_its_chain_and_the_norm_golden)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    double norm = golden_number(json_object_get(json_object_get(f, "spectra"), "kcomp"), "norm");
    cc_model *m = open_fixture();
    char prev[8] = "prev", ind[8] = "ind";
    const char *names[2] = {prev, ind};
    cc_head heads[2] = {{0, 0}, {1, 0}};
    cc_compile_options o = {.circuit = "kcomp", .n_bind = 2, .bind_names = names, .bind_heads = heads,
                            .order = CC_COMPILE_TL, .explain = true, .process = true};
    cc_compile_result r;
    cc_error err;
    ck_assert_msg(cc_compile_run(m, &o, &r, &err) == 0, "%s", err.msg);
    strcpy(prev, "xxxx"), strcpy(ind, "yyy");
    int V = m->cfg.d_vocab, d = m->cfg.d_model, dh = m->cfg.d_head;
    /* W_E W_Q[ind] W_K[ind]^T W_O[prev]^T W_V[prev]^T W_E^T */
    long long want_dims[] = {V, d, dh, d, dh, d, V};
    ck_assert_int_eq(r.plan.n_terms, 6);
    for (int i = 0; i <= 6; i++) ck_assert_int_eq(r.plan.dims[i], want_dims[i]);
    ck_assert_int_eq(r.plan.dims[r.plan.split], dh);
    ck_assert(r.plan.order_a == CC_ORDER_LEFT && r.plan.order_b == CC_ORDER_RIGHT);
    ck_assert(r.factors.l == V && r.factors.m == dh && r.factors.r == V);
    golden_tol n_tol = golden_tolerance("norms", "value");
    ck_assert_msg(golden_near(n_tol, cc_fm_norm(&r.factors), norm), "norm %.9g vs %.9g", cc_fm_norm(&r.factors), norm);
    ck_assert_ptr_nonnull(r.explain);
    json_t *j = cc_compile_result_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "bindings"), "prev")), "L0H0");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "bindings"), "ind")), "L1H0");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "plan"), "order")), "tl");
    ck_assert_str_eq(json_string_value(json_object_get(j, "file")), r.path);
    ck_assert(strstr(r.path, "/kcomp.circuit"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "plan"), "inner_dim")), dh);
    ck_assert_double_eq(json_real_value(json_object_get(j, "norm")), cc_fm_norm(&r.factors));
    ck_assert_str_eq(json_string_value(json_object_get(j, "explain")), r.explain);
    json_decref(j);
    cc_compile_result_free(&r);
    strcpy(prev, "prev"), strcpy(ind, "ind");
    o.explain = false, o.order = CC_COMPILE_OPTIMAL;
    ck_assert_msg(cc_compile_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_ptr_null(r.explain);
    ck_assert(r.plan.order_a == CC_ORDER_OPTIMAL && r.plan.order_b == CC_ORDER_OPTIMAL);
    cc_compile_result_free(&r);
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* kcomp-chart over every golden kcomp pair at once: each pair's fractions
 * are the goldens' counts over the vocabulary, in the order given. */
START_TEST(kcomp_chart_every_pair_matches_the_goldens)
{
    json_t *f = golden_load("induction-3l4h", "factored.json"), *list = json_object_get(f, "kcomp"), *e;
    int np = (int)json_array_size(list);
    cc_head *pairs = malloc((size_t)np * 2 * sizeof *pairs);
    size_t i;
    json_array_foreach(list, i, e) {
        pairs[2 * i] = head_of(json_object_get(e, "prev"));
        pairs[2 * i + 1] = head_of(json_object_get(e, "ind"));
    }
    cc_model *m = open_fixture();
    cc_kcomp_chart_options o = {.n_pairs = np, .pairs = pairs, .k = 5, .process = true};
    cc_kcomp_chart r;
    cc_error err;
    ck_assert_msg(cc_kcomp_chart_run(m, &o, &r, &err) == 0, "%s", err.msg);
    double V = m->cfg.d_vocab;
    ck_assert_int_eq(r.n_pairs, np);
    json_t *j = cc_kcomp_chart_json(&r);
    json_array_foreach(list, i, e) {
        const char *keys[4] = {"top1_rows", "top5_rows", "top1_cols", "top5_cols"};
        for (int c = 0; c < 4; c++)
            ck_assert_msg(r.accuracy[4 * i + c] == (double)json_integer_value(json_object_get(e, keys[c])) / V,
                          "pair %zu %s: %g", i, keys[c], r.accuracy[4 * i + c]);
        json_t *p = json_array_get(json_object_get(j, "pairs"), i);
        char a[32], b[32], label[80];
        snprintf(label, sizeof label, "%s:%s", cc_head_name(pairs[2 * i], a, sizeof a),
                 cc_head_name(pairs[2 * i + 1], b, sizeof b));
        ck_assert_str_eq(json_string_value(json_object_get(p, "pair")), label);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "bindings"), "ind")), b);
        ck_assert_double_eq(json_real_value(json_object_get(json_object_get(p, "cols"), "topk_accuracy")),
                            r.accuracy[4 * i + 3]);
    }
    json_decref(j);
    cc_kcomp_chart_free(&r);
    o.circuit = "ov";
    ck_assert_int_eq(cc_kcomp_chart_run(m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "circuit ov has 1 parameters; kcomp-chart needs a two-head circuit"), "%s", err.msg);
    cc_kcomp_chart_free(&r);
    cc_model_free(m);
    free(pairs);
    json_decref(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("circuit_report");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kcomp_every_pair_matches_the_goldens);
    tcase_add_test(tc, ov_and_qk_every_head_match_the_goldens);
    tcase_add_test(tc, q_and_v_composition_and_baseline);
    tcase_add_test(tc, json_matches_the_struct_and_the_spectrum_golden);
    tcase_add_test(tc, measure_after_the_model_is_freed);
    tcase_add_test(tc, builtin_with_the_wrong_parameter_count);
    tcase_add_test(tc, compile_kcomp_matches_its_chain_and_the_norm_golden);
    tcase_add_test(tc, kcomp_chart_every_pair_matches_the_goldens);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
