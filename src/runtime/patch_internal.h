/* patch_internal.h — what activation patching (patching.c) shares with
 * attribution patching (attribution.c): one check of a cc_patch_opts, so that
 * both accept exactly the same requests, and one way to measure the metric of
 * a run (internal to the library). */
#ifndef CC_RUNTIME_PATCH_INTERNAL_H
#define CC_RUNTIME_PATCH_INTERNAL_H

#include "circuitc/patching.h"
#include "core/args.h"

/* The argument checks every public call on a prompt pair makes (in the
 * caller, so that the messages name it and the argument as written there: O
 * unparenthesised on purpose): returns -1 from it on a bad one. */
#define CCI_PATCH_PAIR_ARGS(m, clean, corrupt, o, out, err)       \
    do {                                                          \
        CC_ARG_NOT_NULL(m, err, -1);                              \
        CC_ARG_NOT_NULL(clean, err, -1);                          \
        CC_ARG_NOT_NULL(corrupt, err, -1);                        \
        CC_ARG_NOT_NULL(o, err, -1);                              \
        CC_ARG_ENUM(o->hook, CC_HOOK_COUNT, err, -1);             \
        CC_ARG_ENUM(o->metric.kind, CC_METRIC_LOSS + 1, err, -1); \
        CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, err, -1);       \
        CC_ARG_NOT_NULL(out, err, -1);                            \
    } while (0)

/* Checks O's hook (patchable, present in the model), per_head, the patched
 * positions with their source shift and the metric for a T-token prompt pair;
 * on success [*PLO, *PHI) are the patched positions. */
int cci_patch_opts_check(const cc_model *m, int T, const cc_patch_opts *o, int *plo, int *phi, cc_error *err);

/* A full pass over TOKENS [T] with O (hooks, cache) plus what the metric MT
 * reads, never the full logits (logit difference: two columns of the last
 * row; loss: the fused log-probs); *VALUE the metric. R holds the result (free
 * it also after a failure). */
int cci_patch_run_metric(const cc_model *m, const int *tokens, int T, cc_fwd_opts *o, const cc_metric *mt,
                         cc_fwd_result *r, double *value, cc_error *err);

#endif
