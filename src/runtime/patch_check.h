/* patch_check.h — the check of a cc_patch_opts against a model and a prompt
 * length that activation patching (patching.c) and attribution patching
 * (attribution.c) share, so that both accept exactly the same requests
 * (internal to the library). */
#ifndef CC_RUNTIME_PATCH_CHECK_H
#define CC_RUNTIME_PATCH_CHECK_H

#include "circuitc/patching.h"

/* Checks O's hook (patchable, present in the model), per_head, the patched
 * positions with their source shift and the metric for a T-token prompt pair;
 * on success [*PLO, *PHI) are the patched positions. */
int cci_patch_opts_check(const cc_model *m, int T, const cc_patch_opts *o, int *plo, int *phi, cc_error *err);

#endif
