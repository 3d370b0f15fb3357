/* circuitc/discover.h — finding a (previous-token, induction) head pair from
 * the weights alone, and scoring that prediction against the runtime head
 * detectors.
 *
 * Evidence per earlier -> later pair (E, I):
 *   - the K-composition score of E's OV into I's QK and its ratio to the
 *     random baseline mean (composition.h);
 *   - E's positional evidence: the fraction of query positions p in [1, T)
 *     whose positional QK row (W_pos W_Q W_K^T W_pos^T, among the keys k <= p
 *     a causal head sees) peaks at p - 1 (cc_prev_positional);
 *   - for the TOP pairs by ratio x positional evidence, the exact top-1
 *     accuracy of the two-head circuit (kcomp by default) in both directions.
 * A pair's rank score is positional x mean(top-1 of rows, top-1 of columns)
 * for the pairs measured exactly (an induction circuit needs both: E attends
 * to the previous position, and I's keys match each token with itself), and
 * the pairs measured exactly rank before all others, which follow by
 * ratio x positional. */
#ifndef CIRCUITC_DISCOVER_H
#define CIRCUITC_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/circuit.h"
#include "circuitc/error.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"
#include "circuitc/progress.h"

/* Fraction of the query positions p in [1, T) whose positional QK row peaks,
 * among the key positions k <= p, at k = p - 1 (first index wins ties). */
int cc_prev_positional(const cc_model *m, cc_head h, int T, double *frac, cc_error *err);

typedef struct {
    cc_head earlier, later;
    double comp_score, comp_ratio; /* K-composition score, and score / baseline mean */
    double positional;             /* cc_prev_positional of the earlier head */
    bool exact;                    /* top-1 measured (one of the TOP pre-ranked pairs) */
    long rows_top1, cols_top1;     /* exact top-1 counts of the circuit, when exact */
    double score;                  /* the rank score (see above) */
} cc_discover_pair;

typedef struct {
    const cc_circuit *circuit;  /* two-head circuit for the exact top-1 (earlier, later) */
    int top;                    /* pairs measured exactly (default 10) */
    int baseline_samples;       /* random pairs for the composition baseline (200) */
    uint64_t seed;              /* the baseline's seed (0) */
    int positions;              /* T for the positional evidence (0: min(n_ctx, 101)) */
    cc_progress_fn progress;    /* rows of the exact top-1 scans */
    void *progress_ctx;
} cc_discover_options;

typedef struct {
    long vocab;
    int positions;
    double baseline_mean, baseline_std;
    int n_pairs;
    cc_discover_pair *pairs;    /* every earlier -> later pair, ranked (best first) */
} cc_discover_result;

/* M needs W_E, W_pos and every head's Q, K, V, O (cc_discover_parts). */
int cc_discover_parts(cc_part *parts); /* fills PARTS (room for 6), returns the count */
int cc_discover(const cc_model *m, const cc_discover_options *o, cc_discover_result *out, cc_error *err);
void cc_discover_free(cc_discover_result *r);

/* Precision and recall at k = 1..K of the ranking's predicted heads against
 * runtime truth: the predicted previous-token heads are the distinct earlier
 * heads of the ranked pairs in order (induction: the later heads), the first
 * k of them; the true heads are those whose runtime score ([L*H], flat index
 * layer * H + head) is at least THRESHOLD. Arrays of K. Recall is 0 when no
 * head reaches the threshold. */
void cc_discover_precision_recall(const cc_discover_result *r, int n_layers, int n_heads, bool induction,
                                  const double *runtime, double threshold, int K, double *precision, double *recall,
                                  int *n_true);

#endif
