/* test_error_codes.c — every class of failure carries its code (include/circuitc/error.h):
 * one representative failure per class, through the public API, with the code
 * (not only the message) asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "circuitc/circuit.h"
#include "circuitc/config.h"
#include "circuitc/error.h"
#include "circuitc/forward.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"
#include "circuitc/safetensors.h"
#include "circuitc/tokenizer.h"
#include "circuitc/validate.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* cc_validate of L0H0 -> L1H0 on the fixture M against the golden folder DIR. */
static int validate_against(cc_model *m, const char *dir, cc_error *err)
{
    cc_validate_options o;
    cc_validate_defaults(&o);
    o.golden_dir = dir;
    cc_validation v;
    return cc_validate(m, (cc_head){0, 0}, (cc_head){1, 0}, &o, &v, err);
}

/* Asserts that RC is a failure with code WANT (named in the message on failure). */
static void expect_code(int rc, const cc_error *err, cc_errcode want)
{
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(err->code == want, "error code %s, expected %s (message: %s)", cc_error_code_name(err->code),
                  cc_error_code_name(want), err->msg);
}

static cc_model *fixture(void)
{
    cc_model *m = NULL;
    cc_error err = {0};
    ck_assert_msg(cc_model_load(tu_fixture_model(), NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(a_zeroed_error_says_ok_and_every_code_has_a_name)
{
    cc_error err = {0};
    ck_assert_int_eq(err.code, CC_OK);
    ck_assert_str_eq(cc_error_code_name(CC_OK), "ok");
    ck_assert_str_eq(cc_error_code_name(CC_E_FORMAT), "format");
    ck_assert_str_eq(cc_error_code_name(CC_E_CANCELLED), "cancelled");
    for (int c = 0; c < CC_E_COUNT; c++) {
        const char *name = cc_error_code_name((cc_errcode)c);
        ck_assert_msg(strcmp(name, "?") != 0, "code %d has no name", c);
        for (int d = 0; d < c; d++) ck_assert_str_ne(name, cc_error_code_name((cc_errcode)d));
    }
    ck_assert_str_eq(cc_error_code_name(CC_E_COUNT), "?");
}
END_TEST

START_TEST(a_null_argument_is_arg)
{
    cc_model *m = NULL;
    cc_error err = {0};
    expect_code(cc_model_open(NULL, NULL, &m, &err), &err, CC_E_ARG);
    tu_assert_contains(err.msg, "argument path is NULL");
}
END_TEST

START_TEST(a_head_outside_the_model_is_value)
{
    cc_model *m = fixture();
    cc_head h;
    cc_error err = {0};
    expect_code(cc_head_parse("L9H0", &m->cfg, &h, &err), &err, CC_E_VALUE);
    int tokens[2] = {1, m->cfg.d_vocab}; /* one past the vocabulary */
    cc_fwd_result res = {0};
    expect_code(cc_forward(m, tokens, 1, 2, &(cc_fwd_opts){0}, &res, &err), &err, CC_E_VALUE);
    cc_fwd_result_free(&res);
    cc_model_free(m);
}
END_TEST

START_TEST(a_missing_file_is_io)
{
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/absent", dir);
    cc_model *m = NULL;
    cc_error err = {0};
    expect_code(cc_model_open(path, NULL, &m, &err), &err, CC_E_IO);
    cc_circuit *c = NULL;
    expect_code(cc_circuit_load(path, &c, &err), &err, CC_E_IO);
    m = fixture();
    expect_code(validate_against(m, path, &err), &err, CC_E_IO); /* a --golden folder that is not there */
    tu_assert_contains(err.msg, "absent/tokens.json");
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(a_malformed_file_is_format)
{
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tu_write_file(path, "not a safetensors file", 22);
    cc_st_file *st = NULL;
    cc_error err = {0};
    expect_code(cc_st_open(path, &st, &err), &err, CC_E_FORMAT);
    snprintf(path, sizeof path, "%s/config.json", dir);
    tu_write_file(path, "{\"n_layer\": ", 12);
    cc_config cfg;
    expect_code(cc_config_load(path, &cfg, &err), &err, CC_E_FORMAT);
    static const char vocab[] = "[1, 2]", merges[] = "#version: 0.2\n";
    cc_tokenizer *tok = NULL;
    expect_code(cc_tokenizer_from_buffers(vocab, sizeof vocab - 1, merges, sizeof merges - 1, &tok, &err), &err,
                CC_E_FORMAT);
    cc_circuit *c = NULL;
    expect_code(cc_circuit_parse("params: a\nchain: W_Q[nobody]\n", "bad.circuit", &c, &err), &err, CC_E_FORMAT);
    snprintf(path, sizeof path, "%s/tokens.json", dir);
    tu_write_file(path, "{\"n\": ", 6);
    cc_model *m = fixture();
    expect_code(validate_against(m, dir, &err), &err, CC_E_FORMAT); /* a golden file that does not parse */
    tu_assert_contains(err.msg, "tokens.json");
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(an_architecture_circuitc_lacks_is_unsupported)
{
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    static const char bert[] = "{\"model_type\": \"bert\", \"n_layer\": 2}";
    tu_write_file(path, bert, sizeof bert - 1);
    cc_config cfg;
    cc_error err = {0};
    expect_code(cc_config_load(path, &cfg, &err), &err, CC_E_UNSUPPORTED);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(a_nan_activation_is_nonfinite)
{
    cc_model *m = fixture();
    int tokens[2] = {3, 5};
    for (int i = 0; i < m->cfg.d_model; i++) m->w.W_E[(size_t)3 * m->cfg.d_model + i] = NAN;
    cc_fwd_result res = {0};
    cc_error err = {0};
    expect_code(cc_forward(m, tokens, 1, 2, &(cc_fwd_opts){0}, &res, &err), &err, CC_E_NONFINITE);
    cc_fwd_result_free(&res);
    cc_model_free(m);
}
END_TEST

/* Address-space limits and a sanitizer's shadow memory do not mix. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

START_TEST(running_out_of_memory_is_nomem)
{
#ifdef UNDER_ASAN
    return;
#else
    cc_model *m = fixture();
    /* A batch whose residual stream alone (2^18 rows of d_model floats) is far
     * beyond the address space left to this (forked) test process. */
    enum { BATCH = 1 << 17, POS = 2 };
    int *tokens = calloc((size_t)BATCH * POS, sizeof *tokens);
    ck_assert(tokens != NULL);
    struct rlimit lim;
    ck_assert(getrlimit(RLIMIT_AS, &lim) == 0);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    ck_assert(f && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    lim.rlim_cur = (rlim_t)pages * 4096 + (64u << 20);
    ck_assert(setrlimit(RLIMIT_AS, &lim) == 0);
    cc_fwd_result res = {0};
    cc_error err = {0};
    expect_code(cc_forward(m, tokens, BATCH, POS, &(cc_fwd_opts){0}, &res, &err), &err, CC_E_NOMEM);
    cc_fwd_result_free(&res);
    free(tokens);
    cc_model_free(m);
#endif
}
END_TEST

START_TEST(a_prefix_keeps_the_code)
{
    cc_error err = {0};
    cc_fail_code(&err, CC_E_IO, "cannot read x");
    cc_fail_prefix(&err, "loading");
    ck_assert_int_eq(err.code, CC_E_IO);
    ck_assert_str_eq(err.msg, "loading: cannot read x");
    cc_fail(&err, "plain");
    ck_assert_int_eq(err.code, CC_E_VALUE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("error_codes");
    TCase *tc = tcase_create("codes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_zeroed_error_says_ok_and_every_code_has_a_name);
    tcase_add_test(tc, a_null_argument_is_arg);
    tcase_add_test(tc, a_head_outside_the_model_is_value);
    tcase_add_test(tc, a_missing_file_is_io);
    tcase_add_test(tc, a_malformed_file_is_format);
    tcase_add_test(tc, an_architecture_circuitc_lacks_is_unsupported);
    tcase_add_test(tc, a_nan_activation_is_nonfinite);
    tcase_add_test(tc, running_out_of_memory_is_nomem);
    tcase_add_test(tc, a_prefix_keeps_the_code);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
