/* circuitc/atlas_report.h — `circuitc atlas` as one call: the atlas of a
 * two-head circuit (atlas.h) over every earlier -> later head pair, its exact
 * pairs ranked, and the command's JSON.
 *
 * cc_atlas_report_run computes every pair on the calling process's threads.
 * A caller that runs the units its own way (a sink of its own, a file resumed,
 * MPI ranks: the CLI) builds the same report from its entries with
 * cc_atlas_report_rank. */
#ifndef CIRCUITC_ATLAS_REPORT_H
#define CIRCUITC_ATLAS_REPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "circuitc/atlas.h"
#include "circuitc/error.h"
#include "circuitc/model.h"
#include "circuitc/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *circuit;       /* a built-in two-head circuit (kcomp, qcomp, vcomp) or a .circuit file; NULL: kcomp */
    double min_acc;            /* cc_atlas_options' */
    int top;                   /* exact pairs the ranking lists (the JSON's top) */
    bool process;              /* a model opened, not loaded: process the parts the call loads */
    int threads;               /* threads for the units (library.md); 0: the default */
    cc_progress_fn progress;   /* optional: pairs done of every pair, after each unit; may cancel (progress.h) */
    void *progress_ctx;
} cc_atlas_report_options;

/* kcomp, min_acc 0.01, top 10, processed, default threads, no progress. */
void cc_atlas_report_defaults(cc_atlas_report_options *o);

typedef struct {
    char *circuit;             /* as the options named it */
    double min_acc;
    bool bound;                /* the certified bound ran (cc_atlas_uses_bound) */
    long vocab;                /* d_vocab: the counts' denominator */
    long n_pairs;              /* every earlier -> later pair */
    long n_exact;              /* those counted exactly (the others hold their upper bounds) */
    long n_resumed;            /* entries the caller had before (cc_atlas_report_rank); 0 for _run */
    cc_atlas_entry *entries;   /* [n_pairs] canonical order (atlas.h) */
    long *ranking;             /* [n_exact] indices into entries of the exact pairs: rows' top-1 count
                                  first, then the columns', then canonical order */
    int n_top;                 /* the options' top, at most n_exact: the ranking's first n_top are listed */
    double cpu_seconds;        /* CPU time of the process during _run (0 from _rank: the caller's own figure) */
} cc_atlas_report;

/* The atlas of O's circuit on M, opened (the call loads W_E and every head's
 * Q, K, V, O, processed when O says so) or loaded whole, every unit run on
 * O's threads. OUT is overwritten; free it with cc_atlas_report_free, also
 * after a failure. */
int cc_atlas_report_run(cc_model *m, const cc_atlas_report_options *o, cc_atlas_report *out, cc_error *err);

/* The report of A from ENTRIES [cc_atlas_n_pairs(A)], every pair in canonical
 * order, computed by the caller (N_RESUMED of them taken from an earlier
 * run); O's circuit (its name) and top. ENTRIES are copied. */
int cc_atlas_report_rank(const cc_atlas *a, const cc_atlas_report_options *o, const cc_atlas_entry *entries,
                         long n_resumed, cc_atlas_report *out, cc_error *err);
void cc_atlas_report_free(cc_atlas_report *r);

/* `atlas --json`'s body: circuit, min_acc, bound, vocab, pairs, exact_pairs,
 * bounded_pairs, resumed_pairs, out (null: the CLI names its --out file),
 * top [{earlier, later, status, rows_top1, rows_top5, cols_top1, cols_top5}]
 * (accuracies: counts / vocab), cpu_seconds, ranks (1: the CLI under mpirun
 * sets its own, and pairs_by_rank), entries (every pair, as top's). NULL when
 * out of memory. */
json_t *cc_atlas_report_json(const cc_atlas_report *r);

#ifdef __cplusplus
}
#endif

#endif
