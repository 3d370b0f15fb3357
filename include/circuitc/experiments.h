/* circuitc/experiments.h — the repeated-random-token experiment and what is
 * measured on it (docs/experiments.md): correct-token log-probs, attention
 * head scores, TransformerLens' detect_head, the mlp_out patching sweep and
 * head ablation. Every reported mean is accumulated in float64. */
#ifndef CIRCUITC_EXPERIMENTS_H
#define CIRCUITC_EXPERIMENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/forward.h"
#include "circuitc/heads.h"
#include "circuitc/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress: cc_repeat_run, cc_head_scores_run and cc_ablate_heads call
 * PROGRESS(PROGRESS_CTX, done, total) after each layer of their forward passes,
 * done counted over all of a call's passes (PROGRESS may be NULL; it may cancel,
 * progress.h). THREADS, in every call below that runs the model: the call's
 * thread count, 0: the default (docs/library.md, "Threads per call"). */

/* ------------------------------------------------------------ tokens */

/* Fills OUT [batch, 1+2n] with [BOS, r_1..r_n, r_1..r_n], exactly the golden
 * generator (golden/FORMAT.md, "Token generator"): a cc_rng stream seeded with
 * SEED xor fnv1a64("repeat-tokens"); r_k = ((next() >> 32) * V) >> 32 for
 * k = b*n + i. r is uniform over [0, V) and BOS's own id is NOT excluded from A
 * (docs/experiments.md, "Repeated random tokens"). (Multiply-shift without rejection: bias at
 * most V / 2^32, about 1e-5 for GPT-2's vocabulary; kept so the goldens' tokens
 * are reproduced for every vocabulary size.) Fails, naming the limit, when
 * 1+2n > n_ctx or batch/n < 1. */
int cc_repeat_tokens(const cc_config *cfg, uint64_t seed, int batch, int n, int *out, cc_error *err);

/* Largest n with 1+2n <= n_ctx. */
int cc_repeat_max_n(const cc_config *cfg);

/* ------------------------------------------------------------ log-probs */

typedef struct {
    int batch, n;
    double *logprob;              /* [batch, 2n]: log_softmax(logits[b,i])[tok[b,i+1]], i in [0, 2n) */
    double first_mean, second_mean; /* mean of logprob[:, 0:n] and [:, n:2n] */
    double first_acc, second_acc;   /* fraction of argmax(logits[b,i]) == tok[b,i+1] over the same */
    double loss;                  /* mean cross-entropy over all batch x 2n predictions */
    double *loss_per_seq;         /* [batch]: mean cross-entropy of each sequence */
} cc_repeat_stats;

/* Summarises a forward pass run with opts.logprobs on repeated tokens TOKENS [batch, 1+2n]. */
int cc_repeat_stats_from(const cc_fwd_result *r, const int *tokens, int n, cc_repeat_stats *out, cc_error *err);

/* Runs TOKENS [batch, 1+2n] and summarises it. */
int cc_repeat_run(const cc_model *m, const int *tokens, int batch, int n, cc_kernel kernel, int threads,
                  cc_progress_fn progress, void *progress_ctx, cc_repeat_stats *out, cc_error *err);

void cc_repeat_stats_free(cc_repeat_stats *s);

/* ------------------------------------------------------------ head scores */

typedef enum {
    CC_SCORE_INDUCTION = 0, /* diagonal offset 1-n */
    CC_SCORE_PREV_TOKEN,    /* -1 */
    CC_SCORE_DUPLICATE,     /* -n */
    CC_SCORE_CURRENT,       /* 0 */
    CC_SCORE_COUNT
} cc_score_kind;

const char *cc_score_name(cc_score_kind k); /* "induction", "previous_token", "duplicate_token", "current_token" */
int cc_score_offset(cc_score_kind k, int n); /* <= 0; 1 for a K out of range */

/* OUT [L, H]: mean over batch b and destinations dest in [-off, T) of
 * pattern[b, h, dest, dest+off] (torch.diagonal(P, off).mean((0,-1)), off <= 0).
 * R must have cached hook_pattern of every layer. */
int cc_diag_scores(const cc_fwd_result *r, int n_heads, int offset, double *out, cc_error *err);

/* TransformerLens' detect_head detection patterns (head_detector.py). */
typedef enum { CC_DETECT_PREV_TOKEN = 0, CC_DETECT_DUPLICATE, CC_DETECT_INDUCTION, CC_DETECT_COUNT } cc_detect_kind;

const char *cc_detect_name(cc_detect_kind k); /* "previous_token_head", "duplicate_token_head", "induction_head" */

/* OUT [L, H]: detect_head's "mul" score averaged over sequences: for each
 * sequence, A = pattern[b, h] [T, T] with column 0 zeroed when EXCLUDE_BOS and
 * the diagonal zeroed when EXCLUDE_CURRENT, D the detection pattern of the
 * sequence's tokens; score_b = sum(A * D) / sum(A); OUT = mean_b score_b. D:
 * previous: D[i, i-1] = 1; duplicate: D[i, j] = 1 for j < i, tok[j] == tok[i];
 * induction: D[i, j] = dup[i, j-1] for 1 <= j <= i. (TL 2.x's list form of
 * detect_head ignores the exclude flags: pass false, false to match it.) */
int cc_detect_scores(const cc_fwd_result *r, const int *tokens, int n_heads, cc_detect_kind kind, bool exclude_bos,
                     bool exclude_current, double *out, cc_error *err);

/* Every score for every head, from one forward pass on [batch, 1+2n]. */
typedef struct {
    int n_layers, n_heads, n;
    double *diag[CC_SCORE_COUNT];       /* [L, H] each */
    double *detect[CC_DETECT_COUNT][4]; /* [L, H]; [k][0] plain, [1] exclude BOS, [2] exclude current, [3] both */
} cc_head_scores;

int cc_head_scores_run(const cc_model *m, const int *tokens, int batch, int n, cc_kernel kernel, int threads,
                       cc_progress_fn progress, void *progress_ctx, cc_head_scores *out, cc_error *err);

/* The scores that need no repeat on any TOKENS [batch, T] (e.g. prompts of
 * one length): previous_token, current_token and detect_head's three; diag
 * of the induction and duplicate scores stays NULL and n is 0. */
int cc_head_scores_tokens_run(const cc_model *m, const int *tokens, int batch, int T, cc_kernel kernel, int threads,
                              cc_progress_fn progress, void *progress_ctx, cc_head_scores *out, cc_error *err);
void cc_head_scores_free(cc_head_scores *s);

/* ------------------------------------------------------------ patching */

/* MLP patching sweep on one repeated sequence TOKENS [1+2n]: for each layer l
 * and position p in [n, 2n], blocks.{l}.hook_mlp_out[p] is replaced by the clean
 * value at p-n; loss = mean cross-entropy of the predictions at positions
 * [n, 2n) (the second half). */
typedef struct {
    int n_layers, n;            /* positions are n .. 2n (n+1 of them) */
    double clean_loss;
    double *patched_loss;       /* [L, n+1] */
    double *delta;              /* [L, n+1]: patched_loss - clean_loss */
} cc_patch_sweep;

/* NAIVE: one full rerun per (l, p) with a hook (the reference). Otherwise the
 * causal path: a patch at (l, p) changes nothing before layer l+1 or position p,
 * so each layer's n+1 patches resume from the clean run's cached keys/values
 * as one stacked batch that recomputes only rows [p, 2n) (row p alone for the
 * last layer). PROGRESS (may be NULL) is called after each layer. A model
 * without MLPs (attention-only) is refused, saying so. */
int cc_patch_mlp_sweep(const cc_model *m, const int *tokens, int n, bool naive, cc_kernel kernel, int threads,
                       cc_progress_fn progress, void *progress_ctx, cc_patch_sweep *out, cc_error *err);
void cc_patch_sweep_free(cc_patch_sweep *s);

/* ------------------------------------------------------------ ablation */

typedef enum { CC_ABLATE_ZERO = 0, CC_ABLATE_MEAN } cc_ablate_mode;

/* Ablates HEADS together (their hook_z: zero, or the clean mean over batch and
 * positions) on TOKENS [batch, 1+2n]; reports both runs' statistics and every
 * head's induction score before and after. */
typedef struct {
    int n_layers, n_heads;
    cc_repeat_stats clean, ablated;
    double *clean_induction;    /* [L, H] */
    double *ablated_induction;  /* [L, H] */
} cc_ablation;

int cc_ablate_heads(const cc_model *m, const int *tokens, int batch, int n, const cc_head *heads, int n_ablate,
                    cc_ablate_mode mode, cc_kernel kernel, int threads, cc_progress_fn progress, void *progress_ctx,
                    cc_ablation *out, cc_error *err);
void cc_ablation_free(cc_ablation *a);

/* Next-token statistics of a pass over any TOKENS [batch, T] (a prompt):
 * every prediction of position t for t+1, t in [0, T-1). */
typedef struct {
    int batch, positions;        /* T */
    double *logprob;             /* [batch, T-1]: log_softmax(logits[b,t])[tok[b,t+1]] */
    double mean_logprob;         /* mean of logprob */
    double accuracy;             /* fraction of argmax(logits[b,t]) == tok[b,t+1] */
    double loss;                 /* mean cross-entropy, -mean_logprob */
} cc_token_stats;

void cc_token_stats_free(cc_token_stats *s);

/* The ablation on any TOKENS [batch, T] (prompts of one length): both runs'
 * next-token statistics, and every head's detect_head induction_head score
 * (cc_detect_scores without the exclude options) before and after. */
typedef struct {
    int n_layers, n_heads;
    cc_token_stats clean, ablated;
    double *clean_induction;    /* [L, H] */
    double *ablated_induction;  /* [L, H] */
} cc_token_ablation;

int cc_ablate_heads_tokens(const cc_model *m, const int *tokens, int batch, int T, const cc_head *heads, int n_ablate,
                           cc_ablate_mode mode, cc_kernel kernel, int threads, cc_progress_fn progress,
                           void *progress_ctx, cc_token_ablation *out, cc_error *err);
void cc_token_ablation_free(cc_token_ablation *a);

#ifdef __cplusplus
}
#endif

#endif
