/* dla.c — direct logit attribution at the last position (include/circuitc/dla.h). */
#include "circuitc/dla.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

/* The logit direction as the final norm sees it: after centring (LayerNorm
 * only) and scaling, a part's vector is multiplied by ln_final's weight (when
 * present) and dotted with W_U[:, answer] - W_U[:, wrong]. */
typedef struct {
    const cc_config *c;
    double *dir;    /* [d]: ln_final weight * (W_U[:, answer] - W_U[:, wrong]) */
    double dir_sum; /* sum of dir: centring subtracts mean(part) * dir_sum (0 for RMSNorm: no centring) */
    double scale;
} logit_direction;

/* A part's contribution: ((v - mean(v)) / scale) . dir. */
static double contribution(const logit_direction *ld, const double *v)
{
    int d = ld->c->d_model;
    double dot = 0, sum = 0;
    for (int i = 0; i < d; i++) dot += v[i] * ld->dir[i], sum += v[i];
    return (dot - sum / d * ld->dir_sum) / ld->scale;
}

static double contribution_f(const logit_direction *ld, const float *v, double *tmp)
{
    for (int i = 0; i < ld->c->d_model; i++) tmp[i] = v[i];
    return contribution(ld, tmp);
}

/* ln_final's scale of residual X [d]: sqrt(var(x) + eps), population
 * variance; RMSNorm: sqrt(mean(x^2) + eps). */
static double final_scale(const float *x, int d, double eps, bool rms)
{
    double mean = 0, ss = 0;
    for (int i = 0; i < d && !rms; i++) mean += x[i];
    mean /= d;
    for (int i = 0; i < d; i++) ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / d + eps);
}

void cc_dla_free(cc_dla *d)
{
    if (!d) return;
    free(d->head), free(d->attn_bias), free(d->attn_out), free(d->mlp_out);
    memset(d, 0, sizeof *d);
}

/* Fills OUT's parts from a pass R that cached embed, z, and the pos_embed and
 * mlp_out (every layer) that the model adds to its residual stream: a rotary or
 * shortformer model adds no positional embedding there, an attention-only
 * model no MLP output (those parts are 0). */
static void attribute(const cc_model *m, const cc_fwd_result *r, const logit_direction *ld, int t, double *v,
                      cc_dla *out)
{
    const cc_config *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, dh = c->d_head, d = c->d_model;
    out->embed = contribution_f(ld, cc_fwd_act(r, CC_HOOK_EMBED, 0) + (size_t)t * d, v);
    if (c->pos == CC_POS_LEARNED)
        out->pos_embed = contribution_f(ld, cc_fwd_act(r, CC_HOOK_POS_EMBED, 0) + (size_t)t * d, v);
    out->sum = out->embed + out->pos_embed + out->unembed_bias;
    for (int l = 0; l < L; l++) {
        const float *z = cc_fwd_act(r, CC_HOOK_Z, l) + (size_t)t * H * dh;
        out->attn_out[l] = 0;
        for (int h = 0; h < H; h++) {
            const float *W_O = m->w.W_O + ((size_t)l * H + h) * dh * d; /* [dh, d] */
            for (int i = 0; i < d; i++) v[i] = 0;
            for (int j = 0; j < dh; j++)
                for (int i = 0; i < d; i++) v[i] += (double)z[h * dh + j] * W_O[(size_t)j * d + i];
            out->head[l * H + h] = contribution(ld, v);
            out->attn_out[l] += out->head[l * H + h];
        }
        out->attn_bias[l] = contribution_f(ld, m->w.b_O + (size_t)l * d, v);
        out->attn_out[l] += out->attn_bias[l];
        out->mlp_out[l] = c->attn_only ? 0.0 : contribution_f(ld, cc_fwd_act(r, CC_HOOK_MLP_OUT, l) + (size_t)t * d, v);
        out->sum += out->attn_out[l] + out->mlp_out[l];
    }
}

int cc_dla_run(const cc_model *m, const int *tokens, int pos, int32_t answer, int32_t wrong, cc_kernel kernel,
               int threads, cc_dla *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, d = c->d_model, V = c->d_vocab;
    if (answer < 0 || answer >= V || wrong >= V)
        return cc_fail(err, "answer token %d / wrong token %d: ids must be in 0..%d", answer, wrong, V - 1);
    cc_fwd_opts fo = {.kernel = kernel};
    cc_fwd_want(&fo, CC_HOOK_EMBED, 0);
    if (c->pos == CC_POS_LEARNED) cc_fwd_want(&fo, CC_HOOK_POS_EMBED, 0);
    cc_fwd_want(&fo, CC_HOOK_Z, -1);
    if (!c->attn_only) cc_fwd_want(&fo, CC_HOOK_MLP_OUT, -1);
    cc_fwd_want(&fo, CC_HOOK_RESID_POST, L - 1);
    cc_fwd_want(&fo, CC_HOOK_LOGITS, 0);
    cc_fwd_result r;
    double *dir = malloc((size_t)d * sizeof *dir), *v = malloc((size_t)d * sizeof *v);
    out->head = malloc((size_t)L * H * sizeof *out->head);
    out->attn_bias = malloc((size_t)L * sizeof(double));
    out->attn_out = malloc((size_t)L * sizeof(double));
    out->mlp_out = malloc((size_t)L * sizeof(double));
    int rc = -1;
    if (cc_forward(m, tokens, 1, pos, &fo, &r, err) != 0) goto done;
    if (!dir || !v || !out->head || !out->attn_bias || !out->attn_out || !out->mlp_out) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto done;
    }
    int t = pos - 1;
    out->n_layers = L, out->n_heads = H, out->position = t, out->answer = answer, out->wrong = wrong;
    const cc_weights *w = &m->w;
    logit_direction ld = {c, dir, 0, final_scale(cc_fwd_act(&r, CC_HOOK_RESID_POST, L - 1) + (size_t)t * d, d, c->ln_eps,
                                                    c->norm == CC_NORM_RMS)};
    out->scale = ld.scale;
    out->unembed_bias = (double)w->b_U[answer] - (wrong >= 0 ? w->b_U[wrong] : 0.0);
    for (int i = 0; i < d; i++) {
        double u = (double)w->W_U[(size_t)i * V + answer] - (wrong >= 0 ? w->W_U[(size_t)i * V + wrong] : 0.0);
        dir[i] = w->lnf_w ? u * w->lnf_w[i] : u;
        if (w->lnf_b) out->unembed_bias += u * w->lnf_b[i];
        if (c->norm == CC_NORM_LN) ld.dir_sum += dir[i];
    }
    attribute(m, &r, &ld, t, v, out);
    const float *logits = cc_fwd_act(&r, CC_HOOK_LOGITS, 0) + (size_t)t * V;
    out->logit = (double)logits[answer] - (wrong >= 0 ? logits[wrong] : 0.0);
    rc = 0;
done:
    free(dir), free(v);
    cc_fwd_result_free(&r);
    if (rc != 0) cc_dla_free(out);
    return rc;
}
