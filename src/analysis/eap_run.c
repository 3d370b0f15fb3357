/* eap_run.c — `circuitc eap` as one call (circuitc/eap_run.h): scores,
 * ranking, the circuit and the faithfulness curve, and their JSON. */
#include "circuitc/eap_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/json_num.h"
#include "core/parallel.h"
#include "model/model_internal.h"
#include "runtime/eap_par.h"

#define JSON_TOP_EDGES 20 /* edges listed under "top" (every score is under "scores") */

static const double *sort_scores; /* qsort has no context argument */

static int by_abs_score(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    double fx = fabs(sort_scores[x]), fy = fabs(sort_scores[y]);
    if (fx != fy) return fx > fy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The curve's sizes: 1, 2, 4, ... below N, then N; into SIZES (room for 64), their count returned. */
static int curve_sizes(long n, long *sizes)
{
    int k = 0;
    for (long s = 1; s < n && k < 63; s *= 2) sizes[k++] = s;
    sizes[k++] = n;
    return k;
}

/* The circuit of o->circuit_edges edges (flags into r->circuit); its metric comes with the curve's. */
static int select_circuit(cc_eap_run_result *r, cc_error *err)
{
    const cc_eap_run_options *o = &r->opts;
    long n = r->graph.n_edges;
    if (o->circuit_edges > n)
        return cc_fail(err, "a circuit of %ld edges asked for, but the graph has %ld", o->circuit_edges, n);
    if (!(r->circuit = calloc((size_t)n, 1))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    r->circuit_kept = o->selection == CC_EAP_GREEDY
                          ? cc_eap_select_greedy(&r->graph, r->scores, o->circuit_edges, true, r->circuit, err)
                          : cc_eap_select_topn(&r->graph, r->scores, o->circuit_edges, true, r->circuit, err);
    return r->circuit_kept < 0 ? -1 : 0;
}

/* cc_eap_run's work once RES holds the graph and room for the scores: scores, ranking, circuit, curve. */
static int run_steps(const cc_model *m, const cc_eap_pairs *p, cci_eap_progress *pr, cc_eap_run_result *res,
                     cc_error *err)
{
    const cc_eap_run_options *o = &res->opts;
    long n = res->graph.n_edges;
    if (cci_eap_scores(m, &res->graph, p, o->metric, o->ig_steps, o->kernel, pr, res->scores, err) != 0) return -1;
    for (long e = 0; e < n; e++) res->order[e] = e;
    sort_scores = res->scores;
    qsort(res->order, (size_t)n, sizeof *res->order, by_abs_score);
    if (o->circuit_edges && select_circuit(res, err) != 0) return -1;
    /* the circuit is measured as one more point of the curve (the same selection from the same scores), so
       the clean and corrupted runs of each pair are made once; that point is then taken off the curve */
    long sizes[65];
    int k = o->no_curve ? 0 : curve_sizes(n, sizes);
    if (o->circuit_edges) sizes[k++] = o->circuit_edges;
    if (k == 0) { /* scores only: nothing is run with patching */
        res->curve.clean = res->curve.corrupt = NAN;
        return 0;
    }
    cc_eap_faith_options fo = {.metric = o->metric, .selection = o->selection, .kernel = o->kernel, .sizes = sizes,
                               .n_sizes = k};
    if (cci_eap_faithfulness(m, &res->graph, p, res->scores, &fo, pr, &res->curve, err) != 0) return -1;
    if (o->circuit_edges) {
        cc_eap_curve *c = &res->curve;
        c->n_points--;
        res->circuit_metric = c->metric[c->n_points];
        res->circuit_faithfulness = c->faithfulness[c->n_points];
    }
    return 0;
}

int cc_eap_run(const cc_model *m, const cc_eap_pairs *p, const cc_eap_run_options *o, cc_eap_run_result *res,
               cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_ENUM(o->metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_ENUM(o->selection, CC_EAP_GREEDY + 1, err, -1);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_AT_LEAST(o->ig_steps, 0, err, -1);
    CC_ARG_AT_LEAST(o->circuit_edges, 0, err, -1);
    CC_ARG_NOT_NULL(res, err, -1);
    memset(res, 0, sizeof *res);
    res->opts = *o, res->n_pairs = p->n_pairs;
    if (cc_eap_graph_build(&m->cfg, &res->graph, err) != 0) return -1;
    long n = res->graph.n_edges;
    if (!(res->scores = malloc((size_t)n * sizeof *res->scores)) || !(res->order = malloc((size_t)n * sizeof *res->order)))
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for %ld edge scores", n);
    bool evaluates = o->circuit_edges || !o->no_curve;
    cci_eap_progress pr = {.fn = o->progress, .ctx = o->progress_ctx, .total = (long)p->n_pairs * (1 + evaluates)};
    pthread_mutex_init(&pr.lock, NULL);
    int rc = run_steps(m, p, &pr, res, err);
    pthread_mutex_destroy(&pr.lock);
    return rc;
}

void cc_eap_run_result_free(cc_eap_run_result *res)
{
    if (!res) return;
    cc_eap_graph_free(&res->graph);
    free(res->scores), free(res->order), free(res->circuit);
    cc_eap_curve_free(&res->curve);
    memset(res, 0, sizeof *res);
}

static json_t *edge_list(const cc_eap_graph *g, const unsigned char *in)
{
    json_t *a = json_array();
    char name[96];
    for (long e = 0; e < g->n_edges; e++)
        if (in[e]) json_array_append_new(a, json_string(cc_eap_edge_name(g, e, name, sizeof name)));
    return a;
}

static json_t *curve_json(const cc_eap_curve *c)
{
    json_t *pts = json_array();
    for (int i = 0; i < c->n_points; i++)
        json_array_append_new(pts, json_pack("{s:I, s:I, s:o, s:o}", "asked", (json_int_t)c->asked[i], "edges",
                                             (json_int_t)c->edges[i], "metric", cc_json_num(c->metric[i]),
                                             "faithfulness", cc_json_num(c->faithfulness[i])));
    return pts;
}

json_t *cc_eap_run_json(const cc_eap_run_result *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_ENUM(r->opts.metric, CC_PAIR_KL + 1, NULL, NULL);
    CC_ARG_ENUM(r->opts.selection, CC_EAP_GREEDY + 1, NULL, NULL);
    CC_ARG_ENUM(r->opts.kernel, CC_KERNEL_REF + 1, NULL, NULL);
    const cc_eap_graph *g = &r->graph;
    json_t *names = json_array(), *scores = json_array(), *top = json_array();
    char name[96];
    for (long e = 0; e < g->n_edges; e++) {
        json_array_append_new(names, json_string(cc_eap_edge_name(g, e, name, sizeof name)));
        json_array_append_new(scores, cc_json_num(r->scores[e]));
    }
    for (long i = 0; i < g->n_edges && i < JSON_TOP_EDGES; i++)
        json_array_append_new(top, json_pack("{s:s, s:o}", "edge", cc_eap_edge_name(g, r->order[i], name, sizeof name),
                                             "score", cc_json_num(r->scores[r->order[i]])));
    json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:I, s:s, s:o, s:o, s:o}", "method", r->opts.ig_steps ? "eap-ig" : "eap",
                          "metric", cc_pair_metric_name(r->opts.metric), "ig_steps", r->opts.ig_steps, "n_pairs",
                          r->n_pairs, "n_edges", (json_int_t)g->n_edges, "selection",
                          r->opts.selection == CC_EAP_GREEDY ? "greedy" : "topn", "edge_names", names, "scores",
                          scores, "top", top);
    json_object_set_new(j, "clean", cc_json_num(r->curve.clean));
    json_object_set_new(j, "corrupt", cc_json_num(r->curve.corrupt));
    if (r->circuit)
        json_object_set_new(j, "circuit", json_pack("{s:I, s:I, s:o, s:o, s:o}", "asked",
                                                    (json_int_t)r->opts.circuit_edges, "edges",
                                                    (json_int_t)r->circuit_kept, "metric",
                                                    cc_json_num(r->circuit_metric), "faithfulness",
                                                    cc_json_num(r->circuit_faithfulness), "edge_names",
                                                    edge_list(g, r->circuit)));
    json_object_set_new(j, "curve", curve_json(&r->curve));
    return j;
}
