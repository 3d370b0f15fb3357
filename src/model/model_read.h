/* model_read.h — the model module's reads out of its mapped weights file
 * (src/model/model_read.c); internal to the library. */
#ifndef CIRCUITC_MODEL_READ_H
#define CIRCUITC_MODEL_READ_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/model.h"
#include "model/model_internal.h"

/* Converts block [ROW0, ROW0+NROWS) x [COL0, COL0+NCOLS) of tensor T of M's
 * file (rows of its last dimension; rank 1 counts as one row) to float32 into DST [NROWS, NCOLS], after
 * checking T whole for NaN and infinities once (refused naming the tensor and
 * the first bad index, or noted in m->nonfinite_note with allow_nonfinite).
 * Every copy runs under a SIGBUS guard: a file truncated while mapped fails,
 * naming it. Whole rows are dropped from memory as they are copied. */
int cc_model_read_block(cc_model *m, const cc_st_tensor *t, uint64_t row0, uint64_t nrows, uint64_t col0,
                        uint64_t ncols, float *dst, cc_error *err);

/* Reads T [rows, cols] (rank 2) of M's file transposed into DST [cols, rows],
 * checked and guarded as cc_model_read_block reads a whole tensor, through a
 * buffer of a few rows: no temporary the tensor's size (an unembedding's). */
int cc_model_read_transposed(cc_model *m, const cc_st_tensor *t, float *dst, cc_error *err);

/* DST [cols, rows] = transpose of SRC [rows, cols]. */
void cc_transpose_into(const float *src, float *dst, size_t rows, size_t cols);

#endif
