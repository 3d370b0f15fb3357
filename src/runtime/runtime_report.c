/* runtime_report.c — repeat, heads and ablate as one call each
 * (include/circuitc/runtime_report.h): draw the repeated tokens, run, rank;
 * and ablate, which also orders the heads by their induction-score change. */
#include "circuitc/runtime_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

/* The input's tokens [batch, 1 + 2 seq_len] into *OUT (caller frees). */
static int draw_tokens(const cc_model *m, const cc_repeat_input *in, int **out, cc_error *err)
{
    size_t n = (size_t)(in->batch > 0 ? in->batch : 1) * (size_t)(1 + 2 * (in->seq_len > 0 ? in->seq_len : 0));
    if (!(*out = malloc(n * sizeof **out))) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d x %d tokens", in->batch,
                                                           1 + 2 * in->seq_len);
    return cc_repeat_tokens(&m->cfg, in->seed, in->batch, in->seq_len, *out, err);
}

int cc_repeat_report_run(const cc_model *m, const cc_repeat_input *in, int threads, cc_progress_fn progress,
                         void *progress_ctx, cc_repeat_report *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(in, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->input = *in;
    out->d_vocab = m->cfg.d_vocab;
    int *tok = NULL;
    int rc = draw_tokens(m, in, &tok, err);
    if (rc == 0)
        rc = cc_repeat_run(m, tok, in->batch, in->seq_len, CC_KERNEL_FAST, progress, progress_ctx, &out->stats, err);
    free(tok);
    return rc;
}

void cc_repeat_report_free(cc_repeat_report *r)
{
    if (!r) return;
    cc_repeat_stats_free(&r->stats);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const double *v;
    int idx;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    double vx = x->v[x->idx], vy = y->v[y->idx];
    if (vx != vy) return vx > vy ? -1 : 1;
    return x->idx - y->idx;
}

/* The order of the detect_head scores, after the CC_SCORE_COUNT diagonal ones. */
static const cc_detect_kind DET_ORDER[CC_DETECT_COUNT] = {CC_DETECT_INDUCTION, CC_DETECT_PREV_TOKEN,
                                                          CC_DETECT_DUPLICATE};

/* Each score's heads by descending score into R's rankings. */
static int rank_heads(cc_heads_report *r, cc_error *err)
{
    int LH = r->n_layers * r->n_heads;
    ranked *rk = malloc((size_t)(LH > 0 ? LH : 1) * sizeof *rk);
    if (!rk) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int k = 0; k < CC_HEADS_N_SCORES; k++) {
        if (!(r->ranking[k] = malloc((size_t)(LH > 0 ? LH : 1) * sizeof *r->ranking[k]))) {
            free(rk);
            return cc_fail_code(err, CC_E_NOMEM, "out of memory");
        }
        for (int i = 0; i < LH; i++) rk[i] = (ranked){r->score[k], i};
        qsort(rk, (size_t)LH, sizeof *rk, by_score_desc);
        for (int i = 0; i < LH; i++) r->ranking[k][i] = rk[i].idx;
    }
    free(rk);
    return 0;
}

int cc_heads_report_run(const cc_model *m, const cc_heads_options *o, cc_heads_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->options = *o;
    int *tok = NULL;
    int rc = draw_tokens(m, &o->input, &tok, err);
    if (rc == 0)
        rc = cc_head_scores_run(m, tok, o->input.batch, o->input.seq_len, CC_KERNEL_FAST, o->progress, o->progress_ctx,
                                &out->scores, err);
    free(tok);
    if (rc != 0) return -1;
    out->n_layers = out->scores.n_layers, out->n_heads = out->scores.n_heads;
    int LH = out->n_layers * out->n_heads, variant = (o->exclude_bos ? 1 : 0) | (o->exclude_current ? 2 : 0);
    out->n_top = o->top < 0 ? 0 : o->top < LH ? o->top : LH;
    for (int k = 0; k < CC_SCORE_COUNT; k++) {
        out->score[k] = out->scores.diag[k];
        snprintf(out->label[k], sizeof out->label[k], "%s", cc_score_name((cc_score_kind)k));
    }
    for (int k = 0; k < CC_DETECT_COUNT; k++) {
        out->score[CC_SCORE_COUNT + k] = out->scores.detect[DET_ORDER[k]][variant];
        snprintf(out->label[CC_SCORE_COUNT + k], sizeof out->label[0], "detect_%s", cc_detect_name(DET_ORDER[k]));
    }
    return rank_heads(out, err);
}

void cc_heads_report_free(cc_heads_report *r)
{
    if (!r) return;
    cc_head_scores_free(&r->scores);
    for (int k = 0; k < CC_HEADS_N_SCORES; k++) free(r->ranking[k]);
    memset(r, 0, sizeof *r);
}

typedef struct {
    double abs_change;
    int idx;
} by_change;

static int by_abs_change_desc(const void *a, const void *b)
{
    const by_change *x = a, *y = b;
    if (x->abs_change != y->abs_change) return x->abs_change > y->abs_change ? -1 : 1;
    return x->idx - y->idx;
}

/* R's induction-score changes and the heads ordered by their size. */
static int order_changes(cc_ablate_report *r, cc_error *err)
{
    int LH = r->ablation.n_layers * r->ablation.n_heads;
    size_t n = (size_t)(LH > 0 ? LH : 1);
    r->change = malloc(n * sizeof *r->change);
    r->order = malloc(n * sizeof *r->order);
    by_change *bc = malloc(n * sizeof *bc);
    int rc = r->change && r->order && bc ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < LH; i++) {
        r->change[i] = r->ablation.ablated_induction[i] - r->ablation.clean_induction[i];
        bc[i] = (by_change){fabs(r->change[i]), i};
    }
    if (rc == 0) qsort(bc, (size_t)LH, sizeof *bc, by_abs_change_desc);
    for (int i = 0; rc == 0 && i < LH; i++) r->order[i] = bc[i].idx;
    free(bc);
    return rc;
}

int cc_ablate_report_run(const cc_model *m, const cc_ablate_options *o, cc_ablate_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(o->heads, err, -1);
    CC_ARG_ENUM(o->mode, CC_ABLATE_MEAN + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->input = o->input, out->mode = o->mode;
    int n = o->n_heads > 0 ? o->n_heads : 0;
    if (!(out->ablated = malloc((size_t)(n ? n : 1) * sizeof *out->ablated))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->ablated, o->heads, (size_t)n * sizeof *out->ablated);
    out->n_ablated = n;
    int *tok = NULL;
    int rc = draw_tokens(m, &o->input, &tok, err);
    if (rc == 0)
        rc = cc_ablate_heads(m, tok, o->input.batch, o->input.seq_len, out->ablated, n, o->mode, CC_KERNEL_FAST,
                             o->progress, o->progress_ctx, &out->ablation, err);
    free(tok);
    return rc == 0 ? order_changes(out, err) : -1;
}

void cc_ablate_report_free(cc_ablate_report *r)
{
    if (!r) return;
    free(r->ablated);
    cc_ablation_free(&r->ablation);
    free(r->change);
    free(r->order);
    memset(r, 0, sizeof *r);
}

/* HEAD's attention pattern on the one sequence TOKENS [T] into *OUT [T, T] (caller frees). */
static int head_pattern(const cc_model *m, const int *tokens, int T, cc_head head, float **out, cc_error *err)
{
    if (head.layer < 0 || head.layer >= m->cfg.n_layers || head.head < 0 || head.head >= m->cfg.n_heads)
        return cc_fail(err, "head L%dH%d is out of range: the model has %d layers of %d heads", head.layer, head.head,
                       m->cfg.n_layers, m->cfg.n_heads);
    cc_fwd_opts fo = {.skip_unembed = true};
    cc_fwd_want(&fo, CC_HOOK_PATTERN, head.layer);
    cc_fwd_result r;
    int rc = cc_forward(m, tokens, 1, T, &fo, &r, err);
    if (rc == 0 && !(*out = malloc((size_t)T * T * sizeof **out))) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if (rc == 0)
        memcpy(*out, cc_fwd_act(&r, CC_HOOK_PATTERN, head.layer) + (size_t)head.head * T * T,
               (size_t)T * T * sizeof **out);
    cc_fwd_result_free(&r);
    return rc;
}

int cc_pattern_report_run(const cc_model *m, const cc_pattern_options *o, cc_pattern_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->input = o->input;
    out->input.batch = 1;
    out->head = o->head;
    int n = o->input.seq_len, T = 1 + 2 * n;
    if (draw_tokens(m, &out->input, &out->tokens, err) != 0 ||
        head_pattern(m, out->tokens, T, o->head, &out->pattern, err) != 0)
        return -1;
    out->positions = T;
    const float *P = out->pattern;
    for (int k = 0; k < CC_SCORE_COUNT; k++) {
        int off = cc_score_offset((cc_score_kind)k, n);
        double s = 0;
        for (int d = -off; d < T; d++) s += P[(size_t)d * T + d + off];
        out->diagonals[k] = s / (T + off);
    }
    return 0;
}

void cc_pattern_report_free(cc_pattern_report *r)
{
    if (!r) return;
    free(r->tokens);
    free(r->pattern);
    memset(r, 0, sizeof *r);
}

int cc_patch_sweep_report_run(const cc_model *m, const cc_patch_sweep_options *o, cc_patch_sweep_report *out,
                              cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->input = o->input;
    out->input.batch = 1;
    out->naive = o->naive;
    if (draw_tokens(m, &out->input, &out->tokens, err) != 0) return -1;
    return cc_patch_mlp_sweep(m, out->tokens, out->input.seq_len, o->naive, CC_KERNEL_FAST, o->progress,
                              o->progress_ctx, &out->sweep, err);
}

void cc_patch_sweep_report_free(cc_patch_sweep_report *r)
{
    if (!r) return;
    free(r->tokens);
    cc_patch_sweep_free(&r->sweep);
    memset(r, 0, sizeof *r);
}

int cc_prompt_pattern_run(const cc_model *m, const cc_prompt_batch *b, cc_head head, cc_prompt_pattern *out,
                          cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(b, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (b->batch < 1) return cc_fail(err, "the prompt batch is empty");
    out->head = head;
    out->positions = b->length[0];
    return head_pattern(m, b->tokens, b->length[0], head, &out->pattern, err);
}

void cc_prompt_pattern_free(cc_prompt_pattern *r)
{
    if (!r) return;
    free(r->pattern);
    memset(r, 0, sizeof *r);
}
