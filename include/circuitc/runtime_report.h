/* circuitc/runtime_report.h — the runtime commands on repeated random tokens
 * as one call each, with the JSON the CLI prints: repeat (correct-token
 * log-probs), heads (every head's scores, ranked), pattern (one head's
 * attention pattern on one sequence), ablate (heads zero- or
 * mean-ablated: the loss and induction-score changes) and patch's mlp_out
 * sweep on one repeated sequence. Each call draws its
 * tokens (cc_repeat_tokens) from the input's seed, or, for heads and ablate
 * when the options name prompts, runs those (prompts.h); it runs the model
 * (loaded whole, experiments.h) and returns one result struct; the
 * serialisers return a new JSON object (keys in docs/json.md), NULL when out
 * of memory. Forward-pass progress (and cancellation): the options' callbacks. */
#ifndef CIRCUITC_RUNTIME_REPORT_H
#define CIRCUITC_RUNTIME_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuitc/error.h"
#include "circuitc/experiments.h"
#include "circuitc/model.h"
#include "circuitc/prompts.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The repeated-token input: BATCH sequences [BOS, A, A], |A| = SEQ_LEN. */
typedef struct {
    uint64_t seed;
    int seq_len;                 /* 1 + 2 seq_len <= n_ctx (cc_repeat_max_n) */
    int batch;
} cc_repeat_input;

/* repeat */
typedef struct {
    cc_repeat_input input;
    int d_vocab;
    cc_repeat_stats stats;
} cc_repeat_report;

/* PROGRESS (may be NULL) after each layer of the forward pass; THREADS for the
 * call, 0: the default (docs/library.md, "Threads per call"). */
int cc_repeat_report_run(const cc_model *m, const cc_repeat_input *in, int threads, cc_progress_fn progress,
                         void *progress_ctx, cc_repeat_report *out, cc_error *err);
void cc_repeat_report_free(cc_repeat_report *r);

/* seed, seq_len, positions, batch, first_half, second_half {mean_logprob,
 * accuracy}, loss, loss_per_seq, mean_logprob_per_position. */
json_t *cc_repeat_report_json(const cc_repeat_report *r);

/* heads */
typedef struct {
    cc_repeat_input input;
    int top;                     /* heads per ranking */
    bool exclude_bos, exclude_current; /* detect_head's options */
    cc_progress_fn progress;     /* optional: after each layer */
    void *progress_ctx;
    const cc_prompt_batch *prompts; /* optional: score these prompts (all of one length) instead of the
                                       input; borrowed: it must outlive the report's JSON */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_heads_options;

/* The seven scores in the order heads reports them on repeated tokens: the
 * four diagonal ones (cc_score_kind), then detect_head's induction,
 * previous-token, duplicate. On prompts the five that need no repeat:
 * previous_token, current_token, then detect_head's three. */
#define CC_HEADS_N_SCORES 7

typedef struct {
    cc_heads_options options;
    int n_layers, n_heads;
    cc_head_scores scores;
    int n_scores;                           /* 7 on repeated tokens, 5 on prompts */
    const double *score[CC_HEADS_N_SCORES]; /* [L*H] each, into scores (detect: the options' variant) */
    char label[CC_HEADS_N_SCORES][48];      /* "induction", ..., "detect_induction_head", ... */
    int main_score;                         /* the score "heads" is ordered by: induction on repeated
                                               tokens, detect_induction_head on prompts */
    int n_top;                              /* min(top, L*H) */
    int *ranking[CC_HEADS_N_SCORES];        /* [L*H] flat head indices by score descending (then index) */
} cc_heads_report;

int cc_heads_report_run(const cc_model *m, const cc_heads_options *o, cc_heads_report *out, cc_error *err);
void cc_heads_report_free(cc_heads_report *r);

/* seed, seq_len, positions, batch (on prompts: tokenizer, prompts, positions,
 * batch), n_layers, n_heads, detect_options, heads (every head by its main
 * score, with every score), rankings (the top of each). */
json_t *cc_heads_report_json(const cc_heads_report *r);

/* pattern: one head on one sequence (the input's batch is taken as 1) */
typedef struct {
    cc_repeat_input input;
    cc_head head;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_pattern_options;

typedef struct {
    cc_repeat_input input;       /* batch 1 */
    cc_head head;
    int positions;               /* T = 1 + 2 seq_len */
    int *tokens;                 /* [T] */
    float *pattern;              /* [T, T]: row = destination, column = source */
    double diagonals[CC_SCORE_COUNT]; /* mean attention on each cc_score_kind's diagonal */
} cc_pattern_report;

int cc_pattern_report_run(const cc_model *m, const cc_pattern_options *o, cc_pattern_report *out, cc_error *err);
void cc_pattern_report_free(cc_pattern_report *r);

/* seed, seq_len, positions, batch, head, layer, index, tokens, diagonals, pattern. */
json_t *cc_pattern_report_json(const cc_pattern_report *r);

/* pattern on a prompt: HEAD's pattern on row 0 of a prompt batch (prompts.h;
 * its JSON: cc_prompt_pattern_json, prompt_json.h) */
typedef struct {
    cc_head head;
    int positions;               /* T: the prompt's length */
    float *pattern;              /* [T, T]: row = destination, column = source */
} cc_prompt_pattern;

/* THREADS here and in cc_prompt_patterns_run: the call's thread count, 0: the default. */
int cc_prompt_pattern_run(const cc_model *m, const cc_prompt_batch *b, cc_head head, int threads,
                          cc_prompt_pattern *out, cc_error *err);
void cc_prompt_pattern_free(cc_prompt_pattern *r);

/* Several heads' patterns on row 0 of a prompt batch, from one forward pass
 * (its JSON: cc_prompt_patterns_json, prompt_json.h). OUT is empty after a failure. */
typedef struct {
    int n_heads;
    cc_head *heads;              /* [n_heads], in the order asked */
    int positions;               /* T: the prompt's length */
    float *pattern;              /* [n_heads, T, T]: row = destination, column = source */
} cc_prompt_patterns;

int cc_prompt_patterns_run(const cc_model *m, const cc_prompt_batch *b, const cc_head *heads, int n_heads, int threads,
                           cc_prompt_patterns *out, cc_error *err);
void cc_prompt_patterns_free(cc_prompt_patterns *r);

/* ablate */
typedef struct {
    cc_repeat_input input;
    int n_heads;                 /* the heads to ablate together (hook_z) */
    const cc_head *heads;
    cc_ablate_mode mode;
    cc_progress_fn progress;     /* optional: after each layer of both passes */
    void *progress_ctx;
    const cc_prompt_batch *prompts; /* optional: ablate on these prompts (all of one length) instead of
                                       the input; borrowed: it must outlive the report's JSON */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_ablate_options;

typedef struct {
    cc_repeat_input input;
    cc_ablate_mode mode;
    int n_ablated;
    cc_head *ablated;            /* copies of the options' heads */
    cc_ablation ablation;        /* clean and ablated statistics and induction scores */
    double *change;              /* [L*H] ablated - clean induction score */
    int *order;                  /* [L*H] flat head indices by |change| descending (then index) */
    const cc_prompt_batch *prompts; /* the options' prompts; when set, on_prompts holds the figures
                                       and ablation is empty */
    cc_token_ablation on_prompts;
} cc_ablate_report;

int cc_ablate_report_run(const cc_model *m, const cc_ablate_options *o, cc_ablate_report *out, cc_error *err);
void cc_ablate_report_free(cc_ablate_report *r);

/* seed, seq_len, positions, batch, heads, mode, clean, ablated, loss_change,
 * second_half_logprob_change, induction_score, induction_scores (every head
 * by |change|). On prompts: tokenizer, prompts, positions, batch, heads, mode,
 * clean and ablated {mean_logprob, accuracy, loss}, loss_change,
 * logprob_change (per position), induction_score, induction_scores. */
json_t *cc_ablate_report_json(const cc_ablate_report *r);

/* patch mlp_out without a prompt pair: the sweep mlp_out[p] <- mlp_out[p-n]
 * (cc_patch_mlp_sweep) on one sequence (the input's batch is taken as 1) */
typedef struct {
    cc_repeat_input input;
    bool naive;                  /* one full rerun per patch (the reference) instead of the causal reuse */
    cc_progress_fn progress;     /* optional: after each layer */
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_patch_sweep_options;

typedef struct {
    cc_repeat_input input;       /* batch 1 */
    bool naive;
    int *tokens;                 /* [1 + 2 seq_len] */
    cc_patch_sweep sweep;
} cc_patch_sweep_report;

int cc_patch_sweep_report_run(const cc_model *m, const cc_patch_sweep_options *o, cc_patch_sweep_report *out,
                              cc_error *err);
void cc_patch_sweep_report_free(cc_patch_sweep_report *r);

/* seed, seq_len, positions, batch, hook, method, n_layers, clean_loss,
 * patch_positions, delta [L][n+1], patched_loss [L][n+1]. */
json_t *cc_patch_sweep_report_json(const cc_patch_sweep_report *r);

#ifdef __cplusplus
}
#endif

#endif
