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

#include <jansson.h>
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
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
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

/* The discover command as one call: cc_discover on the circuit named, and,
 * when TOKENS are given, the ranking scored against the runtime head
 * detectors (cc_head_scores_run on those repeated-token sequences): precision
 * and recall at k = 1..top of the predicted heads, the true heads scoring at
 * least the thresholds. */
#define CC_DISCOVER_PREV_THRESHOLD 0.5
#define CC_DISCOVER_INDUCTION_THRESHOLD 0.4

typedef struct {
    const char *circuit;         /* a two-head circuit file or built-in (NULL: "kcomp") */
    int top;                     /* pairs measured exactly, ranking rows and k of precision / recall */
    int baseline_samples;        /* at least 1: the ratios need a baseline */
    uint64_t seed;
    int positions;               /* T of the positional evidence (0: min(n_ctx, 101)) */
    bool process;                /* when the call loads the parts (a model not loaded whole) */
    const int *tokens;           /* NULL: no runtime check; else [batch, 1 + 2 seq_len] (cc_repeat_tokens),
                                    and the model must be loaded whole */
    int batch, seq_len;
    double prev_threshold, induction_threshold; /* the runtime truth */
    /* Optional: PHASE names each phase ("discover", "discover: runtime check";
     * static strings), PROGRESS reports the exact top-1 scans' rows. */
    void (*phase)(void *ctx, const char *label);
    cc_progress_fn progress;
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_discover_report_options;

/* kcomp, top 10, 200 samples, seed 0, positions 0, processed, no runtime
 * check (batch 1, seq_len 50 for when tokens are set), the thresholds above. */
void cc_discover_report_defaults(cc_discover_report_options *o);

typedef struct {
    char *circuit;               /* as the options named it */
    int n_layers, n_heads;
    int top, baseline_samples;
    uint64_t seed;
    cc_discover_result ranking;
    bool runtime;                /* the runtime check ran: the fields below are filled */
    int batch, seq_len;
    double prev_threshold, induction_threshold;
    double *prev, *induction;    /* [L*H] runtime scores (previous-token, induction) */
    double *precision_prev, *recall_prev, *precision_induction, *recall_induction; /* [top] each */
    int n_prev, n_induction;     /* the true heads */
} cc_discover_report;

/* M opened (the call loads W_E, W_pos and every head) or loaded whole (needed
 * with tokens). Free OUT with cc_discover_report_free, also after a failure. */
int cc_discover_report_run(cc_model *m, const cc_discover_report_options *o, cc_discover_report *out, cc_error *err);
void cc_discover_report_free(cc_discover_report *r);

/* The CLI's --json body: circuit, pairs, vocab, positions, baseline, ranking
 * (the first top pairs), runtime (null without the check). */
json_t *cc_discover_report_json(const cc_discover_report *r);

#endif
