/* report.h — `circuitc report`, private to src/cli/: the steps it runs as
 * circuitc child processes (report_steps.c) and the page it writes from their
 * JSON (report_page.c); cmd_report.c checks the options and joins them. */
#ifndef CIRCUITC_CLI_REPORT_H
#define CIRCUITC_CLI_REPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "circuitc/error.h"
#include "cli.h"

enum { S_COMP, S_HEADS, S_KCOMP, S_PATTERN, S_REPEAT, S_PATCH, N_STEPS };

typedef struct {
    const char *name;     /* step name: the circuitc command and the file stem */
    char *args[24];       /* circuitc arguments (malloc'ed strings) */
    int n_args;
    bool ok;
    bool page;            /* it also wrote DIR/<name>.html, an interactive page (--html) */
    char *err;            /* why it failed or was skipped */
    json_t *json;         /* its parsed output */
} report_step;

typedef struct {
    const char *out;             /* --out DIR */
    const cli_common *common;
    char *model_path, *model_label;
    unsigned long long seed;
    int seq_len;
    const char *prev, *ind;      /* --prev/--ind, or NULL */
    char self[4096];             /* this executable */
    report_step st[N_STEPS];
    char pair[2][32];            /* the kcomp step's heads */
    char top_ind[32];            /* the pattern step's head */
} report_run;

/* What a child process wrote and how it ended. */
typedef struct {
    char *out;        /* its whole stdout, NUL-terminated */
    size_t out_len;
    char *err;        /* the end of its stderr, NUL-terminated */
    size_t err_len;
    int status;       /* its wait status */
} child_output;

/* Runs the program SELF with ARGV, stdin /dev/null, stdout and stderr read into
 * *C through pipes (report_child.c); a signal to this process stops it
 * (circuitc/cleanup.h). 0, or -1 with ERR filled when it could not run. */
int report_child_run(const char *self, char *const argv[], child_output *c, cc_error *err);
void child_output_free(child_output *c);

/* Runs every step in order (a failed step is reported on stderr; the others still run). */
void report_run_steps(report_run *r);

/* Writes DIR/index.html (its path into *HTML, caller frees). */
int report_write_page(const report_run *r, char **html, cc_error *err);

#endif
