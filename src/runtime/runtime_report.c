/* runtime_report.c — repeat, heads and ablate as one call each
 * (include/circuitc/runtime_report.h): draw the repeated tokens (or take the
 * prompts), run, rank; and ablate, which also orders the heads by their
 * induction-score change. */
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

/* The length T of every row of B (prompts of one length: the scores average
 * over sequences), at least 2 positions. */
static int prompts_length(const cc_prompt_batch *b, int *T, cc_error *err)
{
    if (b->batch < 1 || !b->tokens || !b->length) return cc_fail(err, "the prompt batch is empty");
    for (int i = 1; i < b->batch; i++)
        if (b->length[i] != b->length[0])
            return cc_fail(err, "the prompts have different lengths (prompt 1: %d tokens, prompt %d: %d); the figures "
                                "are averaged over sequences of one length: give prompts of equal length, or one",
                           b->length[0], i + 1, b->length[i]);
    if (b->length[0] < 2)
        return cc_fail(err, "the prompt has %d token; the scores need at least 2 (a destination with an earlier source)",
                       b->length[0]);
    *T = b->length[0];
    return 0;
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
        rc = cc_repeat_run(m, tok, in->batch, in->seq_len, CC_KERNEL_FAST, 0, progress,
                           progress_ctx, &out->stats, err);
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

/* The order of the detect_head scores, after the diagonal ones. */
static const cc_detect_kind DET_ORDER[CC_DETECT_COUNT] = {CC_DETECT_INDUCTION, CC_DETECT_PREV_TOKEN,
                                                          CC_DETECT_DUPLICATE};
/* The diagonal scores on repeated tokens, and on prompts (no repeat length). */
static const cc_score_kind REPEAT_DIAG[] = {CC_SCORE_INDUCTION, CC_SCORE_PREV_TOKEN, CC_SCORE_DUPLICATE,
                                            CC_SCORE_CURRENT};
static const cc_score_kind PROMPT_DIAG[] = {CC_SCORE_PREV_TOKEN, CC_SCORE_CURRENT};

/* Each score's heads by descending score into R's rankings. */
static int rank_heads(cc_heads_report *r, cc_error *err)
{
    int LH = r->n_layers * r->n_heads;
    ranked *rk = malloc((size_t)(LH > 0 ? LH : 1) * sizeof *rk);
    if (!rk) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int k = 0; k < r->n_scores; k++) {
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
    const cc_prompt_batch *b = o->prompts;
    int *tok = NULL, T = 0;
    int rc = b ? prompts_length(b, &T, err) : draw_tokens(m, &o->input, &tok, err);
    if (rc == 0 && b)
        rc = cc_head_scores_tokens_run(m, b->tokens, b->batch, T, CC_KERNEL_FAST, 0, o->progress, o->progress_ctx,
                                       &out->scores, err);
    else if (rc == 0)
        rc = cc_head_scores_run(m, tok, o->input.batch, o->input.seq_len, CC_KERNEL_FAST, 0, o->progress,
                                o->progress_ctx, &out->scores, err);
    free(tok);
    if (rc != 0) return -1;
    out->n_layers = out->scores.n_layers, out->n_heads = out->scores.n_heads;
    int LH = out->n_layers * out->n_heads, variant = (o->exclude_bos ? 1 : 0) | (o->exclude_current ? 2 : 0);
    out->n_top = o->top < 0 ? 0 : o->top < LH ? o->top : LH;
    const cc_score_kind *diag = b ? PROMPT_DIAG : REPEAT_DIAG;
    int n_diag = b ? 2 : CC_SCORE_COUNT;
    for (int k = 0; k < n_diag; k++) {
        out->score[k] = out->scores.diag[diag[k]];
        snprintf(out->label[k], sizeof out->label[k], "%s", cc_score_name(diag[k]));
    }
    for (int k = 0; k < CC_DETECT_COUNT; k++) {
        out->score[n_diag + k] = out->scores.detect[DET_ORDER[k]][variant];
        snprintf(out->label[n_diag + k], sizeof out->label[0], "detect_%s", cc_detect_name(DET_ORDER[k]));
    }
    out->n_scores = n_diag + CC_DETECT_COUNT;
    out->main_score = b ? n_diag : 0; /* detect_induction_head on prompts, else induction */
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

/* R's induction-score changes (CLEAN and ABLATED [LH]) and the heads ordered by their size. */
static int order_changes(cc_ablate_report *r, int LH, const double *clean, const double *ablated, cc_error *err)
{
    size_t n = (size_t)(LH > 0 ? LH : 1);
    r->change = malloc(n * sizeof *r->change);
    r->order = malloc(n * sizeof *r->order);
    by_change *bc = malloc(n * sizeof *bc);
    int rc = r->change && r->order && bc ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < LH; i++) {
        r->change[i] = ablated[i] - clean[i];
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
    out->input = o->input, out->mode = o->mode, out->prompts = o->prompts;
    int n = o->n_heads > 0 ? o->n_heads : 0;
    if (!(out->ablated = malloc((size_t)(n ? n : 1) * sizeof *out->ablated))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->ablated, o->heads, (size_t)n * sizeof *out->ablated);
    out->n_ablated = n;
    const cc_prompt_batch *b = o->prompts;
    if (b) {
        int T;
        const cc_token_ablation *a = &out->on_prompts;
        if (prompts_length(b, &T, err) != 0 ||
            cc_ablate_heads_tokens(m, b->tokens, b->batch, T, out->ablated, n, o->mode, CC_KERNEL_FAST, 0, o->progress,
                                   o->progress_ctx, &out->on_prompts, err) != 0)
            return -1;
        return order_changes(out, a->n_layers * a->n_heads, a->clean_induction, a->ablated_induction, err);
    }
    int *tok = NULL;
    int rc = draw_tokens(m, &o->input, &tok, err);
    if (rc == 0)
        rc = cc_ablate_heads(m, tok, o->input.batch, o->input.seq_len, out->ablated, n, o->mode, CC_KERNEL_FAST, 0,
                             o->progress, o->progress_ctx, &out->ablation, err);
    free(tok);
    const cc_ablation *a = &out->ablation;
    return rc == 0 ? order_changes(out, a->n_layers * a->n_heads, a->clean_induction, a->ablated_induction, err) : -1;
}

void cc_ablate_report_free(cc_ablate_report *r)
{
    if (!r) return;
    free(r->ablated);
    cc_ablation_free(&r->ablation);
    cc_token_ablation_free(&r->on_prompts);
    free(r->change);
    free(r->order);
    memset(r, 0, sizeof *r);
}

/* HEADS' attention patterns on the one sequence TOKENS [T] into *OUT [n, T, T] (caller frees), from one pass. */
static int head_patterns(const cc_model *m, const int *tokens, int T, const cc_head *heads, int n, float **out,
                         cc_error *err)
{
    cc_fwd_opts fo = {.skip_unembed = true};
    for (int i = 0; i < n; i++) {
        cc_head h = heads[i];
        if (h.layer < 0 || h.layer >= m->cfg.n_layers || h.head < 0 || h.head >= m->cfg.n_heads)
            return cc_fail(err, "head L%dH%d is out of range: the model has %d layers of %d heads", h.layer, h.head,
                           m->cfg.n_layers, m->cfg.n_heads);
        cc_fwd_want(&fo, CC_HOOK_PATTERN, h.layer);
    }
    cc_fwd_result r;
    size_t TT = (size_t)T * T;
    int rc = cc_forward(m, tokens, 1, T, &fo, &r, err);
    if (rc == 0 && !(*out = malloc((size_t)(n > 0 ? n : 1) * TT * sizeof **out)))
        rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) /* the layer's cache is [1, H, T, T] */
        memcpy(*out + i * TT, cc_fwd_act(&r, CC_HOOK_PATTERN, heads[i].layer) + (size_t)heads[i].head * TT,
               TT * sizeof **out);
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
        head_patterns(m, out->tokens, T, &o->head, 1, &out->pattern, err) != 0)
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
    return cc_patch_mlp_sweep(m, out->tokens, out->input.seq_len, o->naive, CC_KERNEL_FAST, 0, o->progress,
                              o->progress_ctx, &out->sweep, err);
}

void cc_patch_sweep_report_free(cc_patch_sweep_report *r)
{
    if (!r) return;
    free(r->tokens);
    cc_patch_sweep_free(&r->sweep);
    memset(r, 0, sizeof *r);
}

int cc_prompt_pattern_run(const cc_model *m, const cc_prompt_batch *b, cc_head head, int threads,
                          cc_prompt_pattern *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(b, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (b->batch < 1) return cc_fail(err, "the prompt batch is empty");
    out->head = head;
    out->positions = b->length[0];
    return head_patterns(m, b->tokens, b->length[0], &head, 1, &out->pattern, err);
}

void cc_prompt_pattern_free(cc_prompt_pattern *r)
{
    if (!r) return;
    free(r->pattern);
    memset(r, 0, sizeof *r);
}

int cc_prompt_patterns_run(const cc_model *m, const cc_prompt_batch *b, const cc_head *heads, int n_heads, int threads,
                           cc_prompt_patterns *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(b, err, -1);
    CC_ARG_NOT_NULL(heads, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (b->batch < 1) return cc_fail(err, "the prompt batch is empty");
    if (n_heads < 1) return cc_fail(err, "no head to show: give at least one");
    if (!(out->heads = malloc((size_t)n_heads * sizeof *out->heads))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->heads, heads, (size_t)n_heads * sizeof *heads);
    out->n_heads = n_heads;
    out->positions = b->length[0];
    if (head_patterns(m, b->tokens, b->length[0], heads, n_heads, &out->pattern, err) == 0) return 0;
    cc_prompt_patterns_free(out);
    return -1;
}

void cc_prompt_patterns_free(cc_prompt_patterns *r)
{
    if (!r) return;
    free(r->heads);
    free(r->pattern);
    memset(r, 0, sizeof *r);
}
