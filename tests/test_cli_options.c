/* test_cli_options.c — the command line as a newcomer types it: long options
 * match exactly (a prefix or a neighbour's name is refused, never taken for
 * another option), misspelled options and commands get a "did you mean",
 * and every usage error exits 2 with nothing on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

/* `ablate --mode zero` once became `--model zero` (getopt_long's prefix
 * matching) and then failed on a model folder named "zero", or with another
 * command ran with a silently different option. */
START_TEST(long_options_match_exactly)
{
    tu_expect_fail(RUN("ablate", "L0H0", "--mode", "zero"), 2, "did you mean --ablate zero?");
    tu_expect_fail(RUN("heads", "--mod", tu_fixture_model()), 2, "unknown option --mod; did you mean --model?");
    tu_expect_fail(RUN("heads", "--se", "3"), 2, "unknown option --se");
    tu_expect_fail(RUN("kcomp", "L0H0", "L1H0", "--js"), 2, "did you mean --json?");
}
END_TEST

START_TEST(misspellings_get_a_suggestion)
{
    tu_expect_fail(RUN("heads", "--sede", "3"), 2, "did you mean --seed?");
    tu_expect_fail(RUN("info", "--chekcsum"), 2, "did you mean --checksum?");
    tu_expect_fail(RUN("kcmop", "L0H0", "L1H0"), 2, "unknown command \"kcmop\"; did you mean \"kcomp\"?");
    tu_expect_fail(RUN("help", "ablte"), 2, "did you mean \"ablate\"?");
    /* nothing near: no guess, the plain error */
    tu_run_result r = RUN("heads", "--zzzzzzzz");
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "did you mean") == NULL, "a far-fetched guess: %s", r.err);
    tu_expect_fail(r, 2, "unknown option --zzzzzzzz");
    tu_expect_fail(RUN("heads", "--json=yes"), 2, "option --json takes no value");
    tu_expect_fail(RUN("heads", "--seed"), 2, "option --seed needs a value");
}
END_TEST

/* What the parser still accepts: options anywhere, --name=value, clustered
 * short flags, "--" before positional arguments. */
START_TEST(accepted_forms)
{
    const char *const forms[][8] = {
        {"kcomp", "--json", "L0H0", "L1H0", NULL},
        {"kcomp", "L0H0", "L1H0", "-jq", NULL},
        {"kcomp", "--k=3", "L0H0", "--json", "L1H0", NULL},
        {"kcomp", "--json", "--", "L0H0", "L1H0", NULL},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        tu_run_result r = tu_run(forms[i]);
        json_decref(tu_parse_ok(&r));
        tu_run_free(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_options");
    TCase *tc = tcase_create("cli_options");
    tcase_add_test(tc, long_options_match_exactly);
    tcase_add_test(tc, misspellings_get_a_suggestion);
    tcase_add_test(tc, accepted_forms);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
