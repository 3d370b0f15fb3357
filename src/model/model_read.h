/* model_read.h — the model module's reads out of its mapped weights file
 * (src/model/model_read.c); internal to the library. */
#ifndef CIRCUITC_MODEL_READ_H
#define CIRCUITC_MODEL_READ_H

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

#endif
