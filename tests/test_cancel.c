/* test_cancel.c — a progress callback that returns non-zero cancels the call
 * (include/circuitc/progress.h): the call fails promptly with CC_E_CANCELLED,
 * the callback is not called again, and the result can be freed as after any
 * failure (the sanitizer build checks that nothing leaks). */
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/circuit_report.h"
#include "circuitc/comp_scores.h"
#include "circuitc/discover.h"
#include "circuitc/experiments.h"
#include "circuitc/model.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* Cancels at its first call; counts the calls. */
typedef struct {
    int calls;
} stopper;

static int stop_at_first(void *ctx, long done, long total)
{
    (void)done, (void)total;
    ((stopper *)ctx)->calls++;
    return 1;
}

static void expect_cancelled(int rc, const cc_error *err, const stopper *s)
{
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(err->code == CC_E_CANCELLED, "code %s: %s", cc_error_code_name(err->code), err->msg);
    tu_assert_contains(err->msg, "cancelled by the progress callback");
    ck_assert_int_eq(s->calls, 1);
}

static cc_model *fixture(void)
{
    cc_model *m = NULL;
    cc_error err = {0};
    ck_assert_msg(cc_model_load(tu_fixture_model(), NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(comp_scores_stops_at_the_first_step)
{
    cc_model *m = fixture();
    stopper s = {0};
    cc_comp_scores_options o;
    cc_comp_scores_defaults(&o);
    o.progress = stop_at_first, o.progress_ctx = &s;
    cc_comp_scores r;
    cc_error err = {0};
    expect_cancelled(cc_comp_scores_run(m, &o, &r, &err), &err, &s);
    ck_assert_ptr_null(r.scores); /* nothing was computed */
    cc_comp_scores_free(&r);
    cc_model_free(m);
}
END_TEST

START_TEST(discover_stops_every_scan)
{
    cc_model *m = fixture();
    cc_circuit *c = NULL;
    cc_error err = {0};
    ck_assert_msg(cc_circuit_open("kcomp", &c, &err) == 0, "%s", err.msg);
    stopper s = {0};
    cc_discover_options o = {.circuit = c, .top = 10, .baseline_samples = 5, .progress = stop_at_first,
                             .progress_ctx = &s};
    cc_discover_result r = {0};
    expect_cancelled(cc_discover(m, &o, &r, &err), &err, &s);
    cc_discover_free(&r);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

START_TEST(kcomp_stops_in_its_top_k_scan)
{
    cc_model *m = fixture();
    stopper s = {0};
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o);
    o.measure.progress = stop_at_first, o.measure.progress_ctx = &s;
    cc_circuit_report r;
    cc_error err = {0};
    expect_cancelled(cc_circuit_report_run(m, &o, &r, &err), &err, &s);
    cc_circuit_report_free(&r);
    cc_model_free(m);
}
END_TEST

START_TEST(patch_sweep_stops_after_its_first_layer)
{
    cc_model *m = fixture();
    int n = 5, tok[11];
    cc_error err = {0};
    ck_assert(cc_repeat_tokens(&m->cfg, 0, 1, n, tok, &err) == 0);
    stopper s = {0};
    cc_patch_sweep r;
    expect_cancelled(cc_patch_mlp_sweep(m, tok, n, false, CC_KERNEL_FAST, 0, stop_at_first, &s, &r, &err), &err, &s);
    cc_patch_sweep_free(&r);
    cc_model_free(m);
}
END_TEST

START_TEST(a_forward_pass_stops_after_its_first_block)
{
    cc_model *m = fixture();
    int B = 2, n = 5, tok[2 * 11];
    cc_error err = {0};
    ck_assert(cc_repeat_tokens(&m->cfg, 0, B, n, tok, &err) == 0);
    stopper s = {0};
    cc_repeat_stats r;
    expect_cancelled(cc_repeat_run(m, tok, B, n, CC_KERNEL_FAST, 0, stop_at_first, &s, &r, &err), &err, &s);
    cc_repeat_stats_free(&r);
    s.calls = 0;
    cc_ablation a;
    cc_head prev = {0, 0};
    expect_cancelled(cc_ablate_heads(m, tok, B, n, &prev, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST, 0, stop_at_first, &s, &a, &err),
                     &err, &s);
    cc_ablation_free(&a);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("cancel");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, comp_scores_stops_at_the_first_step);
    tcase_add_test(tc, discover_stops_every_scan);
    tcase_add_test(tc, kcomp_stops_in_its_top_k_scan);
    tcase_add_test(tc, patch_sweep_stops_after_its_first_layer);
    tcase_add_test(tc, a_forward_pass_stops_after_its_first_block);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
