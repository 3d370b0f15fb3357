/* circuitc/atlas.h — a two-head circuit (K-composition by default) for every
 * earlier -> later head pair: exact top-1 and top-5 accuracy of its diagonal in
 * both directions, with a certified cheap upper bound first (docs/scale-out.md).
 *
 * The pairs are ordered canonically: by the later head (layer, then head),
 * then by the earlier head. They are grouped into work units: one later head I
 * with a block of at most CC_ATLAS_BLOCK earlier heads, so a unit computes the
 * factor W_E W_Q[I] once for its block (cc_atlas_run's threads keep it for the
 * next unit of the same later head), and every unit is independent of the
 * others (threads and MPI ranks take units dynamically).
 *
 * The bound (the K-composition circuit only; other circuits are computed
 * exactly for every pair): with Q = W_E W_Q[I], K = W_E W_V[P] W_O[P] W_K[I]
 * the circuit is s_ij = Q_i . K_j. Row i can only be correct at k when fewer
 * than k entries of its row are larger than s_ii. A float32 screen
 * t_ij = fl(Q^_i . K^_j), with Q^ and E^ = fl(W_E W_V[P]) shared per head and
 * K^ = fl(E^ fl(W_O[P] W_K[I])), compares the diagonal with candidate columns
 * (the largest rows of the other factor first, more of them while too many rows
 * survive); an entry counts only when t_ij - t_ii exceeds a proven bound on
 * the error of both t_ij and t_ii against the exact scores (the rounding of the
 * screen's own products and of the float64 chain that defines the scores,
 * topk.h), so the number of rows with fewer than k such entries is an upper
 * bound on the exact top-k count. Pairs whose top-5 bound is below
 * min_acc * V in both directions are reported as bounded; every other pair is
 * compiled and counted exactly with cc_topk_diagonal, as `kcomp` does. */
#ifndef CIRCUITC_ATLAS_H
#define CIRCUITC_ATLAS_H

#include <stdbool.h>

#include "circuitc/circuit.h"
#include "circuitc/error.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"
#include "circuitc/progress.h"

#define CC_ATLAS_BLOCK 24 /* earlier heads per work unit, at most */

typedef struct {
    cc_head earlier, later;
    bool exact;          /* counts below are exact; false: they are the certified upper bounds */
    long rows[2];        /* rows (query tokens) correct at top-1 and at top-5 */
    long cols[2];        /* columns (key tokens) correct at top-1 and at top-5 */
    bool has_bound;      /* the bound ran (K-composition circuit, min_acc > 0) */
    long bound_rows[2], bound_cols[2]; /* its upper bounds on rows[] and cols[] */
} cc_atlas_entry;

typedef struct {
    double min_acc; /* pairs whose top-5 bound is below this accuracy (both directions) stay bounded;
                       0 computes every pair exactly */
} cc_atlas_options;

typedef struct cc_atlas cc_atlas;

/* Parts of M (opened or loaded) the atlas of circuit C reads, for
 * cc_model_need: W_E, every head's Q, K, V and O, and whatever else C's terms
 * read (vcomp's W_U). Fills PARTS (room for CC_ATLAS_MAX_PARTS) and *N_PARTS. */
#define CC_ATLAS_MAX_PARTS (5 + CC_CIRCUIT_MAX_TERMS)
int cc_atlas_parts(const cc_circuit *c, const cc_model *m, cc_part *parts, int *n_parts, cc_error *err);

/* Prepares the atlas of circuit C (two head parameters: earlier, later) on M,
 * whose parts above are loaded. For the K-composition circuit this computes
 * the per-head screen factors (float32 [V, d_head] per earlier head: about
 * 4 V d_head bytes each). M and C must outlive the atlas. */
int cc_atlas_new(const cc_model *m, const cc_circuit *c, const cc_atlas_options *o, cc_atlas **out, cc_error *err);
void cc_atlas_free(cc_atlas *a);

/* Whether the bound is used (the K-composition circuit and min_acc > 0). */
bool cc_atlas_uses_bound(const cc_atlas *a);

long cc_atlas_n_pairs(const cc_atlas *a);
int cc_atlas_n_units(const cc_atlas *a);
/* The heads of pair INDEX (canonical order), and its index. */
void cc_atlas_pair(const cc_atlas *a, long index, cc_head *earlier, cc_head *later);
long cc_atlas_pair_index(const cc_atlas *a, cc_head earlier, cc_head later);
/* Unit U's pairs: indices [*first, *first + *count). */
void cc_atlas_unit(const cc_atlas *a, int u, long *first, int *count);

/* Computes unit U into OUT[0 .. count) (its pairs in canonical order).
 * Re-entrant: threads may run different units at once. The result does not
 * depend on which thread or process runs it. */
int cc_atlas_run_unit(const cc_atlas *a, int u, cc_atlas_entry *out, cc_error *err);

/* The bound alone for one pair, as the atlas computes it (ROWS and COLS: the
 * upper bounds at top-1 and top-5), and whether the atlas would stop there
 * (*PRUNED). Needs cc_atlas_uses_bound. */
int cc_atlas_bound(const cc_atlas *a, cc_head earlier, cc_head later, long rows[2], long cols[2], bool *pruned,
                   cc_error *err);

/* Runs units on THREADS threads (0: all cores, at most CC_PAR_MAX), taking
 * them dynamically: each thread asks NEXT(CTX) for a unit (-1: none left),
 * runs it and hands its entries to ON_UNIT(CTX, entries, count). Both
 * callbacks are called one at a time (under one lock); a non-zero return of
 * ON_UNIT stops the run with its error. */
typedef int (*cc_atlas_next_fn)(void *ctx);
typedef int (*cc_atlas_unit_fn)(void *ctx, const cc_atlas_entry *entries, int count, cc_error *err);
int cc_atlas_run(const cc_atlas *a, int threads, cc_atlas_next_fn next, cc_atlas_unit_fn on_unit, void *ctx,
                 cc_error *err);

/* One entry as a JSON object on one line (no newline), into BUF. Returns the
 * length, or -1 when BUF is too small (256 bytes always suffice). */
int cc_atlas_entry_line(const cc_atlas_entry *e, char *buf, int size);

/* Parses a line written by cc_atlas_entry_line (heads checked against CFG). */
int cc_atlas_entry_parse(const char *line, const cc_config *cfg, cc_atlas_entry *out, cc_error *err);

#endif
