/* test_cli_text.c — every command's text output (each example of its help, on
 * the bundled fixture, without --json) prints no negative zero: "-0.0000"
 * reads as a sign where there is none (src/cli: cli_num). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_examples.h"
#include "testutil.h"

START_TEST(no_negative_zero_in_text_output)
{
    regex_t negative_zero; /* "-0", "-0.0", "-0.0000", not "-0.5", "1e-05" or "x-0y" */
    ck_assert_int_eq(regcomp(&negative_zero, "(^|[^0-9A-Za-z._])-0(\\.0*)?([^0-9.eE]|$)", REG_EXTENDED | REG_NEWLINE), 0);
    char names[TU_MAX_COMMANDS][32];
    int n = tu_list_commands(names), runs = 0;
    char *dir = tu_example_dir();
    ck_assert_int_eq(chdir(dir), 0);
    for (int i = 0; i < n; i++) {
        char **examples = tu_examples(names[i]);
        for (char **line = examples; *line; line++) {
            if (strstr(*line, "--json")) continue;
            const char *argv[TU_MAX_WORDS];
            char *words = strdup(*line);
            tu_split_words(words, argv);
            tu_run_result r = tu_run(argv);
            ck_assert_msg(r.status == 0, "\"%s\" exited %d: %s", *line, r.status, r.err);
            regmatch_t m[1];
            if (regexec(&negative_zero, r.out, 1, m, 0) == 0) {
                const char *start = r.out + m[0].rm_so;
                while (start > r.out && start[-1] != '\n') start--;
                ck_abort_msg("\"%s\" prints a negative zero: \"%.*s\"", *line, (int)strcspn(start, "\n"), start);
            }
            runs++;
            tu_run_free(&r);
            free(words);
        }
        tu_examples_free(examples);
    }
    ck_assert_int_ge(runs, n);
    regfree(&negative_zero);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_text");
    TCase *tc = tcase_create("cli_text");
    tcase_add_test(tc, no_negative_zero_in_text_output);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
