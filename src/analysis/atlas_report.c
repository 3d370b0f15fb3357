/* atlas_report.c — `circuitc atlas` as one call (include/circuitc/atlas_report.h):
 * every unit of the atlas run on threads, the exact pairs ranked, and the
 * command's JSON. */
#include "circuitc/atlas_report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atlas_internal.h"
#include "core/args.h"
#include "core/parallel.h"
#include "core/progress_report.h"
#include "model/model_internal.h"

void cc_atlas_report_defaults(cc_atlas_report_options *o)
{
    if (!o) return;
    *o = (cc_atlas_report_options){.min_acc = 0.01, .top = 10, .process = true};
}

void cc_atlas_report_free(cc_atlas_report *r)
{
    if (!r) return;
    free(r->circuit), free(r->entries), free(r->ranking);
    memset(r, 0, sizeof *r);
}

/* An exact pair's place in the ranking (qsort needs no context this way). */
typedef struct {
    long rows, cols, index;
} rank_key;

static int by_rows_top1(const void *pa, const void *pb)
{
    const rank_key *x = pa, *y = pb;
    if (x->rows != y->rows) return x->rows > y->rows ? -1 : 1;
    if (x->cols != y->cols) return x->cols > y->cols ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Fills OUT's summary and ranking from OUT->entries (A's every pair). */
static int summarise(const cc_atlas *a, const cc_atlas_report_options *o, cc_atlas_report *out, cc_error *err)
{
    out->min_acc = a->min_acc, out->bound = cc_atlas_uses_bound(a), out->vocab = a->V, out->n_pairs = a->n_pairs;
    rank_key *keys = malloc((size_t)(a->n_pairs ? a->n_pairs : 1) * sizeof *keys);
    out->ranking = malloc((size_t)(a->n_pairs ? a->n_pairs : 1) * sizeof *out->ranking);
    if (!keys || !out->ranking) {
        free(keys);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    for (long i = 0; i < a->n_pairs; i++) {
        const cc_atlas_entry *e = &out->entries[i];
        if (e->exact) keys[out->n_exact++] = (rank_key){e->rows[0], e->cols[0], i};
    }
    qsort(keys, (size_t)out->n_exact, sizeof *keys, by_rows_top1);
    for (long r = 0; r < out->n_exact; r++) out->ranking[r] = keys[r].index;
    free(keys);
    out->n_top = out->n_exact < o->top ? (int)out->n_exact : o->top;
    return 0;
}

/* Names OUT after O's circuit. */
static int name_circuit(const cc_atlas_report_options *o, cc_atlas_report *out, cc_error *err)
{
    if (!(out->circuit = strdup(o->circuit ? o->circuit : "kcomp"))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    return 0;
}

int cc_atlas_report_rank(const cc_atlas *a, const cc_atlas_report_options *o, const cc_atlas_entry *entries,
                         long n_resumed, cc_atlas_report *out, cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(entries, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    CC_ARG_AT_LEAST(o->top, 0, err, -1);
    if (name_circuit(o, out, err) != 0) return -1;
    out->n_resumed = n_resumed;
    if (!(out->entries = malloc((size_t)(a->n_pairs ? a->n_pairs : 1) * sizeof *out->entries)))
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->entries, entries, (size_t)a->n_pairs * sizeof *entries);
    return summarise(a, o, out, err);
}

/* cc_atlas_run's sink for the one call: units in order, entries in place. */
typedef struct {
    const cc_atlas *a;
    cc_atlas_entry *entries;
    int next_unit;
    long done;
    const cc_atlas_report_options *o;
} run_sink;

static int sink_next(void *ctx)
{
    run_sink *s = ctx;
    return s->next_unit < s->a->n_units ? s->next_unit++ : -1;
}

static int sink_store(void *ctx, const cc_atlas_entry *e, int count, cc_error *err)
{
    run_sink *s = ctx;
    memcpy(&s->entries[cc_atlas_pair_index(s->a, e[0].earlier, e[0].later)], e, (size_t)count * sizeof *e);
    s->done += count;
    return cci_progress(s->o->progress, s->o->progress_ctx, s->done, s->a->n_pairs, "atlas", err);
}

static double process_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cc_atlas_report_run(cc_model *m, const cc_atlas_report_options *o, cc_atlas_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    CC_ARG_AT_LEAST(o->top, 0, err, -1);
    if (name_circuit(o, out, err) != 0) return -1;
    double cpu0 = process_cpu_seconds();
    cc_part parts[CC_ATLAS_MAX_PARTS];
    int n_parts = 0;
    cc_circuit *c = NULL;
    cc_atlas *a = NULL;
    int rc = -1;
    if (cc_circuit_open(out->circuit, &c, err) == 0 && cc_atlas_parts(c, m, parts, &n_parts, err) == 0 &&
        cc_model_need(m, parts, n_parts, m->loaded ? m->processed : o->process, err) == 0 &&
        cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = o->min_acc}, &a, err) == 0) {
        run_sink s = {.a = a, .entries = calloc((size_t)(a->n_pairs ? a->n_pairs : 1), sizeof *s.entries), .o = o};
        out->entries = s.entries;
        if (!s.entries) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
        else if ((rc = cc_atlas_run(a, o->threads, sink_next, sink_store, &s, err)) == 0)
            rc = summarise(a, o, out, err);
    }
    cc_atlas_free(a);
    cc_circuit_free(c);
    out->cpu_seconds = process_cpu_seconds() - cpu0;
    return rc;
}

/* ---- JSON ------------------------------------------------------------------ */

static double accuracy(long count, long vocab) { return (double)count / (double)vocab; }

static json_t *entry_json(const cc_atlas_entry *e, long vocab)
{
    char p[32], l[32];
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f}", "earlier", cc_head_name(e->earlier, p, sizeof p), "later",
                     cc_head_name(e->later, l, sizeof l), "status", e->exact ? "exact" : "bound", "rows_top1",
                     accuracy(e->rows[0], vocab), "rows_top5", accuracy(e->rows[1], vocab), "cols_top1",
                     accuracy(e->cols[0], vocab), "cols_top5", accuracy(e->cols[1], vocab));
}

json_t *cc_atlas_report_json(const cc_atlas_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    json_t *top = json_array(), *entries = json_array();
    for (int k = 0; top && k < r->n_top; k++) json_array_append_new(top, entry_json(&r->entries[r->ranking[k]], r->vocab));
    for (long i = 0; entries && i < r->n_pairs; i++) json_array_append_new(entries, entry_json(&r->entries[i], r->vocab));
    return json_pack("{s:s, s:f, s:b, s:I, s:I, s:I, s:I, s:I, s:n, s:o, s:f, s:i, s:o}", "circuit", r->circuit,
                     "min_acc", r->min_acc, "bound", r->bound, "vocab", (json_int_t)r->vocab, "pairs",
                     (json_int_t)r->n_pairs, "exact_pairs", (json_int_t)r->n_exact, "bounded_pairs",
                     (json_int_t)(r->n_pairs - r->n_exact), "resumed_pairs", (json_int_t)r->n_resumed, "out", "top",
                     top, "cpu_seconds", r->cpu_seconds, "ranks", 1, "entries", entries);
}
