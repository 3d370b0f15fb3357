/* experiments.c — repeated random tokens, head scores, detect_head, the mlp_out
 * patching sweep and head ablation (see include/circuitc/experiments.h).
 * T = 1+2n positions; L layers, H heads; every mean accumulated in float64. */
#include "circuitc/experiments.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/patching.h"
#include "circuitc/rng.h"
#include "core/args.h"
#include "core/parallel.h"
#include "core/progress_report.h"
#include "model/model_internal.h"

/* ------------------------------------------------------------ tokens */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

int cc_repeat_max_n(const cc_config *cfg)
{
    CC_ARG_NOT_NULL(cfg, NULL, -1);
    return (cfg->n_ctx - 1) / 2;
}

int cc_repeat_tokens(const cc_config *cfg, uint64_t seed, int batch, int n, int *out, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (batch < 1) return cc_fail(err, "batch must be at least 1 (got %d)", batch);
    if (n < 1) return cc_fail(err, "sequence length n must be at least 1 (got %d)", n);
    if (n > cc_repeat_max_n(cfg))
        return cc_fail(err,
                       "sequence length n = %d needs 1+2n = %lld positions, more than this model's context n_ctx = %d: "
                       "use n <= %d",
                       n, 1 + 2LL * n, cfg->n_ctx, cc_repeat_max_n(cfg));
    cc_rng r;
    cc_rng_seed(&r, seed ^ fnv1a64("repeat-tokens"));
    int T = 1 + 2 * n;
    for (int b = 0; b < batch; b++) {
        int *row = out + (size_t)b * T;
        row[0] = cfg->bos_token_id;
        for (int i = 0; i < n; i++) {
            uint64_t x = cc_rng_next(&r) >> 32;
            row[1 + i] = row[1 + n + i] = (int)((x * (uint64_t)cfg->d_vocab) >> 32);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ log-probs */

void cc_repeat_stats_free(cc_repeat_stats *s)
{
    if (!s) return;
    free(s->logprob);
    free(s->loss_per_seq);
    memset(s, 0, sizeof *s);
}

int cc_repeat_stats_from(const cc_fwd_result *r, const int *tokens, int n, cc_repeat_stats *out, cc_error *err)
{
    CC_ARG_NOT_NULL(r, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    int B = r->batch, T = r->pos;
    if (n < 1 || T != 1 + 2 * n) return cc_fail(err, "repeat stats: %d positions, expected 1+2n = %d", T, 1 + 2 * n);
    if (!r->logprob || !r->argmax) return cc_fail(err, "repeat stats: the pass did not compute log-probs");
    out->batch = B, out->n = n;
    out->logprob = malloc((size_t)B * 2 * n * sizeof *out->logprob);  /* [B, 2n] */
    out->loss_per_seq = malloc((size_t)B * sizeof *out->loss_per_seq); /* [B] */
    if (!out->logprob || !out->loss_per_seq) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->logprob, r->logprob, (size_t)B * 2 * n * sizeof *out->logprob); /* [B, T-1] == [B, 2n] */
    double s1 = 0, s2 = 0;
    long c1 = 0, c2 = 0;
    for (int b = 0; b < B; b++) {
        double sb = 0;
        for (int i = 0; i < 2 * n; i++) {
            double lp = r->logprob[(size_t)b * 2 * n + i];
            int ok = r->argmax[(size_t)b * T + i] == tokens[(size_t)b * T + i + 1];
            sb += lp;
            if (i < n) s1 += lp, c1 += ok;
            else s2 += lp, c2 += ok;
        }
        out->loss_per_seq[b] = -sb / (2 * n);
    }
    out->first_mean = s1 / ((double)B * n);
    out->second_mean = s2 / ((double)B * n);
    out->first_acc = (double)c1 / ((double)B * n);
    out->second_acc = (double)c2 / ((double)B * n);
    out->loss = -(s1 + s2) / ((double)B * 2 * n);
    return 0;
}

/* ------------------------------------------------------------ progress */

/* Pass PASS of PASSES, each of LAYERS blocks, reported to the caller's FN (may be NULL). */
typedef struct {
    cc_progress_fn fn;
    void *ctx;
    int pass, passes, layers;
} pass_progress;

/* After each block; -1 (the pass stops) when the callback cancels. */
static int report_block(const pass_progress *p, cc_hook_kind k, int layer, cc_error *err)
{
    if (k != CC_HOOK_RESID_POST) return 0;
    return cci_progress(p->fn, p->ctx, (long)p->pass * p->layers + layer + 1,
                        (long)p->passes * p->layers, "forward pass", err);
}

static int progress_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)act, (void)s;
    return report_block(ctx, k, layer, err);
}

/* Reports O's pass through P when it has a callback (O must have no other hook). */
static void watch(cc_fwd_opts *o, pass_progress *p)
{
    if (p->fn) o->hook = progress_hook, o->hook_ctx = p;
}

int cc_repeat_run(const cc_model *m, const int *tokens, int batch, int n, cc_kernel kernel, int threads,
                  cc_progress_fn progress, void *progress_ctx, cc_repeat_stats *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    cc_fwd_opts o = {.kernel = kernel, .logprobs = true};
    pass_progress pp = {progress, progress_ctx, 0, 1, m->cfg.n_layers};
    watch(&o, &pp);
    cc_fwd_result r;
    int rc = cc_forward(m, tokens, batch, 1 + 2 * n, &o, &r, err);
    if (rc == 0) rc = cc_repeat_stats_from(&r, tokens, n, out, err);
    cc_fwd_result_free(&r);
    return rc;
}

/* ------------------------------------------------------------ head scores */

static const char *const SCORE_NAMES[CC_SCORE_COUNT] = {"induction", "previous_token", "duplicate_token",
                                                        "current_token"};
static const char *const DETECT_NAMES[CC_DETECT_COUNT] = {"previous_token_head", "duplicate_token_head",
                                                          "induction_head"};

const char *cc_score_name(cc_score_kind k)
{
    return k >= 0 && k < CC_SCORE_COUNT ? SCORE_NAMES[k] : "?";
}

const char *cc_detect_name(cc_detect_kind k)
{
    return k >= 0 && k < CC_DETECT_COUNT ? DETECT_NAMES[k] : "?";
}

int cc_score_offset(cc_score_kind k, int n)
{
    CC_ARG_ENUM(k, CC_SCORE_COUNT, NULL, 1);
    switch (k) {
    case CC_SCORE_INDUCTION: return 1 - n;
    case CC_SCORE_PREV_TOKEN: return -1;
    case CC_SCORE_DUPLICATE: return -n;
    default: return 0;
    }
}

static int have_patterns(const cc_fwd_result *r, cc_error *err)
{
    for (int l = 0; l < r->n_layers; l++)
        if (!r->act[CC_HOOK_PATTERN][l])
            return cc_fail(err, "head scores need blocks.%d.attn.hook_pattern in the cache", l);
    return 0;
}

int cc_diag_scores(const cc_fwd_result *r, int H, int off, double *out, cc_error *err)
{
    CC_ARG_NOT_NULL(r, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    int B = r->batch, T = r->pos;
    if (have_patterns(r, err)) return -1;
    if (off > 0 || -off >= T) return cc_fail(err, "diagonal offset %d is outside (-%d, 0]", off, T);
    for (int l = 0; l < r->n_layers; l++) {
        const float *P = r->act[CC_HOOK_PATTERN][l]; /* [B, H, T, T] */
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                for (int dest = -off; dest < T; dest++)
                    s += P[(((size_t)b * H + h) * T + dest) * T + dest + off];
            out[l * H + h] = s / ((double)B * (T + off));
        }
    }
    return 0;
}

/* D[i, j] of TransformerLens' detection pattern KIND for one sequence TOK [T]. */
static int detect_d(cc_detect_kind kind, const int *tok, int i, int j)
{
    if (j > i) return 0;
    switch (kind) {
    case CC_DETECT_PREV_TOKEN: return j == i - 1;
    case CC_DETECT_DUPLICATE: return j < i && tok[j] == tok[i];
    default: return j >= 1 && j - 1 < i && tok[j - 1] == tok[i];
    }
}

int cc_detect_scores(const cc_fwd_result *r, const int *tokens, int H, cc_detect_kind kind, bool excl_bos,
                     bool excl_cur, double *out, cc_error *err)
{
    CC_ARG_NOT_NULL(r, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kind, CC_DETECT_COUNT, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    int B = r->batch, T = r->pos;
    if (have_patterns(r, err)) return -1;
    for (int l = 0; l < r->n_layers; l++) {
        const float *P = r->act[CC_HOOK_PATTERN][l]; /* [B, H, T, T] */
        for (int h = 0; h < H; h++) {
            double mean = 0;
            for (int b = 0; b < B; b++) {
                const int *tok = tokens + (size_t)b * T;
                const float *A = P + ((size_t)b * H + h) * T * T; /* [T, T] */
                double num = 0, den = 0;
                for (int i = 0; i < T; i++)
                    for (int j = 0; j <= i; j++) {
                        if ((excl_bos && j == 0) || (excl_cur && j == i)) continue;
                        double a = A[(size_t)i * T + j];
                        den += a;
                        if (detect_d(kind, tok, i, j)) num += a;
                    }
                mean += num / den; /* den = 0 gives NaN, as torch does */
            }
            out[l * H + h] = mean / B;
        }
    }
    return 0;
}

void cc_head_scores_free(cc_head_scores *s)
{
    if (!s) return;
    for (int k = 0; k < CC_SCORE_COUNT; k++) free(s->diag[k]);
    for (int k = 0; k < CC_DETECT_COUNT; k++)
        for (int v = 0; v < 4; v++) free(s->detect[k][v]);
    memset(s, 0, sizeof *s);
}

/* All scores from a result R that cached every layer's pattern; N = 0 (any
 * tokens): no induction and duplicate diagonal, which need the repeat length. */
static int scores_from(const cc_fwd_result *r, const int *tokens, int H, int n, cc_head_scores *out, cc_error *err)
{
    memset(out, 0, sizeof *out);
    out->n_layers = r->n_layers, out->n_heads = H, out->n = n;
    size_t LH = (size_t)r->n_layers * H;
    for (int k = 0; k < CC_SCORE_COUNT; k++) {
        if (n == 0 && (k == CC_SCORE_INDUCTION || k == CC_SCORE_DUPLICATE)) continue;
        if (!(out->diag[k] = malloc(LH * sizeof(double)))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
        if (cc_diag_scores(r, H, cc_score_offset((cc_score_kind)k, n), out->diag[k], err)) return -1;
    }
    for (int k = 0; k < CC_DETECT_COUNT; k++)
        for (int v = 0; v < 4; v++) {
            if (!(out->detect[k][v] = malloc(LH * sizeof(double)))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
            if (cc_detect_scores(r, tokens, H, (cc_detect_kind)k, v & 1, v & 2, out->detect[k][v], err)) return -1;
        }
    return 0;
}

/* One pass over TOKENS [batch, T] caching every pattern, then its scores (N as scores_from). */
static int scores_run(const cc_model *m, const int *tokens, int batch, int T, int n, cc_kernel kernel,
                      cc_progress_fn progress, void *progress_ctx, cc_head_scores *out, cc_error *err)
{
    memset(out, 0, sizeof *out);
    cc_fwd_opts o = {.kernel = kernel, .skip_unembed = true};
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    pass_progress pp = {progress, progress_ctx, 0, 1, m->cfg.n_layers};
    watch(&o, &pp);
    cc_fwd_result r;
    int rc = cc_forward(m, tokens, batch, T, &o, &r, err);
    if (rc == 0 && scores_from(&r, tokens, m->cfg.n_heads, n, out, err) != 0) {
        cc_head_scores_free(out);
        rc = -1;
    }
    cc_fwd_result_free(&r);
    return rc;
}

int cc_head_scores_run(const cc_model *m, const int *tokens, int batch, int n, cc_kernel kernel, int threads,
                       cc_progress_fn progress, void *progress_ctx, cc_head_scores *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    return scores_run(m, tokens, batch, 1 + 2 * n, n, kernel, progress, progress_ctx, out, err);
}

int cc_head_scores_tokens_run(const cc_model *m, const int *tokens, int batch, int T, cc_kernel kernel, int threads,
                              cc_progress_fn progress, void *progress_ctx, cc_head_scores *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    return scores_run(m, tokens, batch, T, 0, kernel, progress, progress_ctx, out, err);
}

/* ------------------------------------------------------------ patching */

void cc_patch_sweep_free(cc_patch_sweep *s)
{
    if (!s) return;
    free(s->patched_loss);
    free(s->delta);
    memset(s, 0, sizeof *s);
}

int cc_patch_mlp_sweep(const cc_model *m, const int *tokens, int n, bool naive, cc_kernel kernel, int threads,
                       cc_progress_fn progress, void *progress_ctx, cc_patch_sweep *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    const cc_config *c = &m->cfg;
    int L = c->n_layers, T = 1 + 2 * n, NP = n + 1;
    if (n < 1 || T > c->n_ctx)
        return cc_fail(err, "patching: n = %d needs 1+2n <= n_ctx = %d", n, c->n_ctx);
    /* the same tokens as clean and corrupted run; position p takes the value at p-n */
    cc_patch_opts o = {.hook = CC_HOOK_MLP_OUT, .pos_lo = n, .pos_hi = 2 * n + 1, .src_shift = -n,
                       .metric = {.kind = CC_METRIC_LOSS, .loss_lo = n, .loss_hi = 2 * n}, .naive = naive,
                       .kernel = kernel, .progress = progress, .progress_ctx = progress_ctx};
    cc_patch_result r;
    if (cc_act_patch(m, tokens, tokens, T, &o, &r, err) != 0) return -1;
    out->n_layers = L, out->n = n, out->clean_loss = r.clean;
    out->patched_loss = r.value, r.value = NULL; /* [L, n+1] */
    out->delta = r.normalized, r.normalized = NULL;
    for (int i = 0; i < L * NP; i++) out->delta[i] = out->patched_loss[i] - out->clean_loss;
    cc_patch_result_free(&r);
    return 0;
}

/* ------------------------------------------------------------ ablation */

void cc_ablation_free(cc_ablation *a)
{
    if (!a) return;
    cc_repeat_stats_free(&a->clean);
    cc_repeat_stats_free(&a->ablated);
    free(a->clean_induction);
    free(a->ablated_induction);
    memset(a, 0, sizeof *a);
}

typedef struct {
    const cc_head *heads;
    int n;
    const float *value; /* [n, dh]: replacement z per ablated head (zeros for zero ablation) */
    pass_progress *progress;
} ablate_ctx;

static int ablate_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    const ablate_ctx *a = ctx;
    if (report_block(a->progress, k, layer, err) != 0) return -1;
    if (k != CC_HOOK_Z) return 0;
    int BT = s->dim[0] * s->dim[1], H = s->dim[2], dh = s->dim[3]; /* act: [B, T, H, dh] */
    for (int i = 0; i < a->n; i++) {
        if (a->heads[i].layer != layer) continue;
        for (int bt = 0; bt < BT; bt++)
            memcpy(act + ((size_t)bt * H + a->heads[i].head) * dh, a->value + (size_t)i * dh, (size_t)dh * sizeof *act);
    }
    return 0;
}

/* What an ablation measures after each of its two passes (PASS 0 clean, 1 ablated). */
typedef int (*ablate_measure_fn)(void *ctx, int pass, const cc_fwd_result *r, cc_error *err);

/* The clean pass over TOKENS [batch, T], then the pass with HEADS' hook_z
 * replaced (zero, or the clean mean over batch and positions); MEASURE reads
 * each (every layer's pattern cached, log-probs computed). */
static int ablate_passes(const cc_model *m, const int *tokens, int batch, int T, const cc_head *heads, int n_ablate,
                         cc_ablate_mode mode, cc_kernel kernel, pass_progress *pp, ablate_measure_fn measure,
                         void *measure_ctx, cc_error *err)
{
    const cc_config *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, dh = c->d_head;
    for (int i = 0; i < n_ablate; i++)
        if (heads[i].layer < 0 || heads[i].layer >= L || heads[i].head < 0 || heads[i].head >= H)
            return cc_fail(err, "ablation: head L%dH%d is out of range", heads[i].layer, heads[i].head);
    cc_fwd_opts o = {.kernel = kernel, .logprobs = true};
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    for (int i = 0; i < n_ablate; i++) cc_fwd_want(&o, CC_HOOK_Z, heads[i].layer);
    watch(&o, pp);
    cc_fwd_result r = {0};
    float *value = calloc((size_t)(n_ablate ? n_ablate : 1) * dh, sizeof *value); /* [n_ablate, dh] */
    int rc = -1;
    if (!value) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto done;
    }
    if (cc_forward(m, tokens, batch, T, &o, &r, err) || measure(measure_ctx, 0, &r, err)) goto done;
    if (mode == CC_ABLATE_MEAN)
        for (int i = 0; i < n_ablate; i++) {
            const float *z = r.act[CC_HOOK_Z][heads[i].layer]; /* [B, T, H, dh] */
            for (int t = 0; t < dh; t++) {
                double s = 0;
                for (size_t bt = 0; bt < (size_t)batch * T; bt++) s += z[(bt * H + heads[i].head) * dh + t];
                value[(size_t)i * dh + t] = (float)(s / ((double)batch * T));
            }
        }
    cc_fwd_result_free(&r);
    pp->pass = 1;
    ablate_ctx ac = {heads, n_ablate, value, pp};
    o.hook = ablate_hook, o.hook_ctx = &ac;
    memset(o.cache, 0, sizeof o.cache);
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    if (cc_forward(m, tokens, batch, T, &o, &r, err) || measure(measure_ctx, 1, &r, err)) goto done;
    rc = 0;
done:
    cc_fwd_result_free(&r);
    free(value);
    return rc;
}

typedef struct {
    const int *tokens;
    int n;
    cc_ablation *out;
} repeat_measure;

/* A [BOS, A, A] pass: the halves' statistics and every head's induction score. */
static int measure_repeat(void *ctx, int pass, const cc_fwd_result *r, cc_error *err)
{
    repeat_measure *m = ctx;
    return cc_repeat_stats_from(r, m->tokens, m->n, pass ? &m->out->ablated : &m->out->clean, err) ||
                   cc_diag_scores(r, m->out->n_heads, 1 - m->n,
                                  pass ? m->out->ablated_induction : m->out->clean_induction, err)
               ? -1
               : 0;
}

/* The argument checks both public ablations share (CC_ARG names the caller). */
#define ABLATE_ARGS(m, tokens, heads, mode, kernel, out, err) \
    do {                                                      \
        CC_ARG_NOT_NULL(m, err, -1);                          \
        CC_ARG_NOT_NULL(tokens, err, -1);                     \
        CC_ARG_NOT_NULL(heads, err, -1);                      \
        CC_ARG_ENUM(mode, CC_ABLATE_MEAN + 1, err, -1);       \
        CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);      \
        CC_ARG_NOT_NULL(out, err, -1);                        \
    } while (0)

/* ablate_passes with every head's induction score before and after, into
 * *CLEAN_INDUCTION and *ABLATED_INDUCTION (allocated here, [L, H]; the
 * caller's free function releases them on failure too). */
static int ablate_scored(const cc_model *m, const int *tokens, int batch, int T, const cc_head *heads, int n_ablate,
                         cc_ablate_mode mode, cc_kernel kernel, cc_progress_fn progress, void *progress_ctx,
                         double **clean_induction, double **ablated_induction, ablate_measure_fn measure,
                         void *measure_ctx, cc_error *err)
{
    size_t LH = (size_t)m->cfg.n_layers * m->cfg.n_heads;
    *clean_induction = malloc(LH * sizeof(double));
    *ablated_induction = malloc(LH * sizeof(double));
    if (!*clean_induction || !*ablated_induction) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    pass_progress pp = {progress, progress_ctx, 0, 2, m->cfg.n_layers}; /* clean, then ablated */
    return ablate_passes(m, tokens, batch, T, heads, n_ablate, mode, kernel, &pp, measure, measure_ctx, err);
}

int cc_ablate_heads(const cc_model *m, const int *tokens, int batch, int n, const cc_head *heads, int n_ablate,
                    cc_ablate_mode mode, cc_kernel kernel, int threads, cc_progress_fn progress, void *progress_ctx,
                    cc_ablation *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    ABLATE_ARGS(m, tokens, heads, mode, kernel, out, err);
    memset(out, 0, sizeof *out);
    out->n_layers = m->cfg.n_layers, out->n_heads = m->cfg.n_heads;
    repeat_measure rm = {tokens, n, out};
    int rc = ablate_scored(m, tokens, batch, 1 + 2 * n, heads, n_ablate, mode, kernel, progress, progress_ctx,
                           &out->clean_induction, &out->ablated_induction, measure_repeat, &rm, err);
    if (rc != 0) cc_ablation_free(out);
    return rc;
}

void cc_token_stats_free(cc_token_stats *s)
{
    if (!s) return;
    free(s->logprob);
    memset(s, 0, sizeof *s);
}

/* The next-token statistics of R (run with logprobs) on TOKENS [batch, T]. */
static int token_stats_from(const cc_fwd_result *r, const int *tokens, cc_token_stats *out, cc_error *err)
{
    int B = r->batch, T = r->pos, P = T - 1;
    if (P < 1) return cc_fail(err, "next-token statistics need at least 2 positions, got %d", T);
    out->batch = B, out->positions = T;
    if (!(out->logprob = malloc((size_t)B * P * sizeof *out->logprob))) /* [B, T-1] */
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->logprob, r->logprob, (size_t)B * P * sizeof *out->logprob);
    double sum = 0;
    long correct = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < P; t++) {
            sum += r->logprob[(size_t)b * P + t];
            correct += r->argmax[(size_t)b * T + t] == tokens[(size_t)b * T + t + 1];
        }
    out->mean_logprob = sum / ((double)B * P);
    out->loss = -out->mean_logprob;
    out->accuracy = (double)correct / ((double)B * P);
    return 0;
}

typedef struct {
    const int *tokens;
    cc_token_ablation *out;
} tokens_measure;

/* A pass on any tokens: the next-token statistics and every head's detect_head induction_head score. */
static int measure_tokens(void *ctx, int pass, const cc_fwd_result *r, cc_error *err)
{
    tokens_measure *m = ctx;
    return token_stats_from(r, m->tokens, pass ? &m->out->ablated : &m->out->clean, err) ||
                   cc_detect_scores(r, m->tokens, m->out->n_heads, CC_DETECT_INDUCTION, false, false,
                                    pass ? m->out->ablated_induction : m->out->clean_induction, err)
               ? -1
               : 0;
}

void cc_token_ablation_free(cc_token_ablation *a)
{
    if (!a) return;
    cc_token_stats_free(&a->clean);
    cc_token_stats_free(&a->ablated);
    free(a->clean_induction);
    free(a->ablated_induction);
    memset(a, 0, sizeof *a);
}

int cc_ablate_heads_tokens(const cc_model *m, const int *tokens, int batch, int T, const cc_head *heads, int n_ablate,
                           cc_ablate_mode mode, cc_kernel kernel, int threads, cc_progress_fn progress,
                           void *progress_ctx, cc_token_ablation *out, cc_error *err)
{
    CC_PAR_CALL(threads);
    ABLATE_ARGS(m, tokens, heads, mode, kernel, out, err);
    memset(out, 0, sizeof *out);
    out->n_layers = m->cfg.n_layers, out->n_heads = m->cfg.n_heads;
    tokens_measure tm = {tokens, out};
    int rc = ablate_scored(m, tokens, batch, T, heads, n_ablate, mode, kernel, progress, progress_ctx,
                           &out->clean_induction, &out->ablated_induction, measure_tokens, &tm, err);
    if (rc != 0) cc_token_ablation_free(out);
    return rc;
}
