/* test_cli_prompt_runtime.c — heads, ablate and pattern on prompts through the
 * CLI: on the repeated tokens given as --tokens the figures equal the repeated
 * run's, text prompts through a tokenizer, pattern on a layer and a list of
 * heads (text, --json, --html), and refusals (exit status, message, nothing
 * on stdout). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/synth.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})
#define FIXTURE_TOKENS "511,17,301,99,4,17,301,99"

/* The JSON R printed (it must have succeeded); R is freed. */
static json_t *parse_ok(tu_run_result *r)
{
    json_t *j = tu_parse_ok(r);
    tu_run_free(r);
    return j;
}

/* The bundled fixture's repeated sequence of seed 3, seq_len 5 as --tokens IDS (caller frees). */
static char *repeated_ids(void)
{
    tu_run_result r = RUN("pattern", "L1H0", "--seed", "3", "--seq-len", "5", "--json");
    json_t *j = parse_ok(&r), *ids = json_object_get(j, "tokens"), *id;
    char *text = calloc(1, 256);
    size_t i;
    json_array_foreach(ids, i, id) snprintf(text + strlen(text), 256 - strlen(text), "%s%lld", i ? "," : "",
                                             (long long)json_integer_value(id));
    json_decref(j);
    return text;
}

/* HEAD's entry in the "heads" array of J. */
static json_t *head_entry(json_t *j, const char *head)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(j, "heads"), i, e) if (strcmp(json_string_value(json_object_get(e, "head")), head) == 0) return e;
    ck_abort_msg("no head %s", head);
    return NULL;
}

START_TEST(the_repeated_tokens_as_a_prompt_give_the_same_figures)
{
    char *ids = repeated_ids();
    tu_run_result r = RUN("heads", "--seed", "3", "--seq-len", "5", "--batch", "1", "--json");
    json_t *want = parse_ok(&r);
    r = RUN("heads", "--tokens", ids, "--json");
    json_t *got = parse_ok(&r);
    ck_assert_int_eq(json_array_size(json_object_get(got, "heads")), 12);
    static const char *const heads[4] = {"L0H0", "L1H0", "L1H1", "L2H3"};
    for (int h = 0; h < 4; h++) {
        json_t *w = head_entry(want, heads[h]), *g = head_entry(got, heads[h]);
        ck_assert(json_equal(json_object_get(w, "detect"), json_object_get(g, "detect")));
        ck_assert(json_equal(json_object_get(w, "previous_token"), json_object_get(g, "previous_token")));
        ck_assert(json_equal(json_object_get(w, "current_token"), json_object_get(g, "current_token")));
        ck_assert_ptr_null(json_object_get(g, "induction"));
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(got, "heads"), 0), "head")), "L1H0");
    json_decref(want), json_decref(got);

    r = RUN("ablate", "L0H0", "--seed", "3", "--seq-len", "5", "--batch", "1", "--json");
    want = parse_ok(&r);
    r = RUN("ablate", "L0H0", "--tokens", ids, "--json");
    got = parse_ok(&r);
    for (int k = 0; k < 2; k++) {
        const char *run = k ? "ablated" : "clean";
        double w = json_number_value(json_object_get(json_object_get(want, run), "loss")),
               g = json_number_value(json_object_get(json_object_get(got, run), "loss"));
        ck_assert_msg(fabs(w - g) <= 1e-8 * fabs(w), "%s loss %.9g on the prompt, %.9g on the repeated tokens", run, g, w);
    }
    ck_assert_int_eq(json_array_size(json_object_get(got, "logprob_change")), 10);
    ck_assert_str_eq(json_string_value(json_object_get(got, "induction_score")), "induction_head");
    ck_assert_str_eq(json_string_value(json_object_get(want, "induction_score")), "induction");
    json_decref(want), json_decref(got);

    r = RUN("pattern", "L1H0", "--seed", "3", "--seq-len", "5", "--json");
    want = parse_ok(&r);
    r = RUN("pattern", "L2H3,L1H0", "--tokens", ids, "--json");
    got = parse_ok(&r);
    json_t *second = json_array_get(json_object_get(got, "patterns"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(second, "head")), "L1H0");
    ck_assert(json_equal(json_object_get(want, "pattern"), json_object_get(second, "pattern")));
    json_decref(want), json_decref(got);
    free(ids);
}
END_TEST

START_TEST(text_and_pages_on_a_prompt)
{
    tu_run_result r = RUN("heads", "--tokens", FIXTURE_TOKENS, "--top", "2");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "1 prompt of 8 tokens");
    tu_assert_contains(r.out, "detect_induction_head          L1H0");
    ck_assert_ptr_null(strstr(r.out, "\nduplicate_token "));
    tu_run_free(&r);
    r = RUN("ablate", "L0H0", "L0H1", "--tokens", FIXTURE_TOKENS, "--ablate", "zero");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "zero ablation of L0H0 L0H1 (hook_z)");
    tu_assert_contains(r.out, "largest detect_head induction_head-score changes (top 10 of 12 heads)");
    tu_run_free(&r);
    r = RUN("pattern", "L1", "--tokens", FIXTURE_TOKENS);
    ck_assert_msg(r.status == 0, "%s", r.err);
    for (int h = 0; h < 4; h++) {
        char want[64];
        snprintf(want, sizeof want, "L1H%d attention pattern on 8 tokens", h);
        tu_assert_contains(r.out, want);
    }
    tu_run_free(&r);
    char *dir = tu_tmpdir(), page[1100];
    snprintf(page, sizeof page, "%s/list.html", dir);
    r = RUN("pattern", "L0H0,L2H1", "--tokens", FIXTURE_TOKENS, "--html", page);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
    size_t len;
    char *html = (char *)tu_read_file(page, &len);
    tu_assert_contains(html, "\"layer\":null,\"selected\":0,\"heads\":[{\"head\":\"L0H0\"");
    tu_assert_contains(html, "{\"head\":\"L2H1\"");
    ck_assert_ptr_null(strstr(html, "\"head\":\"L1H0\""));
    free(html);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A one-layer model with GPT-2's vocabulary, so --prompt text goes through the GPT-2 tokenizer. */
START_TEST(text_prompts_through_the_tokenizer)
{
    char *dir = tu_tmpdir();
    cc_config cfg = {.n_layers = 1, .n_heads = 2, .d_model = 16, .d_head = 8, .d_mlp = 64, .d_vocab = 50257,
                     .n_ctx = 32, .ln_eps = 1e-5, .bos_token_id = 50256};
    cc_error err;
    ck_assert_msg(cc_synth_write(&cfg, 5, &(cc_synth_options){.dtype = CC_DT_F32}, dir, &err) == 0, "%s", err.msg);
    tu_run_result r = RUN("heads", "--model", dir, "--prompt", "Hello world Hello world", "--json");
    json_t *j = parse_ok(&r), *p = json_array_get(json_object_get(j, "prompts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "text")), "Hello world Hello world");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "tokens"), 2)), " world");
    json_decref(j);
    r = RUN("ablate", "L0H1", "--model", dir, "--prompt", "Hello world Hello world");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "1 prompt of 5 tokens");
    tu_run_free(&r);
    r = RUN("pattern", "L0", "--model", dir, "--prompt", "Hello world");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "\" world\"");
    tu_run_free(&r);
    char path[1100];
    snprintf(path, sizeof path, "%s/prompts.txt", dir);
    tu_write_file(path, "Hello world\nHello\n", 18);
    tu_expect_fail(RUN("heads", "--model", dir, "--prompt-file", path), 1,
                   "different lengths (prompt 1: 3 tokens, prompt 2: 2)");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(refusals)
{
    tu_expect_fail(RUN("heads", "--tokens", FIXTURE_TOKENS, "--seed", "2"), 2,
                   "--seed sets the repeated random tokens: leave it out with --prompt");
    tu_expect_fail(RUN("ablate", "L0H0", "--tokens", FIXTURE_TOKENS, "--seq-len", "4"), 2, "--seq-len sets the repeated");
    tu_expect_fail(RUN("heads", "--tokens", FIXTURE_TOKENS, "--prompt", "x"), 2, "give exactly one of --prompt");
    tu_expect_fail(RUN("pattern", "L1"), 2, "a layer or a list of heads is shown on a prompt");
    tu_expect_fail(RUN("pattern", "L1H0,L0H0", "--tokens", FIXTURE_TOKENS, "--plot", "/tmp/never.png"), 2,
                   "--plot draws one head");
    tu_expect_fail(RUN("pattern", "L1H0,", "--tokens", FIXTURE_TOKENS), 2, "bad head list");
    tu_expect_fail(RUN("pattern", "L9", "--tokens", FIXTURE_TOKENS), 1, "layer \"L9\" is out of range");
    tu_expect_fail(RUN("ablate", "L0H9", "--tokens", FIXTURE_TOKENS), 1, "out of range");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_prompt_runtime");
    TCase *tc = tcase_create("cli_prompt_runtime");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, the_repeated_tokens_as_a_prompt_give_the_same_figures);
    tcase_add_test(tc, text_and_pages_on_a_prompt);
    tcase_add_test(tc, text_prompts_through_the_tokenizer);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
