/* test_parity_weights.c — weight processing against TransformerLens
 * (golden/out/<model>/weights.json): every processed tensor's shape, float64
 * statistics and sampled values (all values for the fixture's small tensors),
 * for the fixture with and without processing and for the GPT-2-small-shaped
 * random model; plus the forward pass of that model on its golden tokens.
 * Also checks that every golden file the suites read is present and complete. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* Our array for golden tensor NAME, or NULL when the model has none (folded LayerNorms). */
static const float *our_tensor(const cc_model *m, const char *name)
{
    const cc_weights *w = &m->w;
    struct { const char *name; const float *p; } map[] = {
        {"W_E", w->W_E}, {"W_pos", w->W_pos}, {"W_Q", w->W_Q}, {"W_K", w->W_K}, {"W_V", w->W_V},
        {"b_Q", w->b_Q}, {"b_K", w->b_K}, {"b_V", w->b_V}, {"W_O", w->W_O}, {"b_O", w->b_O},
        {"W_in", w->W_in}, {"b_in", w->b_in}, {"W_out", w->W_out}, {"b_out", w->b_out}, {"W_U", w->W_U},
        {"b_U", w->b_U}, {"ln1_w", w->ln1_w}, {"ln1_b", w->ln1_b}, {"ln2_w", w->ln2_w}, {"ln2_b", w->ln2_b},
        {"ln_final_w", w->lnf_w}, {"ln_final_b", w->lnf_b},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0) return map[i].p;
    ck_abort_msg("golden tensor %s has no circuitc counterpart", name);
    return NULL;
}

/* Compares every tensor of weights.json with M; returns the largest absolute difference seen. */
static double check_weights(const cc_model *m, const char *model, const char *file)
{
    json_t *g = golden_load(model, file);
    ck_assert_int_eq(json_is_true(json_object_get(g, "processing")), m->processed);
    json_t *tensors = json_object_get(g, "tensors"), *t;
    const char *name;
    double worst = 0;
    golden_tol values = golden_tolerance("weights", "tensor_max"), moments = golden_tolerance("weight_moments", "value");
    int count = 0;
    json_object_foreach(tensors, name, t) {
        const float *x = our_tensor(m, name);
        ck_assert_msg(x != NULL, "%s: circuitc has no %s (processing %d)", model, name, m->processed);
        json_t *shape = json_object_get(t, "shape");
        size_t numel = 1;
        for (size_t i = 0; i < json_array_size(shape); i++) numel *= (size_t)json_integer_value(json_array_get(shape, i));
        double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
        for (size_t i = 0; i < numel; i++) {
            sum += x[i], sumsq += (double)x[i] * x[i];
            mn = x[i] < mn ? x[i] : mn, mx = x[i] > mx ? x[i] : mx;
        }
        double mean = sum / (double)numel, var = 0;
        for (size_t i = 0; i < numel; i++) var += (x[i] - mean) * (x[i] - mean);
        double std = sqrt(var / (double)numel);
        double scale = fabs(golden_number(t, "max")) > fabs(golden_number(t, "min")) ? fabs(golden_number(t, "max"))
                                                                                   : fabs(golden_number(t, "min"));
        /* weights are float32 rounded from slightly different float sums: a few ulps of the tensor's scale */
        double tol = golden_allowed(values, scale);
        ck_assert_msg(fabs(mean - golden_number(t, "mean")) <= tol, "%s %s mean %.9g vs %.9g", model, name, mean,
                      golden_number(t, "mean"));
        ck_assert_msg(golden_near(moments, std, golden_number(t, "std")), "%s %s std", model, name);
        ck_assert_msg(golden_near(moments, sumsq, golden_number(t, "sumsq")), "%s %s sumsq", model, name);
        ck_assert_msg(fabs(mn - golden_number(t, "min")) <= tol && fabs(mx - golden_number(t, "max")) <= tol,
                      "%s %s min/max", model, name);
        json_t *pair;
        size_t i;
        json_array_foreach(json_object_get(t, "sample"), i, pair) {
            size_t idx = (size_t)json_integer_value(json_array_get(pair, 0));
            double want = json_number_value(json_array_get(pair, 1)), d = fabs(x[idx] - want);
            ck_assert_msg(idx < numel && d <= tol, "%s %s[%zu] = %.9g vs %.9g", model, name, idx, (double)x[idx], want);
            worst = d > worst ? d : worst;
        }
        json_t *data = json_object_get(t, "data");
        json_array_foreach(data, i, pair) {
            double d = fabs(x[i] - json_number_value(pair));
            ck_assert_msg(d <= tol, "%s %s[%zu] = %.9g vs %.9g", model, name, i, (double)x[i], json_number_value(pair));
            worst = d > worst ? d : worst;
        }
        count++;
    }
    ck_assert_int_ge(count, m->processed ? 16 : 22);
    json_decref(g);
    return worst;
}

START_TEST(fixture_processed_and_raw_weights)
{
    char *dir = golden_path("models/induction-3l4h");
    for (int process = 1; process >= 0; process--) {
        cc_model *m;
        cc_error err;
        ck_assert_msg(cc_model_load(dir, NULL, process, &m, &err) == 0, "%s", err.msg);
        double worst = check_weights(m, "induction-3l4h", process ? "weights.json" : "raw/weights.json");
        printf("induction-3l4h %s weights: largest difference from TransformerLens %.3g\n",
               process ? "processed" : "raw", worst);
        cc_model_free(m);
    }
    free(dir);
}
END_TEST

START_TEST(gpt2_small_random_weights_and_forward)
{
    char *dir;
    cc_error err;
    cc_model *m = golden_gpt2_small_random(&dir);
    const cc_config c = m->cfg;
    double worst = check_weights(m, "gpt2-small-random", "weights.json");
    printf("gpt2-small-random processed weights: largest difference from TransformerLens %.3g\n", worst);

    /* forward pass on the golden tokens: log-probs, logsumexp-free checks via log-probs and argmax */
    json_t *tok = golden_load("gpt2-small-random", "tokens.json"), *fw = golden_load("gpt2-small-random", "forward.json");
    golden_tensor t = golden_get_tensor(tok, "tokens");
    int B = (int)t.shape[0], T = (int)t.shape[1], n = (T - 1) / 2;
    int *tokens = malloc((size_t)B * T * sizeof *tokens);
    for (size_t i = 0; i < t.n; i++) tokens[i] = (int)t.data[i];
    cc_fwd_opts o = {.kernel = CC_KERNEL_FAST, .logprobs = true};
    cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
    cc_fwd_result r;
    ck_assert_msg(cc_forward(m, tokens, B, T, &o, &r, &err) == 0, "%s", err.msg);
    golden_tensor lp = golden_get_tensor(fw, "correct_logprobs"), am = golden_get_tensor(fw, "argmax");
    golden_tol logprobs = golden_tolerance("logprobs", "value"), logits_tol = golden_tolerance("logits", "value");
    double worst_lp = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 2 * n; i++) {
            double got = r.logprob[b * (T - 1) + i], want = lp.data[b * 2 * n + i];
            ck_assert_msg(golden_near(logprobs, got, want), "log-prob [%d, %d]: %.9g vs %.9g", b, i, got, want);
            worst_lp = fmax(worst_lp, fabs(got - want));
        }
    ck_assert_int_eq((long)am.n, (long)B * T);
    for (size_t i = 0; i < am.n; i++) ck_assert_int_eq(r.argmax[i], (int)am.data[i]);
    json_t *sample = json_object_get(fw, "logits_sample"), *ix;
    const float *logits = cc_fwd_act(&r, CC_HOOK_LOGITS, 0);
    size_t i;
    double worst_logit = 0;
    json_array_foreach(json_object_get(sample, "index"), i, ix) {
        size_t b = (size_t)json_integer_value(json_array_get(ix, 0)), p = (size_t)json_integer_value(json_array_get(ix, 1)),
               v = (size_t)json_integer_value(json_array_get(ix, 2));
        double got = logits[(b * T + p) * (size_t)c.d_vocab + v],
               want = json_number_value(json_array_get(json_object_get(sample, "value"), i));
        ck_assert_msg(golden_near(logits_tol, got, want), "logits_sample[%zu]: %.9g vs %.9g", i, got, want);
        worst_logit = fmax(worst_logit, fabs(got - want));
    }
    printf("gpt2-small-random forward: log-probs within %.3g, logits within %.3g, argmax identical\n", worst_lp,
           worst_logit);
    cc_fwd_result_free(&r);
    golden_tensor_free(&t), golden_tensor_free(&lp), golden_tensor_free(&am);
    free(tokens);
    json_decref(tok), json_decref(fw);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Every golden file the parity suites read exists, parses, and names its model. */
START_TEST(goldens_are_complete)
{
    const char *fixture[] = {"provenance.json", "weights.json", "tokens.json", "forward.json", "head_scores.json",
                             "patterns.json", "patching.json", "factored.json", "raw/weights.json", "raw/forward.json"};
    const char *big[] = {"provenance.json", "weights.json", "tokens.json", "forward.json", "factored.json"};
    for (size_t i = 0; i < sizeof fixture / sizeof fixture[0]; i++) {
        json_t *j = golden_load("induction-3l4h", fixture[i]);
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "induction-3l4h");
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        json_t *j = golden_load("gpt2-small-random", big[i]);
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "gpt2-small-random");
        json_decref(j);
    }
    json_t *p = golden_load("induction-3l4h", "provenance.json");
    json_t *v = json_object_get(p, "versions");
    ck_assert_str_eq(json_string_value(json_object_get(v, "transformer_lens")), "2.18.0");
    ck_assert(json_is_string(json_object_get(v, "torch")));
    ck_assert_int_eq(strlen(json_string_value(json_object_get(p, "generator_sha256"))), 64);
    ck_assert(json_is_object(json_object_get(p, "seeds")));
    json_decref(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_weights");
    TCase *tc = tcase_create("processing and scale parity");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, goldens_are_complete);
    tcase_add_test(tc, fixture_processed_and_raw_weights);
    tcase_add_test(tc, gpt2_small_random_weights_and_forward);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
