/* cmd_report.c — `circuitc report --out DIR`: runs the standard analyses of a
 * model, each as a circuitc child process (report_steps.c), and writes
 * DIR/index.html (report_page.c): every chart, linked to its JSON, with key
 * figures. A failing step is reported on the page and on stderr, the others
 * still run; the exit status is then 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/experiments.h"
#include "circuitc/heads.h"
#include "options.h"
#include "plot_cli.h"
#include "report.h"
#include "runtime.h"

/* Everything that can be refused before a step runs: the options, the model
 * (its n_ctx bounds --seq-len), DIR (a plain file named DIR must stop here,
 * not fail once per step) and this executable. */
static int prepare(const cli_args *a, report_run *r)
{
    const char *out = a->v[O_OUT].s;
    if (!out) return cli_usage_error("report", "--out DIR is required");
    if (!r->prev != !r->ind) return cli_usage_error("report", "give both --prev and --ind, or neither");
    cc_error err;
    cc_head h;
    if (r->prev && (cc_head_parse(r->prev, NULL, &h, &err) != 0 || cc_head_parse(r->ind, NULL, &h, &err) != 0))
        return cli_usage_error("report", "%s", err.msg);
    cc_model *m = NULL;
    if (cli_open_model(&a->common, &m, &err) != 0) return cli_fail(&err);
    int fits = rt_fit_seq_len(cc_model_config(m), a->v[O_SEQ_LEN].given, &r->seq_len, &err);
    r->model_label = cli_model_label(cc_model_path(m));
    r->model_path = strdup(cc_model_path(m));
    cc_model_free(m);
    if (fits != 0) return cli_usage_error("report", "%s", err.msg);
    struct stat st;
    int e = 0;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) e = errno;
    else if (stat(out, &st) != 0) e = errno;
    else if (!S_ISDIR(st.st_mode)) e = ENOTDIR;
    if (e) return cc_fail(&err, "cannot write the report into %s: %s", out, strerror(e)), cli_fail(&err);
    ssize_t n = readlink("/proc/self/exe", r->self, sizeof r->self - 1);
    if (n <= 0)
        return cc_fail(&err, "cannot find the circuitc executable (/proc/self/exe): %s", strerror(errno)), cli_fail(&err);
    r->self[n] = '\0';
    return -1;
}

/* The --json body: what was written and how each step went. */
static json_t *describe(const report_run *r, const char *html)
{
    json_t *steps = json_array();
    for (int i = 0; i < N_STEPS; i++) {
        const report_step *s = &r->st[i];
        json_array_append_new(steps, json_pack("{s:s, s:b, s:s?, s:s+, s:s+}", "name", s->name, "ok", s->ok, "error",
                                               s->ok ? NULL : s->err, "json", s->name, ".json", "chart", s->name,
                                               ".png"));
    }
    return json_pack("{s:s, s:s, s:I, s:i, s:o}", "out", r->out, "index", html, "seed", (json_int_t)r->seed, "seq_len",
                     r->seq_len, "steps", steps);
}

static void free_run(report_run *r)
{
    for (int i = 0; i < N_STEPS; i++) {
        for (int k = 0; k < r->st[i].n_args; k++) free(r->st[i].args[k]);
        free(r->st[i].err);
        json_decref(r->st[i].json);
    }
    free(r->model_label), free(r->model_path);
}

static int run(const cli_args *a)
{
    report_run r = {.out = a->v[O_OUT].s, .common = &a->common, .seed = a->v[O_SEED].u, .seq_len = a->v[O_SEQ_LEN].i,
                    .prev = a->v[O_PREV].s, .ind = a->v[O_IND].s};
    cc_error err;
    if (a->common.json && cli_require_utf8("--out folder", r.out, &err) != 0) return cli_fail(&err);
    int rc = prepare(a, &r);
    if (rc >= 0) {
        free_run(&r);
        return rc;
    }
    report_run_steps(&r);
    char *html = NULL;
    rc = report_write_page(&r, &html, &err) == 0 ? CLI_OK : cli_fail(&err);
    int failed = 0;
    for (int i = 0; i < N_STEPS; i++) failed += !r.st[i].ok;
    if (rc == CLI_OK && a->common.json) rc = cli_print_result(describe(&r, html));
    else if (rc == CLI_OK)
        printf("wrote %s (%d of %d analyses%s)\n", html, N_STEPS - failed, N_STEPS, failed ? "; see the errors above" : "");
    if (rc == CLI_OK && failed) {
        rc = cli_report_error(CLI_FAIL, "report", "%d of %d report steps failed", failed, N_STEPS);
    }
    free(html);
    free_run(&r);
    return rc;
}

const cli_command cli_cmd_report = {
    .name = "report",
    .synopsis = "",
    .summary = "run the standard analyses and write an HTML page with every chart (--out DIR)",
    .description =
        "Runs the standard analyses of the model and writes DIR/index.html (--out DIR, required;\n"
        "created if needed), one page with every chart (DIR/<step>.png) linked to the analysis' JSON\n"
        "output (DIR/<step>.json):\n"
        "  comp-scores  Q/K/V composition scores of all head pairs vs the random baseline\n"
        "  heads        induction and previous-token scores of every head\n"
        "  kcomp        K-composition circuit of --prev/--ind; default: the top induction head (heads)\n"
        "               and the earlier head with the strongest K-composition into it (comp-scores)\n"
        "  pattern      attention pattern of the top induction head\n"
        "  repeat       correct-token log-prob per position on repeated random tokens\n"
        "  patch        mlp_out activation-patching sweep\n"
        "Each step runs as `circuitc <step> ... --json --plot DIR/<step>.png` with --seed (and\n"
        "--seq-len for the runtime steps); comp-scores, heads, kcomp and pattern also write their\n"
        "interactive page DIR/<step>.html (--html, docs/html.md), linked from the index. A failing\n"
        "step is shown on the page and reported on stderr; the others still run and the exit\n"
        "status is 1.\n",
    .examples = "report --out report\n"
                "report --out report-pair --prev L0H0 --ind L1H0 --seed 1 --json\n",
    .options = (const opt_id[]){O_OUT, O_PREV, O_IND, O_SEED, O_SEQ_LEN, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
