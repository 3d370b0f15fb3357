/* circuitc/validate.h — `validate`: joins the analyzer and the runtime on one
 * model. For a previous-token head PREV and an induction head IND it checks
 * weight-only predictions (PREV's positional previous-token pattern, the
 * PREV -> IND K-composition score against the random baseline, the K-comp
 * circuit's top-1 accuracy) against forward-pass evidence (PREV's
 * previous-token score, IND's induction score, IND's induction score and the
 * second-half loss with PREV ablated), and optionally every figure against the
 * TransformerLens goldens. */
#ifndef CIRCUITC_VALIDATE_H
#define CIRCUITC_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuitc/experiments.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_CHECK_PREDICTION, CC_CHECK_EVIDENCE, CC_CHECK_PARITY } cc_check_kind;

/* "prediction", "evidence" or "parity" (the JSON's "kind"); "?" out of range. */
const char *cc_check_kind_name(cc_check_kind k);

typedef struct {
    char name[48];          /* stable key, e.g. "prev_token_score" */
    cc_check_kind kind;
    char what[200];         /* one line for people */
    double value;
    char relation[4];       /* ">=" or "~=" (parity: |value - reference| <= tolerance) */
    double threshold;       /* the bound, or the reference value for "~=" */
    double tolerance;       /* "~=" only */
    bool pass;
} cc_check;

#define CC_MAX_CHECKS 24

typedef struct {
    int n_checks;
    cc_check checks[CC_MAX_CHECKS];
    bool all_pass;
    int seq_len, batch;
    uint64_t seed;
} cc_validation;

typedef struct {
    int seq_len, batch;          /* repeated tokens for the evidence (default 50, 10) */
    uint64_t seed;
    int baseline_samples;        /* random pairs for the composition baseline (default 200) */
    cc_ablate_mode ablate;       /* how PREV is removed (default mean) */
    double min_prev_positional;  /* fraction of positions whose positional QK peaks at p-1 (0.5) */
    double min_comp_sigmas;      /* K-comp score at least this many baseline stds above its mean (3) */
    double min_top1_vs_chance;   /* K-comp top-1 accuracy at least this multiple of 1/V (10) */
    double min_prev_score;       /* PREV's previous-token score (0.5) */
    double min_ind_score;        /* IND's induction score (0.4) */
    double min_ind_drop;         /* relative drop of IND's induction score with PREV ablated (0.5) */
    double min_loss_increase;    /* second-half loss increase with PREV ablated, nats (0.1) */
    const char *golden_dir;      /* golden/out/<model> for parity checks, or NULL */
    cc_progress_fn progress;     /* rows of the K-comp top-1 scans, then the forward passes' layers */
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_validate_options;

/* The defaults above. */
void cc_validate_defaults(cc_validate_options *o);

int cc_validate(const cc_model *m, cc_head prev, cc_head ind, const cc_validate_options *o, cc_validation *v,
                cc_error *err);

/* `validate PREV IND --json`'s body for V (computed by cc_validate on PREV and
 * IND): prev, ind, seq_len, batch, seed, checks [{name, kind, what, value,
 * relation, threshold, tolerance, pass}], all_pass, failed. NULL when out of
 * memory. */
json_t *cc_validation_json(const cc_validation *v, cc_head prev, cc_head ind);

#ifdef __cplusplus
}
#endif

#endif
