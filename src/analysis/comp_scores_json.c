/* comp_scores_json.c — comp-scores' result as the JSON the CLI prints
 * (include/circuitc/comp_scores.h; keys in README.md). */
#include <math.h>

#include "circuitc/comp_scores.h"
#include "core/args.h"

/* SCORES [L,H,L,H] as nested JSON arrays. */
static json_t *nested(const double *s, int L, int H)
{
    json_t *a = json_array();
    for (int l1 = 0; l1 < L; l1++) {
        json_t *b = json_array();
        for (int h1 = 0; h1 < H; h1++) {
            json_t *c = json_array();
            for (int l2 = 0; l2 < L; l2++) {
                json_t *d = json_array();
                for (int h2 = 0; h2 < H; h2++)
                    json_array_append_new(d, json_real(s[(((size_t)l1 * H + h1) * L + l2) * H + h2]));
                json_array_append_new(c, d);
            }
            json_array_append_new(b, c);
        }
        json_array_append_new(a, b);
    }
    return a;
}

/* A ranking: [{earlier, later, score, ratio_to_baseline, z}], the last two null when NAN. */
static json_t *top_pairs(const cc_comp_pair *pairs, int n)
{
    json_t *t = json_array();
    for (int i = 0; i < n; i++) {
        char l[32], rh[32];
        json_t *row = json_pack("{s:s, s:s, s:f}", "earlier", cc_head_name(pairs[i].left, l, sizeof l), "later",
                                cc_head_name(pairs[i].right, rh, sizeof rh), "score", pairs[i].score);
        json_object_set_new(row, "ratio_to_baseline", isnan(pairs[i].ratio) ? json_null() : json_real(pairs[i].ratio));
        json_object_set_new(row, "z", isnan(pairs[i].z) ? json_null() : json_real(pairs[i].z));
        json_array_append_new(t, row);
    }
    return t;
}

json_t *cc_comp_scores_json(const cc_comp_scores *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->scores) return NULL;
    size_t n = (size_t)r->n_layers * r->n_heads;
    json_t *modes = json_array(), *scores = json_object(), *tops = json_object();
    for (int mode = 0; mode < 3; mode++) {
        if (!r->modes[mode]) continue;
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        json_array_append_new(modes, json_string(name));
        json_object_set_new(scores, name, nested(r->scores + mode * n * n, r->n_layers, r->n_heads));
        json_object_set_new(tops, name, top_pairs(r->top[mode], r->n_top[mode]));
    }
    json_t *bl = r->baseline_samples > 0
                     ? json_pack("{s:i, s:I, s:f, s:f, s:i, s:i}", "samples", r->baseline_samples, "seed",
                                 (json_int_t)r->seed, "mean", r->baseline_mean, "std", r->baseline_std, "d_model",
                                 r->d_model, "d_head", r->d_head)
                     : json_null();
    return json_pack("{s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:{s:f, s:f}}", "n_layers", r->n_layers,
                     "n_heads", r->n_heads, "d_model", r->d_model, "d_head", r->d_head, "seed", (json_int_t)r->seed,
                     "modes", modes, "baseline", bl, "top", tops, "scores", scores, "phase_seconds", "scores",
                     r->scores_seconds, "baseline", r->baseline_seconds);
}
