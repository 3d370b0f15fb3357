/* process.c — TransformerLens default weight processing, in float32 storage
 * with float64 accumulators for every sum and mean. */
#include "circuitc/process.h"

#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"
#include "process_layer.h"
#include "model/model_internal.h"

/* Loops here split over threads only when each part has this many values:
 * a head's projection (tens of thousands) runs on the caller's thread, an
 * unembedding or an MLP matrix (millions) on every core. */
enum { PAR_VALUES = 1 << 18 };

static size_t grain_for(size_t values_per_item) { return values_per_item ? PAR_VALUES / values_per_item + 1 : 1; }

typedef struct {
    float *W, *B;
    const float *LW, *LB;
    size_t rows, cols;
    double *acc;
} fold_job;

/* Columns [LO, HI) of cc_fold_ln_into: each column's sums in the same order
 * whatever the split, so the bits do not depend on the thread count. */
static void fold_ln_columns(void *ctx, size_t lo, size_t hi)
{
    const fold_job *f = ctx;
    float *W = f->W;
    double *acc = f->acc;
    size_t cols = f->cols;
    memset(acc + lo, 0, (hi - lo) * sizeof *acc);
    for (size_t k = 0; k < f->rows; k++)
        for (size_t j = lo; j < hi; j++) acc[j] += (double)W[k * cols + j] * f->LB[k];
    for (size_t j = lo; j < hi; j++) f->B[j] = (float)((double)f->B[j] + acc[j]);
    memset(acc + lo, 0, (hi - lo) * sizeof *acc);
    for (size_t k = 0; k < f->rows; k++)
        for (size_t j = lo; j < hi; j++) {
            W[k * cols + j] *= f->LW[k];
            acc[j] += W[k * cols + j];
        }
    for (size_t j = lo; j < hi; j++) acc[j] /= (double)f->rows;
    for (size_t k = 0; k < f->rows; k++)
        for (size_t j = lo; j < hi; j++) W[k * cols + j] = (float)((double)W[k * cols + j] - acc[j]);
}

/* B[j] += sum_k W[k,j] LB[k];  W[k,j] *= LW[k];  W[:,j] -= mean_k W[k,j]. */
void cc_fold_ln_into(float *W, float *B, const float *LW, const float *LB, size_t rows, size_t cols, double *acc)
{
    if (!W || !B || !LW || !LB || !acc) return;
    fold_job f = {W, B, LW, LB, rows, cols, acc};
    cc_par_for(cols, grain_for(rows), fold_ln_columns, &f);
}

typedef struct {
    float *X;
    size_t cols;
} center_job;

static void subtract(float *x, size_t n, double sum)
{
    double mean = sum / (double)n;
    for (size_t j = 0; j < n; j++) x[j] = (float)((double)x[j] - mean);
}

/* Rows [LO, HI): four rows' sums at a time, four independent chains of
 * additions (one chain waits on each addition), each row's in its own order. */
static void center_row_range(void *ctx, size_t lo, size_t hi)
{
    const center_job *c = ctx;
    size_t n = c->cols, r = lo;
    for (; r + 4 <= hi; r += 4) {
        float *x0 = c->X + r * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t j = 0; j < n; j++) s0 += x0[j], s1 += x1[j], s2 += x2[j], s3 += x3[j];
        subtract(x0, n, s0), subtract(x1, n, s1), subtract(x2, n, s2), subtract(x3, n, s3);
    }
    for (; r < hi; r++) {
        float *x = c->X + r * n;
        double s = 0;
        for (size_t j = 0; j < n; j++) s += x[j];
        subtract(x, n, s);
    }
}

void cc_center_rows(float *X, size_t rows, size_t cols)
{
    if (!X) return;
    center_job c = {X, cols};
    cc_par_for(rows, grain_for(cols), center_row_range, &c);
}

/* W[k, j] *= LW[k] over W [rows, cols]: RMSNorm's fold (no bias, no centring). */
static void fold_rms_into(float *W, const float *LW, size_t rows, size_t cols)
{
    for (size_t k = 0; k < rows; k++)
        for (size_t j = 0; j < cols; j++) W[k * cols + j] *= LW[k];
}

/* Folds norm (LW, LB) into W [rows, cols] reading it and its bias B: the
 * LayerNorm fold, or RMSNorm's (LB is NULL). */
static void fold_norm(const cc_config *c, float *W, float *B, const float *LW, const float *LB, size_t rows,
                      size_t cols, double *acc)
{
    if (c->norm == CC_NORM_RMS) fold_rms_into(W, LW, rows, cols);
    else cc_fold_ln_into(W, B, LW, LB, rows, cols, acc);
}

/* ---- one layer at a time (process_layer.h) ---------------------------------------------- */

void proc_fold_attn_norm(const cc_config *c, cc_weights *w, size_t l, const float *lw, const float *lb, double *acc)
{
    size_t H = (size_t)c->n_heads, d = (size_t)c->d_model, dh = (size_t)c->d_head;
    for (size_t h = 0; h < H; h++) {
        size_t wo = (l * H + h) * d * dh, bo = (l * H + h) * dh;
        fold_norm(c, w->W_Q + wo, w->b_Q + bo, lw, lb, d, dh, acc);
        fold_norm(c, w->W_K + wo, w->b_K + bo, lw, lb, d, dh, acc);
        fold_norm(c, w->W_V + wo, w->b_V + bo, lw, lb, d, dh, acc);
    }
}

void proc_fold_mlp_norm(const cc_config *c, cc_weights *w, size_t l, const float *lw, const float *lb, double *acc)
{
    size_t d = (size_t)c->d_model, M = (size_t)c->d_mlp;
    /* the gate takes the norm's scale only, uncentred, as TransformerLens folds it */
    if (c->gated) fold_rms_into(w->W_gate + l * d * M, lw, d, M);
    fold_norm(c, w->W_in + l * d * M, w->b_in + l * M, lw, lb, d, M, acc);
}

void proc_fold_unembed_norm(const cc_config *c, cc_weights *w, const float *lw, const float *lb, double *acc)
{
    fold_norm(c, w->W_U, w->b_U, lw, lb, (size_t)c->d_model, (size_t)c->d_vocab, acc);
}

void proc_center_attn_out(const cc_config *c, cc_weights *w, size_t l)
{
    size_t d = (size_t)c->d_model, HD = (size_t)c->n_heads * (size_t)c->d_head;
    cc_center_rows(w->W_O + l * HD * d, HD, d); /* [H, dh, d]: H*dh rows */
    cc_center_rows(w->b_O + l * d, 1, d);
}

void proc_center_mlp_out(const cc_config *c, cc_weights *w, size_t l)
{
    size_t d = (size_t)c->d_model, M = (size_t)c->d_mlp;
    cc_center_rows(w->W_out + l * M * d, M, d);
    cc_center_rows(w->b_out + l * d, 1, d);
}

void proc_fold_value_biases(const cc_config *c, cc_weights *w, size_t l, double *acc)
{
    size_t d = (size_t)c->d_model, HD = (size_t)c->n_heads * (size_t)c->d_head;
    /* b_V [H, dh] flattens to [H*dh] and W_O [H, dh, d] to [H*dh, d]: b_O += b_V W_O */
    const float *bV = w->b_V + l * HD, *WO = w->W_O + l * HD * d;
    for (size_t j = 0; j < d; j++) acc[j] = w->b_O[l * d + j];
    for (size_t i = 0; i < HD; i++)
        for (size_t j = 0; j < d; j++) acc[j] += (double)bV[i] * WO[i * d + j];
    for (size_t j = 0; j < d; j++) w->b_O[l * d + j] = (float)acc[j];
    memset(w->b_V + l * HD, 0, HD * sizeof *w->b_V);
}

proc_steps proc_steps_of(const cc_config *c)
{
    /* With shortformer positions ln1's output is summed with W_pos before
       W_Q and W_K read it, so the norm cannot be folded into them:
       TransformerLens then applies fold_value_biases alone. */
    bool shortformer = c->pos == CC_POS_SHORTFORMER;
    return (proc_steps){.fold_ln = !shortformer,
                        .center_writing = !shortformer && c->norm == CC_NORM_LN,
                        .center_unembed = !shortformer};
}

/* ---- the whole model ------------------------------------------------------------------- */

int cc_fold_layer_norm(cc_model *m, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    const cc_config *c = &m->cfg;
    cc_weights *w = &m->w;
    if (!w->lnf_w) return 0; /* folded already (a TransformerLens export of a processed model) */
    size_t L = (size_t)c->n_layers, d = (size_t)c->d_model, dh = (size_t)c->d_head, M = (size_t)c->d_mlp,
           V = (size_t)c->d_vocab;
    size_t widest = V > M ? V : M;
    double *acc = malloc((widest > dh ? widest : dh) * sizeof *acc);
    if (!acc) return cc_fail_code(err, CC_E_NOMEM, "out of memory folding the norms");
    for (size_t l = 0; l < L; l++) {
        proc_fold_attn_norm(c, w, l, w->ln1_w + l * d, w->ln1_b ? w->ln1_b + l * d : NULL, acc);
        if (!c->attn_only) proc_fold_mlp_norm(c, w, l, w->ln2_w + l * d, w->ln2_b ? w->ln2_b + l * d : NULL, acc);
    }
    proc_fold_unembed_norm(c, w, w->lnf_w, w->lnf_b, acc);
    free(acc);
    float **lns[] = {&w->ln1_w, &w->ln1_b, &w->ln2_w, &w->ln2_b, &w->lnf_w, &w->lnf_b};
    for (size_t i = 0; i < sizeof lns / sizeof lns[0]; i++) {
        free(*lns[i]);
        *lns[i] = NULL;
    }
    return 0;
}

void cc_center_writing_weights(cc_model *m)
{
    if (!m) return;
    const cc_config *c = &m->cfg;
    cc_weights *w = &m->w;
    if (c->norm != CC_NORM_LN) return; /* TransformerLens centres only what a LayerNorm reads */
    size_t d = (size_t)c->d_model;
    cc_center_rows(w->W_E, (size_t)c->d_vocab, d);
    cc_center_rows(w->W_pos, (size_t)c->n_ctx, d); /* NULL with rotary positions */
    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        proc_center_attn_out(c, w, l);
        if (!c->attn_only) proc_center_mlp_out(c, w, l);
    }
}

void cc_center_unembed(cc_model *m)
{
    if (!m) return;
    cc_center_rows(m->w.W_U, (size_t)m->cfg.d_model, (size_t)m->cfg.d_vocab);
    cc_center_rows(m->w.b_U, 1, (size_t)m->cfg.d_vocab);
}

int cc_fold_value_biases(cc_model *m, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    double *acc = malloc((size_t)m->cfg.d_model * sizeof *acc);
    if (!acc) return cc_fail_code(err, CC_E_NOMEM, "out of memory folding value biases");
    for (size_t l = 0; l < (size_t)m->cfg.n_layers; l++) proc_fold_value_biases(&m->cfg, &m->w, l, acc);
    free(acc);
    return 0;
}

int cc_processing_steps(const cc_config *c, const char **steps)
{
    CC_ARG_NOT_NULL(c, NULL, -1);
    CC_ARG_NOT_NULL(steps, NULL, -1);
    proc_steps s = proc_steps_of(c);
    int n = 0;
    if (s.fold_ln) steps[n++] = "fold_ln";
    if (s.center_writing) steps[n++] = "center_writing_weights";
    if (s.center_unembed) steps[n++] = "center_unembed";
    steps[n++] = "fold_value_biases";
    return n;
}

int cc_process_weights(cc_model *m, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    if (!m->loaded) return cc_fail_code(err, CC_E_INTERNAL, "internal: weights must be loaded before processing");
    if (m->processed) return 0;
    CC_PAR_CALL(m->load_threads);
    proc_steps s = proc_steps_of(&m->cfg);
    if (s.fold_ln && cc_fold_layer_norm(m, err) != 0) return -1;
    if (s.center_writing) cc_center_writing_weights(m);
    if (s.center_unembed) cc_center_unembed(m);
    if (cc_fold_value_biases(m, err) != 0) return -1;
    m->processed = true;
    return 0;
}
