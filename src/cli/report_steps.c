/* report_steps.c — the steps of `circuitc report` (report.h): each runs as
 * `circuitc <step> ... --json --plot DIR/<step>.png [--html DIR/<step>.html]` (report_child.c), its
 * stdout saved as DIR/<step>.json when the step succeeded. The kcomp step's pair comes from the comp-scores and heads
 * steps unless --prev/--ind give it, the pattern step's head from heads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "circuitc/fsio.h"
#include "progress.h"
#include "report.h"

static void arg(report_step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(report_step *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *a = NULL;
    if (vasprintf(&a, fmt, ap) < 0) a = NULL;
    va_end(ap);
    if (a && s->n_args < 22) s->args[s->n_args++] = a;
    else free(a);
}

/* The step's stdout as DIR/<name>.json, when it succeeded and printed JSON. */
static void keep_output(const char *dir, report_step *s, const child_output *c)
{
    char *out = NULL;
    json_error_t je;
    cc_error err;
    cc_out o;
    s->json = json_loadb(c->out, c->out_len, 0, &je);
    if (!s->json) {
        if (asprintf(&s->err, "its output is not JSON: %s", je.text) < 0) s->err = NULL;
    } else if (asprintf(&out, "%s/%s.json", dir, s->name) < 0) {
        s->err = strdup("out of memory");
    } else if (cc_out_open(out, &o, &err) == 0) {
        fwrite(c->out, 1, c->out_len, o.f);
        if (cc_out_commit(&o, &err) == 0) s->ok = true;
    }
    if (!s->ok && !s->err) s->err = strdup(err.msg);
    free(out);
}

/* Runs `circuitc ARGS` (this executable), its stdout saved as DIR/<name>.json
 * when it succeeded; it is step DONE + 1 of TOTAL (progress line). */
static void run_step(const char *self, const char *dir, report_step *s, long done, long total)
{
    char *argv[26];
    argv[0] = (char *)self;
    for (int i = 0; i < s->n_args; i++) argv[i + 1] = s->args[i];
    argv[s->n_args + 1] = NULL;
    fflush(NULL);
    cli_progress_clear();
    fprintf(stderr, "report: circuitc");
    for (int i = 0; i < s->n_args; i++) fprintf(stderr, " %s", s->args[i]);
    fprintf(stderr, "\n");
    cli_progress_update(NULL, done, total);
    child_output c;
    cc_error err;
    if (report_child_run(self, argv, &c, &err) != 0) {
        s->err = strdup(err.msg);
    } else if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) {
        keep_output(dir, s, &c);
    } else {
        int code = WIFEXITED(c.status) ? WEXITSTATUS(c.status) : 128 + WTERMSIG(c.status);
        while (c.err_len > 0 && (c.err[c.err_len - 1] == '\n')) c.err[--c.err_len] = '\0';
        json_t *j = c.err_len && c.err[0] == '{' ? json_loads(c.err, 0, NULL) : NULL; /* the step ran with --json */
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (asprintf(&s->err, "exit status %d: %s%s", code, msg ? "circuitc: error: " : "",
                     msg ? msg : c.err_len ? c.err : "(no message)") < 0)
            s->err = NULL;
        json_decref(j);
    }
    child_output_free(&c);
    cli_progress_clear();
    if (!s->ok) fprintf(stderr, "report: step %s failed: %s\n", s->name, s->err ? s->err : "?");
}

static const char *jstr(const json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

/* The earlier head with the largest K-composition score into the top
 * induction head (first of HEADS' list); false when there is none. */
static bool strongest_into_top_induction(const json_t *comp, const json_t *heads, char *p, char *q)
{
    const json_t *top = json_array_get(json_object_get(heads, "heads"), 0);
    const json_t *k = json_object_get(json_object_get(comp, "scores"), "k");
    if (!top || !k) return false;
    int l2 = (int)json_integer_value(json_object_get(top, "layer")), h2 = (int)json_integer_value(json_object_get(top, "index"));
    double best = -1;
    int bl = -1, bh = -1;
    for (int l1 = 0; l1 < l2; l1++) {
        const json_t *row = json_array_get(k, (size_t)l1);
        for (size_t h1 = 0; h1 < json_array_size(row); h1++) {
            double v = json_number_value(json_array_get(json_array_get(json_array_get(row, h1), (size_t)l2), (size_t)h2));
            if (v > best) best = v, bl = l1, bh = (int)h1;
        }
    }
    if (bl < 0) return false;
    snprintf(p, 32, "L%dH%d", bl, bh);
    snprintf(q, 32, "L%dH%d", l2, h2);
    return true;
}

/* The kcomp step's pair into R->pair: --prev/--ind, else the strongest
 * K-composition into the top induction head, else the top K-composition pair;
 * false when there is none. */
static bool kcomp_pair(report_run *r)
{
    const json_t *comp = r->st[S_COMP].json, *heads = r->st[S_HEADS].json;
    const char *p = r->prev, *q = r->ind;
    if (!p && comp && strongest_into_top_induction(comp, heads, r->pair[0], r->pair[1])) return true;
    if (!p && comp) {
        json_t *t = json_array_get(json_object_get(json_object_get(comp, "top"), "k"), 0);
        p = jstr(t, "earlier"), q = jstr(t, "later");
    }
    if (!p || !q) return false;
    snprintf(r->pair[0], sizeof r->pair[0], "%s", p);
    snprintf(r->pair[1], sizeof r->pair[1], "%s", q);
    return true;
}

/* The arguments of step I after its command name: false (S->err set) when it cannot run. */
static bool step_args(report_run *r, int i)
{
    report_step *s = &r->st[i];
    if (i == S_KCOMP) {
        if (!kcomp_pair(r)) {
            s->err = strdup("no head pair: comp-scores failed and --prev/--ind were not given");
            return false;
        }
        arg(s, "%s", r->pair[0]);
        arg(s, "%s", r->pair[1]);
        arg(s, "--singular");
        arg(s, "64");
    }
    if (i == S_PATTERN) {
        const json_t *heads = r->st[S_HEADS].json;
        const char *h = heads ? jstr(json_array_get(json_object_get(heads, "heads"), 0), "head") : NULL;
        if (!h) {
            s->err = strdup("no induction head: the heads step failed");
            return false;
        }
        snprintf(r->top_ind, sizeof r->top_ind, "%s", h);
        arg(s, "%s", r->top_ind);
    }
    if (i == S_PATCH) arg(s, "mlp_out");
    arg(s, "--seed");
    arg(s, "%llu", r->seed);
    if (i != S_COMP && i != S_KCOMP) { /* the runtime steps */
        arg(s, "--seq-len");
        arg(s, "%d", r->seq_len);
    }
    return true;
}

void report_run_steps(report_run *r)
{
    static const char *const NAMES[N_STEPS] = {"comp-scores", "heads", "kcomp", "pattern", "repeat", "patch"};
    cli_progress_begin("report");
    for (int i = 0; i < N_STEPS; i++) {
        report_step *s = &r->st[i];
        s->name = NAMES[i];
        arg(s, "%s", s->name);
        if (!step_args(r, i)) {
            fprintf(stderr, "report: step %s skipped: %s\n", s->name, s->err);
            continue;
        }
        arg(s, "--model");
        arg(s, "%s", r->model_path);
        if (r->common->config) {
            arg(s, "--config");
            arg(s, "%s", r->common->config);
        }
        if (r->common->no_processing) arg(s, "--no-processing");
        if (r->common->allow_nonfinite) arg(s, "--allow-nonfinite");
        arg(s, "--json");
        arg(s, "--plot");
        arg(s, "%s/%s.png", r->out, s->name);
        bool page = i != S_REPEAT && i != S_PATCH; /* the steps with an interactive page */
        if (page) {
            arg(s, "--html");
            arg(s, "%s/%s.html", r->out, s->name);
        }
        run_step(r->self, r->out, s, i, N_STEPS);
        s->page = page && s->ok;
    }
}
