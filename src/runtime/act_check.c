/* act_check.c — refusing NaN, Inf and out-of-range logits in a forward pass
 * (the criterion: act_check.h). */
#include "runtime/act_check.h"

#include <math.h>
#include <stdio.h>

#include "core/parallel.h"
#include "runtime/vecmath.h"
#include "model/model_internal.h"

/* A scan split into parts of at least SCAN_GRAIN floats, one per thread: the
 * big activations (the MLP's, the scores) are read back from memory, not cache. */
#define SCAN_GRAIN ((size_t)1 << 16)

typedef struct {
    const float *x;
    size_t n, parts;
    float limit;
    bool neg_inf_ok;
    size_t first[CC_PAR_MAX]; /* per part: its first element out of range, or n */
} scan_ctx;

static void scan_parts(void *p, size_t lo, size_t hi)
{
    scan_ctx *a = p;
    for (size_t part = lo; part < hi; part++) {
        size_t b = a->n * part / a->parts, e = a->n * (part + 1) / a->parts;
        a->first[part] = b + cc_vec_first_beyond(a->x + b, e - b, a->limit, a->neg_inf_ok);
        if (a->first[part] == e) a->first[part] = a->n;
    }
}

/* The first element of X [n] out of range (cc_vec_first_beyond), n when none. */
static size_t first_beyond(const float *x, size_t n, float limit, bool neg_inf_ok)
{
    size_t parts = n / SCAN_GRAIN;
    if (parts > (size_t)cc_par_threads()) parts = (size_t)cc_par_threads();
    if (parts <= 1) return cc_vec_first_beyond(x, n, limit, neg_inf_ok);
    scan_ctx a = {x, n, parts, limit, neg_inf_ok, {0}};
    cc_par_for(parts, 1, scan_parts, &a);
    for (size_t part = 0; part < parts; part++)
        if (a.first[part] < n) return a.first[part];
    return n;
}

/* Width of one stacked row of KIND (the scores and pattern are not row-shaped). */
static size_t row_width(const cc_config *c, cc_hook_kind kind)
{
    return cc_hook_shape(c, kind, 1, 1).numel;
}

static bool is_scores(cc_hook_kind kind) { return kind == CC_HOOK_ATTN_SCORES || kind == CC_HOOK_PATTERN; }

/* "[batch b, position t" of stacked row ROW (or "[row r" without segments) into BUF. */
static void row_place(const cc_segment *seg, int n_seg, size_t row, char *buf, size_t size)
{
    if (!seg) {
        snprintf(buf, size, "[row %zu", row);
        return;
    }
    for (int s = 0; s < n_seg; s++) {
        size_t n = (size_t)(seg[s].end - seg[s].start);
        if (row < n) {
            snprintf(buf, size, "[batch %d, position %zu", seg[s].seq, (size_t)seg[s].start + row);
            return;
        }
        row -= n;
    }
    snprintf(buf, size, "[row %zu", row);
}

/* Where element FLAT of a scores or pattern array lies: "[batch b, head h, query position t, key position s". */
static void score_place(const cc_config *c, const cc_segment *seg, int n_seg, size_t flat, char *buf, size_t size)
{
    for (int s = 0; s < n_seg; s++) {
        size_t n = (size_t)(seg[s].end - seg[s].start), e = (size_t)seg[s].end, block = (size_t)c->n_heads * n * e;
        if (flat < block) {
            snprintf(buf, size, "[batch %d, head %zu, query position %zu, key position %zu", seg[s].seq,
                     flat / (n * e), (size_t)seg[s].start + flat % (n * e) / e, flat % e);
            return;
        }
        flat -= block;
    }
    snprintf(buf, size, "[element %zu", flat);
}

static int refuse(cc_hook_kind kind, int layer, const char *place, const char *inner, float value, cc_error *err)
{
    char name[96];
    cc_hook_name(kind, layer, name, sizeof name);
    const char *why = "the forward pass left float32's range (are the weights or the inputs far too large?)";
    if (isfinite(value))
        return cc_fail_code(err, CC_E_NONFINITE, "%s: %g at %s%s], beyond +-2^24 = 16777216 for a logit: float32 cannot tell apart "
                            "logits that differ by 1 there, so log-probs and probabilities would be meaningless; %s. "
                            "Pass --allow-nonfinite to compute anyway", name, value, place, inner, why);
    return cc_fail_code(err, CC_E_NONFINITE, "%s: %s at %s%s]: %s. Pass --allow-nonfinite to compute anyway", name,
                   isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf", place, inner, why);
}

int cc_act_check(const cc_model *m, const cc_segment *seg, int n_seg, cc_hook_kind kind, int layer,
                 const float *act, cc_error *err)
{
    if (m->allow_nonfinite) return 0;
    const cc_config *c = &m->cfg;
    size_t rows = 0, n_scores = 0;
    if (!seg) rows = (size_t)n_seg;
    for (int s = 0; seg && s < n_seg; s++) {
        size_t n = (size_t)(seg[s].end - seg[s].start);
        rows += n;
        n_scores += (size_t)c->n_heads * n * (size_t)seg[s].end;
    }
    size_t width = row_width(c, kind), total = is_scores(kind) ? n_scores : rows * width;
    float limit = kind == CC_HOOK_LOGITS ? CC_LOGIT_LIMIT : INFINITY;
    size_t bad = first_beyond(act, total, limit, kind == CC_HOOK_ATTN_SCORES);
    if (bad == total) return 0;
    char place[128], inner[64] = "";
    if (is_scores(kind)) {
        score_place(c, seg, n_seg, bad, place, sizeof place);
    } else {
        row_place(seg, n_seg, bad / width, place, sizeof place);
        size_t i = bad % width;
        if (kind == CC_HOOK_LOGITS) snprintf(inner, sizeof inner, ", token %zu", i);
        else if (cc_hook_shape(c, kind, 1, 1).ndim == 4) /* [B, T, heads, dh] */
            snprintf(inner, sizeof inner, ", head %zu, %zu", i / (size_t)c->d_head, i % (size_t)c->d_head);
        else snprintf(inner, sizeof inner, ", %zu", i);
    }
    return refuse(kind, layer, place, inner, act[bad], err);
}

int cc_logits_check(const cc_model *m, const cc_segment *seg, int n_seg, size_t row0, int rows, int col0, int n,
                    int ld, const float *lg, cc_error *err)
{
    if (m->allow_nonfinite) return 0;
    for (int i = 0; i < rows; i++) {
        const float *row = lg + (size_t)i * ld;
        size_t bad = cc_vec_first_beyond(row, (size_t)n, CC_LOGIT_LIMIT, false);
        if (bad == (size_t)n) continue;
        char place[128], inner[64];
        row_place(seg, n_seg, row0 + (size_t)i, place, sizeof place);
        snprintf(inner, sizeof inner, ", token %zu", (size_t)col0 + bad);
        return refuse(CC_HOOK_LOGITS, 0, place, inner, row[bad], err);
    }
    return 0;
}
