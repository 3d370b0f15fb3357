/* cmd_atlas.c — `circuitc atlas`: a two-head circuit for every earlier ->
 * later head pair (include/circuitc/atlas.h), streamed to a JSON-lines file
 * that survives an interruption (--resume), on threads or MPI ranks
 * (docs/scale-out.md). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "atlas_cli.h"
#include "circuitc/charts.h"
#include "circuitc/fsio.h"
#include "options.h"
#include "plot_cli.h"
#include "progress.h"

enum { LINE_MAX_BYTES = 256, SYNC_SECONDS = 10 };

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec + 1e-6 * u.ru_stime.tv_usec;
}

int atlas_sink_next(void *ctx)
{
    atlas_sink *s = ctx;
    pthread_mutex_lock(&s->lock);
    int u = -1;
    while (u < 0 && s->next_unit < cc_atlas_n_units(s->a)) {
        long first;
        int count;
        cc_atlas_unit(s->a, s->next_unit, &first, &count);
        for (int k = 0; k < count; k++)
            if (!s->done[first + k]) u = s->next_unit;
        s->next_unit++;
    }
    pthread_mutex_unlock(&s->lock);
    return u;
}

int atlas_sink_store(void *ctx, const cc_atlas_entry *e, int count, cc_error *err)
{
    atlas_sink *s = ctx;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (int k = 0; k < count && rc == 0; k++) {
        long i = cc_atlas_pair_index(s->a, e[k].earlier, e[k].later);
        if (s->done[i]) continue; /* resumed: the file has it already */
        s->all[i] = e[k];
        s->done[i] = 1;
        s->n_done++;
        char line[LINE_MAX_BYTES];
        if (s->partial && (cc_atlas_entry_line(&e[k], line, sizeof line) < 0 || fprintf(s->partial, "%s\n", line) < 0))
            rc = cc_fail(err, "%s: cannot append: %s", s->partial_path, strerror(errno));
    }
    if (rc == 0 && s->partial) {
        /* flushed per unit, so a killed run keeps every finished unit; fsynced now and then */
        if (fflush(s->partial) != 0) rc = cc_fail(err, "%s: cannot write: %s", s->partial_path, strerror(errno));
        else if (now_seconds() - s->last_sync > SYNC_SECONDS) {
            fsync(fileno(s->partial));
            s->last_sync = now_seconds();
        }
    }
    cli_progress_update(NULL, s->n_done - s->n_resumed, cc_atlas_n_pairs(s->a) - s->n_resumed);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool atlas_mpi_launched(void)
{
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    return size && atoi(size) > 1;
}

/* The first line of the file: what the entries were computed from. A resumed
 * file must start with exactly this line. */
static char *header_line(const cc_model *m, const cc_circuit *c, const cc_atlas *a, double min_acc, bool processed)
{
    json_t *h = json_pack("{s:i, s:s, s:s, s:o, s:b, s:i, s:i, s:i, s:f, s:I, s:b}", "atlas", 1, "circuit",
                          cc_circuit_name(c), "chain", cc_circuit_chain_text(c), "model", cli_json_path(m->model_path),
                          "processing", processed, "vocab", m->cfg.d_vocab, "n_layers", m->cfg.n_layers, "n_heads",
                          m->cfg.n_heads, "min_acc", min_acc, "pairs", (json_int_t)cc_atlas_n_pairs(a), "bound",
                          cc_atlas_uses_bound(a));
    char *s = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    return s;
}

/* Reads the entries of a previous run from PATH (the partial file, or the
 * finished one) into the sink. A last line without its newline was cut by the
 * interruption and is dropped. */
static int resume_from(atlas_sink *s, const char *path, const char *header, const cc_config *cfg, cc_error *err)
{
    FILE *f = cc_fopen_regular(path, "atlas file", err);
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[len - 1] != '\n') break; /* cut short by the interruption */
        line[len - 1] = '\0';
        if (no == 1) {
            if (strcmp(line, header) != 0)
                rc = cc_fail(err, "%s was written for other settings (its first line is %s; this run's is %s): use the "
                                  "same --circuit, --min-acc, model and processing, or drop --resume to start over",
                             path, line, header);
            continue;
        }
        cc_atlas_entry e;
        if (cc_atlas_entry_parse(line, cfg, &e, err) != 0) {
            rc = cc_fail_prefix(err, "%s line %ld is damaged (remove the file or drop --resume)", path, no);
        } else if (e.earlier.layer >= e.later.layer) {
            rc = cc_fail(err, "%s line %ld is damaged: not an earlier -> later head pair (remove the file or drop "
                              "--resume)", path, no);
        } else {
            long i = cc_atlas_pair_index(s->a, e.earlier, e.later);
            if (!s->done[i]) s->n_done++, s->n_resumed++;
            s->all[i] = e;
            s->done[i] = 1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* Writes HEADER and the entries marked done, in canonical order, to PATH
 * atomically (a temporary file beside it, renamed). */
static int write_entries(const atlas_sink *s, const char *path, const char *header, cc_error *err)
{
    char *tmp;
    FILE *f = cc_create_beside(path, &tmp, err);
    if (!f) return -1;
    fprintf(f, "%s\n", header);
    for (long i = 0; i < cc_atlas_n_pairs(s->a); i++) {
        char line[LINE_MAX_BYTES];
        if (s->done[i] && cc_atlas_entry_line(&s->all[i], line, sizeof line) >= 0) fprintf(f, "%s\n", line);
    }
    int rc = cc_commit_file(f, tmp, path, err);
    free(tmp);
    return rc;
}

/* Opens the partial file OUT.partial: a fresh one holding the header and what
 * --resume recovered (written atomically first, so an interruption now loses
 * nothing), then reopened for appending. */
static int open_partial(atlas_sink *s, const char *out, bool resume, const char *header, const cc_config *cfg,
                        char **partial_path, cc_error *err)
{
    size_t n = strlen(out) + sizeof ".partial";
    char *p = malloc(n);
    if (!p) return cc_fail(err, "out of memory");
    snprintf(p, n, "%s.partial", out);
    *partial_path = p;
    s->partial_path = p;
    if (resume) {
        const char *from = access(p, F_OK) == 0 ? p : access(out, F_OK) == 0 ? out : NULL;
        if (from && resume_from(s, from, header, cfg, err) != 0) return -1;
    }
    if (write_entries(s, p, header, err) != 0) return -1;
    s->partial = fopen(p, "a");
    if (!s->partial) return cc_fail(err, "%s: cannot open for appending: %s", p, strerror(errno));
    s->last_sync = now_seconds();
    return 0;
}

static double acc(long count, long V) { return (double)count / (double)V; }

static json_t *entry_json(const cc_atlas_entry *e, long V)
{
    char p[32], l[32];
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f}", "earlier", cc_head_name(e->earlier, p, sizeof p), "later",
                     cc_head_name(e->later, l, sizeof l), "status", e->exact ? "exact" : "bound", "rows_top1",
                     acc(e->rows[0], V), "rows_top5", acc(e->rows[1], V), "cols_top1", acc(e->cols[0], V), "cols_top5",
                     acc(e->cols[1], V));
}

/* Exact pairs by rows top-1 count, then columns, then canonical order. */
static const cc_atlas_entry *g_sort_entries;
static int by_rows_top1(const void *pa, const void *pb)
{
    const cc_atlas_entry *x = &g_sort_entries[*(const long *)pa], *y = &g_sort_entries[*(const long *)pb];
    if (x->rows[0] != y->rows[0]) return x->rows[0] > y->rows[0] ? -1 : 1;
    if (x->cols[0] != y->cols[0]) return x->cols[0] > y->cols[0] ? -1 : 1;
    return (*(const long *)pa > *(const long *)pb) - (*(const long *)pa < *(const long *)pb);
}

static int plot_atlas(const char *out, const atlas_sink *s, const cc_model *m, const char *circuit, double min_acc)
{
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    long V = m->cfg.d_vocab;
    double *g = malloc(2 * (size_t)n * n * sizeof *g);
    if (!g) {
        cc_error err;
        cc_fail(&err, "out of memory");
        return cli_fail(&err);
    }
    for (size_t i = 0; i < 2 * (size_t)n * n; i++) g[i] = 0;
    for (long i = 0; i < cc_atlas_n_pairs(s->a); i++) {
        const cc_atlas_entry *e = &s->all[i];
        size_t cell = (size_t)(e->earlier.layer * H + e->earlier.head) * n + e->later.layer * H + e->later.head;
        g[cell] = e->exact ? acc(e->rows[0], V) : NAN;
        g[(size_t)n * n + cell] = e->exact ? acc(e->cols[0], V) : NAN;
    }
    char title[512], *label = cli_model_label(m->model_path);
    snprintf(title, sizeof title, "%s atlas: top-1 accuracy of every earlier -> later head pair — model %s", circuit,
             label ? label : m->model_path);
    free(label);
    cc_chart_opts o = {.out = out, .title = title};
    cc_error err;
    int rc = cc_chart_atlas(&o, L, H, g, g + (size_t)n * n, min_acc, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(g);
    return rc;
}

typedef struct {
    const char *circuit, *out;
    bool resume;
    double min_acc;
    int top;
} atlas_opts;

static int parse_opts(const cli_args *a, atlas_opts *o)
{
    *o = (atlas_opts){.circuit = a->v[O_CIRCUIT].s, .out = a->v[O_OUT_FILE].s, .resume = a->v[O_RESUME].on,
                      .top = a->v[O_TOP].i};
    const char *t = a->v[O_MIN_ACC].s;
    char *end;
    errno = 0;
    o->min_acc = strtod(t, &end);
    if (end == t || *end || errno || !(o->min_acc >= 0 && o->min_acc <= 1))
        return cli_usage_error("atlas", "--min-acc must be a number between 0 and 1, e.g. 0.01 (got \"%s\")", t);
    if (o->resume && !o->out) return cli_usage_error("atlas", "--resume needs --out FILE (the file to continue)");
    return -1;
}

static void print_summary(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const long *order, int n_top,
                          long n_exact, double wall, double cpu, int ranks, const long *pairs_by_rank)
{
    long V = m->cfg.d_vocab, n = cc_atlas_n_pairs(s->a);
    printf("atlas     %s, %ld earlier -> later head pairs, model %s%s\n", o->circuit, n, m->model_path,
           m->processed ? "" : " (no processing)");
    if (cc_atlas_uses_bound(s->a))
        printf("bound     %ld pairs certified below top-5 accuracy %g in both directions (no exact pass), %ld exact\n",
               n - n_exact, o->min_acc, n_exact);
    else printf("exact     every pair (no bound: %s)\n", o->min_acc > 0 ? "not the K-composition circuit" : "--min-acc 0");
    if (s->n_resumed) printf("resumed   %ld pairs from the partial file\n", s->n_resumed);
    printf("top %d exact pairs by top-1 accuracy of the rows (query tokens):\n", n_top);
    printf("  %-7s %-7s %10s %10s %10s %10s\n", "earlier", "later", "rows top1", "rows top5", "cols top1", "cols top5");
    for (int r = 0; r < n_top; r++) {
        const cc_atlas_entry *e = &s->all[order[r]];
        char p[32], l[32];
        printf("  %-7s %-7s %10.4f %10.4f %10.4f %10.4f\n", cc_head_name(e->earlier, p, sizeof p),
               cc_head_name(e->later, l, sizeof l), acc(e->rows[0], V), acc(e->rows[1], V), acc(e->cols[0], V),
               acc(e->cols[1], V));
    }
    if (o->out) printf("wrote     %s (%ld pairs, JSON lines)\n", o->out, n);
    printf("time      %.1f s wall, %.1f s CPU", wall, cpu);
    if (ranks > 1) {
        printf(" (%d MPI ranks; pairs computed by each:", ranks);
        for (int r = 0; r < ranks; r++) printf(" %ld", pairs_by_rank[r]);
        printf(")");
    }
    printf("\n");
}

static int report(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const cli_args *a, double wall,
                  double cpu, int ranks, const long *pairs_by_rank)
{
    long n = cc_atlas_n_pairs(s->a), V = m->cfg.d_vocab, n_exact = 0;
    long *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) {
        cc_error err;
        cc_fail(&err, "out of memory");
        return cli_fail(&err);
    }
    for (long i = 0; i < n; i++)
        if (s->all[i].exact) order[n_exact++] = i;
    g_sort_entries = s->all;
    qsort(order, (size_t)n_exact, sizeof *order, by_rows_top1);
    int n_top = n_exact < o->top ? (int)n_exact : o->top, rc = CLI_OK;
    if (a->common.json) {
        json_t *top = json_array(), *j;
        for (int r = 0; r < n_top; r++) json_array_append_new(top, entry_json(&s->all[order[r]], V));
        j = json_pack("{s:s, s:f, s:b, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:f, s:i}", "circuit", o->circuit, "min_acc",
                      o->min_acc, "bound", cc_atlas_uses_bound(s->a), "vocab", m->cfg.d_vocab, "pairs", (json_int_t)n,
                      "exact_pairs", (json_int_t)n_exact, "bounded_pairs", (json_int_t)(n - n_exact), "resumed_pairs",
                      (json_int_t)s->n_resumed, "out", o->out ? cli_json_path(o->out) : json_null(), "top", top,
                      "cpu_seconds", cpu, "ranks", ranks);
        if (j && ranks > 1) {
            json_t *by_rank = json_array();
            for (int r = 0; r < ranks; r++) json_array_append_new(by_rank, json_integer(pairs_by_rank[r]));
            json_object_set_new(j, "pairs_by_rank", by_rank);
        }
        if (j && !o->out) {
            json_t *all = json_array();
            for (long i = 0; i < n; i++) json_array_append_new(all, entry_json(&s->all[i], V));
            json_object_set_new(j, "entries", all);
        }
        rc = cli_print_result(j);
    } else {
        print_summary(s, m, o, order, n_top, n_exact, wall, cpu, ranks, pairs_by_rank);
    }
    free(order);
    if (a->common.plot && plot_atlas(a->common.plot, s, m, o->circuit, o->min_acc) != CLI_OK) rc = CLI_FAIL;
    return rc;
}

/* Runs the units: on this process's threads, or as one MPI rank. */
static int compute(atlas_sink *s, int rank, int size, double *cpu_others, long *pairs_by_rank, cc_error *err)
{
    *cpu_others = 0;
#ifdef CC_HAVE_MPI
    if (size > 1) return atlas_mpi_run(s, rank, size, cpu_others, pairs_by_rank, err);
#else
    (void)rank, (void)size, (void)pairs_by_rank;
#endif
    return cc_atlas_run(s->a, 0, atlas_sink_next, atlas_sink_store, s, err);
}

static int run(const cli_args *a)
{
    atlas_opts o;
    int prc = parse_opts(a, &o);
    if (prc >= 0) return prc;
    int rank = 0, size = 1;
    cc_error err;
    if (atlas_mpi_launched()) {
#ifdef CC_HAVE_MPI
        if (atlas_mpi_init(&rank, &size, &err) != 0) return cli_fail(&err);
        if (rank > 0) cli_progress_silence();
#else
        cc_fail(&err, "this circuitc was built without MPI (install libopenmpi-dev and rebuild: scripts/bootstrap); "
                      "run it without mpirun");
        return cli_fail(&err);
#endif
    }
    double t0 = now_seconds(), cpu0 = cpu_seconds(), cpu_others = 0;
    cc_circuit *c = NULL;
    cc_model *m = NULL;
    cc_atlas *atlas = NULL;
    atlas_sink s = {0};
    char *header = NULL, *partial_path = NULL;
    long *pairs_by_rank = NULL;
    cc_part parts[8];
    int n_parts = cc_atlas_parts(parts), rc = CLI_FAIL;
    pthread_mutex_init(&s.lock, NULL);
    if (cc_circuit_open(o.circuit, &c, &err) != 0 || cli_load_parts(&a->common, parts, n_parts, &m, &err) != 0 ||
        cli_require_utf8("--out", a->common.json ? o.out : NULL, &err) != 0 ||
        cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = o.min_acc}, &atlas, &err) != 0)
        goto fail;
    long n = cc_atlas_n_pairs(atlas);
    s.a = atlas;
    s.all = calloc((size_t)n, sizeof *s.all);
    s.done = calloc((size_t)n, 1);
    header = header_line(m, c, atlas, o.min_acc, m->processed);
    if (!s.all || !s.done || !header) {
        cc_fail(&err, "out of memory");
        goto fail;
    }
    if (rank == 0 && o.out && open_partial(&s, o.out, o.resume, header, &m->cfg, &partial_path, &err) != 0) goto fail;
    cli_progress_begin("atlas");
    pairs_by_rank = calloc((size_t)size, sizeof *pairs_by_rank);
    if (!pairs_by_rank) {
        cc_fail(&err, "out of memory");
        goto fail;
    }
    if (compute(&s, rank, size, &cpu_others, pairs_by_rank, &err) != 0) goto fail;
    cli_progress_clear();
    if (rank == 0 && o.out) {
        if (fclose(s.partial) != 0) {
            s.partial = NULL;
            cc_fail(&err, "%s: cannot write: %s", partial_path, strerror(errno));
            goto fail;
        }
        s.partial = NULL;
        if (write_entries(&s, o.out, header, &err) != 0) goto fail;
        unlink(partial_path); /* complete: OUT holds everything */
    }
    rc = rank == 0 ? report(&s, m, &o, a, now_seconds() - t0, cpu_seconds() - cpu0 + cpu_others, size, pairs_by_rank)
                   : CLI_OK;
    goto done;
fail:
    cli_progress_clear();
    rc = cli_fail(&err);
#ifdef CC_HAVE_MPI
    if (size > 1) atlas_mpi_abort();
#endif
done:
#ifdef CC_HAVE_MPI
    if (size > 1) atlas_mpi_finish();
#endif
    if (s.partial) fclose(s.partial);
    pthread_mutex_destroy(&s.lock);
    free(s.all), free(s.done), free(header), free(partial_path), free(pairs_by_rank);
    cc_atlas_free(atlas);
    cc_model_free(m);
    cc_circuit_free(c);
    return rc;
}

const cli_command cli_cmd_atlas = {
    .name = "atlas",
    .synopsis = "",
    .summary = "a two-head circuit's exact top-1/top-5 accuracy for every earlier -> later head pair",
    .description =
        "The atlas of a two-head circuit (default kcomp: W_E W_Q[ind] (W_E W_V[prev] W_O[prev]\n"
        "W_K[ind])^T) over every pair of an earlier-layer head and a later-layer head: top-1 and\n"
        "top-5 accuracy of its diagonal, rows (query tokens) and columns (key tokens). For kcomp\n"
        "a cheap certified upper bound runs first (a float32 screen against the largest\n"
        "candidates, with proven rounding margins): pairs whose top-5 accuracy is certified below\n"
        "--min-acc in both directions are reported as \"bound\" with those upper bounds; every\n"
        "other pair is counted exactly, as `kcomp` does. Work units (a later head with a block of\n"
        "earlier heads) run on every core, or on every rank under `mpirun -np N circuitc atlas\n"
        "...` (built with Open MPI; rank 0 writes the file, identical to a single-process run).\n"
        "--out FILE streams the entries to FILE.partial as units finish (JSON lines: a header\n"
        "line, then one line per pair) and replaces FILE with the complete, ordered file at the\n"
        "end; --resume continues from it. docs/scale-out.md: the file format, the bound, the cost\n"
        "model and measured figures.\n",
    .examples = "atlas --top 5\n"
                "atlas --out /tmp/atlas.jsonl --plot /tmp/atlas.png\n"
                "atlas --out /tmp/atlas.jsonl --resume --quiet\n",
    .options = (const opt_id[]){O_CIRCUIT, O_OUT_FILE, O_RESUME, O_MIN_ACC, O_TOP, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
