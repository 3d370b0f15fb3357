/* test_progress.c — progress reporting: the runtime experiments' per-layer
 * callback (library), and the CLI's progress line, which appears on a terminal
 * (a pseudo-terminal from util-linux `script`), never with --quiet, and never
 * when stderr is not a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/experiments.h"
#include "circuitc/process.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static cc_model *bundled_model(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/models/induction-3l4h", getenv("CIRCUITC_SOURCE_ROOT"));
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(path, NULL, &m, &err) == 0 && cc_model_load_weights(m, &err) == 0 &&
                      cc_process_weights(m, &err) == 0,
                  "%s", err.msg);
    return m;
}

typedef struct {
    long calls, last_done, total;
} tally;

static int count(void *ctx, long done, long total)
{
    tally *t = ctx;
    ck_assert_int_eq(done, t->last_done + 1); /* one call per block, in order */
    t->calls++, t->last_done = done, t->total = total;
    return 0;
}

START_TEST(experiments_report_every_block)
{
    cc_model *m = bundled_model();
    int L = m->cfg.n_layers, B = 2, n = 6, tok[2 * 13];
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, 5, B, n, tok, &err) == 0);
    cc_head prev = {0, 0};
    cc_ablation plain, watched;
    ck_assert(cc_ablate_heads(m, tok, B, n, &prev, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST, 0, NULL, NULL, &plain, &err) ==
              0);
    tally t = {0};
    ck_assert(cc_ablate_heads(m, tok, B, n, &prev, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST, 0, count, &t, &watched, &err) ==
              0);
    ck_assert_int_eq(t.calls, 2 * L); /* clean and ablated passes */
    ck_assert_int_eq(t.total, 2 * L);
    /* watching changes nothing */
    ck_assert(plain.ablated.loss == watched.ablated.loss && plain.clean.loss == watched.clean.loss);
    t = (tally){0};
    cc_head_scores hs;
    ck_assert(cc_head_scores_run(m, tok, B, n, CC_KERNEL_FAST, 0, count, &t, &hs, &err) == 0);
    ck_assert_int_eq(t.calls, L);
    ck_assert_int_eq(t.total, L);
    t = (tally){0};
    cc_repeat_stats rs;
    ck_assert(cc_repeat_run(m, tok, B, n, CC_KERNEL_FAST, 0, count, &t, &rs, &err) == 0);
    ck_assert_int_eq(t.calls, L);
    /* the callback is the call's: another call without one reports nothing */
    t = (tally){0};
    cc_repeat_stats_free(&rs);
    ck_assert(cc_repeat_run(m, tok, B, n, CC_KERNEL_FAST, 0, NULL, NULL, &rs, &err) == 0);
    ck_assert_int_eq(t.calls, 0);
    cc_repeat_stats_free(&rs);
    cc_head_scores_free(&hs);
    cc_ablation_free(&plain);
    cc_ablation_free(&watched);
    cc_model_free(m);
}
END_TEST

/* The bytes circuitc writes to a terminal (stdout and stderr share it). */
static char *on_terminal(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "script -q -e -c '%s %s' /dev/null", getenv("CIRCUITC_BIN"), args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - 1 - len, p)) > 0)
        if ((len += got) == cap - 1) buf = realloc(buf, cap *= 2);
    buf[len] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    return buf;
}

static const char *LONG_COMMANDS[][2] = {
    {"heads", "\rheads: "},
    {"repeat", "\rrepeat: "},
    {"ablate L0H0", "\rablate: "},
    {"patch mlp_out", "\rpatch: "},
    {"kcomp L0H0 L1H0", "\rexact top-k, rows: "},
    {"qk L1H0", "\rexact top-k, columns: "},
    {"comp-scores", "\rcomp-scores: "},
    {"validate L0H0 L1H0", "\rvalidate: "},
    /* loading the model reports per tensor; path patching per sender */
    {"run --tokens 511,17,301,99,4,17,301,99", "\rrun: "},
    {"lens --tokens 511,17,301,99,4,17,301,99", "\rlens: "},
    {"dla --tokens 511,17,301,99,4,17,301,99 --answer \\#17", "\rdla: "},
    {"pattern L1H0 --tokens 511,17,301,99,4,17,301,99", "\rpattern: "},
    {"path-patch all L2H1 --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens 511,10,20,30,40,60,70 --metric loss",
     "\rpath-patch: "},
    {"patch resid_pre --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens 511,10,20,30,40,60,70 --metric loss",
     "\rpatch: "},
};

START_TEST(progress_on_a_terminal_only)
{
    if (access("/usr/bin/script", X_OK) != 0 && access("/bin/script", X_OK) != 0) return; /* no util-linux */
    const char *cmd = LONG_COMMANDS[_i][0], *label = LONG_COMMANDS[_i][1];
    char *out = on_terminal(cmd);
    tu_assert_contains(out, label);
    tu_assert_contains(out, "% ETA ");
    /* the line is erased before the results: the last progress text is followed by an erase */
    char *last = strstr(out, label), *next;
    while ((next = strstr(last + 1, label)) != NULL) last = next;
    tu_assert_contains(last, "\r\033[K");
    free(out);
    char quiet[320];
    snprintf(quiet, sizeof quiet, "%s --quiet", cmd);
    out = on_terminal(quiet);
    ck_assert_msg(strstr(out, "% ETA") == NULL && strstr(out, "\033[K") == NULL, "progress despite --quiet: %s", out);
    free(out);
}
END_TEST

/* Not a terminal: stderr stays empty, stdout holds only the result. */
START_TEST(nothing_when_stderr_is_not_a_terminal)
{
    char args[256];
    snprintf(args, sizeof args, "%s", LONG_COMMANDS[_i][0]);
    const char *argv[16] = {0};
    int n = 0;
    for (char *save = NULL, *w = strtok_r(args, " ", &save); w && n < 14; w = strtok_r(NULL, " ", &save))
        argv[n++] = w + (w[0] == '\\'); /* "\\#17": the shell's escape of "#17" */
    argv[n++] = "--json";
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "%s: %s", LONG_COMMANDS[_i][0], r.err);
    ck_assert_str_eq(r.err, "");
    json_decref(tu_parse_json(r.out));
    tu_run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("progress");
    tcase_add_test(tc, experiments_report_every_block);
    int n = sizeof LONG_COMMANDS / sizeof LONG_COMMANDS[0];
    tcase_add_loop_test(tc, progress_on_a_terminal_only, 0, n);
    tcase_add_loop_test(tc, nothing_when_stderr_is_not_a_terminal, 0, n);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
