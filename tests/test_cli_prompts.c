/* test_cli_prompts.c — run, lens and dla end to end: text prompts through a
 * tokenizer found beside the model, token ids on the bundled fixture, the JSON
 * envelope and keys, figures that must agree across commands, and refusals
 * (exit status, message, nothing on stdout). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/charts.h"
#include "circuitc/synth.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})
#define FIXTURE_TOKENS "511,17,301,99,4,17,301,99"

static json_t *parse_ok(tu_run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    json_t *j = tu_parse_json(r->out);
    tu_run_free(r);
    return j;
}

static void expect_fail(tu_run_result r, int status, const char *needle)
{
    ck_assert_msg(r.status == status, "exit %d, wanted %d; stderr: %s", r.status, status, r.err);
    ck_assert_msg(r.out[0] == '\0', "stdout not empty on failure: %s", r.out);
    tu_assert_contains(r.err, needle);
    tu_run_free(&r);
}

/* A small random model with GPT-2's vocabulary (50257 ids, BOS 50256) and tiny
 * dimensions, so that text goes through the GPT-2 tokenizer (the fallback). */
static char *gpt2_vocab_model(void)
{
    char *dir = tu_tmpdir();
    cc_config cfg = {.n_layers = 1, .n_heads = 2, .d_model = 16, .d_head = 8, .d_mlp = 64, .d_vocab = 50257,
                     .n_ctx = 32, .ln_eps = 1e-5, .bos_token_id = 50256};
    cc_synth_options opt = {.dtype = CC_DT_F32};
    cc_error err;
    ck_assert_msg(cc_synth_write(&cfg, 5, &opt, dir, &err) == 0, "%s", err.msg);
    return dir;
}

/* The bundled fixture without its tokenizer: its config and weights linked into a new folder. */
static char *untokenized_fixture(void)
{
    char *dir = tu_tmpdir(), from[1024], to[1024];
    static const char *const files[2] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", tu_fixture_model(), files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        ck_assert_msg(symlink(from, to) == 0, "symlink %s", to);
    }
    return dir;
}

static void check_envelope(json_t *j, const char *command)
{
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), command);
    ck_assert(json_is_string(json_object_get(j, "version")));
    ck_assert(json_is_string(json_object_get(j, "model")));
    ck_assert(json_is_array(json_object_get(j, "processing"))); /* the steps applied */
    ck_assert(json_is_number(json_object_get(j, "seconds")));
}

START_TEST(run_reads_text_with_the_model_tokenizer)
{
    char *dir = gpt2_vocab_model();
    tu_run_result r = RUN("run", "--model", dir, "--prompt", "Hello world!", "--top", "3", "--json");
    json_t *j = parse_ok(&r);
    check_envelope(j, "run");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bos")), 50256);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 3);
    json_t *p = json_array_get(json_object_get(j, "prompts"), 0);
    const int want[] = {50256, 15496, 995, 0};
    const char *texts[] = {"<|endoftext|>", "Hello", " world", "!"};
    json_t *ids = json_object_get(p, "ids"), *tokens = json_object_get(p, "tokens"), *lp = json_object_get(p, "logprob");
    ck_assert_int_eq(json_array_size(ids), 4);
    double loss = 0;
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(json_integer_value(json_array_get(ids, t)), want[t]);
        ck_assert_str_eq(json_string_value(json_array_get(tokens, t)), texts[t]);
        ck_assert_int_eq(json_array_size(json_array_get(json_object_get(p, "top"), t)), 3);
        if (t > 0) loss -= json_real_value(json_array_get(lp, t));
    }
    ck_assert(json_is_null(json_array_get(lp, 0)));
    ck_assert_double_eq_tol(json_real_value(json_object_get(p, "loss")), loss / 3, 1e-6); /* JSON keeps 9 digits */
    json_decref(j);
    r = RUN("run", "--model", dir, "--prompt", "Hello world!", "--no-bos");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "3 tokens, loss");
    tu_run_free(&r);
    r = RUN("run", "--model", dir, "--prompt", "Hello\rworld", "--no-bos"); /* tokens escaped as tokenize does */
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "\"\\r\"");
    tu_run_free(&r);
    expect_fail(RUN("run", "--model", dir, "--prompt", "word word word word word word word word word word word word word word "
                    "word word word word word word word word word word word word word word word word word word"),
                1, "--prompt: 33 tokens with BOS, more than the model's context (n_ctx = 32)");
    r = RUN("dla", "--model", dir, "--prompt", "Hello world", "--answer", "!", "--wrong", " world", "--json");
    j = parse_ok(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "answer"), "id")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "wrong"), "token")), " world");
    json_decref(j);
    expect_fail(RUN("dla", "--model", dir, "--prompt", "Hello", "--answer", "Mary Ann"), 1,
                "--answer \"Mary Ann\" is 2 tokens, not one");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(dla_sums_to_the_logit_difference_through_the_cli)
{
    tu_run_result r = RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#4", "--wrong", "#250", "--json");
    json_t *j = parse_ok(&r);
    check_envelope(j, "dla");
    ck_assert_str_eq(json_string_value(json_object_get(j, "metric")), "logit_diff");
    double sum = json_real_value(json_object_get(j, "embed")) + json_real_value(json_object_get(j, "pos_embed")) +
                 json_real_value(json_object_get(j, "unembed_bias"));
    json_t *heads = json_object_get(j, "heads");
    for (size_t l = 0; l < json_array_size(heads); l++) {
        for (size_t h = 0; h < json_array_size(json_array_get(heads, l)); h++)
            sum += json_real_value(json_array_get(json_array_get(heads, l), h));
        sum += json_real_value(json_array_get(json_object_get(j, "attn_bias"), l)) +
               json_real_value(json_array_get(json_object_get(j, "mlp_out"), l));
    }
    double logit = json_real_value(json_object_get(j, "logit"));
    ck_assert_msg(fabs(sum - logit) < 1e-4, "parts %.7f, logit difference %.7f", sum, logit);
    ck_assert(logit > 1); /* the induction head L1H0 completes the repeat: answer 4 beats 250 */
    json_decref(j);
}
END_TEST

/* --position P attributes at P; all gives every position; out of range or all with --plot is refused. */
START_TEST(dla_position_picks_where_to_attribute)
{
    tu_run_result r = RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#301", "--position", "5", "--json");
    json_t *one = parse_ok(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(one, "position")), 5);
    r = RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#301", "--position", "all", "--json");
    json_t *all = parse_ok(&r), *at5 = json_array_get(json_object_get(all, "positions"), 5);
    ck_assert_int_eq(json_array_size(json_object_get(all, "positions")), 8);
    ck_assert(json_equal(json_object_get(at5, "heads"), json_object_get(one, "heads")));
    ck_assert(json_real_value(json_object_get(one, "logit")) > 1); /* L1H0 predicts the repeat of 301 after 17 */
    tu_expect_fail(RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#4", "--position", "8"), 2,
                   "--position 8: the prompt has positions 0..7");
    tu_expect_fail(RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#4", "--position", "all", "--plot", "x.png"), 2,
                   "--plot draws one position");
    json_decref(one);
    json_decref(all);
}
END_TEST

START_TEST(lens_final_row_agrees_with_run)
{
    tu_run_result r = RUN("lens", "--tokens", FIXTURE_TOKENS, "--json");
    json_t *lens = parse_ok(&r);
    r = RUN("run", "--tokens", FIXTURE_TOKENS, "--json");
    json_t *run = parse_ok(&r);
    json_t *layers = json_object_get(lens, "layers"), *last = json_array_get(layers, json_array_size(layers) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "label")), "final_post");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, 0), "label")), "0_pre");
    json_t *lp = json_object_get(json_array_get(json_object_get(run, "prompts"), 0), "logprob");
    for (size_t t = 0; t + 1 < json_array_size(lp); t++)
        ck_assert_double_eq_tol(json_real_value(json_array_get(json_object_get(last, "prob_next"), t)),
                                exp(json_real_value(json_array_get(lp, t + 1))), 1e-6);
    json_decref(lens);
    json_decref(run);
}
END_TEST

/* A one-token prompt is "1 token", not "1 tokens", in every header that counts them. */
START_TEST(one_token_is_singular)
{
    tu_run_result runs[] = {
        RUN("lens", "--tokens", "5"), RUN("dla", "--tokens", "5", "--answer", "#5"),
        RUN("pattern", "L0H0", "--tokens", "5"), RUN("run", "--tokens", "5"),
    };
    const char *want[] = {"1 token, logit lens", "1 token, position 0", "pattern on 1 token\n",
                          "1 token (no prediction to score)"};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        ck_assert_msg(runs[i].status == 0, "%s", runs[i].err);
        tu_assert_contains(runs[i].out, want[i]);
        ck_assert_msg(!strstr(runs[i].out, "1 tokens"), "%s", runs[i].out);
        tu_run_free(&runs[i]);
    }
}
END_TEST

/* A newcomer's first prompt on the default model (the bundled fixture) is
 * tokenized by the fixture's own tokenizer: real token texts, BOS first, and
 * the induction head completing the repeated name. */
START_TEST(a_first_prompt_runs_on_the_default_model)
{
    tu_run_result r = RUN("run", "--prompt", "When Mary and John went to the store, John gave a drink to", "--json");
    json_t *j = parse_ok(&r), *p = json_array_get(json_object_get(j, "prompts"), 0);
    const char *tokenizer = json_string_value(json_object_get(j, "tokenizer"));
    ck_assert_msg(tokenizer && strstr(tokenizer, "induction-3l4h"), "tokenizer %s", tokenizer);
    json_t *tokens = json_object_get(p, "tokens");
    ck_assert_str_eq(json_string_value(json_array_get(tokens, 0)), "<|endoftext|>");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(p, "ids"), 0)), 511);
    size_t n = json_array_size(tokens);
    char joined[256] = "";
    for (size_t t = 1; t < n; t++) strncat(joined, json_string_value(json_array_get(tokens, t)), 255 - strlen(joined));
    ck_assert_str_eq(joined, "When Mary and John went to the store, John gave a drink to");
    ck_assert_str_eq(json_string_value(json_array_get(tokens, 3)), " Mary");
    json_decref(j);
    /* the table's columns line up after a token of several UTF-8 bytes (id 99 decodes alone to U+FFFD) */
    r = RUN("run", "--tokens", "511,99,4");
    ck_assert_msg(r.status == 0, "%s", r.err);
    int column[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const char *line = strstr(r.out, k ? "\n    2 " : "\n    1 "), *c = strchr(strchr(line + 1, '"') + 1, '"');
        for (const char *q = line + 1; q < c + 1 + strspn(c + 1, " "); q++) column[k] += (*q & 0xC0) != 0x80;
    }
    ck_assert_msg(column[0] == column[1], "log-probs at columns %d and %d:\n%s", column[0], column[1], r.out);
    tu_run_free(&r);
    r = RUN("dla", "--prompt", "When Mary and John went to the store, John", "--answer", " w", "--wrong", " Mary");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "direct logit attribution of \" w\" - \" Mary\"");
    tu_run_free(&r);
}
END_TEST

START_TEST(refusals_exit_non_zero_without_stdout)
{
    expect_fail(RUN("dla", "--tokens", FIXTURE_TOKENS), 2, "--answer TOKEN is required");
    char *bare = untokenized_fixture(); /* GPT-2's tokenizer, the fallback, is too large for it */
    expect_fail(RUN("dla", "--model", bare, "--tokens", FIXTURE_TOKENS, "--answer", "x"), 1, "no tokenizer for this model");
    expect_fail(RUN("lens", "--model", bare, "--prompt", "Hello"), 1, "they do not belong together");
    tu_rmtree(bare);
    free(bare);
    expect_fail(RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#512"), 1, "#ID must be a token id 0..511");
    expect_fail(RUN("lens", "--prompt", "Hello", "--tokenizer", getenv("CIRCUITC_GPT2_TOKENIZER")), 1,
                "they do not belong together");
    expect_fail(RUN("run", "--tokens", "1,2", "--prompt", "x"), 2, "give exactly one of");
    expect_fail(RUN("run", "--tokens", "1,2", "--answer", "#1"), 2, "unknown option --answer");
    expect_fail(RUN("run"), 2, "give exactly one of");
    expect_fail(RUN("run", "--tokens", "1,2", "--top", "0"), 2, "--top");
    char *dir = tu_tmpdir(), path[600], arg[610];
    snprintf(path, sizeof path, "%s/ids.txt", dir);
    tu_write_file(path, "1 2\n3 4\n", 8);
    snprintf(arg, sizeof arg, "@%s", path);
    expect_fail(RUN("lens", "--tokens", arg), 1, "this command reads 1");
    tu_run_result r = RUN("run", "--tokens", arg, "--json");
    json_t *j = parse_ok(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "prompts")), 2);
    json_decref(j);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* PNG signature of the file at PATH. */
static void assert_png(const char *path)
{
    size_t len;
    uint8_t *data = tu_read_file(path, &len);
    ck_assert_msg(len > 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", path);
    free(data);
}

START_TEST(charts_are_labelled_with_tokens)
{
    char *dir = tu_tmpdir(), lens[600], dla[600], pattern[600], quoted[600];
    snprintf(lens, sizeof lens, "%s/lens.png", dir);
    snprintf(dla, sizeof dla, "%s/dla.png", dir);
    snprintf(pattern, sizeof pattern, "%s/pattern.svg", dir);
    tu_run_result r = RUN("lens", "--tokens", FIXTURE_TOKENS, "--plot", lens);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
    r = RUN("dla", "--tokens", FIXTURE_TOKENS, "--answer", "#4", "--plot", dla, "--json");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
    r = RUN("pattern", "L1H0", "--tokens", FIXTURE_TOKENS, "--plot", pattern);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
    assert_png(lens);
    assert_png(dla);
    size_t len;
    char *svg = (char *)tu_read_file(pattern, &len);
    /* ids 511 and 301 are "<|endoftext|>" and "el" in the fixture's tokenizer */
    ck_assert_ptr_nonnull(strstr(svg, "<text>&lt;|endoftext|></text>"));
    ck_assert_ptr_nonnull(strstr(svg, "<text>el</text>"));
    free(svg);
    /* token texts with quotes, a newline and a backslash reach gnuplot as plain labels */
    snprintf(quoted, sizeof quoted, "%s/quoted.svg", dir);
    const char *tokens[] = {"it's", "a\nb", " \"q\\%"}; /* a tic label is a gnuplot format: % must be doubled */
    const float pat[9] = {1, 0, 0, 0.5f, 0.5f, 0, 0.2f, 0.3f, 0.5f};
    cc_chart_opts o = {.out = quoted, .title = "quoted"};
    cc_error err;
    ck_assert_msg(cc_chart_pattern_tokens(&o, 3, pat, tokens, &err) == 0, "%s", err.msg);
    svg = (char *)tu_read_file(quoted, &len);
    ck_assert_ptr_nonnull(strstr(svg, "it&apos;s") ? strstr(svg, "it&apos;s") : strstr(svg, "it's"));
    ck_assert_ptr_nonnull(strstr(svg, "a\\nb"));
    ck_assert_ptr_nonnull(strstr(svg, "q\\%"));
    free(svg);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_prompts");
    TCase *tc = tcase_create("cli_prompts");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, run_reads_text_with_the_model_tokenizer);
    tcase_add_test(tc, dla_sums_to_the_logit_difference_through_the_cli);
    tcase_add_test(tc, dla_position_picks_where_to_attribute);
    tcase_add_test(tc, lens_final_row_agrees_with_run);
    tcase_add_test(tc, one_token_is_singular);
    tcase_add_test(tc, a_first_prompt_runs_on_the_default_model);
    tcase_add_test(tc, refusals_exit_non_zero_without_stdout);
    tcase_add_test(tc, charts_are_labelled_with_tokens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
