/* topk_internal.h — top-k statistics for the library's own analyses
 * (internal; the public call is cc_topk_diagonal, circuitc/topk.h). */
#ifndef CIRCUITC_TOPK_INTERNAL_H
#define CIRCUITC_TOPK_INTERNAL_H

#include "circuitc/topk.h"

/* The statistics of FM's rows (ROWS) and of its columns (COLS), as two calls of
 * cc_topk_diagonal would give them (OPT->columns is ignored; OPT->near_tie_mask
 * must be NULL), with their set-up done once: the exact factors as rows, the
 * diagonal, the norms and the fast path's rotation, which the transpose reads
 * swapped. Progress counts the rows of both scans (2n). ROWS->seconds includes
 * the set-up. */
int cci_topk_diagonal_both(const cc_fm *fm, const cc_topk_options *opt, cc_topk_result *rows, cc_topk_result *cols,
                           cc_error *err);

#endif
