/* test_prompt_json.c — the prompt commands' JSON from the library
 * (circuitc/prompt_json.h) against TransformerLens' figures for the same
 * prompts (golden/out/induction-3l4h/prompts: dla.json, lens.json): the
 * prompt's keys, dla's attribution, lens' labels, probabilities and ranks
 * as they appear in the JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/prompt_json.h"
#include "golden.h"
#include "testutil.h"

/* The golden's ids as a batch of one prompt ("--tokens"). */
static cc_prompt_batch batch_of(const cc_model *m, json_t *ids)
{
    char spec[1024] = "";
    size_t i, len = 0;
    json_t *v;
    json_array_foreach(ids, i, v) len += (size_t)snprintf(spec + len, sizeof spec - len, "%s%lld", i ? "," : "",
                                                          (long long)json_integer_value(v));
    cc_prompt_batch b;
    cc_error err;
    ck_assert_msg(cc_prompt_batch_load(&(cc_prompt_source){.tokens = spec}, m, &b, &err) == 0, "%s",
                  err.msg);
    return b;
}

static void same_ids(json_t *j, json_t *want)
{
    json_t *got = json_object_get(j, "ids");
    ck_assert_int_eq(json_array_size(got), json_array_size(want));
    for (size_t i = 0; i < json_array_size(want); i++)
        ck_assert_int_eq(json_integer_value(json_array_get(got, i)), json_integer_value(json_array_get(want, i)));
    ck_assert(json_is_null(json_object_get(j, "text")));
    ck_assert_int_eq(json_array_size(json_object_get(j, "tokens")), json_array_size(want));
}

START_TEST(dla_json_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "prompts/dla.json");
    golden_tol tol = golden_tolerance("prompt_logprobs", "value");
    cc_prompt_batch b = batch_of(m, json_object_get(g, "ids"));
    cc_dla d;
    cc_error err;
    int32_t answer = (int32_t)golden_number(g, "answer"), wrong = (int32_t)golden_number(g, "wrong");
    ck_assert_msg(cc_dla_run(m, b.tokens, b.length[0], answer, wrong, CC_KERNEL_FAST, 0, &d, &err) == 0, "%s", err.msg);
    json_t *j = cc_dla_json(&d, &b);
    ck_assert_ptr_nonnull(j);
    same_ids(j, json_object_get(g, "ids"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "position")), (json_int_t)golden_number(g, "position"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "answer"), "id")), answer);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "wrong"), "id")), wrong);
    ck_assert_str_eq(json_string_value(json_object_get(j, "metric")), "logit_diff");
    const char *scalars[3] = {"embed", "pos_embed", "unembed_bias"};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(golden_near(tol, json_real_value(json_object_get(j, scalars[k])), golden_number(g, scalars[k])),
                      "%s", scalars[k]);
    json_t *heads = json_object_get(j, "heads"), *want = json_object_get(g, "heads");
    for (int l = 0; l < d.n_layers; l++)
        for (int h = 0; h < d.n_heads; h++) {
            double got = json_real_value(json_array_get(json_array_get(heads, (size_t)l), (size_t)h));
            double w = json_real_value(json_array_get(json_array_get(want, (size_t)l), (size_t)h));
            ck_assert_msg(golden_near(tol, got, w), "heads[%d][%d]: %.9g vs %.9g", l, h, got, w);
        }
    const char *lists[3] = {"attn_out", "attn_bias", "mlp_out"};
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < d.n_layers; l++) {
            double got = json_real_value(json_array_get(json_object_get(j, lists[k]), (size_t)l));
            double w = json_real_value(json_array_get(json_object_get(g, lists[k]), (size_t)l));
            ck_assert_msg(golden_near(tol, got, w), "%s[%d]: %.9g vs %.9g", lists[k], l, got, w);
        }
    ck_assert(golden_near(tol, json_real_value(json_object_get(j, "logit")), golden_number(g, "logit_diff")));
    json_decref(j);
    cc_dla_free(&d);
    cc_prompt_batch_free(&b);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

START_TEST(lens_json_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "prompts/lens.json");
    golden_tol tol = golden_tolerance("lens_probs", "value");
    cc_prompt_batch b = batch_of(m, json_object_get(g, "ids"));
    int K = (int)golden_number(g, "top_k");
    cc_logit_lens r;
    cc_error err;
    ck_assert_msg(cc_logit_lens_run(m, b.tokens, b.length[0], K, CC_KERNEL_FAST, 0, &r, &err) == 0, "%s", err.msg);
    json_t *j = cc_logit_lens_json(&r, &b), *layers = json_object_get(j, "layers");
    ck_assert_ptr_nonnull(j);
    same_ids(j, json_object_get(g, "ids"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), K);
    json_t *labels = json_object_get(g, "labels");
    ck_assert_int_eq(json_array_size(layers), json_array_size(labels));
    for (size_t i = 0; i < json_array_size(labels); i++) {
        json_t *row = json_array_get(layers, i);
        ck_assert_str_eq(json_string_value(json_object_get(row, "label")), json_string_value(json_array_get(labels, i)));
        json_t *wp = json_array_get(json_object_get(g, "prob_next"), i), *wr = json_array_get(json_object_get(g, "rank_next"), i);
        json_t *gp = json_object_get(row, "prob_next"), *gr = json_object_get(row, "rank_next");
        ck_assert_int_eq(json_array_size(gp), json_array_size(wp) + 1); /* the last position has no next token: null */
        ck_assert(json_is_null(json_array_get(gp, json_array_size(wp))));
        for (size_t t = 0; t < json_array_size(wp); t++) {
            ck_assert_msg(golden_near(tol, json_real_value(json_array_get(gp, t)), json_number_value(json_array_get(wp, t))),
                          "%s prob_next[%zu]", json_string_value(json_array_get(labels, i)), t);
            ck_assert_int_eq(json_integer_value(json_array_get(gr, t)), json_integer_value(json_array_get(wr, t)));
        }
        json_t *top = json_array_get(json_object_get(row, "top"), 0);
        ck_assert_int_eq(json_array_size(top), (size_t)K);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(top, 0), "id")),
                         json_integer_value(json_array_get(json_array_get(json_array_get(json_object_get(g, "top_ids"), i), 0), 0)));
    }
    json_decref(j);
    cc_logit_lens_free(&r);
    cc_prompt_batch_free(&b);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* The ids of every golden prompt as a batch ("--tokens @FILE", one line each). */
static cc_prompt_batch batch_of_all(const cc_model *m, json_t *prompts, char **dir)
{
    *dir = tu_tmpdir();
    char path[4096], text[4096] = "";
    size_t len = 0, i, t;
    json_t *p, *v;
    json_array_foreach(prompts, i, p) {
        json_array_foreach(json_object_get(p, "ids"), t, v)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%lld", t ? "," : "", (long long)json_integer_value(v));
        len += (size_t)snprintf(text + len, sizeof text - len, "\n");
    }
    snprintf(path, sizeof path, "%s/ids.txt", *dir);
    tu_write_file(path, text, len);
    char spec[4200];
    snprintf(spec, sizeof spec, "@%s", path);
    cc_prompt_batch b;
    cc_error err;
    ck_assert_msg(cc_prompt_batch_load(&(cc_prompt_source){.tokens = spec}, m, &b, &err) == 0, "%s", err.msg);
    return b;
}

/* run's JSON on the goldens' two prompts (different lengths, one batch):
 * each position's log-prob of its token and rank (within TransformerLens'
 * tie range), the loss, the top token (prompts/run.json; position 0 has no
 * prediction: null). */
START_TEST(run_json_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "prompts/run.json"), *prompts = json_object_get(g, "prompts");
    golden_tol tol = golden_tolerance("prompt_logprobs", "value");
    char *dir;
    cc_prompt_batch b = batch_of_all(m, prompts, &dir);
    int K = (int)golden_number(g, "top_k");
    cc_next_tokens r;
    cc_error err;
    ck_assert_msg(cc_next_tokens_run(m, b.tokens, b.length, b.batch, b.pos, K, CC_KERNEL_FAST, 0, &r, &err) == 0, "%s",
                  err.msg);
    json_t *j = cc_next_tokens_json(&r, &b);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), K);
    ck_assert_int_eq(json_array_size(json_object_get(j, "prompts")), json_array_size(prompts));
    ck_assert_int_gt(json_array_size(prompts), 1);
    for (size_t i = 0; i < json_array_size(prompts); i++) {
        json_t *p = json_array_get(prompts, i), *row = json_array_get(json_object_get(j, "prompts"), i);
        same_ids(row, json_object_get(p, "ids"));
        json_t *lp = json_object_get(row, "logprob"), *rank = json_object_get(row, "rank");
        json_t *want_lp = json_object_get(p, "logprob_next"), *range = json_object_get(p, "rank_next_range");
        ck_assert(json_is_null(json_array_get(lp, 0)) && json_is_null(json_array_get(rank, 0)));
        for (size_t t = 0; t < json_array_size(want_lp); t++) {
            double got = json_real_value(json_array_get(lp, t + 1)), w = json_number_value(json_array_get(want_lp, t));
            ck_assert_msg(golden_near(tol, got, w), "prompt %zu logprob[%zu]: %.9g vs %.9g", i, t + 1, got, w);
            json_int_t rk = json_integer_value(json_array_get(rank, t + 1));
            json_t *rg = json_array_get(range, t);
            ck_assert_msg(rk >= json_integer_value(json_array_get(rg, 0)) && rk <= json_integer_value(json_array_get(rg, 1)),
                          "prompt %zu rank[%zu] %lld", i, t + 1, (long long)rk);
            json_t *top = json_array_get(json_array_get(json_object_get(row, "top"), t), 0);
            ck_assert_int_eq(json_integer_value(json_object_get(top, "id")),
                             json_integer_value(json_array_get(json_array_get(json_object_get(p, "top_ids"), t), 0)));
        }
        ck_assert(golden_near(tol, json_real_value(json_object_get(row, "loss")), golden_number(p, "loss")));
    }
    json_decref(j);
    cc_next_tokens_free(&r);
    cc_prompt_batch_free(&b);
    tu_rmtree(dir);
    free(dir);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* pattern on a prompt: the goldens' sequence 0 given as token ids gives
 * TransformerLens' pattern of each golden head (patterns.json), in the struct
 * and in the JSON. */
START_TEST(prompt_pattern_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    json_t *tokens = golden_load("induction-3l4h", "tokens.json"), *g = golden_load("induction-3l4h", "patterns.json");
    golden_tensor t = golden_get_tensor(tokens, "tokens");
    int T = (int)t.shape[1];
    json_t *ids = json_array();
    for (int i = 0; i < T; i++) json_array_append_new(ids, json_integer((json_int_t)t.data[i])); /* sequence 0 */
    cc_prompt_batch b = batch_of(m, ids);
    golden_tol att = golden_tolerance("attention", "value");
    const char *key;
    json_t *hv;
    json_object_foreach(json_object_get(g, "heads"), key, hv) {
        json_t *hd = json_object_get(hv, "head");
        cc_head head = {(int)json_integer_value(json_array_get(hd, 0)), (int)json_integer_value(json_array_get(hd, 1))};
        cc_prompt_pattern r;
        cc_error err;
        ck_assert_msg(cc_prompt_pattern_run(m, &b, head, 0, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.positions, T);
        golden_tensor p = golden_get_tensor(hv, "pattern");
        for (size_t i = 0; i < p.n; i++)
            ck_assert_msg(golden_near(att, r.pattern[i], p.data[i]), "%s[%zu]: %.9g vs %.9g", key, i, r.pattern[i],
                          p.data[i]);
        json_t *j = cc_prompt_pattern_json(&r, &b);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "layer")), head.layer);
        same_ids(j, ids);
        json_t *row = json_array_get(json_object_get(j, "pattern"), 60);
        ck_assert_double_eq(json_real_value(json_array_get(row, 11)), r.pattern[60 * T + 11]);
        json_decref(j);
        golden_tensor_free(&p);
        cc_prompt_pattern_free(&r);
    }
    cc_prompt_batch_free(&b);
    golden_tensor_free(&t);
    json_decref(ids);
    json_decref(g);
    json_decref(tokens);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prompt_json");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dla_json_matches_transformerlens);
    tcase_add_test(tc, lens_json_matches_transformerlens);
    tcase_add_test(tc, run_json_matches_transformerlens);
    tcase_add_test(tc, prompt_pattern_matches_transformerlens);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
