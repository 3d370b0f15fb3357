/* test_atlas.c — the all-pairs atlas (atlas.h): pair and unit bookkeeping,
 * every bound against the exact count of every pair (bundled fixture and tiny
 * random models), every exact entry against the count `kcomp` computes (an
 * independent compile + cc_topk_diagonal here), results independent of the
 * thread count, a top-5 accuracy of exactly min_acc never left bounded, the
 * JSON line round trip, and the command as one call (atlas_report.h): its
 * entries, ranking and JSON, its progress and cancellation. */
#include <stdlib.h>
#include <string.h>

#include "circuitc/atlas.h"
#include "circuitc/atlas_report.h"
#include "circuitc/topk.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_model *load(const char *path)
{
    cc_model *m = NULL;
    cc_error err;
    cc_part parts[CC_ATLAS_MAX_PARTS];
    int n = 0;
    cc_circuit *c = NULL;
    ck_assert_msg(cc_model_open(path, NULL, &m, &err) == 0 && cc_circuit_open("kcomp", &c, &err) == 0 &&
                      cc_atlas_parts(c, m, parts, &n, &err) == 0 && cc_model_need(m, parts, n, true, &err) == 0,
                  "%s", err.msg);
    cc_circuit_free(c);
    return m;
}

static cc_circuit *kcomp(void)
{
    cc_circuit *c;
    cc_error err;
    ck_assert_msg(cc_circuit_open("kcomp", &c, &err) == 0, "%s", err.msg);
    return c;
}

/* What `kcomp EARLIER LATER` reports: top-1 and top-5 of rows and columns. */
static void kcomp_counts(const cc_model *m, const cc_circuit *c, cc_head p, cc_head i, long rows[2], long cols[2])
{
    const char *names[2] = {"prev", "ind"};
    cc_head heads[2] = {p, i};
    cc_fm fm;
    cc_error err;
    ck_assert_msg(cc_circuit_compile(c, m, names, heads, 2, &fm, NULL, &err) == 0, "%s", err.msg);
    cc_topk_options o = {.k_max = 5};
    cc_topk_result r;
    ck_assert_int_eq(cc_topk_diagonal(&fm, &o, &r, &err), 0);
    rows[0] = r.correct[0], rows[1] = r.correct[4];
    o.columns = true;
    ck_assert_int_eq(cc_topk_diagonal(&fm, &o, &r, &err), 0);
    cols[0] = r.correct[0], cols[1] = r.correct[4];
    cc_fm_free(&fm);
}

/* Field by field: the struct has padding. */
static bool same_entry(const cc_atlas_entry *x, const cc_atlas_entry *y)
{
    bool same = x->earlier.layer == y->earlier.layer && x->earlier.head == y->earlier.head &&
                x->later.layer == y->later.layer && x->later.head == y->later.head && x->exact == y->exact &&
                x->has_bound == y->has_bound;
    for (int k = 0; k < 2; k++)
        same = same && x->rows[k] == y->rows[k] && x->cols[k] == y->cols[k] &&
               (!x->has_bound || (x->bound_rows[k] == y->bound_rows[k] && x->bound_cols[k] == y->bound_cols[k]));
    return same;
}

typedef struct {
    const cc_atlas *a;
    int next_unit;
    cc_atlas_entry *all; /* [n_pairs] */
    long seen;
} collect;

static int next_unit(void *ctx)
{
    collect *c = ctx;
    return c->next_unit < cc_atlas_n_units(c->a) ? c->next_unit++ : -1;
}

static int store(void *ctx, const cc_atlas_entry *e, int n, cc_error *err)
{
    (void)err;
    collect *c = ctx;
    for (int k = 0; k < n; k++) {
        long idx = cc_atlas_pair_index(c->a, e[k].earlier, e[k].later);
        c->all[idx] = e[k];
        c->seen++;
    }
    return 0;
}

static cc_atlas_entry *run_all(const cc_atlas *a, int threads)
{
    collect c = {a, 0, calloc((size_t)cc_atlas_n_pairs(a), sizeof(cc_atlas_entry)), 0};
    cc_error err;
    ck_assert_msg(cc_atlas_run(a, threads, next_unit, store, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.seen, cc_atlas_n_pairs(a));
    return c.all;
}

START_TEST(pairs_and_units_cover_everything_once)
{
    cc_model *m = load(tu_fixture_model());
    cc_circuit *c = kcomp();
    cc_atlas *a;
    cc_error err;
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0.01}, &a, &err), 0);
    int L = m->cfg.n_layers, H = m->cfg.n_heads;
    long want = 0;
    for (int l = 1; l < L; l++) want += (long)H * l * H;
    ck_assert_int_eq(cc_atlas_n_pairs(a), want);
    long expect = 0;
    for (int u = 0; u < cc_atlas_n_units(a); u++) {
        long first;
        int count;
        cc_atlas_unit(a, u, &first, &count);
        ck_assert_int_eq(first, expect); /* units tile the canonical order */
        ck_assert(count >= 1 && count <= CC_ATLAS_BLOCK);
        expect += count;
    }
    ck_assert_int_eq(expect, want);
    for (long i = 0; i < want; i++) {
        cc_head p, q;
        cc_atlas_pair(a, i, &p, &q);
        ck_assert(p.layer < q.layer);
        ck_assert_int_eq(cc_atlas_pair_index(a, p, q), i);
    }
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

/* Every bound is >= the exact count (both directions, top-1 and top-5), with
 * the tightest refinement (MIN_ACC tiny) and the default one; at the tightest
 * it is also close to the exact count, so a margin gone wrong (too loose)
 * fails too. */
static void check_bounds(const char *path, double min_acc, bool expect_tight)
{
    cc_model *m = load(path);
    cc_circuit *c = kcomp();
    cc_atlas *a;
    cc_error err;
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = min_acc}, &a, &err), 0);
    ck_assert(cc_atlas_uses_bound(a));
    long V = m->cfg.d_vocab;
    for (long i = 0; i < cc_atlas_n_pairs(a); i++) {
        cc_head p, q;
        cc_atlas_pair(a, i, &p, &q);
        long br[2], bc[2], er[2], ec[2];
        bool pruned;
        ck_assert_msg(cc_atlas_bound(a, p, q, br, bc, &pruned, &err) == 0, "%s", err.msg);
        kcomp_counts(m, c, p, q, er, ec);
        for (int k = 0; k < 2; k++) {
            ck_assert_msg(br[k] >= er[k] && bc[k] >= ec[k], "L%dH%d -> L%dH%d top-%d: bound rows %ld cols %ld < exact %ld %ld",
                          p.layer, p.head, q.layer, q.head, k ? 5 : 1, br[k], bc[k], er[k], ec[k]);
            if (expect_tight)
                ck_assert_msg(br[k] - er[k] <= V / 50 + 2 && bc[k] - ec[k] <= V / 50 + 2,
                              "L%dH%d -> L%dH%d top-%d: bound rows %ld cols %ld far above exact %ld %ld", p.layer,
                              p.head, q.layer, q.head, k ? 5 : 1, br[k], bc[k], er[k], ec[k]);
        }
    }
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
}

START_TEST(bound_is_proven_on_the_fixture)
{
    check_bounds(tu_fixture_model(), 1e-9, true);
    check_bounds(tu_fixture_model(), 0.01, false);
}
END_TEST

START_TEST(bound_is_proven_on_random_models)
{
    static const char *seeds[] = {"0", "1", "2", "3", "4"};
    for (int s = 0; s < 5; s++) {
        char *dir = tu_tiny_model(seeds[s]);
        check_bounds(dir, 1e-9, true);
        check_bounds(dir, 0.05, false);
        tu_rmtree(dir);
        free(dir);
    }
}
END_TEST

/* ALL, the atlas A's entries (canonical order), against kcomp's counts: exact
 * entries equal them; bounded ones are upper bounds of them, with top-5 below
 * MIN_ACC x V in both directions. Counts both kinds. */
static void check_entries(const cc_model *m, const cc_circuit *c, const cc_atlas *a, const cc_atlas_entry *all,
                          double min_acc, long *n_exact, long *n_bound)
{
    long V = m->cfg.d_vocab;
    *n_exact = *n_bound = 0;
    for (long i = 0; i < cc_atlas_n_pairs(a); i++) {
        const cc_atlas_entry *e = &all[i];
        long er[2], ec[2];
        kcomp_counts(m, c, e->earlier, e->later, er, ec);
        ck_assert(e->has_bound);
        if (e->exact) {
            ++*n_exact;
            ck_assert(memcmp(e->rows, er, sizeof er) == 0 && memcmp(e->cols, ec, sizeof ec) == 0);
        } else {
            ++*n_bound;
            ck_assert_msg(e->rows[1] < min_acc * V && e->cols[1] < min_acc * V,
                          "L%dH%d -> L%dH%d bounded at top-5 rows %ld cols %ld (exact %ld %ld), not below %g x %ld",
                          e->earlier.layer, e->earlier.head, e->later.layer, e->later.head, e->rows[1], e->cols[1],
                          er[1], ec[1], min_acc, V);
            for (int k = 0; k < 2; k++) ck_assert(e->rows[k] >= er[k] && e->cols[k] >= ec[k]);
        }
    }
}

/* The whole atlas: exact entries equal kcomp's counts, bounded entries are
 * upper bounds below min_acc, the planted pair is exact, and 1 or 2 threads
 * give the same entries. */
START_TEST(atlas_matches_kcomp_for_every_pair)
{
    cc_model *m = load(tu_fixture_model());
    cc_circuit *c = kcomp();
    cc_atlas *a;
    cc_error err;
    const double min_acc = 0.01;
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = min_acc}, &a, &err), 0);
    cc_atlas_entry *one = run_all(a, 1), *two = run_all(a, 2);
    for (long i = 0; i < cc_atlas_n_pairs(a); i++) ck_assert_msg(same_entry(&one[i], &two[i]), "thread count changed pair %ld", i);
    long n_exact, n_bound;
    check_entries(m, c, a, one, min_acc, &n_exact, &n_bound);
    ck_assert_msg(n_exact > 0 && n_bound > 0, "exact %ld bounded %ld: the fixture should have both", n_exact, n_bound);
    const cc_atlas_entry *planted = &one[cc_atlas_pair_index(a, (cc_head){0, 0}, (cc_head){1, 0})];
    ck_assert(planted->exact);
    ck_assert_int_eq(planted->rows[0], 511);
    free(one), free(two);
    cc_atlas_free(a);

    /* min_acc 0: every pair exact, no bound */
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0}, &a, &err), 0);
    ck_assert(!cc_atlas_uses_bound(a));
    cc_atlas_entry *all = run_all(a, 2);
    for (long i = 0; i < cc_atlas_n_pairs(a); i++) ck_assert(all[i].exact && !all[i].has_bound);
    free(all);
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

/* min_acc x V a whole number (0.0625 x 512 = 32 on the fixture): a top-5
 * bound of exactly 32 does not prove an accuracy below min_acc, so such a pair
 * is computed exactly, never left bounded (the fixture has pairs whose screen
 * reaches 32 when allowed to stop there). */
START_TEST(accuracy_equal_to_min_acc_is_not_bounded)
{
    cc_model *m = load(tu_fixture_model());
    cc_circuit *c = kcomp();
    cc_atlas *a;
    cc_error err;
    const double min_acc = 0.0625;
    ck_assert_int_eq(m->cfg.d_vocab, 512);
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = min_acc}, &a, &err), 0);
    cc_atlas_entry *all = run_all(a, 1);
    long n_exact, n_bound;
    check_entries(m, c, a, all, min_acc, &n_exact, &n_bound);
    ck_assert_msg(n_exact > 0 && n_bound > 0, "exact %ld bounded %ld: the fixture should have both", n_exact, n_bound);
    free(all);
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

/* A unit's bounds, its later head's data kept from unit to unit on each
 * thread, equal the bound of each pair computed alone (cc_atlas_bound: that
 * data fresh), with 1 and 2 threads, on the fixture and a random model. */
START_TEST(unit_bounds_equal_single_pair_bounds)
{
    char *tiny = tu_tiny_model("1");
    const char *paths[] = {tu_fixture_model(), tiny};
    for (int p = 0; p < 2; p++) {
        cc_model *m = load(paths[p]);
        cc_circuit *c = kcomp();
        cc_atlas *a;
        cc_error err;
        ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0.01}, &a, &err), 0);
        for (int threads = 1; threads <= 2; threads++) {
            cc_atlas_entry *all = run_all(a, threads);
            for (long i = 0; i < cc_atlas_n_pairs(a); i++) {
                long br[2], bc[2];
                bool pruned;
                ck_assert_msg(cc_atlas_bound(a, all[i].earlier, all[i].later, br, bc, &pruned, &err) == 0, "%s", err.msg);
                ck_assert_msg(all[i].has_bound && memcmp(all[i].bound_rows, br, sizeof br) == 0 &&
                                  memcmp(all[i].bound_cols, bc, sizeof bc) == 0 && all[i].exact == !pruned,
                              "model %d, %d threads, pair %ld: the unit's bound %ld %ld / %ld %ld, alone %ld %ld / %ld %ld",
                              p, threads, i, all[i].bound_rows[0], all[i].bound_rows[1], all[i].bound_cols[0],
                              all[i].bound_cols[1], br[0], br[1], bc[0], bc[1]);
            }
            free(all);
        }
        cc_atlas_free(a);
        cc_circuit_free(c);
        cc_model_free(m);
    }
    tu_rmtree(tiny);
    free(tiny);
}
END_TEST

/* A unit index outside 0..n_units-1 is refused, not read out of bounds. */
START_TEST(unit_index_out_of_range_is_refused)
{
    cc_model *m = load(tu_fixture_model());
    cc_circuit *c = kcomp();
    cc_atlas *a;
    cc_error err;
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0.01}, &a, &err), 0);
    cc_atlas_entry e[CC_ATLAS_BLOCK];
    int bad[] = {-1, cc_atlas_n_units(a)};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(cc_atlas_run_unit(a, bad[i], e, &err), -1);
        tu_assert_contains(err.msg, "cc_atlas_run_unit: argument u is");
    }
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

START_TEST(entry_line_round_trip)
{
    cc_config cfg = {.n_layers = 12, .n_heads = 12};
    cc_atlas_entry in[2] = {
        {.earlier = {4, 11}, .later = {5, 5}, .exact = true, .rows = {11473, 20000}, .cols = {9000, 15000},
         .has_bound = true, .bound_rows = {12000, 21000}, .bound_cols = {9100, 15500}},
        {.earlier = {0, 1}, .later = {11, 3}, .exact = false, .rows = {3, 40}, .cols = {2, 17}, .has_bound = true,
         .bound_rows = {3, 40}, .bound_cols = {2, 17}},
    };
    for (int k = 0; k < 2; k++) {
        char line[256];
        ck_assert_int_gt(cc_atlas_entry_line(&in[k], line, sizeof line), 0);
        cc_atlas_entry out;
        cc_error err;
        ck_assert_msg(cc_atlas_entry_parse(line, &cfg, &out, &err) == 0, "%s", err.msg);
        ck_assert_msg(same_entry(&in[k], &out), "round trip changed %s", line);
    }
    cc_atlas_entry out;
    cc_error err;
    ck_assert_int_eq(cc_atlas_entry_parse("{\"earlier\":\"L0H0\",\"later\":\"L1H0\",\"status\":\"maybe\"}", &cfg,
                                          &out, &err), -1);
    tu_assert_contains(err.msg, "status");
    ck_assert_int_eq(cc_atlas_entry_parse("{\"earlier\":\"L0H0\",\"later\":\"L99H0\",\"status\":\"exact\"}", &cfg,
                                          &out, &err), -1);
    char small[16];
    ck_assert_int_eq(cc_atlas_entry_line(&in[0], small, sizeof small), -1);
}
END_TEST

/* cc_atlas_report_run on an opened model: the atlas' own entries (run here
 * unit by unit), the exact pairs ranked by rows' top-1 count, then columns',
 * then canonical order, on any thread count; cc_atlas_report_rank of the same
 * entries gives the same report. */
START_TEST(report_run_ranks_every_exact_pair)
{
    cc_atlas_report_options o;
    cc_atlas_report_defaults(&o);
    o.top = 7;
    cc_model *opened;
    cc_error err;
    ck_assert_int_eq(cc_model_open(tu_fixture_model(), NULL, &opened, &err), 0);
    cc_atlas_report r, one;
    ck_assert_msg(cc_atlas_report_run(opened, &o, &r, &err) == 0, "%s", err.msg);
    o.threads = 1;
    ck_assert_msg(cc_atlas_report_run(opened, &o, &one, &err) == 0, "%s", err.msg);

    cc_model *m = load(tu_fixture_model());
    cc_circuit *c = kcomp();
    cc_atlas *a;
    ck_assert_int_eq(cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0.01}, &a, &err), 0);
    cc_atlas_entry *all = run_all(a, 1);
    long n = cc_atlas_n_pairs(a), n_exact = 0;
    ck_assert_str_eq(r.circuit, "kcomp");
    ck_assert(r.bound && r.min_acc == 0.01 && r.vocab == 512 && r.n_pairs == n && r.n_resumed == 0);
    for (long i = 0; i < n; i++) {
        ck_assert_msg(same_entry(&r.entries[i], &all[i]) && same_entry(&one.entries[i], &all[i]), "pair %ld", i);
        n_exact += all[i].exact;
    }
    ck_assert_int_eq(r.n_exact, n_exact);
    ck_assert_int_eq(r.n_top, 7);
    ck_assert_int_eq(r.ranking[0], cc_atlas_pair_index(a, (cc_head){0, 0}, (cc_head){1, 0})); /* the planted pair */
    for (long k = 0; k < r.n_exact; k++) {
        const cc_atlas_entry *e = &all[r.ranking[k]];
        ck_assert(e->exact && r.ranking[k] == one.ranking[k]);
        if (k == 0) continue;
        const cc_atlas_entry *d = &all[r.ranking[k - 1]];
        ck_assert_msg(d->rows[0] > e->rows[0] ||
                          (d->rows[0] == e->rows[0] && (d->cols[0] > e->cols[0] ||
                                                        (d->cols[0] == e->cols[0] && r.ranking[k - 1] < r.ranking[k]))),
                      "ranks %ld and %ld out of order", k - 1, k);
    }
    ck_assert(r.cpu_seconds > 0);

    cc_atlas_report again;
    ck_assert_int_eq(cc_atlas_report_rank(a, &o, all, 5, &again, &err), 0);
    ck_assert(again.n_exact == r.n_exact && again.n_top == r.n_top && again.n_resumed == 5 && again.bound);
    ck_assert(memcmp(again.ranking, r.ranking, (size_t)r.n_exact * sizeof *r.ranking) == 0);
    ck_assert(again.cpu_seconds == 0);
    cc_atlas_report_free(&again), cc_atlas_report_free(&one), cc_atlas_report_free(&r);
    free(all);
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m), cc_model_free(opened);
}
END_TEST

/* Every built-in two-head circuit runs on an opened model: the atlas loads
 * what its terms read (vcomp's W_U), and nothing the circuit does not (kcomp
 * reads no W_U). */
START_TEST(every_builtin_circuit_loads_what_it_reads)
{
    const char *names[] = {"kcomp", "qcomp", "vcomp"};
    for (int i = 0; i < 3; i++) {
        cc_model *m;
        cc_circuit *c;
        cc_error err;
        ck_assert_int_eq(cc_model_open(tu_fixture_model(), NULL, &m, &err), 0);
        ck_assert_int_eq(cc_circuit_open(names[i], &c, &err), 0);
        cc_part parts[CC_ATLAS_MAX_PARTS];
        int n = 0;
        ck_assert_msg(cc_atlas_parts(c, m, parts, &n, &err) == 0, "%s", err.msg);
        bool unembedding = false;
        for (int k = 0; k < n; k++) unembedding |= parts[k].kind == CC_PART_W_U;
        ck_assert_msg(unembedding == (i == 2), "%s: W_U %s", names[i], unembedding ? "loaded" : "not loaded");
        cc_atlas_report_options o;
        cc_atlas_report_defaults(&o);
        o.circuit = names[i];
        cc_atlas_report r;
        ck_assert_msg(cc_atlas_report_run(m, &o, &r, &err) == 0, "%s: %s", names[i], err.msg);
        ck_assert(r.n_pairs > 0);
        cc_atlas_report_free(&r);
        cc_circuit_free(c);
        cc_model_free(m);
    }
}
END_TEST

/* The JSON: --json's keys in its order, accuracies as counts / vocab, top the
 * ranking's head, every pair in entries. */
START_TEST(report_json_is_the_command_body)
{
    cc_atlas_report_options o;
    cc_atlas_report_defaults(&o);
    o.top = 3, o.min_acc = 0;
    cc_model *m = load(tu_fixture_model());
    cc_atlas_report r;
    cc_error err;
    ck_assert_msg(cc_atlas_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert(!r.bound && r.n_exact == r.n_pairs && r.n_top == 3);
    json_t *j = cc_atlas_report_json(&r);
    const char *keys[] = {"circuit", "min_acc", "bound", "vocab", "pairs", "exact_pairs", "bounded_pairs",
                          "resumed_pairs", "out", "top", "cpu_seconds", "ranks", "entries"};
    void *it = json_object_iter(j);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++, it = json_object_iter_next(j, it))
        ck_assert_str_eq(json_object_iter_key(it), keys[k]);
    ck_assert(it == NULL);
    ck_assert(json_is_null(json_object_get(j, "out")) && json_integer_value(json_object_get(j, "bounded_pairs")) == 0);
    json_t *top = json_object_get(j, "top"), *entries = json_object_get(j, "entries");
    ck_assert_int_eq(json_array_size(top), 3);
    ck_assert_int_eq(json_array_size(entries), r.n_pairs);
    const cc_atlas_entry *best = &r.entries[r.ranking[1]];
    json_t *t = json_array_get(top, 1);
    ck_assert_str_eq(json_string_value(json_object_get(t, "status")), "exact");
    ck_assert(json_real_value(json_object_get(t, "rows_top1")) == (double)best->rows[0] / 512);
    ck_assert(json_real_value(json_object_get(t, "cols_top5")) == (double)best->cols[1] / 512);
    json_decref(j);
    cc_atlas_report_free(&r);
    cc_model_free(m);
}
END_TEST

typedef struct {
    long calls, last_done, total, stop_at;
} progress_log;

static int log_progress(void *ctx, long done, long total)
{
    progress_log *p = ctx;
    ck_assert_msg(done > p->last_done && done <= total, "done %ld after %ld of %ld", done, p->last_done, total);
    p->calls++, p->last_done = done, p->total = total;
    return p->stop_at && p->calls >= p->stop_at;
}

/* Progress counts the pairs up to every pair; a callback returning non-zero
 * cancels (CC_E_CANCELLED) and is not called again, on any thread count. */
START_TEST(report_progress_and_cancellation)
{
    cc_atlas_report_options o;
    cc_atlas_report_defaults(&o);
    cc_model *m = load(tu_fixture_model());
    progress_log p = {0};
    o.progress = log_progress, o.progress_ctx = &p;
    cc_atlas_report r;
    cc_error err;
    ck_assert_msg(cc_atlas_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert(p.calls > 2 && p.last_done == r.n_pairs && p.total == r.n_pairs);
    cc_atlas_report_free(&r);
    for (int threads = 1; threads <= 2; threads++) {
        p = (progress_log){.stop_at = 2};
        o.threads = threads;
        ck_assert_int_eq(cc_atlas_report_run(m, &o, &r, &err), -1);
        ck_assert_int_eq(err.code, CC_E_CANCELLED);
        tu_assert_contains(err.msg, "atlas: cancelled by the progress callback");
        ck_assert_int_eq(p.calls, 2);
        cc_atlas_report_free(&r);
    }
    cc_model_free(m);
}
END_TEST

/* Bad options fail with a message naming them, the report freeable. */
START_TEST(report_refuses_bad_options)
{
    cc_model *m = load(tu_fixture_model());
    cc_atlas_report_options o;
    cc_atlas_report r;
    cc_error err;
    cc_atlas_report_defaults(&o);
    o.circuit = "ov";
    ck_assert_int_eq(cc_atlas_report_run(m, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "circuit ov has 1 parameters; the atlas needs a two-head circuit");
    cc_atlas_report_free(&r);
    cc_atlas_report_defaults(&o);
    o.min_acc = 2;
    ck_assert_int_eq(cc_atlas_report_run(m, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "min_acc 2 is not in [0, 1]");
    cc_atlas_report_free(&r);
    cc_atlas_report_defaults(&o);
    o.top = -1;
    ck_assert_int_eq(cc_atlas_report_run(m, &o, &r, &err), -1);
    ck_assert_int_eq(err.code, CC_E_ARG);
    tu_assert_contains(err.msg, "cc_atlas_report_run: argument o->top is -1");
    cc_atlas_report_free(&r);
    cc_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("atlas");
    TCase *t = tcase_create("atlas");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, pairs_and_units_cover_everything_once);
    tcase_add_test(t, bound_is_proven_on_the_fixture);
    tcase_add_test(t, bound_is_proven_on_random_models);
    tcase_add_test(t, atlas_matches_kcomp_for_every_pair);
    tcase_add_test(t, accuracy_equal_to_min_acc_is_not_bounded);
    tcase_add_test(t, unit_bounds_equal_single_pair_bounds);
    tcase_add_test(t, unit_index_out_of_range_is_refused);
    tcase_add_test(t, entry_line_round_trip);
    tcase_add_test(t, report_run_ranks_every_exact_pair);
    tcase_add_test(t, report_json_is_the_command_body);
    tcase_add_test(t, report_progress_and_cancellation);
    tcase_add_test(t, report_refuses_bad_options);
    tcase_add_test(t, every_builtin_circuit_loads_what_it_reads);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
