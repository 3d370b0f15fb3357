/* circuitc/head_circuits.h — a head's OV and QK circuits as FactoredMatrices
 * on the residual stream (TransformerLens' model.OV[l, h] and model.QK[l, h]). */
#ifndef CIRCUITC_HEAD_CIRCUITS_H
#define CIRCUITC_HEAD_CIRCUITS_H

#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OV = (W_V [d, dh], W_O [dh, d]): [d, d]. */
int cc_head_ov(const cc_model *m, cc_head h, cc_fm *out, cc_error *err);

/* QK = (W_Q [d, dh], W_K^T [dh, d]): [d, d]. */
int cc_head_qk(const cc_model *m, cc_head h, cc_fm *out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
