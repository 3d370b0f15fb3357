/* test_cli.c — the circuitc tool end to end: help, info (human, JSON,
 * checksum), errors with non-zero exits and no stdout, and info's start-up
 * on a GPT-2-small-sized file (mmapped, not read). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/sha256.h"
#include "circuitc/synth.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static char *tiny_model(void)
{
    char *dir = tu_tmpdir();
    tu_run_result r = RUN("synth", "--preset", "tiny", "--seed", "11", "--out", dir);
    ck_assert_msg(r.status == 0, "synth failed: %s", r.err);
    tu_run_free(&r);
    return dir;
}

START_TEST(help_and_usage_errors)
{
    tu_run_result r = RUN("--help");
    ck_assert_int_eq(r.status, 0);
    tu_assert_contains(r.out, "Commands:");
    tu_assert_contains(r.out, "info");
    tu_run_free(&r);
    r = RUN("info", "--help");
    ck_assert_int_eq(r.status, 0);
    tu_assert_contains(r.out, "--checksum");
    tu_assert_contains(r.out, "--model");
    tu_run_free(&r);
    r = RUN("frobnicate");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "unknown command \"frobnicate\"");
    tu_run_free(&r);
    r = RUN("info", "--bogus");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "unknown option --bogus");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    /* info loads no weights and draws no progress: options that would do nothing are refused */
    const char *idle[] = {"--quiet", "--allow-nonfinite"};
    for (int i = 0; i < 2; i++) {
        r = RUN("info", idle[i]);
        ck_assert_int_eq(r.status, 2);
        tu_assert_contains(r.err, "info does not take it");
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
    r = RUN("info", "--model");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "needs a value");
    tu_run_free(&r);
    r = RUN("synth", "--seed", "x1", "--out", "/tmp/never");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "--seed takes a non-negative integer");
    tu_run_free(&r);
}
END_TEST

START_TEST(info_human_and_json)
{
    char *dir = tiny_model();
    tu_run_result r = RUN("info", "--model", dir);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "2 layers x 2 heads, d_model 16, d_head 8, d_mlp 64, vocab 64, n_ctx 32");
    tu_assert_contains(r.out, "fold_ln, center_writing_weights, center_unembed, fold_value_biases");
    tu_run_free(&r);

    r = RUN("info", "--model", dir, "--json", "--checksum", "--no-processing");
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_error_t jerr;
    json_t *j = json_loads(r.out, 0, &jerr);
    ck_assert_msg(j != NULL, "not JSON: %s", jerr.text);
    json_t *c = json_object_get(j, "config");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "n_layers")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "d_vocab")), 64);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "bos_token_id")), 63);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "n_params")), 8128);
    ck_assert_int_eq(json_array_size(json_object_get(j, "processing")), 0);
    char path[4096], sha[65];
    cc_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(cc_sha256_file(path, sha, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "sha256")), sha);
    json_decref(j);
    tu_run_free(&r);

    /* CIRCUITC_MODEL is the default --model */
    setenv("CIRCUITC_MODEL", dir, 1);
    r = RUN("info", "--json");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, dir);
    tu_run_free(&r);
    unsetenv("CIRCUITC_MODEL");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(sha256_known_vectors)
{
    struct { const char *in, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char *dir = tu_tmpdir();
    for (size_t i = 0; i < 3; i++) {
        char path[4096], hex[65];
        cc_error err;
        snprintf(path, sizeof path, "%s/v%zu", dir, i);
        tu_write_file(path, v[i].in, strlen(v[i].in));
        ck_assert_int_eq(cc_sha256_file(path, hex, &err), 0);
        ck_assert_str_eq(hex, v[i].hex);
    }
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_model_files_fail_cleanly)
{
    char *dir = tiny_model();
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    uint8_t *img = tu_read_file(path, &len);
    /* corrupt the header length, then truncate the data */
    uint8_t *bad = malloc(len);
    memcpy(bad, img, len);
    bad[7] = 0x7f;
    tu_write_file(path, bad, len);
    tu_run_result r = RUN("info", "--model", dir);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, path);
    tu_assert_contains(r.err, "header length");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    tu_write_file(path, img, len - 3);
    r = RUN("info", "--model", dir, "--json");
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "truncated");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    r = RUN("info", "--model", "/nonexistent/dir");
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "/nonexistent/dir");
    tu_run_free(&r);
    free(img);
    free(bad);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(synth_f16_reports_dtype)
{
    char *dir = tu_tmpdir();
    tu_run_result r = RUN("synth", "--out", dir, "--dtype", "f16", "--prefix", "--lm-head");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
    r = RUN("info", "--model", dir);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "(F16,");
    tu_assert_contains(r.out, "prefixed \"transformer.\"");
    tu_assert_contains(r.out, "unembedding stored");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A GPT-2-small-shaped file (about 500 MB): info must map it, not read it. */
START_TEST(info_on_gpt2_small_sized_file_is_instant)
{
    char *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("gpt2-small", &c, &err), 0);
    ck_assert_msg(cc_synth_write(&c, 0, NULL, dir, &err) == 0, "%s", err.msg);
    tu_run_result r = RUN("info", "--model", dir, "--json");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "\"n_params\": 124439808");
    tu_assert_contains(r.out, "\"file_bytes\": 497772400");
    printf("info on a 497,772,400-byte file: %.3f s, max RSS %ld KiB\n", r.seconds, r.max_rss_kb);
    ck_assert_msg(r.seconds < 1.0, "info took %.3f s", r.seconds);
    /* mmapped, not read: the process never holds the file's bytes */
    ck_assert_msg(r.max_rss_kb < 64 * 1024, "info used %ld KiB", r.max_rss_kb);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("circuitc");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, help_and_usage_errors);
    tcase_add_test(tc, info_human_and_json);
    tcase_add_test(tc, sha256_known_vectors);
    tcase_add_test(tc, bad_model_files_fail_cleanly);
    tcase_add_test(tc, synth_f16_reports_dtype);
    tcase_add_test(tc, info_on_gpt2_small_sized_file_is_instant);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
