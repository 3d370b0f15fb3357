/* cmd_atlas.c — `circuitc atlas`: a two-head circuit for every earlier ->
 * later head pair (include/circuitc/atlas.h), streamed to a JSON-lines file
 * that survives an interruption (--resume), on threads or MPI ranks
 * (docs/scale-out.md). */
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "atlas_cli.h"
#include "progress.h"

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec + 1e-6 * u.ru_stime.tv_usec;
}

bool atlas_mpi_launched(void)
{
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    return size && atoi(size) > 1;
}

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

/* Under mpirun: starts MPI and silences progress on every rank but 0. */
static int start_mpi(int *rank, int *size, cc_error *err)
{
    if (!atlas_mpi_launched()) return 0;
#ifdef CC_HAVE_MPI
    if (atlas_mpi_init(rank, size, err) != 0) return -1;
    if (*rank > 0) cli_progress_silence();
    return 0;
#else
    (void)rank, (void)size;
    return cc_fail(err, "this circuitc was built without MPI (install libopenmpi-dev and rebuild: scripts/bootstrap); "
                        "run it without mpirun");
#endif
}

/* What one run holds, freed by release(). */
typedef struct {
    cc_circuit *c;
    cc_model *m;
    cc_atlas *atlas;
    atlas_sink s;
    char *header, *partial_path;
    long *pairs_by_rank; /* [ranks] */
} atlas_state;

/* Loads the circuit and the model's parts, prepares the atlas and its sink
 * and (rank 0, --out) opens the partial file. */
static int prepare(const cli_args *a, const atlas_opts *o, int rank, int size, atlas_state *st, cc_error *err)
{
    cc_part parts[CC_ATLAS_MAX_PARTS];
    int n_parts = 0;
    if (cc_circuit_open(o->circuit, &st->c, err) != 0 || cli_open_model(&a->common, &st->m, err) != 0 ||
        cc_atlas_parts(st->c, st->m, parts, &n_parts, err) != 0 || cli_need_parts(&a->common, st->m, parts, n_parts, err) != 0 ||
        cli_require_utf8("--out", a->common.json ? o->out : NULL, err) != 0 ||
        cc_atlas_new(st->m, st->c, &(cc_atlas_options){.min_acc = o->min_acc}, &st->atlas, err) != 0)
        return -1;
    long n = cc_atlas_n_pairs(st->atlas);
    st->s.a = st->atlas;
    st->s.all = calloc((size_t)n, sizeof *st->s.all);
    st->s.done = calloc((size_t)n, 1);
    st->header = atlas_header_line(st->m, st->c, st->atlas, o->min_acc, cc_model_processed(st->m));
    st->pairs_by_rank = calloc((size_t)size, sizeof *st->pairs_by_rank);
    if (!st->s.all || !st->s.done || !st->header || !st->pairs_by_rank) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if (rank == 0 && o->out &&
        atlas_open_partial(&st->s, o->out, o->resume, st->header, cc_model_config(st->m), &st->partial_path, err) != 0)
        return -1;
    return 0;
}

static void release(atlas_state *st)
{
    if (st->s.partial) fclose(st->s.partial);
    pthread_mutex_destroy(&st->s.lock);
    free(st->s.all), free(st->s.done), free(st->header), free(st->partial_path), free(st->pairs_by_rank);
    cc_atlas_free(st->atlas);
    cc_model_free(st->m);
    cc_circuit_free(st->c);
}

static int run(const cli_args *a)
{
    atlas_opts o;
    int rc = parse_opts(a, &o);
    if (rc >= 0) return rc;
    int rank = 0, size = 1;
    cc_error err;
    if (start_mpi(&rank, &size, &err) != 0) return cli_fail(&err);
    double t0 = cli_run_seconds(), cpu0 = cpu_seconds(), cpu_others = 0;
    atlas_state st = {0};
    pthread_mutex_init(&st.s.lock, NULL);
    bool ok = prepare(a, &o, rank, size, &st, &err) == 0;
    if (ok) {
        cli_progress_begin("atlas");
        ok = compute(&st.s, rank, size, &cpu_others, st.pairs_by_rank, &err) == 0;
    }
    cli_progress_clear();
    if (ok && rank == 0 && o.out) ok = atlas_finish_file(&st.s, o.out, st.header, &err) == 0;
    if (!ok) {
        rc = cli_fail(&err);
#ifdef CC_HAVE_MPI
        if (size > 1) atlas_mpi_abort();
#endif
    } else {
        rc = rank == 0 ? atlas_report(&st.s, st.m, &o, a, cli_run_seconds() - t0, cpu_seconds() - cpu0 + cpu_others,
                                      size, st.pairs_by_rank)
                       : CLI_OK;
    }
#ifdef CC_HAVE_MPI
    if (size > 1) atlas_mpi_finish();
#endif
    release(&st);
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
        "end; --resume continues from it. A device or FIFO FILE (/dev/stdout) is written once at\n"
        "the end, without FILE.partial. docs/scale-out.md: the file format, the bound, the cost\n"
        "model and measured figures.\n",
    .examples = "atlas --top 5\n"
                "atlas --out /tmp/atlas.jsonl --plot /tmp/atlas.png\n"
                "atlas --out /tmp/atlas.jsonl --resume --quiet\n",
    .options = (const opt_id[]){O_CIRCUIT, O_OUT_FILE, O_RESUME, O_MIN_ACC, O_TOP, O_PLOT, O_HTML, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
