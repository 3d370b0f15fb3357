/* cli_examples.c — circuitc's commands and examples, read from its help (cli_examples.h). */
#include "cli_examples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

int tu_list_commands(char names[][32])
{
    tu_run_result r = RUN("--help");
    ck_assert_int_eq(r.status, 0);
    const char *p = strstr(r.out, "Commands:\n");
    ck_assert_ptr_nonnull(p);
    p += strlen("Commands:\n");
    int n = 0;
    while (strncmp(p, "  ", 2) == 0 && n < TU_MAX_COMMANDS) {
        ck_assert_int_eq(sscanf(p, " %31s", names[n]), 1);
        n++;
        p = strchr(p, '\n') + 1;
    }
    tu_run_free(&r);
    ck_assert_int_ge(n, 18);
    return n;
}

char **tu_examples(const char *cmd)
{
    tu_run_result h = RUN(cmd, "--help");
    ck_assert_msg(h.status == 0, "%s --help failed", cmd);
    char *text = strstr(h.out, "\nExamples:\n");
    ck_assert_msg(text != NULL, "%s --help has no examples", cmd);
    text += strlen("\nExamples:\n");
    for (char *cont; (cont = strstr(text, " \\\n")) != NULL;) { /* a long example goes on after " \" */
        size_t skip = 3 + strspn(cont + 3, " ");
        memmove(cont + 1, cont + skip, strlen(cont + skip) + 1);
    }
    char **lines = calloc(strlen(text) + 1, sizeof *lines);
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && strncmp(line, "  circuitc ", 11) == 0;
         line = strtok_r(NULL, "\n", &save))
        lines[n++] = strdup(line + strlen("  circuitc "));
    tu_run_free(&h);
    ck_assert_msg(n > 0, "%s: no example", cmd);
    return lines;
}

void tu_examples_free(char **lines)
{
    for (char **l = lines; *l; l++) free(*l);
    free(lines);
}

int tu_split_words(char *line, const char **argv)
{
    int n = 0;
    for (char *p = line; *p && n < TU_MAX_WORDS - 2;) {
        while (*p == ' ') p++;
        if (!*p) break;
        char end[2] = {*p == '"' || *p == '\'' ? *p : ' ', 0};
        if (end[0] != ' ') p++;
        argv[n++] = p;
        p += strcspn(p, end);
        if (*p) *p++ = '\0';
    }
    argv[n] = NULL;
    return n;
}

char *tu_example_dir(void)
{
    char *dir = tu_tmpdir(), *link = NULL, *target = NULL;
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "circuits" : "golden";
        ck_assert(asprintf(&link, "%s/%s", dir, name) > 0 && asprintf(&target, "%s/%s", root, name) > 0);
        ck_assert_int_eq(symlink(target, link), 0);
        free(link), free(target);
    }
    return dir;
}
