/* circuitc/attribution.h — attribution patching: the first-order estimate of
 * every activation patch of cc_act_patch (circuitc/patching.h) from one
 * clean run, one corrupted run and one backward pass (circuitc/backward.h).
 *
 * For each node (layer x position, x head for per-head hooks) the estimate of
 * metric(corrupted run with the node's clean value) - metric(corrupted run) is
 *
 *     attribution = sum over the node's elements of (clean - corrupt) * d metric / d act
 *
 * with the gradient taken on the corrupted run, as in Neel Nanda's
 * "Attribution Patching" and TransformerLens' attribution-patching demo
 * (docs/gradients.md says when this first-order estimate misleads). */
#ifndef CIRCUITC_ATTRIBUTION_H
#define CIRCUITC_ATTRIBUTION_H

#include <stddef.h>

#include "circuitc/patching.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cc_patch_result est;   /* laid out as cc_act_patch's result: value = corrupt + attribution (the estimated
                              patched metric), normalized = attribution / (clean - corrupt) */
    double *attribution;   /* [n_layers, n_pos, n_heads] */
    size_t peak_bytes;     /* the backward pass's (cc_grad_result.peak_bytes) */
} cc_attr_result;

/* Attribution patching with O's hook, heads, positions, source shift, metric
 * and kernel (O's naive flag and progress callback are not used); O is checked
 * as cc_act_patch checks it. CLEAN and CORRUPT: T tokens each. */
int cc_attr_patch(const cc_model *m, const int *clean, const int *corrupt, int T, const cc_patch_opts *o,
                  cc_attr_result *out, cc_error *err);
void cc_attr_result_free(cc_attr_result *r);

/* The indices of the K nodes of largest |attribution|, largest first (ties in
 * index order), into TOP [K] (fewer when there are fewer nodes: *N_TOP says how
 * many): the nodes to patch exactly with cc_act_patch_nodes (--verify K). */
int cc_attr_top(const cc_attr_result *a, int k, int *top, int *n_top, cc_error *err);

/* The estimate against the exact patching EXACT (cc_act_patch with the same
 * options): Pearson's correlation of attribution and exact effect (value -
 * corrupt) over every node, and the indices of the K nodes of largest
 * |attribution|, largest first, into TOP [K] (fewer when there are fewer
 * nodes: *N_TOP says how many). */
int cc_attr_compare(const cc_attr_result *a, const cc_patch_result *exact, int k, int *top, int *n_top,
                    double *correlation, cc_error *err);

/* The repeated-token mlp_out sweep (cc_patch_mlp_sweep, circuitc/experiments.h:
 * mlp_out[l][p] <- mlp_out[l][p-n] for p in [n, 2n], loss over the second
 * half's predictions) estimated from one backward pass of TOKENS [1+2n]:
 * ESTIMATE[l][p-n] = (mlp_out[p-n] - mlp_out[p]) . d loss / d mlp_out[p]
 * (cc_attr_patch with cc_patch_mlp_sweep's options); then the K nodes of
 * largest |estimate| patched exactly (cc_act_patch_nodes: each resumes from the
 * unpatched run at its layer and position). K >= L (n+1) patches every node and
 * gives the correlation. THREADS: the call's thread count, 0: the default
 * (docs/library.md, "Threads per call"). */
typedef struct {
    int n_layers, n;
    double clean_loss;
    double *estimate;        /* [L, n+1]: the estimated patched_loss - clean_loss */
    int n_top;
    int *top;                /* [n_top] nodes (l * (n+1) + p - n), largest |estimate| first */
    double *top_exact;       /* [n_top] their exact patched_loss - clean_loss */
    double correlation;      /* Pearson's, estimate against exact over every node when all were patched; else NAN */
    size_t peak_bytes;
} cc_attr_sweep;

int cc_attr_mlp_sweep(const cc_model *m, const int *tokens, int n, int k, cc_kernel kernel, int threads,
                      cc_attr_sweep *out, cc_error *err);
void cc_attr_sweep_free(cc_attr_sweep *s);

#ifdef __cplusplus
}
#endif

#endif
