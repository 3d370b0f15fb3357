/* circuitc/patching.h — activation patching at any hook and path patching, with
 * TransformerLens' semantics (its patching.get_act_patch_* functions; path
 * patching as in the IOI paper and ARENA's exercise, docs/runtime.md).
 *
 * One prompt pair: CLEAN and CORRUPT token sequences of the same length T
 * (batch 1). Activation patching runs the corrupted tokens with one activation
 * (or one head's, one position's) replaced by its value in the clean run, and
 * measures a metric on the patched run's logits. */
#ifndef CIRCUITC_PATCHING_H
#define CIRCUITC_PATCHING_H

#include <stdbool.h>

#include "circuitc/forward.h"
#include "circuitc/heads.h"
#include "circuitc/progress.h"

/* ------------------------------------------------------------ metric */

typedef enum { CC_METRIC_LOGIT_DIFF = 0, CC_METRIC_LOSS } cc_metric_kind;

typedef struct {
    cc_metric_kind kind;
    int answer, wrong;    /* logit diff: logits[T-1, answer] - logits[T-1, wrong] */
    int loss_lo, loss_hi; /* loss: mean cross-entropy of the run's own next tokens predicted at positions
                             [loss_lo, loss_hi); both 0: every position, [0, T-1) (return_type="loss") */
} cc_metric;

/* ------------------------------------------------------------ activation patching */

/* True for the hooks activation patching takes: hook_resid_pre, hook_resid_mid,
 * hook_attn_out, hook_mlp_out, and per head attn.hook_z, hook_pattern, hook_q,
 * hook_k, hook_v. */
bool cc_patch_hook_ok(cc_hook_kind k);

/* True for the per-head hooks among them (z, pattern, q, k, v). */
bool cc_patch_hook_has_heads(cc_hook_kind k);

/* "resid_pre", "resid_mid", "attn_out", "mlp_out", "z", "pattern", "q", "k", "v"
 * (TransformerLens' get_act_name short names), or the same hooks by their
 * TransformerLens names without a layer ("hook_resid_pre", "attn.hook_z"),
 * to the hook. A name with a layer is refused: patching sweeps every layer. */
int cc_patch_hook_parse(const char *name, cc_hook_kind *k, cc_error *err);

/* The short name of a patchable hook ("resid_pre", ..., "v"). */
const char *cc_patch_hook_name(cc_hook_kind k);

typedef struct {
    cc_hook_kind hook;
    bool per_head;      /* head hooks: one patch per head (else every head of the layer at once) */
    bool all_positions; /* one patch per layer (x head) over every patched position; else one per position */
    int pos_lo, pos_hi; /* the patched positions; both 0: all, [0, T) */
    int src_shift;      /* position p takes the clean run's value at p + src_shift (0 in TransformerLens) */
    cc_metric metric;
    bool naive;         /* one full forward pass per patch with a hook (the reference) */
    cc_kernel kernel;
    cc_progress_fn progress; /* optional: called after each layer */
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_patch_opts;

/* Results laid out [n_layers, n_pos, n_heads]: n_pos = 1 with all_positions
 * (else pos_hi - pos_lo, index 0 is position pos_lo), n_heads = 1 unless
 * per_head. TransformerLens' layouts: get_act_patch_resid_pre / _resid_mid /
 * _attn_out / _mlp_out [L, T]; _attn_head_{out,q,k,v}_by_pos [L, T, H];
 * _attn_head_pattern_by_pos [L, H, T] (transposed here); _attn_head_*_all_pos
 * [L, H]. */
typedef struct {
    int n_layers, n_pos, n_heads, pos_lo;
    double clean, corrupt; /* the metric on the clean run and on the corrupted run */
    double *value;         /* the metric on each patched run */
    double *normalized;    /* (value - corrupt) / (clean - corrupt), as ARENA normalises */
    long skipped;          /* patches that provably cannot change the metric: value = corrupt, not rerun */
} cc_patch_result;

/* The fast path (not NAIVE) resumes each patched run from the corrupted run's
 * cached activations at the patched hook (cc_forward_resume): positions before
 * the patched one and layers before it are not recomputed, all of a layer's
 * patches run as one stacked pass, a patch whose clean value is bit-identical to
 * the corrupted one (e.g. before the first differing token) is not run, and one
 * that cannot reach the metric's positions neither. */
int cc_act_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                 cc_patch_result *out, cc_error *err);
void cc_patch_result_free(cc_patch_result *r);

/* cc_act_patch of only the N_NODES nodes NODES (indices into its result's
 * [n_layers, n_pos, n_heads] layout; repeats allowed): OUT is laid out as
 * cc_act_patch's, with the same values at those nodes and NAN at every other
 * one. The clean and corrupted runs are made as there; the cost beyond them is
 * that of the asked nodes alone (attribution patching's --verify K). */
int cc_act_patch_nodes(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                       const int *nodes, int n_nodes, cc_patch_result *out, cc_error *err);

/* ------------------------------------------------------------ path patching */

/* Path patching (IOI paper; ARENA's get_path_patch_head_to_heads), for each
 * sender head S: (1) run the CLEAN tokens with every head's hook_z frozen to its
 * clean value except S's, which takes its CORRUPT value (MLPs recomputed);
 * keep the receivers' hook_q/k/v (TO) inputs; (2) run the CLEAN tokens with
 * those receiver heads' TO activations replaced by (1)'s; VALUE[s] = the metric.
 * NORMALIZED[s] = (value - clean) / (clean - corrupt): 0 when the path carries
 * nothing, -1 when it carries the whole clean-to-corrupt change. PROGRESS
 * (optional) is called after each sender and may cancel (circuitc/progress.h).
 * THREADS: the call's thread count, 0: the default (docs/library.md, "Threads
 * per call"). */
typedef struct {
    int n_senders;
    double clean, corrupt;
    double *value;      /* [n_senders] */
    double *normalized; /* [n_senders] */
} cc_path_result;

int cc_path_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_head *senders,
                  int n_senders, const cc_head *receivers, int n_receivers, cc_hook_kind to, const cc_metric *metric,
                  cc_kernel kernel, int threads, cc_progress_fn progress, void *progress_ctx, cc_path_result *out,
                  cc_error *err);
void cc_path_result_free(cc_path_result *r);

#endif
