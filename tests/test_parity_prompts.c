/* test_parity_prompts.c — prompts, `run`, the logit lens and direct logit
 * attribution against TransformerLens (golden/out/<model>/prompts/, golden/FORMAT.md
 * "Prompt goldens"), on the bundled fixture (token ids) and on the
 * GPT-2-small-shaped random model with GPT-2's real tokenizer: token ids and
 * padding exactly as to_tokens, ranks and top-K ids exact, log-probs and DLA
 * components within "prompt_logprobs", lens probabilities within "lens_probs". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/dla.h"
#include "circuitc/predictions.h"
#include "circuitc/prompts.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define FIXTURE "induction-3l4h"
#define BIG "gpt2-small-random"

static void near(golden_tol tol, double got, double want, const char *what, int i, int j)
{
    ck_assert_msg(golden_near(tol, got, want), "%s[%d][%d]: got %.9g, TransformerLens %.9g (|diff| %.3g > %.3g, class %s)",
                  what, i, j, got, want, fabs(got - want), golden_allowed(tol, fabs(want)), tol.name);
}

static int int_at(json_t *a, size_t i) { return (int)json_integer_value(json_array_get(a, i)); }

/* A rank is exact only up to the tokens whose logits lie within twice the "logits"
 * tolerance of the target's: RANGE [lo, hi] (the golden's rank_next_range). */
static void rank_within(int got, int want, json_t *range, const char *what, int i, int t)
{
    int lo = int_at(range, 0), hi = int_at(range, 1);
    ck_assert_msg(got == want || (lo <= got && got <= hi),
                  "%s[%d][%d]: rank %d, TransformerLens %d (logits within the margin allow %d..%d)", what, i, t, got,
                  want, lo, hi);
}
static double num_at(json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

/* The prompts of run.json as the CLI reads them: a --prompt-file of the texts, or
 * --tokens @FILE of the ids (the fixture has no tokenizer). */
static void load_run_prompts(const cc_model *m, json_t *prompts, bool text, cc_prompt_batch *b, char *dir)
{
    char path[600], arg[610];
    snprintf(path, sizeof path, "%s/prompts.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    size_t p;
    json_t *prompt;
    json_array_foreach(prompts, p, prompt) {
        json_t *ids = json_object_get(prompt, "ids");
        if (text) fprintf(f, "%s\n", json_string_value(json_object_get(prompt, "text")));
        else
            for (size_t t = 0; t < json_array_size(ids); t++) fprintf(f, "%d%c", int_at(ids, t), t + 1 < json_array_size(ids) ? ' ' : '\n');
    }
    fclose(f);
    snprintf(arg, sizeof arg, "@%s", path);
    cc_prompt_source src = {.fallback_dir = getenv("CIRCUITC_GPT2_TOKENIZER")};
    if (text) src.file = path;
    else src.tokens = arg;
    cc_error err;
    ck_assert_msg(cc_prompt_batch_load(&src, m, b, &err) == 0, "%s", err.msg);
}

static void check_run(const cc_model *m, const char *model, bool text)
{
    json_t *g = golden_load(model, "prompts/run.json"), *prompts = json_object_get(g, "prompts");
    golden_tol tol = golden_tolerance("prompt_logprobs", "value");
    char *dir = tu_tmpdir();
    cc_prompt_batch b;
    load_run_prompts(m, prompts, text, &b, dir);
    ck_assert_int_eq(b.batch, (int)json_array_size(prompts));
    if (json_is_integer(json_object_get(g, "pad"))) ck_assert_int_eq(b.pad, (int)golden_number(g, "pad"));
    int k = (int)golden_number(g, "top_k");
    cc_next_tokens r;
    cc_error err;
    ck_assert_msg(cc_next_tokens_run(m, b.tokens, b.length, b.batch, b.pos, k, CC_KERNEL_FAST, 0, &r, &err) == 0, "%s",
                  err.msg);
    size_t p;
    json_t *prompt;
    json_array_foreach(prompts, p, prompt) {
        json_t *ids = json_object_get(prompt, "ids"), *lp = json_object_get(prompt, "logprob_next"),
               *rank = json_object_get(prompt, "rank_next"), *top_ids = json_object_get(prompt, "top_ids"),
               *top_probs = json_object_get(prompt, "top_probs");
        int n = (int)json_array_size(ids);
        ck_assert_int_eq(b.length[p], n); /* to_tokens' ids, BOS included */
        for (int t = 0; t < n; t++) ck_assert_int_eq(b.tokens[p * b.pos + t], int_at(ids, t));
        for (int t = 0; t + 1 < n; t++) {
            near(tol, r.logprob[p * r.pos + t + 1], num_at(lp, t), "run logprob_next", (int)p, t);
            rank_within(r.rank[p * r.pos + t + 1], int_at(rank, t),
                        json_array_get(json_object_get(prompt, "rank_next_range"), t), "run rank_next", (int)p, t);
        }
        near(tol, r.loss[p], golden_number(prompt, "loss"), "run loss", (int)p, 0);
        for (int t = 0; t < n; t++)
            for (int i = 0; i < k; i++) {
                size_t at = (p * r.pos + t) * k + i;
                ck_assert_int_eq(r.top_id[at], int_at(json_array_get(top_ids, t), i));
                near(tol, r.top_prob[at], num_at(json_array_get(top_probs, t), i), "run top_probs", (int)p, t);
            }
    }
    cc_next_tokens_free(&r);
    cc_prompt_batch_free(&b);
    tu_rmtree(dir);
    free(dir);
    json_decref(g);
}

/* The golden's ids; for text goldens also checks that --prompt TEXT encodes to them. */
static int *golden_ids(const cc_model *m, json_t *g, int *n)
{
    json_t *ids = json_object_get(g, "ids");
    *n = (int)json_array_size(ids);
    int *tok = malloc((size_t)*n * sizeof *tok);
    for (int t = 0; t < *n; t++) tok[t] = int_at(ids, t);
    const char *text = json_string_value(json_object_get(g, "text"));
    if (text) {
        cc_prompt_source src = {.text = text, .fallback_dir = getenv("CIRCUITC_GPT2_TOKENIZER")};
        cc_prompt_batch b;
        cc_error err;
        ck_assert_msg(cc_prompt_batch_load(&src, m, &b, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(b.pos, *n);
        for (int t = 0; t < *n; t++) ck_assert_int_eq(b.tokens[t], tok[t]);
        cc_prompt_batch_free(&b);
    }
    return tok;
}

static void check_lens(const cc_model *m, const char *model)
{
    json_t *g = golden_load(model, "prompts/lens.json");
    golden_tol tol = golden_tolerance("lens_probs", "value");
    int T, k = (int)golden_number(g, "top_k");
    int *tok = golden_ids(m, g, &T);
    cc_logit_lens r;
    cc_error err;
    ck_assert_msg(cc_logit_lens_run(m, tok, T, k, CC_KERNEL_FAST, 0, &r, &err) == 0, "%s", err.msg);
    json_t *prob = json_object_get(g, "prob_next"), *rank = json_object_get(g, "rank_next"),
           *top_ids = json_object_get(g, "top_ids"), *top_probs = json_object_get(g, "top_probs");
    ck_assert_int_eq(r.n_rows, (int)json_array_size(prob));
    for (int i = 0; i < r.n_rows; i++)
        for (int t = 0; t < T; t++) {
            if (t + 1 < T) {
                near(tol, r.prob[i * T + t], num_at(json_array_get(prob, i), t), "lens prob_next", i, t);
                rank_within(r.rank[i * T + t], int_at(json_array_get(rank, i), t),
                            json_array_get(json_array_get(json_object_get(g, "rank_next_range"), i), t), "lens rank_next",
                            i, t);
            }
            for (int j = 0; j < k; j++) {
                size_t at = ((size_t)i * T + t) * k + j;
                ck_assert_int_eq(r.top_id[at], int_at(json_array_get(json_array_get(top_ids, i), t), j));
                near(tol, r.top_prob[at], num_at(json_array_get(json_array_get(top_probs, i), t), j), "lens top_probs",
                     i, t);
            }
        }
    cc_logit_lens_free(&r);
    free(tok);
    json_decref(g);
}

static void check_dla(const cc_model *m, const char *model)
{
    json_t *g = golden_load(model, "prompts/dla.json");
    golden_tol tol = golden_tolerance("prompt_logprobs", "value");
    int T;
    int *tok = golden_ids(m, g, &T);
    int answer = (int)golden_number(g, "answer"), wrong = (int)golden_number(g, "wrong");
    cc_dla d;
    cc_error err;
    ck_assert_msg(cc_dla_run(m, tok, T, answer, wrong, CC_KERNEL_FAST, 0, &d, &err) == 0, "%s", err.msg);
    near(tol, d.embed, golden_number(g, "embed"), "dla embed", 0, 0);
    near(tol, d.pos_embed, golden_number(g, "pos_embed"), "dla pos_embed", 0, 0);
    near(tol, d.unembed_bias, golden_number(g, "unembed_bias"), "dla unembed_bias", 0, 0);
    near(tol, d.logit, golden_number(g, "logit_diff"), "dla logit_diff", 0, 0);
    near(tol, d.sum, golden_number(g, "logit_diff"), "dla sum of parts vs logit_diff", 0, 0);
    json_t *heads = json_object_get(g, "heads");
    for (int l = 0; l < d.n_layers; l++) {
        near(tol, d.attn_out[l], num_at(json_object_get(g, "attn_out"), l), "dla attn_out", l, 0);
        near(tol, d.attn_bias[l], num_at(json_object_get(g, "attn_bias"), l), "dla attn_bias", l, 0);
        near(tol, d.mlp_out[l], num_at(json_object_get(g, "mlp_out"), l), "dla mlp_out", l, 0);
        for (int h = 0; h < d.n_heads; h++)
            near(tol, d.head[l * d.n_heads + h], num_at(json_array_get(heads, l), h), "dla heads", l, h);
    }
    cc_dla_free(&d);
    free(tok);
    json_decref(g);
}

START_TEST(fixture_matches_transformer_lens)
{
    char *dir = golden_path("models/" FIXTURE);
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    check_run(m, FIXTURE, false);
    check_lens(m, FIXTURE);
    check_dla(m, FIXTURE);
    cc_model_free(m);
    free(dir);
}
END_TEST

START_TEST(gpt2_small_random_matches_transformer_lens)
{
    char *dir;
    cc_model *m = golden_gpt2_small_random(&dir);
    check_run(m, BIG, true);
    check_lens(m, BIG);
    check_dla(m, BIG);
    /* the answers as the CLI reads them: to_single_token(" Mary") / (" John") */
    json_t *g = golden_load(BIG, "prompts/dla.json");
    cc_prompt_source src = {.text = "x", .fallback_dir = getenv("CIRCUITC_GPT2_TOKENIZER")};
    cc_prompt_batch b;
    cc_error err;
    int32_t id;
    ck_assert(cc_prompt_batch_load(&src, m, &b, &err) == 0);
    ck_assert(cc_prompt_single_token(&b, &m->cfg, " Mary", "--answer", &id, &err) == 0);
    ck_assert_int_eq(id, (int)golden_number(g, "answer"));
    ck_assert(cc_prompt_single_token(&b, &m->cfg, " John", "--wrong", &id, &err) == 0);
    ck_assert_int_eq(id, (int)golden_number(g, "wrong"));
    cc_prompt_batch_free(&b);
    json_decref(g);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("parity_prompts");
    TCase *tc = tcase_create("parity_prompts");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, fixture_matches_transformer_lens);
    tcase_add_test(tc, gpt2_small_random_matches_transformer_lens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
