/* test_cli_docs.c — what the option table generates, checked from the outside:
 * every command's help (--help, -h and `help CMD` alike, with an Examples
 * section), the man page and the bash/zsh completions built and installed
 * (they must equal a fresh `circuitc --man` / `--completion` and name every
 * command and every option each command's help lists), every example runs,
 * and every command's --json starts with the one envelope. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_examples.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

/* The text of FILE, which the build generated (its path in the environment variable VAR). */
static char *built_file(const char *var)
{
    const char *path = getenv(var);
    ck_assert_msg(path != NULL, "%s is not set (run the tests through meson test)", var);
    size_t len;
    char *text = (char *)tu_read_file(path, &len);
    text = realloc(text, len + 1);
    text[len] = '\0';
    return text;
}

START_TEST(built_documents_equal_a_fresh_generation)
{
    /* the variable naming the built file, then the arguments that generate it (NULL-terminated) */
    static const char *const gen[3][4] = {{"CIRCUITC_MAN", "--man", NULL, NULL},
                                          {"CIRCUITC_BASH_COMPLETION", "--completion", "bash", NULL},
                                          {"CIRCUITC_ZSH_COMPLETION", "--completion", "zsh", NULL}};
    for (int i = 0; i < 3; i++) {
        char *built = built_file(gen[i][0]);
        tu_run_result r = tu_run(&gen[i][1]);
        ck_assert_int_eq(r.status, 0);
        ck_assert_msg(strcmp(built, r.out) == 0, "%s differs from `circuitc %s`", getenv(gen[i][0]), gen[i][1]);
        tu_run_free(&r);
        free(built);
    }
    tu_run_result r = RUN("--completion", "fish");
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
}
END_TEST

/* The part of TEXT from the first line starting with START up to the next line starting with END. */
static char *section(const char *text, const char *start, const char *end)
{
    const char *a = strstr(text, start);
    ck_assert_msg(a != NULL, "no \"%s\"", start);
    const char *b = strstr(a + strlen(start), end);
    return strndup(a, b ? (size_t)(b - a) : strlen(a));
}

/* Checks that the man page and both completions list option OPT (e.g. "--seq-len") for command CMD. */
static void documented_everywhere(const char *cmd, const char *opt, const char *man, const char *bash, const char *zsh)
{
    char key[64], escaped[96] = "\\fB";
    snprintf(key, sizeof key, ".SS \"circuitc %.31s ", cmd);
    char *m = section(man, key, ".SS ");
    for (const char *p = opt; *p; p++) strcat(escaped, *p == '-' ? "\\-" : (char[]){*p, 0});
    strcat(escaped, "\\fR");
    ck_assert_msg(strstr(m, escaped), "man page: %s has no %s", cmd, opt);
    snprintf(key, sizeof key, "\n        %.31s) words=\"", cmd);
    char *b = section(bash, key, "\n");
    snprintf(key, sizeof key, " %s ", opt);
    char *spaced = NULL;
    ck_assert(asprintf(&spaced, "%s ", b) > 0);
    ck_assert_msg(strstr(spaced, key), "bash completion: %s has no %s", cmd, opt);
    snprintf(key, sizeof key, "\n    %.31s)\n", cmd);
    char *z = section(zsh, key, ";;");
    snprintf(key, sizeof key, "%s[", opt);
    char alt[64];
    snprintf(alt, sizeof alt, ",%s}", opt);
    ck_assert_msg(strstr(z, key) || strstr(z, alt), "zsh completion: %s has no %s", cmd, opt);
    free(m), free(b), free(spaced), free(z);
}

START_TEST(every_command_has_help_examples_man_and_completions)
{
    char names[TU_MAX_COMMANDS][32];
    int n = tu_list_commands(names);
    char *man = built_file("CIRCUITC_MAN"), *bash = built_file("CIRCUITC_BASH_COMPLETION"),
         *zsh = built_file("CIRCUITC_ZSH_COMPLETION");
    for (int i = 0; i < n; i++) {
        tu_run_result h = RUN(names[i], "--help"), s = RUN(names[i], "-h"), c = RUN("help", names[i]);
        ck_assert_msg(h.status == 0 && s.status == 0 && c.status == 0, "%s: help failed", names[i]);
        ck_assert_str_eq(h.out, s.out);
        ck_assert_str_eq(h.out, c.out);
        char usage[64], example[64];
        snprintf(usage, sizeof usage, "Usage: circuitc %.31s", names[i]);
        snprintf(example, sizeof example, "Examples:\n  circuitc %.31s", names[i]);
        tu_assert_contains(h.out, usage);
        tu_assert_contains(h.out, example);
        /* every option line of the help: "  -m, --model PATH ..." or "      --k K ..." */
        char *options = section(h.out, "\nOptions:\n", "\nExamples:");
        int n_opts = 0;
        for (const char *line = options; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            if (strncmp(line, "  -", 3) != 0 && strncmp(line, "      --", 8) != 0) continue;
            char opt[48];
            ck_assert_int_eq(sscanf(strstr(line, "--"), "%47[-a-z]", opt), 1);
            documented_everywhere(names[i], opt, man, bash, zsh);
            n_opts++;
        }
        ck_assert_msg(n_opts >= 2, "%s: only %d options found in its help", names[i], n_opts);
        free(options);
        tu_run_free(&h), tu_run_free(&s), tu_run_free(&c);
    }
    tu_run_result r = RUN("help", "frobnicate");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "unknown command \"frobnicate\"");
    tu_run_free(&r);
    free(man), free(bash), free(zsh);
}
END_TEST

/* The output of the shell command CMD (run by /bin/sh). Caller frees. */
static char *shell_output(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *text = NULL;
    size_t cap = 0;
    if (getdelim(&text, &cap, '\0', p) < 0) { /* no output */
        free(text);
        text = strdup("");
    }
    int status = pclose(p);
    ck_assert_msg(status == 0, "`%s` failed (status %d)", cmd, status);
    return text;
}

START_TEST(completions_complete_and_parse)
{
    char *cmd = NULL;
    /* bash: options of the command typed, the values of a choice, the commands after `help` */
    static const char *const cases[][2] = {{"circuitc kcomp --se", "--seed"},
                                           {"circuitc ablate --ablate z", "zero"},
                                           {"circuitc help kcomp-", "kcomp-chart"},
                                           {"circuitc rep", "report repeat"}};
    for (int i = 0; i < 4; i++) {
        ck_assert(asprintf(&cmd, "bash -c 'source \"%s\"; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
                                 "_circuitc; echo \"${COMPREPLY[*]}\"'",
                           getenv("CIRCUITC_BASH_COMPLETION"), cases[i][0]) > 0);
        char *out = shell_output(cmd);
        out[strcspn(out, "\n")] = '\0';
        ck_assert_msg(strcmp(out, cases[i][1]) == 0, "bash completes \"%s\" to \"%s\", not \"%s\"", cases[i][0], out,
                      cases[i][1]);
        free(out), free(cmd);
    }
    /* zsh: the script parses (when zsh is installed) */
    ck_assert(asprintf(&cmd, "! command -v zsh >/dev/null || zsh -n \"%s\"", getenv("CIRCUITC_ZSH_COMPLETION")) > 0);
    free(shell_output(cmd));
    free(cmd);
}
END_TEST

/* Checks the envelope of a --json output J of command CMD: the first five keys, their types. */
static void check_envelope(const char *cmd, json_t *j, const char *version)
{
    static const char *const KEYS[5] = {"command", "version", "model", "processing", "seconds"};
    const char *key;
    json_t *v;
    int i = 0;
    json_object_foreach(j, key, v) {
        if (i < 5) ck_assert_msg(strcmp(key, KEYS[i]) == 0, "%s --json: key %d is \"%s\", not \"%s\"", cmd, i, key, KEYS[i]);
        i++;
    }
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), cmd);
    ck_assert_str_eq(json_string_value(json_object_get(j, "version")), version);
    json_t *model = json_object_get(j, "model"), *processing = json_object_get(j, "processing");
    ck_assert_msg(json_is_string(model) || json_is_null(model), "%s: model is neither a path nor null", cmd);
    ck_assert_msg(json_is_array(processing), "%s: processing is not a list", cmd);
    for (size_t k = 0; k < json_array_size(processing); k++) ck_assert(json_is_string(json_array_get(processing, k)));
    ck_assert_msg(json_is_real(json_object_get(j, "seconds")) && json_real_value(json_object_get(j, "seconds")) >= 0,
                  "%s: seconds is not a non-negative number", cmd);
    ck_assert_msg(i > 5, "%s --json has no keys of its own", cmd);
}

START_TEST(every_example_runs_and_every_json_has_the_envelope)
{
    char names[TU_MAX_COMMANDS][32];
    int n = tu_list_commands(names);
    tu_run_result v = RUN("--version");
    char version[64];
    ck_assert_int_eq(sscanf(v.out, "circuitc %63s", version), 1);
    tu_run_free(&v);
    char *dir = tu_example_dir();
    ck_assert_int_eq(chdir(dir), 0);
    for (int i = 0; i < n; i++) {
        char **examples = tu_examples(names[i]);
        bool json_checked = false;
        for (char **line = examples; *line; line++) {
            const char *argv[TU_MAX_WORDS];
            char *words = strdup(*line);
            int k = tu_split_words(words, argv);
            tu_run_result r = tu_run(argv);
            ck_assert_msg(r.status == 0, "example \"%s\" exited %d: %s", *line, r.status, r.err);
            ck_assert_msg(*r.out, "example \"%s\" printed nothing", *line);
            tu_run_free(&r);
            if (!json_checked) {
                argv[k] = "--json", argv[k + 1] = NULL; /* a repeated --json is harmless */
                r = tu_run(argv);
                ck_assert_msg(r.status == 0, "example \"%s --json\" exited %d: %s", *line, r.status, r.err);
                json_t *j = tu_parse_json(r.out);
                check_envelope(names[i], j, version);
                json_decref(j);
                tu_run_free(&r);
                json_checked = true;
            }
            free(words);
        }
        tu_examples_free(examples);
    }
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_docs");
    TCase *tc = tcase_create("cli_docs");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, built_documents_equal_a_fresh_generation);
    tcase_add_test(tc, every_command_has_help_examples_man_and_completions);
    tcase_add_test(tc, completions_complete_and_parse);
    tcase_add_test(tc, every_example_runs_and_every_json_has_the_envelope);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
