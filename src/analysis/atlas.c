/* atlas.c — every earlier -> later head pair of a two-head circuit: work
 * units, the exact pass (the circuit compiled and counted as `kcomp` does),
 * dynamic scheduling on threads, and the JSON line of an entry (atlas.h). */
#include "circuitc/atlas.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atlas_internal.h"
#include "circuitc/topk.h"
#include "topk_internal.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

int cc_atlas_parts(const cc_circuit *c, const cc_model *m, cc_part *parts, int *n_parts, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(parts, err, -1);
    CC_ARG_NOT_NULL(n_parts, err, -1);
    int n = 0;
    parts[n++] = (cc_part){CC_PART_W_E, 0, 0};
    for (cc_part_kind k = CC_PART_Q; k <= CC_PART_O; k++) parts[n++] = (cc_part){k, -1, -1};
    *n_parts = n;
    if (cc_circuit_n_params(c) != 2 || m->cfg.n_layers < 2) return 0; /* cc_atlas_new says why, or has no pair */
    /* The circuit's terms for one pair, its heads' parts widened to every
       layer: every pair reads the same matrices beside its two heads. */
    const char *names[2] = {cc_circuit_param(c, 0), cc_circuit_param(c, 1)};
    cc_head heads[2] = {{0, 0}, {m->cfg.n_layers - 1, 0}};
    cc_part terms[CC_CIRCUIT_MAX_TERMS];
    int n_terms = 0;
    if (cc_circuit_parts(c, m, names, heads, 2, terms, &n_terms, err) != 0) return -1;
    for (int t = 0; t < n_terms; t++) {
        cc_part p = terms[t];
        if (p.kind == CC_PART_W_E || (p.kind >= CC_PART_Q && p.kind <= CC_PART_O)) continue;
        if (p.kind > CC_PART_W_U) p.layer = -1; /* an MLP's: every layer */
        bool have = false;
        for (int i = 0; i < n; i++) have |= parts[i].kind == p.kind;
        if (!have) parts[n++] = p;
    }
    *n_parts = n;
    return 0;
}

/* Whether C's chain is the K-composition circuit's, with its parameters in
 * the order (earlier, later): the only circuit the bound's algebra covers. */
static bool is_kcomp(const cc_circuit *c)
{
    char want[256];
    const char *p = cc_circuit_param(c, 0), *i = cc_circuit_param(c, 1);
    snprintf(want, sizeof want, "W_E W_Q[%s] W_K[%s]^T W_O[%s]^T W_V[%s]^T W_E^T", i, i, p, p);
    return strcmp(cc_circuit_chain_text(c), want) == 0;
}

void cc_atlas_free(cc_atlas *a)
{
    if (!a) return;
    atlas_screen_free(a->screen);
    free(a->later_first), free(a->unit_later), free(a->unit_earlier);
    free(a);
}

int cc_atlas_new(const cc_model *m, const cc_circuit *c, const cc_atlas_options *o, cc_atlas **out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (cc_circuit_n_params(c) != 2)
        return cc_fail(err, "circuit %s has %d parameters; the atlas needs a two-head circuit (earlier, later) such as "
                            "kcomp", cc_circuit_name(c), cc_circuit_n_params(c));
    if (!(o->min_acc >= 0 && o->min_acc <= 1)) return cc_fail(err, "min_acc %g is not in [0, 1]", o->min_acc);
    const cc_config *cfg = &m->cfg;
    if (cfg->n_layers < 2) return cc_fail(err, "the model has %d layer; the atlas needs two or more", cfg->n_layers);
    cc_atlas *a = calloc(1, sizeof *a);
    if (!a) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    *a = (cc_atlas){.m = m, .c = c, .L = cfg->n_layers, .H = cfg->n_heads, .V = cfg->d_vocab, .min_acc = o->min_acc};
    a->param[0] = cc_circuit_param(c, 0);
    a->param[1] = cc_circuit_param(c, 1);
    int n = a->L * a->H;
    a->later_first = calloc((size_t)n, sizeof *a->later_first);
    int max_units = 0;
    for (int l = 1; l < a->L; l++) max_units += a->H * ((l * a->H + CC_ATLAS_BLOCK - 1) / CC_ATLAS_BLOCK);
    a->unit_later = malloc((size_t)max_units * sizeof *a->unit_later);
    a->unit_earlier = malloc((size_t)max_units * sizeof *a->unit_earlier);
    if (!a->later_first || !a->unit_later || !a->unit_earlier) {
        cc_atlas_free(a);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    for (int h = a->H; h < n; h++) {
        int earlier = (h / a->H) * a->H;
        a->later_first[h] = a->n_pairs;
        a->n_pairs += earlier;
        for (int e = 0; e < earlier; e += CC_ATLAS_BLOCK) {
            a->unit_later[a->n_units] = h;
            a->unit_earlier[a->n_units++] = e;
        }
    }
    if (o->min_acc > 0 && is_kcomp(c) && atlas_screen_new(m, &a->screen, err) != 0) {
        cc_atlas_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

bool cc_atlas_uses_bound(const cc_atlas *a)
{
    CC_ARG_NOT_NULL(a, NULL, false);
    return a->screen != NULL;
}

long cc_atlas_n_pairs(const cc_atlas *a)
{
    CC_ARG_NOT_NULL(a, NULL, -1);
    return a->n_pairs;
}

int cc_atlas_n_units(const cc_atlas *a)
{
    CC_ARG_NOT_NULL(a, NULL, -1);
    return a->n_units;
}

static cc_head head_at(const cc_atlas *a, int index) { return (cc_head){index / a->H, index % a->H}; }

void cc_atlas_pair(const cc_atlas *a, long index, cc_head *earlier, cc_head *later)
{
    if (!a || !earlier || !later) return;
    int lo = a->H, hi = a->L * a->H - 1; /* the last later head whose first pair is <= index */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (a->later_first[mid] <= index) lo = mid;
        else hi = mid - 1;
    }
    *later = head_at(a, lo);
    *earlier = head_at(a, (int)(index - a->later_first[lo]));
}

long cc_atlas_pair_index(const cc_atlas *a, cc_head earlier, cc_head later)
{
    CC_ARG_NOT_NULL(a, NULL, -1);
    return a->later_first[later.layer * a->H + later.head] + earlier.layer * a->H + earlier.head;
}

void cc_atlas_unit(const cc_atlas *a, int u, long *first, int *count)
{
    if (!a || !first || !count || u < 0 || u >= a->n_units) return;
    int h = a->unit_later[u], e = a->unit_earlier[u], earlier = (h / a->H) * a->H;
    *first = a->later_first[h] + e;
    *count = earlier - e < CC_ATLAS_BLOCK ? earlier - e : CC_ATLAS_BLOCK;
}

/* The exact counts, exactly as `kcomp` computes them (one thread: units run
 * in parallel), rows and columns in one top-k call sharing their set-up. */
static int exact_pair(const cc_atlas *a, cc_head earlier, cc_head later, cc_atlas_entry *e, cc_error *err)
{
    cc_head heads[2] = {earlier, later};
    cc_fm fm;
    if (cc_circuit_compile_exact(a->c, a->m, a->param, heads, 2, NULL, &fm, err) != 0) return -1;
    cc_topk_options o = {.k_max = 5, .method = CC_TOPK_FAST, .threads = 1};
    cc_topk_result rows, cols;
    int rc = cci_topk_diagonal_both(&fm, &o, &rows, &cols, err);
    if (rc == 0) {
        e->rows[0] = rows.correct[0], e->rows[1] = rows.correct[4];
        e->cols[0] = cols.correct[0], e->cols[1] = cols.correct[4];
    }
    cc_fm_free(&fm);
    e->exact = true;
    return rc;
}

/* The bound's threshold: a top-5 count below it is an accuracy below min_acc. */
static long min_count(const cc_atlas *a)
{
    double c = a->min_acc * (double)a->V;
    long whole = (long)c;
    return whole < c ? whole + 1 : whole; /* count < c  <=>  count < ceil(c) */
}

static int pair_entry(const cc_atlas *a, atlas_later *q, cc_head earlier, cc_head later, cc_atlas_entry *e,
                      cc_error *err)
{
    *e = (cc_atlas_entry){.earlier = earlier, .later = later};
    if (q) {
        bool pruned;
        atlas_pair_bound(a->screen, q, earlier, min_count(a), e->bound_rows, e->bound_cols, &pruned);
        e->has_bound = true;
        if (pruned) {
            memcpy(e->rows, e->bound_rows, sizeof e->rows);
            memcpy(e->cols, e->bound_cols, sizeof e->cols);
            return 0;
        }
    }
    return exact_pair(a, earlier, later, e, err);
}

/* Unit U with *Q, the bound's data of its later head: kept from the unit
 * before when that had the same later head (consecutive units mostly do),
 * else replaced. The caller frees *Q (NULL at first). */
static int run_unit(const cc_atlas *a, int u, atlas_later **q, cc_atlas_entry *out, cc_error *err)
{
    long first;
    int count;
    cc_atlas_unit(a, u, &first, &count);
    cc_head later = head_at(a, a->unit_later[u]);
    if (a->screen && (!*q || atlas_later_head(*q).layer != later.layer || atlas_later_head(*q).head != later.head)) {
        atlas_later_free(*q);
        *q = NULL;
        if (atlas_later_new(a->screen, later, q, err) != 0) return -1;
    }
    int rc = 0;
    for (int k = 0; k < count && rc == 0; k++)
        rc = pair_entry(a, *q, head_at(a, a->unit_earlier[u] + k), later, &out[k], err);
    return rc;
}

int cc_atlas_run_unit(const cc_atlas *a, int u, cc_atlas_entry *out, cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (u < 0 || u >= a->n_units) return cc_fail_code(err, CC_E_ARG, "%s: argument u is %d, not in 0..%d", __func__, u, a->n_units - 1);
    atlas_later *q = NULL;
    int rc = run_unit(a, u, &q, out, err);
    atlas_later_free(q);
    return rc;
}

int cc_atlas_bound(const cc_atlas *a, cc_head earlier, cc_head later, long rows[2], long cols[2], bool *pruned,
                   cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_NOT_NULL(rows, err, -1);
    CC_ARG_NOT_NULL(cols, err, -1);
    CC_ARG_NOT_NULL(pruned, err, -1);
    if (!a->screen) return cc_fail(err, "this atlas computes no bound (K-composition circuit and min_acc > 0 only)");
    atlas_later *q;
    if (atlas_later_new(a->screen, later, &q, err) != 0) return -1;
    atlas_pair_bound(a->screen, q, earlier, min_count(a), rows, cols, pruned);
    atlas_later_free(q);
    return 0;
}

/* ---- dynamic scheduling ---------------------------------------------------- */

typedef struct {
    const cc_atlas *a;
    cc_atlas_next_fn next;
    cc_atlas_unit_fn on_unit;
    void *ctx;
    pthread_mutex_t lock;
    int failed;
    cc_error err;
} run_state;

static void *run_worker(void *p)
{
    run_state *s = p;
    cc_atlas_entry *entries = malloc(CC_ATLAS_BLOCK * sizeof *entries);
    atlas_later *q = NULL; /* this thread's later head */
    cc_error err;
    pthread_mutex_lock(&s->lock);
    if (!entries && !s->failed) s->failed = 1, cc_fail_code(&s->err, CC_E_NOMEM, "out of memory");
    while (!s->failed) {
        int u = s->next(s->ctx);
        if (u < 0) break;
        pthread_mutex_unlock(&s->lock);
        long first;
        int count;
        cc_atlas_unit(s->a, u, &first, &count);
        int rc = run_unit(s->a, u, &q, entries, &err);
        pthread_mutex_lock(&s->lock);
        if (rc == 0 && !s->failed) rc = s->on_unit(s->ctx, entries, count, &err);
        if (rc != 0 && !s->failed) s->failed = 1, s->err = err;
    }
    pthread_mutex_unlock(&s->lock);
    atlas_later_free(q);
    free(entries);
    return NULL;
}

int cc_atlas_run(const cc_atlas *a, int threads, cc_atlas_next_fn next, cc_atlas_unit_fn on_unit, void *ctx,
                 cc_error *err)
{
    CC_ARG_NOT_NULL(a, err, -1);
    CC_ARG_NOT_NULL(next, err, -1);
    CC_ARG_NOT_NULL(on_unit, err, -1);
    if (threads <= 0 || threads > CC_PAR_MAX) threads = threads <= 0 ? cc_par_threads() : CC_PAR_MAX;
    run_state s = {.a = a, .next = next, .on_unit = on_unit, .ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    int saved = cc_blas_threads_hold(); /* units run side by side, each GEMM on one core */
    pthread_t tid[CC_PAR_MAX];
    bool started[CC_PAR_MAX] = {false};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run_worker, &s) == 0;
    run_worker(&s);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    cc_blas_threads_restore(saved);
    pthread_mutex_destroy(&s.lock);
    if (s.failed) {
        *err = s.err;
        return -1;
    }
    return 0;
}

/* ---- JSON lines ------------------------------------------------------------ */

int cc_atlas_entry_line(const cc_atlas_entry *e, char *buf, int size)
{
    CC_ARG_NOT_NULL(e, NULL, -1);
    CC_ARG_NOT_NULL(buf, NULL, -1);
    char p[32], l[32];
    cc_head_name(e->earlier, p, sizeof p);
    cc_head_name(e->later, l, sizeof l);
    int n = snprintf(buf, (size_t)size, "{\"earlier\":\"%s\",\"later\":\"%s\",\"status\":\"%s\",\"rows\":[%ld,%ld],"
                     "\"cols\":[%ld,%ld]", p, l, e->exact ? "exact" : "bound", e->rows[0], e->rows[1], e->cols[0],
                     e->cols[1]);
    if (n >= 0 && n < size && e->exact && e->has_bound)
        n += snprintf(buf + n, (size_t)(size - n), ",\"bound_rows\":[%ld,%ld],\"bound_cols\":[%ld,%ld]",
                      e->bound_rows[0], e->bound_rows[1], e->bound_cols[0], e->bound_cols[1]);
    if (n >= 0 && n < size) n += snprintf(buf + n, (size_t)(size - n), "}");
    return n >= 0 && n < size ? n : -1;
}

/* Reads "KEY": [a, b] of O into OUT; -1 when missing or malformed. */
static int pair_of(json_t *o, const char *key, long out[2])
{
    json_t *v = json_object_get(o, key);
    if (!json_is_array(v) || json_array_size(v) != 2) return -1;
    for (int i = 0; i < 2; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
        out[i] = (long)json_integer_value(x);
    }
    return 0;
}

int cc_atlas_entry_parse(const char *line, const cc_config *cfg, cc_atlas_entry *out, cc_error *err)
{
    CC_ARG_NOT_NULL(line, err, -1);
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return cc_fail_code(err, CC_E_FORMAT, "not a JSON object (%s)", je.text);
    }
    *out = (cc_atlas_entry){0};
    const char *p = json_string_value(json_object_get(o, "earlier")), *l = json_string_value(json_object_get(o, "later"));
    const char *status = json_string_value(json_object_get(o, "status"));
    int rc = 0;
    if (!p || !l || !status || (strcmp(status, "exact") != 0 && strcmp(status, "bound") != 0))
        rc = cc_fail_code(err, CC_E_FORMAT, "missing \"earlier\", \"later\" or \"status\" (\"exact\" or \"bound\")");
    else if (cc_head_parse(p, cfg, &out->earlier, err) != 0 || cc_head_parse(l, cfg, &out->later, err) != 0)
        rc = -1;
    else if (pair_of(o, "rows", out->rows) != 0 || pair_of(o, "cols", out->cols) != 0)
        rc = cc_fail_code(err, CC_E_FORMAT, "\"rows\" and \"cols\" must be two counts each");
    else {
        out->exact = strcmp(status, "exact") == 0;
        if (!out->exact) {
            out->has_bound = true;
            memcpy(out->bound_rows, out->rows, sizeof out->rows);
            memcpy(out->bound_cols, out->cols, sizeof out->cols);
        } else if (json_object_get(o, "bound_rows")) {
            out->has_bound = true;
            if (pair_of(o, "bound_rows", out->bound_rows) != 0 || pair_of(o, "bound_cols", out->bound_cols) != 0)
                rc = cc_fail_code(err, CC_E_FORMAT, "\"bound_rows\" and \"bound_cols\" must be two counts each");
        }
    }
    json_decref(o);
    return rc;
}
