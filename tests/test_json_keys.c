/* test_json_keys.c — one JSON vocabulary: every key of every command's --json
 * output (each example of its help, run with --json) is listed for that
 * command in docs/json.md, and an error under --json is the documented
 * {"error": {"command", "code", "message"}} line on stderr. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_examples.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

/* docs/json.md, read whole; sections start at lines beginning "## ". */
static char *doc;

static void read_doc(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/json.md", getenv("CIRCUITC_SOURCE_ROOT"));
    size_t len;
    doc = (char *)tu_read_file(path, &len);
    doc = realloc(doc, len + 1);
    doc[len] = '\0';
}

/* The next section after FROM whose heading names `CMD` (or, CMD NULL, the
 * envelope's: "every command"): its body as [*start, *end); false if none. */
static bool next_section(const char *cmd, const char *from, const char **start, const char **end)
{
    char want[64];
    snprintf(want, sizeof want, "`%s`", cmd ? cmd : "");
    for (const char *h = strstr(from, "\n## "); h; h = strstr(h + 1, "\n## ")) {
        size_t n = strcspn(h + 1, "\n");
        char heading[256];
        snprintf(heading, sizeof heading, "%.*s", (int)(n < 255 ? n : 255), h + 1);
        if (cmd ? strstr(heading, want) == NULL : strstr(heading, "every command") == NULL) continue;
        *start = h + 1 + n;
        *end = strstr(*start, "\n## ");
        if (!*end) *end = *start + strlen(*start);
        return true;
    }
    return false;
}

/* Whether `KEY` appears in [START, END); *MAP: it is written "`KEY` {word:", an
 * object whose own keys are data (heads, modes, parameters). */
static bool documented_in(const char *start, const char *end, const char *key, bool *map)
{
    char quoted[96];
    snprintf(quoted, sizeof quoted, "`%s`", key);
    bool found = false;
    for (const char *p = strstr(start, quoted); p && p < end; p = strstr(p + 1, quoted)) {
        found = true;
        const char *q = p + strlen(quoted);
        if (strncmp(q, " {", 2) == 0 && q[2] >= 'a' && q[2] <= 'z' && q[2 + strspn(q + 2, "abcdefghijklmnopqrstuvwxyz")] == ':')
            *map = true;
    }
    return found;
}

/* Whether KEY is documented for CMD: in the envelope's section or one naming CMD. */
static bool documented(const char *cmd, const char *key, bool *map)
{
    const char *s, *e = doc;
    *map = false;
    if (next_section(NULL, doc, &s, &e) && documented_in(s, e, key, map)) return true;
    int sections = 0;
    for (e = doc; next_section(cmd, e, &s, &e); sections++)
        if (documented_in(s, e, key, map)) return true;
    ck_assert_msg(sections > 0, "docs/json.md has no section naming `%s`", cmd);
    return false;
}

/* Checks every key under V (at PATH) against CMD's section; a map's own keys are not checked. */
static void check_keys(const char *cmd, const char *line, json_t *v, const char *path, bool map)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_array(v)) json_array_foreach(v, i, x) check_keys(cmd, line, x, path, false);
    if (!json_is_object(v)) return;
    json_object_foreach(v, key, x) {
        bool is_map = false;
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        if (!map)
            ck_assert_msg(documented(cmd, key, &is_map), "\"%s --json\": key %s is not in docs/json.md's section for %s",
                          line, sub, cmd);
        check_keys(cmd, line, x, sub, is_map);
    }
}

START_TEST(every_key_of_every_command_is_documented)
{
    read_doc();
    char names[TU_MAX_COMMANDS][32];
    int n = tu_list_commands(names);
    char *dir = tu_example_dir();
    ck_assert_int_eq(chdir(dir), 0);
    for (int i = 0; i < n; i++) {
        char **examples = tu_examples(names[i]);
        for (char **line = examples; *line; line++) {
            const char *argv[TU_MAX_WORDS];
            char *words = strdup(*line);
            int k = tu_split_words(words, argv);
            argv[k] = "--json", argv[k + 1] = NULL;
            tu_run_result r = tu_run(argv);
            json_t *j = tu_parse_ok(&r);
            check_keys(names[i], *line, j, "", false);
            json_decref(j);
            tu_run_free(&r);
            free(words);
        }
        tu_examples_free(examples);
    }
    tu_rmtree(dir);
    free(dir);
    free(doc);
}
END_TEST

/* With --json, usage errors (even before --json on the line) and failures are one JSON line on stderr. */
START_TEST(errors_under_json_are_json)
{
    const char *const cases[][6] = {{"ablate", "L0H0", "--mode", "zero", "--json", NULL},
                                    {"kcomp", "L0H0", "L9H0", "-j", NULL},
                                    {"heads", "--model", "/nonexistent", "--json", NULL}};
    const int status[] = {2, 1, 1};
    const char *code[] = {"usage", "error", "error"};
    for (int i = 0; i < 3; i++) {
        tu_run_result r = tu_run(cases[i]);
        ck_assert_int_eq(r.status, status[i]);
        ck_assert_str_eq(r.out, "");
        json_t *j = tu_parse_json(r.err), *e = json_object_get(j, "error");
        ck_assert_msg(json_is_object(e) && json_object_size(j) == 1, "not {\"error\": ...}: %s", r.err);
        ck_assert_str_eq(json_string_value(json_object_get(e, "command")), cases[i][0]);
        ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code[i]);
        ck_assert(json_string_length(json_object_get(e, "message")) > 0);
        ck_assert_int_eq(json_object_size(e), 3);
        json_decref(j);
        tu_run_free(&r);
    }
    /* without --json: text, as before */
    tu_expect_fail(RUN("kcomp", "L0H0", "L9H0"), 1, "circuitc: error: ind=L9H0 is out of range");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_keys");
    TCase *tc = tcase_create("json_keys");
    tcase_add_test(tc, every_key_of_every_command_is_documented);
    tcase_add_test(tc, errors_under_json_are_json);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
