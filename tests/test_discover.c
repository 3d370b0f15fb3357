/* test_discover.c — weight-only discovery (discover.h): on the bundled
 * fixture the planted previous-token -> induction pair L0H0 -> L1H0 ranks
 * first from the weights alone (each exact pair's top-1 counts and score
 * against kcomp's counts; an odd --top measures the same first pairs, its
 * progress one count over all scans), and the `discover` command's runtime
 * check confirms it; the positional evidence against its definition computed
 * in the test on tiny random models; precision and recall at k on a hand-made
 * ranking. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/discover.h"
#include "circuitc/topk.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* Progress of the exact scans: one count over the whole phase. */
typedef struct {
    long last, total, calls;
    bool backwards;
} progress_log;

static int log_progress(void *ctx, long done, long total)
{
    progress_log *l = ctx;
    l->backwards = l->backwards || done < l->last || (l->calls && total != l->total);
    l->last = done, l->total = total, l->calls++;
    return 0;
}

START_TEST(planted_pair_ranks_first_from_weights)
{
    cc_model *m = NULL;
    cc_error err;
    cc_part parts[8];
    int n = cc_discover_parts(parts);
    ck_assert_msg(cc_model_open(tu_fixture_model(), NULL, &m, &err) == 0 &&
                      cc_model_need(m, parts, n, true, &err) == 0, "%s", err.msg);
    cc_circuit *c;
    ck_assert_int_eq(cc_circuit_open("kcomp", &c, &err), 0);
    cc_discover_options o = {.circuit = c, .top = 10, .baseline_samples = 50};
    cc_discover_result r;
    ck_assert_msg(cc_discover(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.n_pairs, 48);
    const cc_discover_pair *p = &r.pairs[0];
    ck_assert(p->earlier.layer == 0 && p->earlier.head == 0 && p->later.layer == 1 && p->later.head == 0);
    ck_assert(p->exact && p->rows_top1 == 511 && p->cols_top1 == 511);
    ck_assert_double_eq(p->positional, 1.0);
    /* each exact pair: kcomp's top-1 counts (compiled and counted here), and its
     * score positional x mean(rows, columns) / V; the fixture has pairs whose
     * two counts differ */
    int n_exact = 0, rows_differ = 0;
    for (int k = 0; k < r.n_pairs; k++) {
        const cc_discover_pair *e = &r.pairs[k];
        if (!e->exact) continue;
        n_exact++;
        const char *names[2] = {"prev", "ind"};
        cc_head heads[2] = {e->earlier, e->later};
        cc_fm fm;
        ck_assert_msg(cc_circuit_compile(c, m, names, heads, 2, &fm, NULL, &err) == 0, "%s", err.msg);
        cc_topk_options to = {.k_max = 1};
        cc_topk_result rows, cols;
        ck_assert_int_eq(cc_topk_diagonal(&fm, &to, &rows, &err), 0);
        to.columns = true;
        ck_assert_int_eq(cc_topk_diagonal(&fm, &to, &cols, &err), 0);
        cc_fm_free(&fm);
        ck_assert_int_eq(e->rows_top1, rows.correct[0]);
        ck_assert_int_eq(e->cols_top1, cols.correct[0]);
        rows_differ += rows.correct[0] != cols.correct[0];
        double want = e->positional * (double)(rows.correct[0] + cols.correct[0]) / (2.0 * m->cfg.d_vocab);
        ck_assert_msg(fabs(e->score - want) <= 1e-12, "L%dH%d -> L%dH%d: score %.15g, expected %.15g", e->earlier.layer,
                      e->earlier.head, e->later.layer, e->later.head, e->score, want);
    }
    ck_assert_int_eq(n_exact, 10);
    ck_assert_int_gt(rows_differ, 0);
    /* an odd --top (the pairs are scanned in groups of as many as threads): the
     * same first pairs, exactly those measured, with the same counts */
    cc_discover_options o3 = o;
    o3.top = 3;
    progress_log log = {0};
    o3.progress = log_progress, o3.progress_ctx = &log;
    cc_discover_result r3;
    ck_assert_msg(cc_discover(m, &o3, &r3, &err) == 0, "%s", err.msg);
    int n_exact3 = 0;
    for (int k = 0; k < r3.n_pairs; k++) {
        const cc_discover_pair *e = &r3.pairs[k];
        if (!e->exact) continue;
        n_exact3++;
        bool found = false;
        for (int j = 0; j < r.n_pairs && !found; j++) {
            const cc_discover_pair *f = &r.pairs[j];
            if (f->earlier.layer != e->earlier.layer || f->earlier.head != e->earlier.head ||
                f->later.layer != e->later.layer || f->later.head != e->later.head)
                continue;
            found = true;
            ck_assert(f->exact && f->rows_top1 == e->rows_top1 && f->cols_top1 == e->cols_top1);
        }
        ck_assert(found);
    }
    ck_assert_int_eq(n_exact3, 3);
    /* the scans run side by side, yet their progress never goes back and ends at
     * every row of the 3 pairs' two scans */
    ck_assert(log.calls > 0 && !log.backwards);
    ck_assert_int_eq(log.total, 2L * 3 * m->cfg.d_vocab);
    ck_assert_int_eq(log.last, log.total);
    cc_discover_free(&r3);
    /* ranked: exact pairs first by score, then by ratio x positional */
    for (int k = 1; k < r.n_pairs; k++) {
        const cc_discover_pair *a = &r.pairs[k - 1], *b = &r.pairs[k];
        ck_assert(a->exact >= b->exact);
        if (a->exact == b->exact)
            ck_assert(a->exact ? a->score >= b->score : a->comp_ratio * a->positional >= b->comp_ratio * b->positional);
    }
    /* the positional evidence agrees with its definition on the other heads: never above 1, the planted one at 1 */
    double frac;
    ck_assert_int_eq(cc_prev_positional(m, (cc_head){1, 2}, 101, &frac, &err), 0);
    ck_assert(frac >= 0 && frac < 0.5);
    ck_assert_int_eq(cc_prev_positional(m, (cc_head){0, 0}, 1, &frac, &err), -1);
    tu_assert_contains(err.msg, "positions");
    cc_discover_free(&r);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

/* cc_prev_positional against its definition computed here from W_pos, W_Q and
 * W_K in double precision, for every head of tiny random models and several T:
 * row p of W_pos W_Q W_K^T W_pos^T, over the keys k <= p (the current position
 * included), peaks at p - 1. A row whose top two scores are within float
 * rounding of each other may go either way; each such row widens the allowed
 * difference by one position. */
static double pos_score(const cc_model *m, cc_head h, int p, int k)
{
    const cc_config *c = &m->cfg;
    int d = c->d_model, dh = c->d_head;
    size_t off = ((size_t)h.layer * c->n_heads + h.head) * d * dh;
    const float *WQ = m->w.W_Q + off, *WK = m->w.W_K + off, *xp = m->w.W_pos + (size_t)p * d,
                *xk = m->w.W_pos + (size_t)k * d;
    double s = 0;
    for (int e = 0; e < dh; e++) {
        double q = 0, kk = 0;
        for (int i = 0; i < d; i++) q += (double)xp[i] * WQ[(size_t)i * dh + e], kk += (double)xk[i] * WK[(size_t)i * dh + e];
        s += q * kk;
    }
    return s;
}

START_TEST(positional_evidence_matches_its_definition)
{
    static const char *seeds[] = {"0", "1", "2"};
    int rows_told_apart = 0; /* rows where leaving out k = p would turn a miss into a hit */
    for (int sd = 0; sd < 3; sd++) {
        char *dir = tu_tiny_model(seeds[sd]);
        cc_model *m = NULL;
        cc_error err;
        ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
        int n = m->cfg.n_ctx;
        double *S = malloc((size_t)n * n * sizeof *S); /* [n_ctx, n_ctx] */
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int hd = 0; hd < m->cfg.n_heads; hd++) {
                cc_head h = {l, hd};
                for (int p = 0; p < n; p++)
                    for (int k = 0; k <= p; k++) S[(size_t)p * n + k] = pos_score(m, h, p, k);
                static const int Ts[] = {2, 17, 32};
                for (int t = 0; t < 3; t++) {
                    int T = Ts[t], hits = 0, unsure = 0;
                    for (int p = 1; p < T; p++) {
                        const double *row = S + (size_t)p * n;
                        int best = 0, best_before_p = 0;
                        for (int k = 1; k <= p; k++) {
                            if (row[k] > row[best]) best = k;
                            if (k < p && row[k] > row[best_before_p]) best_before_p = k;
                        }
                        double second = -INFINITY, scale = 0;
                        for (int k = 0; k <= p; k++) {
                            if (k != best && row[k] > second) second = row[k];
                            scale = fmax(scale, fabs(row[k]));
                        }
                        hits += best == p - 1;
                        unsure += row[best] - second <= 1e-5 * scale;
                        rows_told_apart += best == p && best_before_p == p - 1;
                    }
                    double frac;
                    ck_assert_msg(cc_prev_positional(m, h, T, &frac, &err) == 0, "%s", err.msg);
                    double want = (double)hits / (T - 1);
                    ck_assert_msg(fabs(frac - want) <= (double)unsure / (T - 1) + 1e-12,
                                  "seed %s L%dH%d T=%d: positional %.6f, by definition %.6f (%d rows unsure)",
                                  seeds[sd], l, hd, T, frac, want, unsure);
                }
            }
        free(S);
        cc_model_free(m);
        tu_rmtree(dir);
        free(dir);
    }
    /* the models tell the definition from one that leaves the current position out */
    ck_assert_int_gt(rows_told_apart, 0);
}
END_TEST

/* Rotary positions (no W_pos): cc_prev_positional against its definition
 * computed here in double precision: the head's mean query and mean key over
 * the vocabulary (each embedding row through the block's norm), rotated to
 * positions p and k (pairs (i, i + r/2), angle t / base^(i / (r/2))); row p
 * over k <= p peaks at p - 1. Near-tied rows widen the allowed difference as above. */
static void rotated_means(const cc_model *m, cc_head h, int T, double *q, double *k)
{
    const cc_config *c = &m->cfg;
    int d = c->d_model, dh = c->d_head, V = c->d_vocab, rd = c->rotary_dim;
    double *mean = calloc((size_t)d, sizeof *mean), *x = malloc((size_t)d * sizeof *x);
    for (int v = 0; v < V; v++) {
        const float *e = m->w.W_E + (size_t)v * d;
        double mu = 0, ss = 0;
        if (c->norm == CC_NORM_LN)
            for (int i = 0; i < d; i++) mu += e[i] / (double)d;
        for (int i = 0; i < d; i++) x[i] = e[i] - mu, ss += x[i] * x[i] / d;
        for (int i = 0; i < d; i++) mean[i] += x[i] / sqrt(ss + c->ln_eps) / V;
    }
    size_t off = (size_t)h.layer * c->n_heads + h.head;
    for (int j = 0; j < dh; j++) {
        double sq = m->w.b_Q[off * dh + j], sk = m->w.b_K[off * dh + j];
        for (int i = 0; i < d; i++)
            sq += mean[i] * m->w.W_Q[(off * d + i) * dh + j], sk += mean[i] * m->w.W_K[(off * d + i) * dh + j];
        for (int t = 0; t < T; t++) q[(size_t)t * dh + j] = sq, k[(size_t)t * dh + j] = sk;
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < rd / 2; i++) {
            double a = t / pow(c->rotary_base, i / (rd / 2.0)), cs = cos(a), sn = sin(a);
            double *vs[2] = {q + (size_t)t * dh, k + (size_t)t * dh};
            for (int w = 0; w < 2; w++) {
                double x0 = vs[w][i], x1 = vs[w][i + rd / 2];
                vs[w][i] = x0 * cs - x1 * sn, vs[w][i + rd / 2] = x1 * cs + x0 * sn;
            }
        }
    free(mean), free(x);
}

START_TEST(rotary_positional_evidence_matches_its_definition)
{
    static const char *fixtures[] = {"pythia-tiny", "llama-tiny"};
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run the tests through meson test)");
    int hits_total = 0;
    for (int f = 0; f < 2; f++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/golden/models/%s", root, fixtures[f]);
        cc_model *m = NULL;
        cc_error err;
        ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
        int T = 64, dh = m->cfg.d_head;
        double *q = malloc((size_t)T * dh * sizeof *q), *k = malloc((size_t)T * dh * sizeof *k);
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int hd = 0; hd < m->cfg.n_heads; hd++) {
                cc_head h = {l, hd};
                rotated_means(m, h, T, q, k);
                static const int Ts[] = {2, 17, 64};
                for (int t = 0; t < 3; t++) {
                    int n = Ts[t], hits = 0, unsure = 0;
                    for (int p = 1; p < n; p++) {
                        double row[64], scale = 0, second = -INFINITY;
                        int best = 0;
                        for (int kk = 0; kk <= p; kk++) {
                            row[kk] = 0;
                            for (int i = 0; i < dh; i++) row[kk] += q[(size_t)p * dh + i] * k[(size_t)kk * dh + i];
                            if (row[kk] > row[best]) best = kk;
                            scale = fmax(scale, fabs(row[kk]));
                        }
                        for (int kk = 0; kk <= p; kk++)
                            if (kk != best && row[kk] > second) second = row[kk];
                        hits += best == p - 1;
                        unsure += row[best] - second <= 1e-5 * scale;
                    }
                    double frac;
                    ck_assert_msg(cc_prev_positional(m, h, n, &frac, &err) == 0, "%s", err.msg);
                    double want = (double)hits / (n - 1);
                    ck_assert_msg(fabs(frac - want) <= (double)unsure / (n - 1) + 1e-12,
                                  "%s L%dH%d T=%d: positional %.6f, by definition %.6f (%d rows unsure)", fixtures[f], l,
                                  hd, n, frac, want, unsure);
                    hits_total += hits;
                }
            }
        free(q), free(k);
        cc_model_free(m);
    }
    ck_assert_int_gt(hits_total, 0); /* some head prefers the previous position somewhere: the test can tell */
}
END_TEST

/* The attention-only TransformerLens export (golden/models/attn-only-2l, made
 * with the two documented export lines; golden/README.md): its hand-built
 * previous-token head L0H0 and induction head L1H0 rank first from the
 * weights alone, with their exact K-composition accuracy above 90%. */
START_TEST(attention_only_export_pair_ranks_first)
{
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run the tests through meson test)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/golden/models/attn-only-2l", root);
    cc_model *m = NULL;
    cc_error err;
    cc_part parts[8];
    int n = cc_discover_parts(parts);
    ck_assert_msg(cc_model_open(dir, NULL, &m, &err) == 0 && cc_model_need(m, parts, n, true, &err) == 0, "%s",
                  err.msg);
    cc_circuit *c;
    ck_assert_int_eq(cc_circuit_open("kcomp", &c, &err), 0);
    cc_discover_options o = {.circuit = c, .top = 4, .baseline_samples = 50};
    cc_discover_result r;
    ck_assert_msg(cc_discover(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.n_pairs, 16);
    const cc_discover_pair *p = &r.pairs[0];
    ck_assert_msg(p->earlier.layer == 0 && p->earlier.head == 0 && p->later.layer == 1 && p->later.head == 0,
                  "first pair L%dH%d -> L%dH%d", p->earlier.layer, p->earlier.head, p->later.layer, p->later.head);
    ck_assert(p->exact && p->rows_top1 > 0.9 * m->cfg.d_vocab && p->cols_top1 > 0.9 * m->cfg.d_vocab);
    ck_assert(p->positional > 0.9);
    cc_discover_free(&r);
    cc_circuit_free(c);
    cc_model_free(m);
}
END_TEST

START_TEST(precision_and_recall_at_k)
{
    /* 2 layers x 2 heads; ranking (L0H1 -> L1H0), (L0H1 -> L1H1), (L0H0 -> L1H1) */
    cc_discover_pair pairs[3] = {{.earlier = {0, 1}, .later = {1, 0}},
                                 {.earlier = {0, 1}, .later = {1, 1}},
                                 {.earlier = {0, 0}, .later = {1, 1}}};
    cc_discover_result r = {.n_pairs = 3, .pairs = pairs};
    double induction[4] = {0, 0, 0.9, 0.1}, prev[4] = {0.7, 0.2, 0, 0};
    double p[3], rc[3];
    int n_true;
    cc_discover_precision_recall(&r, 2, 2, true, induction, 0.4, 3, p, rc, &n_true);
    ck_assert_int_eq(n_true, 1);
    /* predicted induction heads: L1H0 (true), L1H1 (false) */
    ck_assert_double_eq(p[0], 1.0);
    ck_assert_double_eq(rc[0], 1.0);
    ck_assert_double_eq(p[1], 0.5);
    ck_assert_double_eq(rc[1], 1.0);
    ck_assert_double_eq(p[2], 0.5); /* only two distinct heads predicted */
    cc_discover_precision_recall(&r, 2, 2, false, prev, 0.5, 3, p, rc, &n_true);
    /* predicted previous-token heads: L0H1 (false), L0H0 (true) */
    ck_assert_int_eq(n_true, 1);
    ck_assert_double_eq(p[0], 0.0);
    ck_assert_double_eq(rc[0], 0.0);
    ck_assert_double_eq(p[1], 0.5);
    ck_assert_double_eq(rc[1], 1.0);
}
END_TEST

/* tokens.json of the fixture's goldens as ints; *B, *n filled. */
static int *golden_tokens(int *B, int *n)
{
    json_t *j = golden_load("induction-3l4h", "tokens.json");
    golden_tensor t = golden_get_tensor(j, "tokens");
    *B = (int)golden_number(j, "batch"), *n = (int)golden_number(j, "n");
    int *tok = malloc(t.n * sizeof *tok);
    for (size_t i = 0; i < t.n; i++) tok[i] = (int)t.data[i];
    golden_tensor_free(&t);
    json_decref(j);
    return tok;
}

/* The one-call report with the runtime check on the goldens' tokens: the
 * ranking is cc_discover's, the runtime scores TransformerLens' (golden
 * head_scores.json), the true heads those at the thresholds asked for, the
 * JSON the struct. */
START_TEST(report_with_runtime_check_matches_its_parts_and_the_goldens)
{
    cc_model *m = golden_fixture(true);
    int B, n, L = m->cfg.n_layers, H = m->cfg.n_heads;
    int *tok = golden_tokens(&B, &n);
    cc_discover_report_options o;
    cc_discover_report_defaults(&o);
    o.top = 3, o.baseline_samples = 20, o.seed = 2, o.tokens = tok, o.batch = B, o.seq_len = n;
    /* thresholds of the test's own: the weak heads near 0.0138 count as induction heads */
    o.prev_threshold = 0.9, o.induction_threshold = 0.012;
    cc_discover_report r;
    cc_error err;
    ck_assert_msg(cc_discover_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert(r.runtime);

    cc_circuit *c = NULL;
    ck_assert(cc_circuit_open("kcomp", &c, &err) == 0);
    cc_discover_options d = {.circuit = c, .top = 3, .baseline_samples = 20, .seed = 2};
    cc_discover_result want;
    ck_assert_msg(cc_discover(m, &d, &want, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.ranking.n_pairs, want.n_pairs);
    ck_assert(memcmp(r.ranking.pairs, want.pairs, (size_t)want.n_pairs * sizeof *want.pairs) == 0);

    json_t *g = golden_load("induction-3l4h", "head_scores.json");
    golden_tensor prev = golden_get_tensor(g, "previous_token"), ind = golden_get_tensor(g, "induction");
    golden_tol tol = golden_tolerance("attention", "value");
    int n_prev = 0, n_ind = 0;
    for (int i = 0; i < L * H; i++) {
        ck_assert_msg(golden_near(tol, r.prev[i], prev.data[i]), "previous-token [%d]: %.9g vs %.9g", i, r.prev[i],
                      prev.data[i]);
        ck_assert_msg(golden_near(tol, r.induction[i], ind.data[i]), "induction [%d]: %.9g vs %.9g", i,
                      r.induction[i], ind.data[i]);
        n_prev += prev.data[i] >= 0.9, n_ind += ind.data[i] >= 0.012;
    }
    ck_assert_int_eq(r.n_prev, n_prev);
    ck_assert_int_eq(r.n_induction, n_ind);
    double p[3], rc[3];
    int n_true;
    ck_assert_int_gt(n_ind, 1);
    cc_discover_precision_recall(&want, L, H, true, r.induction, 0.012, 3, p, rc, &n_true);
    for (int k = 0; k < 3; k++) ck_assert(r.precision_induction[k] == p[k] && r.recall_induction[k] == rc[k]);
    ck_assert_double_eq(r.precision_prev[0], 1.0); /* L0H0, the planted previous-token head, is predicted first */

    json_t *j = cc_discover_report_json(&r), *rt = json_object_get(j, "runtime");
    ck_assert_str_eq(json_string_value(json_object_get(j, "circuit")), "kcomp");
    ck_assert_int_eq(json_array_size(json_object_get(j, "ranking")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(rt, "seq_len")), n);
    ck_assert_int_eq(json_integer_value(json_object_get(rt, "batch")), B);
    ck_assert_int_eq(json_array_size(json_object_get(rt, "previous_token_heads")), n_prev);
    ck_assert_double_eq(json_real_value(json_array_get(json_object_get(rt, "recall_induction"), 2)), rc[2]);
    json_t *first = json_array_get(json_object_get(j, "ranking"), 0);
    ck_assert_double_eq(json_real_value(json_object_get(first, "runtime_induction")),
                        r.induction[want.pairs[0].later.layer * H + want.pairs[0].later.head]);
    json_decref(j);
    golden_tensor_free(&prev), golden_tensor_free(&ind);
    json_decref(g);
    cc_discover_free(&want);
    cc_circuit_free(c);
    cc_discover_report_free(&r);
    free(tok);
    cc_model_free(m);
}
END_TEST

/* Without tokens: the call loads the parts of an opened model, no runtime
 * check (null in the JSON); tokens need a model loaded whole. */
START_TEST(report_weights_only_and_its_refusals)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert(cc_model_open(tu_fixture_model(), NULL, &m, &err) == 0);
    cc_discover_report_options o;
    cc_discover_report_defaults(&o);
    o.top = 2, o.baseline_samples = 5;
    cc_discover_report r;
    ck_assert_msg(cc_discover_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert(!r.runtime && r.ranking.pairs[0].earlier.layer == 0 && r.ranking.pairs[0].later.layer == 1);
    json_t *j = cc_discover_report_json(&r);
    ck_assert(json_is_null(json_object_get(j, "runtime")));
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(j, "ranking"), 0), "runtime_induction"));
    json_decref(j);
    cc_discover_report_free(&r);
    int tokens[3] = {0, 1, 1};
    o.tokens = tokens, o.batch = 1, o.seq_len = 1;
    ck_assert_int_eq(cc_discover_report_run(m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "load it whole"), "%s", err.msg);
    cc_discover_report_free(&r);
    o.tokens = NULL, o.baseline_samples = 0;
    ck_assert_int_eq(cc_discover_report_run(m, &o, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "ratios need a baseline"), "%s", err.msg);
    cc_discover_report_free(&r);
    cc_model_free(m);
}
END_TEST

START_TEST(command_reports_the_runtime_check)
{
    const char *argv[] = {"discover", "--top", "3", "--json", "--quiet", NULL};
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), "discover");
    json_t *first = json_array_get(json_object_get(j, "ranking"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "earlier")), "L0H0");
    ck_assert_str_eq(json_string_value(json_object_get(first, "later")), "L1H0");
    ck_assert_int_eq(json_array_size(json_object_get(j, "ranking")), 3);
    json_t *rt = json_object_get(j, "runtime");
    ck_assert(json_is_object(rt));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(rt, "induction_heads"), 0)), "L1H0");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(rt, "previous_token_heads"), 0)), "L0H0");
    static const char *const keys[4] = {"precision_previous_token", "recall_previous_token", "precision_induction",
                                        "recall_induction"};
    for (int k = 0; k < 4; k++)
        ck_assert_double_eq(json_real_value(json_array_get(json_object_get(rt, keys[k]), 0)), 1.0);
    ck_assert(json_real_value(json_object_get(first, "runtime_induction")) >= 0.4);
    json_decref(j);
    tu_run_free(&r);

    const char *weights_only[] = {"discover", "--no-runtime", "--json", NULL};
    r = tu_run(weights_only);
    ck_assert_int_eq(r.status, 0);
    j = tu_parse_json(r.out);
    ck_assert(json_is_null(json_object_get(j, "runtime")));
    json_decref(j);
    tu_run_free(&r);

    const char *bad[] = {"discover", "--circuit", "ov", NULL};
    r = tu_run(bad);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "two-head circuit");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("discover");
    TCase *t = tcase_create("discover");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, planted_pair_ranks_first_from_weights);
    tcase_add_test(t, positional_evidence_matches_its_definition);
    tcase_add_test(t, rotary_positional_evidence_matches_its_definition);
    tcase_add_test(t, attention_only_export_pair_ranks_first);
    tcase_add_test(t, precision_and_recall_at_k);
    tcase_add_test(t, command_reports_the_runtime_check);
    tcase_add_test(t, report_with_runtime_check_matches_its_parts_and_the_goldens);
    tcase_add_test(t, report_weights_only_and_its_refusals);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
