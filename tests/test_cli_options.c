/* test_cli_options.c — the command line as a newcomer types it: long options
 * match exactly (a prefix or a neighbour's name is refused, never taken for
 * another option), misspelled options and commands get a "did you mean",
 * every usage error exits 2 with nothing on stdout, and every command's help
 * keeps its columns apart and its lines within the width. */
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_examples.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

enum { HELP_WIDTH = 96, TEXT_COLUMN = 26 };

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

/* An option line of the help: "  -m, --model PATH" or "      --seed S", then
 * at least one space and the text at TEXT_COLUMN, or nothing more (a long
 * label's text starts on the next line). Lines in between are the text's
 * continuation, indented to TEXT_COLUMN. */
static void check_option_line(regex_t *label, const char *cmd, const char *line)
{
    regmatch_t m[1];
    if (strspn(line, " ") == TEXT_COLUMN && line[TEXT_COLUMN] != ' ') return; /* continuation */
    ck_assert_msg(regexec(label, line, 1, m, 0) == 0, "%s --help: not an option line: \"%s\"", cmd, line);
    bool alone = line[m[0].rm_eo] == '\0';
    ck_assert_msg(alone || m[0].rm_eo == TEXT_COLUMN,
                  "%s --help: the option's text does not start after a space at column %d: \"%s\"", cmd,
                  TEXT_COLUMN, line);
}

START_TEST(help_columns_stay_apart_and_fit)
{
    char names[TU_MAX_COMMANDS][32];
    int n = tu_list_commands(names);
    regex_t label;
    ck_assert_int_eq(regcomp(&label, "^  (-[a-zA-Z], |    )--[a-z0-9-]+( [A-Z][A-Z0-9_|@=]*)?( +|$)", REG_EXTENDED), 0);
    for (int i = 0; i < n; i++) {
        tu_run_result r = RUN(names[i], "--help");
        ck_assert_int_eq(r.status, 0);
        const char *options = strstr(r.out, "\nOptions:\n"), *examples = strstr(r.out, "\nExamples:\n");
        ck_assert(options && examples);
        options += strlen("\nOptions:\n");
        int n_options = 0;
        for (char *save = NULL, *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            ck_assert_msg(strlen(line) <= HELP_WIDTH, "%s --help: a line of %zu characters (at most %d): \"%s\"",
                          names[i], strlen(line), HELP_WIDTH, line);
            if (line >= options && line < examples) check_option_line(&label, names[i], line), n_options++;
        }
        ck_assert_int_ge(n_options, 2);
        tu_run_free(&r);
    }
    regfree(&label);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_options");
    TCase *tc = tcase_create("cli_options");
    tcase_add_test(tc, long_options_match_exactly);
    tcase_add_test(tc, misspellings_get_a_suggestion);
    tcase_add_test(tc, accepted_forms);
    tcase_add_test(tc, help_columns_stay_apart_and_fit);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
