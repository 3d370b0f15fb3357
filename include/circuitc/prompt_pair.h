/* circuitc/prompt_pair.h — patching on a clean/corrupted prompt pair as the
 * commands run it: the pair and its metric (patch, path-patch, attribute),
 * `circuitc patch HOOK`'s JSON for cc_act_patch's result, and `circuitc
 * path-patch` and `circuitc attribute HOOK` as one call each with its JSON
 * (docs/runtime.md, docs/gradients.md). */
#ifndef CIRCUITC_PROMPT_PAIR_H
#define CIRCUITC_PROMPT_PAIR_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

#include "circuitc/attribution.h"
#include "circuitc/patching.h"
#include "circuitc/prompts.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the pair comes from: for each prompt exactly one of its text and its
 * token ids (errors name them as the CLI's options: --clean, --clean-tokens ...). */
typedef struct {
    const char *clean, *corrupt;               /* text prompts (BOS prepended unless no_bos) */
    const char *clean_tokens, *corrupt_tokens; /* or token ids, comma- or space-separated */
    bool no_bos;
    const char *tokenizer_dir; /* NULL: the model folder's, else GPT-2's (cc_prompt_source) */
    cc_metric_kind metric;
    const char *answer, *wrong; /* logit_diff: one token each (" Mary" or "#ID"); NULL with loss */
} cc_prompt_pair_source;

typedef struct {
    cc_prompt_batch clean, corrupt; /* one prompt each, of the same length T */
    int T;
    cc_metric metric;
} cc_prompt_pair;

/* Loads the two prompts for M, checks that they have the same length and
 * resolves the metric's tokens. OUT is overwritten; free it with
 * cc_prompt_pair_free (also after a failure). */
int cc_prompt_pair_load(const cc_prompt_pair_source *src, const cc_model *m, cc_prompt_pair *out, cc_error *err);
void cc_prompt_pair_free(cc_prompt_pair *p);

/* Sets the pair's keys on J: clean_tokens, clean_text, corrupt_tokens,
 * corrupt_text, metric {kind, answer {id, token}, wrong {id, token}}. 0, or
 * -1 when out of memory. */
int cc_prompt_pair_json_set(const cc_prompt_pair *p, json_t *j);

/* V ([layer][position][head], laid out as R's value) as nested JSON arrays,
 * NaN and infinities as null (a normalisation by zero). */
json_t *cc_patch_values_json(const cc_patch_result *r, const double *v);

/* `patch HOOK --json`'s body for R, computed by cc_act_patch on P with O:
 * hook, per_head, positions, method, the pair's keys, clean, corrupt, shape,
 * layout, value, normalized, skipped. NULL when out of memory. */
json_t *cc_patch_pair_json(const cc_prompt_pair *p, const cc_patch_opts *o, const cc_patch_result *r);

/* path-patch's options: senders (NULL, 0: every head in the layers below the
 * lowest receiver) to the receivers' TO input (CC_HOOK_Q, _K or _V). */
typedef struct {
    const cc_head *senders;
    int n_senders;
    const cc_head *receivers;
    int n_receivers;
    cc_hook_kind to;
    cc_kernel kernel;
    cc_progress_fn progress; /* optional: after each sender; may cancel (circuitc/progress.h) */
    void *progress_ctx;
    int threads;             /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_path_patch_options;

typedef struct {
    cc_hook_kind to;
    int n_senders, n_receivers;
    cc_head *senders;   /* [n_senders] */
    cc_head *receivers; /* [n_receivers] */
    cc_path_result result;
} cc_path_patch_report;

/* cc_path_patch on P's tokens and metric. OUT is overwritten; free it with
 * cc_path_patch_report_free (also after a failure). */
int cc_path_patch_run(const cc_model *m, const cc_prompt_pair *p, const cc_path_patch_options *o,
                      cc_path_patch_report *out, cc_error *err);
void cc_path_patch_report_free(cc_path_patch_report *r);

/* `path-patch --json`'s body: receivers, to, the pair's keys, clean,
 * corrupt, senders, value, normalized. NULL when out of memory. */
json_t *cc_path_patch_json(const cc_prompt_pair *p, const cc_path_patch_report *r);

/* `attribute HOOK --verify all`, as a count. */
#define CC_ATTR_VERIFY_ALL INT_MAX

/* `attribute HOOK` on a prompt pair: the estimate and its check. */
typedef struct {
    cc_attr_result attr;   /* cc_attr_patch's */
    int verify;            /* as asked: 0, K, or CC_ATTR_VERIFY_ALL */
    int n_top;
    int *top;              /* [n_top] the nodes checked (all: listed), largest |attribution| first */
    double correlation;    /* of attribution and exact effect over every node with all, else NAN */
    cc_patch_result exact; /* cc_act_patch_nodes' (NAN outside TOP) or, with all, cc_act_patch's */
} cc_attr_report;

/* cc_attr_patch on P's tokens with O (its metric: P's), then VERIFY: 0
 * nothing; K the K largest estimates patched exactly (K patched runs); all
 * (CC_ATTR_VERIFY_ALL) the exact patching of every node, the correlation, and
 * the LIST largest listed. OUT is overwritten; free it with
 * cc_attr_report_free (also after a failure). */
int cc_attr_report_run(const cc_model *m, const cc_prompt_pair *p, const cc_patch_opts *o, int verify, int list,
                       cc_attr_report *out, cc_error *err);
void cc_attr_report_free(cc_attr_report *r);

/* `attribute HOOK --json`'s body for R computed on P with O: hook, per_head,
 * positions, method, gradient_run, the pair's keys, clean, corrupt, shape,
 * layout, attribution, value, normalized, peak_bytes, and with a check verify
 * {k, all, correlation, top [{layer, position, head, attribution, exact}],
 * exact_value}. NULL when out of memory. */
json_t *cc_attr_report_json(const cc_prompt_pair *p, const cc_patch_opts *o, const cc_attr_report *r);

/* `attribute mlp_out --json`'s body (no prompt pair: the repeated-token sweep
 * S of cc_attr_mlp_sweep on SEED's tokens, verified with ALL: --verify all):
 * hook, method, gradient_run, seed, seq_len, n_layers, clean_loss,
 * patch_positions, estimate, verify {k, all, correlation, top [{layer,
 * position, estimate, exact}], exact}, peak_bytes; the LISTED largest
 * estimates in top. NULL when out of memory. */
json_t *cc_attr_sweep_json(const cc_attr_sweep *s, uint64_t seed, bool all, int listed);

#ifdef __cplusplus
}
#endif

#endif
