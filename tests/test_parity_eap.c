/* test_parity_eap.c — edge attribution patching's forward side against the
 * TransformerLens implementation of the same definitions
 * (golden/out/MODEL/eap.json, golden/gen_eap.py): the graph's edges and names,
 * the clean and corrupted metrics, EAP and EAP-IG (5 steps) scores (tolerance
 * class "eap_scores"), the edge-patched metric of fixed circuits
 * (tolerance class "eap_metrics", 1e-4), and top-n and greedy selection from
 * the golden's EAP-IG ranking giving the very circuits TransformerLens chose.
 * On the bundled fixture and every golden/models fixture with multi-head
 * attention (sequential, parallel, attention-only blocks, local attention,
 * rotary positions); grouped-query attention is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/eap.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *const MODELS[] = {"induction-3l4h", "gpt2-odd", "gpt-neo-tiny", "pythia-tiny", "attn-only-2l"};

static cc_model *load(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s", name);
    char *path = golden_path(rel);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(path, NULL, true, &m, &err) == 0, "%s: %s", name, err.msg);
    free(path);
    return m;
}

/* The golden's token lists KEY ([n][T] ints) into a flat array. */
static int *token_rows(json_t *g, const char *key, int *n, int *T)
{
    json_t *rows = json_object_get(g, key);
    *n = (int)json_array_size(rows);
    *T = (int)json_array_size(json_array_get(rows, 0));
    int *v = malloc((size_t)*n * *T * sizeof *v);
    for (int i = 0; i < *n; i++)
        for (int t = 0; t < *T; t++)
            v[i * *T + t] = (int)json_integer_value(json_array_get(json_array_get(rows, (size_t)i), (size_t)t));
    return v;
}

static cc_eap_pairs golden_pairs(json_t *g)
{
    cc_eap_pairs p = {0};
    int n, T;
    p.clean = token_rows(g, "clean_tokens", &n, &T);
    p.corrupt = token_rows(g, "corrupt_tokens", &n, &T);
    p.n_pairs = n;
    p.offset = malloc((size_t)(n + 1) * sizeof *p.offset);
    p.answer = malloc((size_t)n * sizeof *p.answer);
    p.wrong = malloc((size_t)n * sizeof *p.wrong);
    for (int i = 0; i <= n; i++) p.offset[i] = i * T;
    for (int i = 0; i < n; i++) {
        p.answer[i] = (int)json_integer_value(json_array_get(json_object_get(g, "answer"), (size_t)i));
        p.wrong[i] = (int)json_integer_value(json_array_get(json_object_get(g, "wrong"), (size_t)i));
    }
    return p;
}

/* The circuit of the golden's edge names LIST. */
static unsigned char *circuit_of(const cc_eap_graph *gr, json_t *list)
{
    unsigned char *in = calloc((size_t)gr->n_edges, 1);
    size_t i;
    json_t *v;
    cc_error err;
    json_array_foreach(list, i, v)
    {
        long e = cc_eap_edge_find(gr, json_string_value(v), &err);
        ck_assert_msg(e >= 0, "%s", err.msg);
        in[e] = 1;
    }
    return in;
}

static void check_graph(const cc_eap_graph *gr, json_t *g, const char *model)
{
    json_t *names = json_object_get(g, "edge_names");
    ck_assert_int_eq(gr->n_edges, (long)golden_number(g, "n_edges"));
    ck_assert_int_eq(gr->n_edges, (long)json_array_size(names));
    char name[80];
    for (long e = 0; e < gr->n_edges; e++)
        ck_assert_msg(strcmp(cc_eap_edge_name(gr, e, name, sizeof name),
                             json_string_value(json_array_get(names, (size_t)e))) == 0,
                      "%s: edge %ld is %s here, %s in TransformerLens", model, e, name,
                      json_string_value(json_array_get(names, (size_t)e)));
}

/* The golden's ranking (eap_ig_5.logit_diff) as doubles. */
static double *ranking(json_t *g, long n)
{
    json_t *list = json_object_get(json_object_get(json_object_get(g, "scores"), "eap_ig_5"), "logit_diff");
    ck_assert_int_eq((long)json_array_size(list), n);
    double *s = malloc((size_t)n * sizeof *s);
    for (long e = 0; e < n; e++) s[e] = json_real_value(json_array_get(list, (size_t)e));
    return s;
}

/* The golden's scores.KIND.METRIC as doubles ([n]). */
static double *golden_scores(json_t *g, const char *kind, const char *metric, long n)
{
    json_t *list = json_object_get(json_object_get(json_object_get(g, "scores"), kind), metric);
    ck_assert_int_eq((long)json_array_size(list), n);
    double *s = malloc((size_t)n * sizeof *s);
    for (long e = 0; e < n; e++) s[e] = json_real_value(json_array_get(list, (size_t)e));
    return s;
}

static double list_max(const double *v, long n)
{
    double mx = 0;
    for (long e = 0; e < n; e++) mx = fabs(v[e]) > mx ? fabs(v[e]) : mx;
    return mx;
}

/* cc_eap_scores against scores.eap (IG_STEPS 0) or scores.eap_ig_5, class
 * eap_scores: within 1e-5 of the list's largest |score|. EAP's kl scores
 * vanish (the gradient of KL(clean || run) is 0 on the clean run: the golden
 * holds rounding noise), so they are held to 1e-5 of EAP-IG's kl scale. */
static void check_scores(const cc_model *m, const cc_eap_graph *gr, const cc_eap_pairs *p, json_t *g,
                         const char *model, int ig_steps)
{
    golden_tol tol = golden_tolerance("eap_scores", "list_max");
    const char *kind = ig_steps ? "eap_ig_5" : "eap";
    const cc_pair_metric metrics[] = {CC_PAIR_LOGIT_DIFF, CC_PAIR_KL};
    double *got = malloc((size_t)gr->n_edges * sizeof *got);
    char name[80];
    cc_error err;
    for (int i = 0; i < 2; i++) {
        const char *mname = cc_pair_metric_name(metrics[i]);
        double *want = golden_scores(g, kind, mname, gr->n_edges);
        double *scale_of = metrics[i] == CC_PAIR_KL && !ig_steps ? golden_scores(g, "eap_ig_5", mname, gr->n_edges)
                                                                 : want;
        double allowed = golden_allowed(tol, list_max(scale_of, gr->n_edges));
        ck_assert_msg(cc_eap_scores(m, gr, p, metrics[i], ig_steps, CC_KERNEL_FAST, 0, got, &err) == 0, "%s: %s", model,
                      err.msg);
        for (long e = 0; e < gr->n_edges; e++)
            ck_assert_msg(fabs(got[e] - want[e]) <= allowed, "%s %s %s %s: %.9g, TransformerLens %.9g (allowed %.3g)",
                          model, kind, mname, cc_eap_edge_name(gr, e, name, sizeof name), got[e], want[e], allowed);
        if (scale_of != want) free(scale_of);
        free(want);
    }
    free(got);
}

static void check_model(const char *model)
{
    json_t *g = golden_load(model, "eap.json");
    cc_model *m = load(model);
    cc_eap_graph gr;
    cc_error err;
    ck_assert_msg(cc_eap_graph_build(&m->cfg, &gr, &err) == 0, "%s: %s", model, err.msg);
    check_graph(&gr, g, model);
    cc_eap_pairs p = golden_pairs(g);
    golden_tol tol = golden_tolerance("eap_metrics", "value");
    check_scores(m, &gr, &p, g, model, 0);
    check_scores(m, &gr, &p, g, model, 5);
    double *scores = ranking(g, gr.n_edges);
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(g, "circuits"), ci, c)
    {
        unsigned char *want = circuit_of(&gr, json_object_get(c, "edges"));
        unsigned char *got = malloc((size_t)gr.n_edges);
        bool greedy = strcmp(json_string_value(json_object_get(c, "selection")), "greedy") == 0;
        long asked = (long)golden_number(c, "asked");
        long kept = greedy ? cc_eap_select_greedy(&gr, scores, asked, true, got, &err)
                           : cc_eap_select_topn(&gr, scores, asked, true, got, &err);
        ck_assert_msg(kept == (long)json_array_size(json_object_get(c, "edges")), "%s circuit %zu: %ld edges, want %zu",
                      model, ci, kept, json_array_size(json_object_get(c, "edges")));
        ck_assert_msg(memcmp(got, want, (size_t)gr.n_edges) == 0, "%s circuit %zu: another edge set", model, ci);
        for (int mt = 0; mt <= CC_PAIR_KL; mt++) {
            const char *mname = cc_pair_metric_name((cc_pair_metric)mt);
            json_t *base = json_object_get(json_object_get(g, "baselines"), mname);
            double v, clean, corrupt;
            ck_assert_msg(cc_eap_evaluate(m, &gr, &p, (const unsigned char *const[]){want}, 1, (cc_pair_metric)mt,
                                          CC_KERNEL_FAST, 0, &v, &clean, &corrupt, &err) == 0,
                          "%s: %s", model, err.msg);
            double wv = golden_number(json_object_get(c, "metrics"), mname);
            ck_assert_msg(golden_near(tol, v, wv), "%s circuit %zu %s: %.7g, TransformerLens %.7g", model, ci, mname, v,
                          wv);
            ck_assert_msg(golden_near(tol, clean, golden_number(base, "clean")), "%s %s clean: %.7g vs %.7g", model,
                          mname, clean, golden_number(base, "clean"));
            ck_assert_msg(golden_near(tol, corrupt, golden_number(base, "corrupt")), "%s %s corrupt: %.7g vs %.7g",
                          model, mname, corrupt, golden_number(base, "corrupt"));
        }
        free(want);
        free(got);
    }
    free(scores);
    cc_eap_pairs_free(&p);
    cc_eap_graph_free(&gr);
    cc_model_free(m);
    json_decref(g);
}

START_TEST(matches_transformer_lens)
{
    check_model(MODELS[_i]);
}
END_TEST

START_TEST(grouped_query_attention_refused)
{
    cc_model *m = load("llama-tiny");
    cc_eap_graph gr;
    cc_error err;
    ck_assert_int_eq(cc_eap_graph_build(&m->cfg, &gr, &err), -1);
    tu_assert_contains(err.msg, "grouped-query attention");
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_eap");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, matches_transformer_lens, 0, (int)(sizeof MODELS / sizeof *MODELS));
    tcase_add_test(tc, grouped_query_attention_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
