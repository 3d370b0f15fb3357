/* circuitc/comp_scores.h — the comp-scores command as one call: the
 * composition scores of every earlier-layer head into every later-layer head
 * (composition.h, TransformerLens' all_composition_scores) for the modes
 * asked for, their random baseline, and each mode's pairs ranked by score,
 * with the JSON the CLI prints. */
#ifndef CIRCUITC_COMP_SCORES_H
#define CIRCUITC_COMP_SCORES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuitc/composition.h"
#include "circuitc/error.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"
#include "circuitc/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    bool modes[3];              /* indexed by cc_comp_mode: the modes to score */
    int top;                    /* ranked pairs kept per mode */
    int baseline_samples;       /* random pairs for the baseline (0: none) */
    uint64_t seed;              /* the baseline's seed */
    bool process;               /* TransformerLens' default processing of the heads' weights */
    cc_progress_fn progress;    /* optional: steps done of (loading, each mode, the baseline) */
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_comp_scores_options;

/* Every mode, top 10, 200 samples, seed 0, processed, no progress. */
void cc_comp_scores_defaults(cc_comp_scores_options *o);

typedef struct {
    cc_head left, right;        /* left in an earlier layer */
    double score;
    double ratio;               /* score / baseline mean; NAN without a baseline */
    double z;                   /* (score - mean) / std; NAN without a baseline or when std is 0 */
} cc_comp_pair;

typedef struct {
    int n_layers, n_heads, d_model, d_head;
    bool modes[3];
    double *scores;             /* [3][L, H, L, H] by cc_comp_mode; zeros for a mode not scored */
    int baseline_samples;
    uint64_t seed;
    double baseline_mean, baseline_std; /* NAN without samples */
    int n_top[3];               /* min(top, earlier -> later pairs) per mode scored, else 0 */
    cc_comp_pair *top[3];       /* by score descending (then left, right ascending) */
    double scores_seconds, baseline_seconds;
} cc_comp_scores;

/* M opened (cc_model_open) or loaded; the call loads every head's Q, K, V and
 * O. Free OUT with cc_comp_scores_free, also after a failure. */
int cc_comp_scores_run(cc_model *m, const cc_comp_scores_options *o, cc_comp_scores *out, cc_error *err);
void cc_comp_scores_free(cc_comp_scores *r);

/* The CLI's --json body: n_layers, n_heads, d_model, d_head, seed, modes,
 * baseline (null without samples), top, scores (nested [L][H][L][H] per
 * mode), phase_seconds. NULL when out of memory. */
json_t *cc_comp_scores_json(const cc_comp_scores *r);

#ifdef __cplusplus
}
#endif

#endif
