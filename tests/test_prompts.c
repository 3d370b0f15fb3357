/* test_prompts.c — prompts to token batches (circuitc/prompts.h): BOS, right
 * padding with <|endoftext|>, token ids, where the tokenizer comes from, and
 * every refusal naming the option and the fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/prompts.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* A model as the prompt helper sees it: a config and the folder it sits in. */
typedef struct {
    char *dir;
    char config_path[512];
    cc_model m;
} fake_model;

static void fake_open(fake_model *f, int d_vocab, int n_ctx)
{
    f->dir = tu_tmpdir();
    snprintf(f->config_path, sizeof f->config_path, "%s/config.json", f->dir);
    memset(&f->m, 0, sizeof f->m);
    f->m.config_path = f->config_path;
    f->m.cfg = (cc_config){.n_layers = 1, .n_heads = 1, .d_model = 4, .d_head = 4, .d_mlp = 16, .d_vocab = d_vocab,
                           .n_ctx = n_ctx, .ln_eps = 1e-5, .bos_token_id = d_vocab - 1};
}

static void fake_close(fake_model *f)
{
    tu_rmtree(f->dir);
    free(f->dir);
}

static const char *gpt2_dir(void)
{
    return getenv("CIRCUITC_GPT2_TOKENIZER");
}

static void load_ok(const cc_prompt_source *src, const fake_model *f, cc_prompt_batch *b)
{
    cc_error err;
    ck_assert_msg(cc_prompt_batch_load(src, &f->m, b, &err) == 0, "%s", err.msg);
}

static void load_fails(const cc_prompt_source *src, const fake_model *f, const char *needle)
{
    cc_prompt_batch b;
    cc_error err;
    ck_assert_int_eq(cc_prompt_batch_load(src, &f->m, &b, &err), -1);
    tu_assert_contains(err.msg, needle);
    cc_prompt_batch_free(&b);
}

static void assert_row(const cc_prompt_batch *b, int row, const int *want, int n)
{
    ck_assert_int_eq(b->length[row], n);
    for (int t = 0; t < b->pos; t++)
        ck_assert_msg(b->tokens[(size_t)row * b->pos + t] == (t < n ? want[t] : b->pad), "row %d position %d is %d",
                      row, t, b->tokens[(size_t)row * b->pos + t]);
}

START_TEST(text_prompt_gets_bos_and_gpt2_ids)
{
    fake_model f;
    fake_open(&f, 50257, 1024);
    cc_prompt_batch b;
    cc_prompt_source src = {.text = "Hello world!", .fallback_dir = gpt2_dir()};
    load_ok(&src, &f, &b);
    ck_assert_int_eq(b.batch, 1);
    ck_assert_int_eq(b.bos, 50256);
    assert_row(&b, 0, (const int[]){50256, 15496, 995, 0}, 4);
    ck_assert_str_eq(b.text[0], "Hello world!");
    ck_assert_str_eq(b.tokenizer_dir, gpt2_dir());
    char *text = cc_prompt_token_text(&b, 995);
    ck_assert_str_eq(text, " world");
    free(text);
    cc_prompt_batch_free(&b);
    src.no_bos = true;
    load_ok(&src, &f, &b);
    ck_assert_int_eq(b.bos, -1);
    assert_row(&b, 0, (const int[]){15496, 995, 0}, 3);
    cc_prompt_batch_free(&b);
    f.m.cfg.n_ctx = 2;
    load_fails(&src, &f, "--prompt: 3 tokens, more than the model's context (n_ctx = 2)");
    fake_close(&f);
}
END_TEST

START_TEST(prompt_file_is_padded_on_the_right_with_endoftext)
{
    fake_model f;
    fake_open(&f, 50257, 1024);
    char path[600];
    snprintf(path, sizeof path, "%s/prompts.txt", f.dir);
    tu_write_file(path, "Hi\r\nHello world!\n", 17);
    cc_prompt_batch b;
    cc_prompt_source src = {.file = path, .fallback_dir = gpt2_dir()};
    load_ok(&src, &f, &b);
    ck_assert_int_eq(b.batch, 2);
    ck_assert_int_eq(b.pos, 4);
    ck_assert_int_eq(b.pad, 50256);
    assert_row(&b, 0, (const int[]){50256, 17250}, 2);
    assert_row(&b, 1, (const int[]){50256, 15496, 995, 0}, 4);
    ck_assert_str_eq(b.text[0], "Hi");
    cc_prompt_batch_free(&b);
    tu_write_file(path, "", 0);
    load_fails(&src, &f, "is empty");
    tu_write_file(path, "a\n\n", 3);
    src.no_bos = true;
    load_fails(&src, &f, "line 2 is empty");
    fake_close(&f);
}
END_TEST

START_TEST(token_ids_are_run_as_given)
{
    fake_model f;
    fake_open(&f, 512, 8);
    cc_prompt_batch b;
    cc_prompt_source src = {.tokens = "1, 2 3", .fallback_dir = gpt2_dir()};
    load_ok(&src, &f, &b);
    ck_assert_int_eq(b.bos, -1);
    ck_assert_ptr_null(b.tok); /* GPT-2's 50257 tokens do not fit a 512-token model */
    assert_row(&b, 0, (const int[]){1, 2, 3}, 3);
    char *text = cc_prompt_token_text(&b, 3);
    ck_assert_str_eq(text, "#3");
    free(text);
    cc_prompt_batch_free(&b);
    char path[600];
    snprintf(path, sizeof path, "@%s/ids.txt", f.dir);
    tu_write_file(path + 1, "5 6\n7,8,9\n", 10);
    src.tokens = path;
    load_ok(&src, &f, &b);
    ck_assert_int_eq(b.batch, 2);
    assert_row(&b, 0, (const int[]){5, 6}, 2);
    assert_row(&b, 1, (const int[]){7, 8, 9}, 3);
    ck_assert_int_eq(b.pad, 511); /* no tokenizer: the model's BOS */
    cc_prompt_batch_free(&b);
    tu_write_file(path + 1, "5 6\n7,512\n", 10);
    load_fails(&src, &f, "line 2: \"512\" is not a token id of this model (integers 0..511");
    src.tokens = "1 -2";
    load_fails(&src, &f, "\"-2\" is not a token id");
    src.tokens = "1 2 3 4 5 6 7 8 9";
    load_fails(&src, &f, "--tokens: 9 tokens, more than the model's context (n_ctx = 8)");
    src.tokens = "  ";
    load_fails(&src, &f, "--tokens has no token ids");
    /* an empty item is refused, not skipped; spaces around a comma are fine */
    src.tokens = "1,,2";
    load_fails(&src, &f, "--tokens: empty item before the comma at character 3");
    src.tokens = ",1";
    load_fails(&src, &f, "--tokens: empty item before the comma at character 1");
    src.tokens = " , ";
    load_fails(&src, &f, "--tokens: empty item before the comma at character 2");
    src.tokens = "1,2 ,";
    load_fails(&src, &f, "--tokens: empty item after the last comma");
    src.tokens = " 1 , 2\t3 ";
    load_ok(&src, &f, &b);
    assert_row(&b, 0, (const int[]){1, 2, 3}, 3);
    cc_prompt_batch_free(&b);
    tu_write_file(path + 1, "5 6\n7,,8\n", 10);
    src.tokens = path;
    load_fails(&src, &f, "line 2: empty item before the comma at character 3");
    src.tokens = "1";
    src.no_bos = true;
    load_fails(&src, &f, "--no-bos applies to text prompts");
    fake_close(&f);
}
END_TEST

START_TEST(text_needs_a_tokenizer_that_fits_the_model)
{
    fake_model f;
    fake_open(&f, 512, 128);
    cc_prompt_source src = {.text = "Hello", .fallback_dir = gpt2_dir()};
    load_fails(&src, &f, "has 50257 tokens but the model's vocab_size is 512: they do not belong together");
    src.tokenizer_dir = f.dir;
    load_fails(&src, &f, "--tokenizer");
    src.tokenizer_dir = NULL;
    src.text = NULL;
    src.tokens = "1";
    src.fallback_dir = "/nonexistent";
    cc_prompt_batch b;
    load_ok(&src, &f, &b); /* ids need no tokenizer */
    cc_prompt_batch_free(&b);
    src.text = "x";
    load_fails(&src, &f, "give exactly one of --prompt TEXT, --prompt-file FILE or --tokens");
    fake_close(&f);
}
END_TEST

START_TEST(tokenizer_beside_the_model_wins_over_gpt2)
{
    fake_model f;
    fake_open(&f, 50257, 1024);
    char from[600], to[600];
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "merges.txt" : "vocab.json";
        snprintf(from, sizeof from, "%s/%s", gpt2_dir(), name);
        snprintf(to, sizeof to, "%s/%s", f.dir, name);
        ck_assert_int_eq(symlink(from, to), 0);
    }
    cc_prompt_batch b;
    cc_prompt_source src = {.text = "Hello", .fallback_dir = "/nonexistent"};
    load_ok(&src, &f, &b);
    ck_assert_str_eq(b.tokenizer_dir, f.dir);
    cc_prompt_batch_free(&b);
    fake_close(&f);
}
END_TEST

START_TEST(single_tokens_for_answers)
{
    fake_model f;
    fake_open(&f, 50257, 1024);
    cc_prompt_batch b;
    cc_prompt_source src = {.text = "x", .fallback_dir = gpt2_dir()};
    load_ok(&src, &f, &b);
    int32_t id;
    cc_error err;
    ck_assert_int_eq(cc_prompt_single_token(&b, &f.m.cfg, " world", "--answer", &id, &err), 0);
    ck_assert_int_eq(id, 995);
    ck_assert_int_eq(cc_prompt_single_token(&b, &f.m.cfg, "#42", "--answer", &id, &err), 0);
    ck_assert_int_eq(id, 42);
    ck_assert_int_eq(cc_prompt_single_token(&b, &f.m.cfg, "Hello world", "--wrong", &id, &err), -1);
    tu_assert_contains(err.msg, "--wrong \"Hello world\" is 2 tokens, not one");
    ck_assert_int_eq(cc_prompt_single_token(&b, &f.m.cfg, "#50257", "--answer", &id, &err), -1);
    tu_assert_contains(err.msg, "#ID must be a token id 0..50256");
    ck_assert_int_eq(cc_prompt_single_token(&b, &f.m.cfg, "#-1", "--answer", &id, &err), -1);
    cc_prompt_batch_free(&b);
    fake_close(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prompts");
    TCase *tc = tcase_create("prompts");
    tcase_set_timeout(tc, 120); /* GPT-2's tokenizer is loaded by most tests: seconds under the sanitizers */
    tcase_add_test(tc, text_prompt_gets_bos_and_gpt2_ids);
    tcase_add_test(tc, prompt_file_is_padded_on_the_right_with_endoftext);
    tcase_add_test(tc, token_ids_are_run_as_given);
    tcase_add_test(tc, text_needs_a_tokenizer_that_fits_the_model);
    tcase_add_test(tc, tokenizer_beside_the_model_wins_over_gpt2);
    tcase_add_test(tc, single_tokens_for_answers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
