/* forward_ref.h — the reference forward pass (forward_ref.c): the GPT-2 pass
 * of include/circuitc/forward.h written as plain loops, no threads, no SIMD,
 * no BLAS, every dot product and reduction in float64. It is what
 * cc_forward and cc_forward_resume run for CC_KERNEL_REF, after their
 * argument checks, and what the fast kernels in forward.c are tested against.
 * Internal to the library. */
#ifndef CIRCUITC_FORWARD_REF_H
#define CIRCUITC_FORWARD_REF_H

#include "circuitc/forward.h"

/* cc_forward's pass with checked arguments; RES is zeroed with its batch, pos
 * and n_layers set. */
int cc_forward_ref_run(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
                       cc_fwd_result *res, cc_error *err);

/* cc_forward_resume with checked arguments. */
int cc_forward_ref_resume(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_result *base,
                          cc_hook_kind from, int layer, const cc_segment *seg, int n_seg, float *x, double *logprob,
                          cc_error *err);

/* Applies the patches of the segments SEG[0..N_SEG) whose kind is KIND to a
 * resumed pass's stacked activation ACT (q/k/v/z: [rows, H, dh]; the pattern:
 * per segment [H, end - start, end]); both passes share it. */
void cc_segment_patches_apply(const cc_config *c, int pos, const cc_segment *seg, int n_seg, cc_hook_kind kind,
                              float *act);

/* cc_fwd_unembed with the reference kernels. */
int cc_forward_ref_unembed(const cc_model *m, const float *x, int rows, float *logits, cc_error *err);

#endif
