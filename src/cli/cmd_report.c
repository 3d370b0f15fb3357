/* cmd_report.c — `circuitc report --out DIR`: runs the standard analyses of a
 * model, each as a circuitc child process `<command> ... --json --plot
 * DIR/<step>.png` (stdout saved as DIR/<step>.json, the chart's data), and
 * writes DIR/index.html: every chart, linked to its JSON, with key figures.
 *
 * Steps: comp-scores (all modes) -> heads -> kcomp of --prev/--ind, else of the
 * top induction head and the earlier head composing most strongly into it (K)
 * -> pattern of the top induction head -> repeat -> patch mlp_out. A failing step is reported on the page and on stderr, the
 * others still run; the exit status is then 1. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "circuitc/cleanup.h"
#include "circuitc/fsio.h"
#include "circuitc/heads.h"
#include "cli.h"
#include "plot_cli.h"
#include "progress.h"

extern char **environ;

static const char *HELP =
    "Usage: circuitc report --out DIR [--prev HEAD --ind HEAD] [--seed S] [--seq-len N] [--model PATH]\n\n"
    "Runs the standard analyses of the model and writes DIR/index.html, one self-contained page\n"
    "with every chart (DIR/<step>.png) linked to the analysis' JSON output (DIR/<step>.json):\n"
    "  comp-scores  Q/K/V composition scores of all head pairs vs the random baseline\n"
    "  heads        induction and previous-token scores of every head\n"
    "  kcomp        K-composition circuit of --prev/--ind; default: the top induction head (heads)\n"
    "               and the earlier head with the strongest K-composition into it (comp-scores)\n"
    "  pattern      attention pattern of the top induction head\n"
    "  repeat       correct-token log-prob per position on repeated random tokens\n"
    "  patch        mlp_out activation-patching sweep\n"
    "Each step runs as `circuitc <step> ... --json --plot DIR/<step>.png`; DIR is created if\n"
    "needed. A failing step is shown on the page and reported on stderr; the others still run\n"
    "and the exit status is 1.\n\n"
    "Options:\n"
    "  --out DIR          output directory (required)\n"
    "  --prev HEAD, --ind HEAD  the kcomp pair (both or neither)\n"
    "  --seed S           seed of the runtime steps and the baseline (default 0)\n"
    "  --seq-len N        repeated block length of the runtime steps (default 50, or what fits n_ctx)\n"
    "  --model PATH, --config FILE, --no-processing   as for every command\n"
    "  --help             this help\n";

typedef struct {
    const char *name;     /* step name: file stem */
    char *args[24];       /* circuitc arguments (malloc'ed strings), NULL-terminated */
    int n_args;
    bool ok;
    char *err;            /* the child's stderr when it failed */
    json_t *json;         /* its parsed output */
} step;

static void arg(step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(step *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *a = NULL;
    if (vasprintf(&a, fmt, ap) < 0) a = NULL;
    va_end(ap);
    if (a && s->n_args < 22) s->args[s->n_args++] = a;
    else free(a);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t k;
    while (s && (k = fread(s + len, 1, cap - len - 1, f)) > 0)
        if ((len += k) + 1 >= cap) s = realloc(s, cap *= 2);
    fclose(f);
    if (s) s[len] = '\0';
    return s;
}

/* Runs `circuitc ARGS` (this executable), stdout into DIR/<name>.json (through
 * a temporary name), stderr captured; it is step DONE + 1 of TOTAL (progress line). */
static void run_step(const char *self, const char *dir, step *s, long done, long total)
{
    char *out = NULL, *tmp = NULL, *errp = NULL;
    if (asprintf(&out, "%s/%s.json", dir, s->name) < 0 || asprintf(&tmp, "%s/.%s.json.tmp", dir, s->name) < 0 ||
        asprintf(&errp, "%s/.%s.stderr.tmp", dir, s->name) < 0) {
        s->err = strdup("out of memory");
        free(out), free(tmp);
        return;
    }
    char *argv[26];
    argv[0] = (char *)self;
    for (int i = 0; i < s->n_args; i++) argv[i + 1] = s->args[i];
    argv[s->n_args + 1] = NULL;
    cc_cleanup_add(tmp);
    cc_cleanup_add(errp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int st = 0;
    fflush(NULL);
    cli_progress_clear();
    fprintf(stderr, "report: circuitc");
    for (int i = 0; i < s->n_args; i++) fprintf(stderr, " %s", s->args[i]);
    fprintf(stderr, "\n");
    cli_progress_update(NULL, done, total);
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        if (asprintf(&s->err, "cannot run %s: %s", self, strerror(rc)) < 0) s->err = NULL;
    } else {
        cc_cleanup_set_child(pid); /* a signal to report stops the step too */
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        cc_cleanup_set_child(0);
        s->ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        char *e = slurp(errp);
        if (!s->ok) {
            if (asprintf(&s->err, "exit status %d: %s", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                         e && *e ? e : "(no message)") < 0)
                s->err = NULL;
        }
        free(e);
        json_error_t je;
        s->json = json_load_file(tmp, 0, &je);
        if (s->json && rename(tmp, out) != 0) s->ok = false;
    }
    unlink(tmp), unlink(errp);
    cc_cleanup_forget(tmp), cc_cleanup_forget(errp);
    cli_progress_clear();
    if (!s->ok) fprintf(stderr, "report: step %s failed: %s\n", s->name, s->err ? s->err : "?");
    free(out), free(tmp), free(errp);
}

/* HTML-escaped S into F. */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static double jnum(const json_t *j, const char *path)
{
    /* "a.b.c" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) cur = json_object_get(cur, tok);
    return cur ? json_number_value(cur) : NAN;
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

static void section(FILE *f, const step *s, const char *heading, const char *what)
{
    fprintf(f, "<section id=\"%s\">\n<h2>", s->name);
    esc(f, heading);
    fprintf(f, "</h2>\n<p class=\"cmd\"><code>circuitc");
    for (int i = 0; i < s->n_args; i++) {
        fputc(' ', f);
        esc(f, s->args[i]);
    }
    fprintf(f, "</code></p>\n");
    if (!s->ok) {
        fprintf(f, "<p class=\"fail\">This step failed: ");
        esc(f, s->err ? s->err : "unknown error");
        fprintf(f, "</p>\n");
    }
    if (what) fprintf(f, "<p>%s</p>\n", what);
    char png[128];
    snprintf(png, sizeof png, "%s.png", s->name);
    if (s->ok)
        fprintf(f, "<p><a href=\"%s.json\"><img src=\"%s\" alt=\"%s chart\"></a><br><a href=\"%s.json\">data: %s.json</a></p>\n",
                s->name, png, s->name, s->name, s->name);
    fprintf(f, "</section>\n");
}

int cmd_report(int argc, char **argv)
{
    enum { OPT_OUT = OPT_FIRST_COMMAND_SPECIFIC, OPT_PREV, OPT_IND, OPT_SEED, OPT_SEQ_LEN };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"prev", required_argument, NULL, OPT_PREV},
                                         {"ind", required_argument, NULL, OPT_IND},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"seq-len", required_argument, NULL, OPT_SEQ_LEN},
                                         {NULL, 0, NULL, 0}};
    cli_common common = {0};
    bool help = false;
    const char *out = NULL, *prev = NULL, *ind = NULL;
    unsigned long long seed = 0, seq_len = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_OUT: out = optarg; break;
        case OPT_PREV: prev = optarg; break;
        case OPT_IND: ind = optarg; break;
        case OPT_SEED:
            if (cli_parse_u64("report", "--seed", optarg, &seed) != 0) return CLI_USAGE;
            break;
        case OPT_SEQ_LEN:
            if (cli_parse_u64("report", "--seq-len", optarg, &seq_len) != 0) return CLI_USAGE;
            if (seq_len < 1 || seq_len > 1000000) return cli_usage_error("report", "--seq-len must be between 1 and 1000000");
            break;
        case ':': return cli_usage_error("report", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("report", "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        fputs(HELP, stdout);
        return CLI_OK;
    }
    if (optind < argc) return cli_usage_error("report", "unexpected argument \"%s\"", argv[optind]);
    if (!out) return cli_usage_error("report", "--out DIR is required");
    if (common.json) return cli_usage_error("report", "--json is not supported; the steps' JSON files are in DIR");
    if (!prev != !ind) return cli_usage_error("report", "give both --prev and --ind, or neither");
    cc_error err;
    cc_head hp, hi;
    if (prev && (cc_head_parse(prev, NULL, &hp, &err) != 0 || cc_head_parse(ind, NULL, &hi, &err) != 0))
        return cli_usage_error("report", "%s", err.msg);
    /* the model must open (and its n_ctx bounds --seq-len) before anything is written */
    cc_model *m = NULL;
    if (cli_open_model(&common, &m, &err) != 0) return cli_fail(&err);
    int max_n = (m->cfg.n_ctx - 1) / 2, n_ctx = m->cfg.n_ctx;
    char *model_label = cli_model_label(m->model_path), *model_path = strdup(m->model_path);
    cc_model_free(m);
    if (seq_len == 0) seq_len = max_n < 50 ? (unsigned long long)max_n : 50;
    if (seq_len > (unsigned long long)max_n) {
        free(model_label), free(model_path);
        return cli_usage_error("report", "--seq-len %llu is too long for this model: repeated tokens need 1+2*seq_len "
                                         "positions but n_ctx = %d; use --seq-len %d or less",
                               seq_len, n_ctx, max_n);
    }
    /* a plain file named DIR must stop here, not fail once per step */
    struct stat st_out;
    int out_errno = 0;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) out_errno = errno;
    else if (stat(out, &st_out) != 0) out_errno = errno;
    else if (!S_ISDIR(st_out.st_mode)) out_errno = ENOTDIR;
    if (out_errno) {
        cc_fail(&err, "cannot write the report into %s: %s", out, strerror(out_errno));
        free(model_label), free(model_path);
        return cli_fail(&err);
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        cc_fail(&err, "cannot find the circuitc executable (/proc/self/exe): %s", strerror(errno));
        free(model_label), free(model_path);
        return cli_fail(&err);
    }
    self[sl] = '\0';

    enum { S_COMP, S_HEADS, S_KCOMP, S_PATTERN, S_REPEAT, S_PATCH, N_STEPS };
    step st[N_STEPS] = {{.name = "comp-scores"}, {.name = "heads"},  {.name = "kcomp"},
                        {.name = "pattern"},     {.name = "repeat"}, {.name = "patch"}};
    static const char *cmd_of[N_STEPS] = {"comp-scores", "heads", "kcomp", "pattern", "repeat", "patch"};
    char hbuf[2][32], top_ind[32] = "";
    cli_progress_begin("report");
    for (int i = 0; i < N_STEPS; i++) {
        step *s = &st[i];
        arg(s, "%s", cmd_of[i]);
        if (i == S_KCOMP) {
            const char *p = prev, *q = ind;
            if (!p && st[S_COMP].json && strongest_into_top_induction(st[S_COMP].json, st[S_HEADS].json, hbuf[0], hbuf[1]))
                p = hbuf[0], q = hbuf[1];
            else if (!p && st[S_COMP].json) {
                json_t *t = json_array_get(json_object_get(json_object_get(st[S_COMP].json, "top"), "k"), 0);
                p = jstr(t, "left"), q = jstr(t, "right");
            }
            if (!p || !q) {
                s->err = strdup("no head pair: comp-scores failed and --prev/--ind were not given");
                fprintf(stderr, "report: step kcomp skipped: %s\n", s->err);
                continue;
            }
            if (p != hbuf[0]) {
                snprintf(hbuf[0], sizeof hbuf[0], "%s", p);
                snprintf(hbuf[1], sizeof hbuf[1], "%s", q);
            }
            arg(s, "%s", hbuf[0]);
            arg(s, "%s", hbuf[1]);
            arg(s, "--singular");
            arg(s, "64");
        }
        if (i == S_PATTERN) {
            const char *h = st[S_HEADS].json ? jstr(json_array_get(json_object_get(st[S_HEADS].json, "heads"), 0), "head")
                                             : NULL;
            if (!h) {
                s->err = strdup("no induction head: the heads step failed");
                fprintf(stderr, "report: step pattern skipped: %s\n", s->err);
                continue;
            }
            snprintf(top_ind, sizeof top_ind, "%s", h);
            arg(s, "%s", top_ind);
        }
        if (i == S_PATCH) arg(s, "mlp_out");
        if (i != S_COMP && i != S_KCOMP) { /* the runtime steps */
            arg(s, "--seed");
            arg(s, "%llu", seed);
            arg(s, "--seq-len");
            arg(s, "%llu", seq_len);
        } else {
            arg(s, "--seed");
            arg(s, "%llu", seed);
        }
        arg(s, "--model");
        arg(s, "%s", model_path);
        if (common.config) {
            arg(s, "--config");
            arg(s, "%s", common.config);
        }
        if (common.no_processing) arg(s, "--no-processing");
        if (common.allow_nonfinite) arg(s, "--allow-nonfinite");
        arg(s, "--json");
        arg(s, "--plot");
        arg(s, "%s/%s.png", out, s->name);
        run_step(self, out, s, i, N_STEPS);
    }

    /* the page */
    char *html = NULL, *tmp = NULL;
    if (asprintf(&html, "%s/index.html", out) < 0) html = NULL;
    FILE *f = html ? cc_create_beside(html, &tmp, &err) : NULL;
    int rc = CLI_OK;
    if (!f) {
        if (!html) cc_fail(&err, "out of memory");
        rc = cli_fail(&err);
    } else {
        fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>circuitc report: ");
        esc(f, model_label);
        fprintf(f, "</title>\n<style>body{font-family:sans-serif;max-width:1350px;margin:2em auto;padding:0 1em;color:#222}"
                   "img{max-width:100%%;border:1px solid #ddd}table{border-collapse:collapse}"
                   "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}.fail{color:#b00}"
                   "code{background:#f4f4f4;padding:0 .2em}.cmd{font-size:90%%}</style>\n</head>\n<body>\n");
        fprintf(f, "<h1>circuitc report: ");
        esc(f, model_label);
        fprintf(f, "</h1>\n<p>Model <code>");
        esc(f, model_path);
        fprintf(f, "</code>%s; seed %llu; repeated block length %llu. Generated by <code>circuitc report</code> %s.</p>\n",
                common.no_processing ? " (no weight processing)" : " (TransformerLens weight processing)", seed, seq_len,
                CIRCUITC_VERSION);
        /* key figures */
        fprintf(f, "<h2>Key figures</h2>\n<table>\n");
        json_t *j;
        if ((j = st[S_COMP].json)) {
            json_t *t = json_array_get(json_object_get(json_object_get(j, "top"), "k"), 0);
            fprintf(f, "<tr><th>strongest K-composition</th><td>%s &rarr; %s: %.4f = %.2f &times; random baseline %.4f</td></tr>\n",
                    jstr(t, "left") ? jstr(t, "left") : "-", jstr(t, "right") ? jstr(t, "right") : "-", jnum(t, "score"),
                    jnum(t, "ratio"), jnum(j, "baseline.mean"));
        }
        if ((j = st[S_KCOMP].json))
            fprintf(f, "<tr><th>kcomp %s &rarr; %s accuracy</th><td>top-1 %.4f (rows), %.4f (columns); top-5 %.4f, %.4f; "
                       "composition score %.4f (%.2f &times; baseline)</td></tr>\n",
                    hbuf[0], hbuf[1], jnum(j, "rows.top1_accuracy"), jnum(j, "cols.top1_accuracy"),
                    json_number_value(json_array_get(json_object_get(json_object_get(j, "rows"), "topk_accuracy"), 4)),
                    json_number_value(json_array_get(json_object_get(json_object_get(j, "cols"), "topk_accuracy"), 4)),
                    jnum(j, "composition.score"), jnum(j, "composition.ratio_to_baseline"));
        if ((j = st[S_HEADS].json)) {
            const char *names[2] = {"induction", "previous_token"};
            for (int k = 0; k < 2; k++) {
                fprintf(f, "<tr><th>top %s heads</th><td>", names[k]);
                json_t *r = json_object_get(json_object_get(j, "rankings"), names[k]), *e;
                size_t i;
                json_array_foreach(r, i, e) if (i < 3) fprintf(f, "%s%s %.3f", i ? ", " : "", jstr(e, "head"), jnum(e, "score"));
                fprintf(f, "</td></tr>\n");
            }
        }
        if ((j = st[S_REPEAT].json))
            fprintf(f, "<tr><th>repeated tokens</th><td>mean log-prob first half %.3f, second half %.3f; accuracy %.3f / %.3f; loss %.4f</td></tr>\n",
                    jnum(j, "first_half.mean_logprob"), jnum(j, "second_half.mean_logprob"), jnum(j, "first_half.accuracy"),
                    jnum(j, "second_half.accuracy"), jnum(j, "loss"));
        if ((j = st[S_PATCH].json)) {
            json_t *d = json_object_get(j, "delta"), *row;
            size_t l;
            double best = 0;
            long bl = -1, bp = -1;
            json_array_foreach(d, l, row)
            {
                json_t *v;
                size_t p;
                json_array_foreach(row, p, v) if (fabs(json_number_value(v)) > fabs(best)) best = json_number_value(v),
                                                                                    bl = (long)l, bp = (long)p;
            }
            fprintf(f, "<tr><th>patching mlp_out</th><td>clean loss %.4f; largest change %+.4f at layer %ld, position %ld</td></tr>\n",
                    jnum(j, "clean_loss"), best, bl, bl >= 0 ? bp + (long)seq_len : -1);
        }
        fprintf(f, "</table>\n");
        char what[512];
        section(f, &st[S_COMP], "Composition scores",
                "Composition score of every earlier-layer head (row) into every later-layer head (column), "
                "per mode; colour-bar tics at multiples of the random baseline.");
        section(f, &st[S_HEADS], "Head scores",
                "Induction and previous-token scores of every head on repeated random tokens; top heads annotated.");
        snprintf(what, sizeof what, "Exact top-k accuracy of the K-composition circuit of %s (previous-token) and %s "
                 "(induction) over the whole vocabulary, and its singular values.", hbuf[0], hbuf[1]);
        section(f, &st[S_KCOMP], "K-composition circuit", what);
        snprintf(what, sizeof what, "Attention pattern of the top induction head %s on one sequence [BOS, A, A].",
                 *top_ind ? top_ind : "(none)");
        section(f, &st[S_PATTERN], "Attention pattern", what);
        section(f, &st[S_REPEAT], "Repeated tokens",
                "Mean log-prob of the correct next token per position; an induction circuit lifts the second half.");
        section(f, &st[S_PATCH], "Activation patching",
                "Loss change when mlp_out at position p is replaced by the clean value at p-n, per layer.");
        fprintf(f, "</body>\n</html>\n");
        if (cc_commit_file(f, tmp, html, &err) != 0) rc = cli_fail(&err);
    }
    int failed = 0;
    for (int i = 0; i < N_STEPS; i++) failed += !st[i].ok;
    if (rc == CLI_OK) {
        printf("wrote %s (%d of %d analyses%s)\n", html, N_STEPS - failed, N_STEPS, failed ? "; see the errors above" : "");
        if (failed) {
            fprintf(stderr, "circuitc: error: %d of %d report steps failed\n", failed, N_STEPS);
            rc = CLI_FAIL;
        }
    }
    for (int i = 0; i < N_STEPS; i++) {
        for (int a = 0; a < st[i].n_args; a++) free(st[i].args[a]);
        free(st[i].err);
        json_decref(st[i].json);
    }
    free(html), free(tmp), free(model_label), free(model_path);
    return rc;
}
