/* head_circuits.c — per-head OV and QK FactoredMatrices. */
#include "circuitc/head_circuits.h"

#include <stdlib.h>

#include "core/args.h"
#include "model/model_internal.h"

static const float *head_block(const float *W, const cc_config *c, cc_head h)
{
    return W + ((size_t)h.layer * c->n_heads + h.head) * (size_t)c->d_model * c->d_head;
}

/* Checks H's range and that its parts FIRST and SECOND are loaded. */
static int check(const cc_model *m, cc_head h, cc_part_kind first, cc_part_kind second, cc_error *err)
{
    if (h.layer < 0 || h.layer >= m->cfg.n_layers || h.head < 0 || h.head >= m->cfg.n_heads)
        return cc_fail(err, "head L%dH%d is out of range: this model has layers 0..%d and heads 0..%d", h.layer,
                       h.head, m->cfg.n_layers - 1, m->cfg.n_heads - 1);
    if (!cc_model_has(m, (cc_part){first, h.layer, h.head}) || !cc_model_has(m, (cc_part){second, h.layer, h.head}))
        return cc_fail_code(err, CC_E_INTERNAL, "internal: model weights of L%dH%d are not loaded", h.layer, h.head);
    return 0;
}

int cc_head_ov(const cc_model *m, cc_head h, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (check(m, h, CC_PART_V, CC_PART_O, err) != 0) return -1;
    int d = m->cfg.d_model, dh = m->cfg.d_head;
    return cc_fm_create(head_block(m->w.W_V, &m->cfg, h), head_block(m->w.W_O, &m->cfg, h), d, dh, d, out, err);
}

int cc_head_qk(const cc_model *m, cc_head h, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (check(m, h, CC_PART_Q, CC_PART_K, err) != 0) return -1;
    int d = m->cfg.d_model, dh = m->cfg.d_head;
    const float *WK = head_block(m->w.W_K, &m->cfg, h); /* [d, dh] */
    float *KT = malloc((size_t)dh * d * sizeof *KT);
    if (!KT) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; i < d; i++)
        for (int j = 0; j < dh; j++) KT[(size_t)j * d + i] = WK[(size_t)i * dh + j];
    float *Q = malloc((size_t)d * dh * sizeof *Q);
    if (!Q) {
        free(KT);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    const float *WQ = head_block(m->w.W_Q, &m->cfg, h);
    for (size_t i = 0; i < (size_t)d * dh; i++) Q[i] = WQ[i];
    cc_fm_wrap(Q, KT, d, dh, d, out);
    return 0;
}
