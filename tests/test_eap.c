/* test_eap.c — the forward side of edge attribution patching on the bundled
 * fixture: the circuit of every edge gives the clean metric and the empty
 * circuit the corrupted one, exactly, for every metric and both kernels;
 * repeated-token pairs; faithfulness curves; the metrics against their
 * definitions and gradients against finite differences; bad input refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/eap.h"
#include "circuitc/eap_run.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_model *model;
static cc_eap_graph graph;

static void setup(void)
{
    cc_error err;
    model = golden_fixture(true);
    ck_assert_msg(cc_eap_graph_build(&model->cfg, &graph, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
    cc_eap_graph_free(&graph);
    cc_model_free(model);
}

START_TEST(all_edges_give_clean_and_none_corrupt_exactly)
{
    cc_error err;
    cc_eap_pairs p;
    ck_assert_msg(cc_eap_pairs_repeat(model, 3, 6, 1, &p, &err) == 0, "%s", err.msg);
    unsigned char *all = malloc((size_t)graph.n_edges), *none = calloc((size_t)graph.n_edges, 1);
    memset(all, 1, (size_t)graph.n_edges);
    const unsigned char *circuits[2] = {all, none};
    for (int k = 0; k <= CC_KERNEL_REF; k++)
        for (int mt = 0; mt <= CC_PAIR_KL; mt++) {
            double v[2], clean, corrupt;
            ck_assert_msg(cc_eap_evaluate(model, &graph, &p, circuits, 2, (cc_pair_metric)mt, (cc_kernel)k, 0, v,
                                          &clean, &corrupt, &err) == 0,
                          "%s", err.msg);
            ck_assert_msg(v[0] == clean, "%s kernel %d: all edges %.9g, clean %.9g", cc_pair_metric_name(mt), k, v[0],
                          clean);
            ck_assert_msg(v[1] == corrupt, "%s kernel %d: no edge %.9g, corrupt %.9g", cc_pair_metric_name(mt), k,
                          v[1], corrupt);
            ck_assert_msg(clean != corrupt, "%s: the pairs do not move the metric", cc_pair_metric_name(mt));
        }
    free(all);
    free(none);
    cc_eap_pairs_free(&p);
}
END_TEST

/* The metrics from their definitions, in float64 here; gradients against central differences. */
START_TEST(metrics_and_their_gradients)
{
    enum { V = 7 };
    float x[V] = {0.5f, -1.25f, 2.0f, 0.0f, 3.5f, -0.75f, 1.0f}, c[V] = {1.0f, 0.0f, -2.0f, 0.5f, 0.25f, 3.0f, -1.0f};
    double zx = 0, zc = 0;
    for (int v = 0; v < V; v++) zx += exp(x[v]), zc += exp(c[v]);
    double kl = 0;
    for (int v = 0; v < V; v++) kl += exp(c[v]) / zc * ((c[v] - log(zc)) - (x[v] - log(zx)));
    ck_assert_double_eq_tol(cc_pair_metric_value(CC_PAIR_LOGIT_DIFF, x, c, V, 4, 1), 4.75, 1e-12);
    ck_assert_double_eq_tol(cc_pair_metric_value(CC_PAIR_LOSS, x, c, V, 2, 1), log(zx) - 2.0, 1e-12);
    ck_assert_double_eq_tol(cc_pair_metric_value(CC_PAIR_KL, x, c, V, 2, 1), kl, 1e-12);
    ck_assert_double_eq_tol(cc_pair_metric_value(CC_PAIR_KL, c, c, V, 2, 1), 0, 1e-15);
    for (int k = 0; k <= CC_PAIR_KL; k++) {
        double grad[V];
        cc_pair_metric_grad((cc_pair_metric)k, x, c, V, 2, 5, grad);
        for (int v = 0; v < V; v++) {
            float hi[V], lo[V];
            memcpy(hi, x, sizeof x);
            memcpy(lo, x, sizeof x);
            hi[v] += 0.125f, lo[v] -= 0.125f; /* exact in float32 */
            double fd = (cc_pair_metric_value((cc_pair_metric)k, hi, c, V, 2, 5) -
                         cc_pair_metric_value((cc_pair_metric)k, lo, c, V, 2, 5)) / 0.25;
            ck_assert_msg(fabs(fd - grad[v]) < 2e-3, "%s: d/dx%d %.6g, differences %.6g", cc_pair_metric_name(k), v,
                          grad[v], fd);
        }
    }
    cc_pair_metric k;
    cc_error err;
    ck_assert_int_eq(cc_pair_metric_parse("kl", &k, &err), 0);
    ck_assert_int_eq(k, CC_PAIR_KL);
    ck_assert_int_eq(cc_pair_metric_parse("kld", &k, &err), -1);
    tu_assert_contains(err.msg, "logit_diff, loss or kl");
}
END_TEST

START_TEST(repeated_token_pairs)
{
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 5, 4, 9, &p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p.n_pairs, 5);
    for (int i = 0; i < 5; i++) {
        const int *c = p.clean + p.offset[i], *x = p.corrupt + p.offset[i];
        ck_assert_int_eq(p.offset[i + 1] - p.offset[i], 8);
        ck_assert_int_eq(c[0], model->cfg.bos_token_id);
        for (int t = 1; t <= 4; t++) ck_assert_int_eq(x[t], c[t]);     /* the first half is shared */
        for (int t = 5; t < 8; t++) {
            ck_assert_int_eq(c[t], c[t - 4]);                          /* the clean second half repeats it */
            ck_assert_int_ne(x[t], c[t]);                              /* the corrupted one differs everywhere */
        }
        ck_assert_int_eq(p.answer[i], c[4]);                           /* the next repeated token */
        ck_assert_int_ne(p.wrong[i], p.answer[i]);
    }
    ck_assert_int_eq(cc_eap_pairs_check(&p, model, &err), 0);
    cc_eap_pairs_free(&p);
    ck_assert_int_eq(cc_eap_pairs_repeat(model, 1, model->cfg.n_ctx, 9, &p, &err), -1);
    tu_assert_contains(err.msg, "n_ctx");
}
END_TEST

/* Writes TEXT to a fresh file and loads it as pairs (TOK may be NULL). */
static int load_text(const char *text, cc_tokenizer *tok, cc_eap_pairs *p, cc_error *err, char **dir_out)
{
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/pairs.jsonl", dir);
    tu_write_file(path, text, strlen(text));
    int rc = cc_eap_pairs_load(path, model, tok, p, err);
    *dir_out = dir;
    return rc;
}

static void expect_refused(const char *text, cc_tokenizer *tok, const char *needle)
{
    cc_eap_pairs p;
    cc_error err;
    char *dir;
    ck_assert_msg(load_text(text, tok, &p, &err, &dir) == -1, "accepted: %s", text);
    tu_assert_contains(err.msg, needle);
    tu_assert_contains(err.msg, "pairs.jsonl");
    ck_assert_ptr_null(p.clean);
    tu_rmtree(dir);
    free(dir);
}

START_TEST(pairs_from_json_lines)
{
    char *vocab = tu_byte_vocab("{\"ab\": 256}"); /* the byte tokens and "ab" */
    static const char merges[] = "#version: 0.2\na b\n";
    cc_tokenizer *tok;
    cc_error err;
    ck_assert_int_eq(cc_tokenizer_from_buffers(vocab, strlen(vocab), merges, sizeof merges - 1, &tok, &err), 0);
    free(vocab);
    cc_eap_pairs p;
    char *dir;
    ck_assert_msg(load_text("{\"clean\": \"abxab\", \"corrupt\": \"abyab\", \"answer\": \"x\", \"wrong\": \"y\"}\n\n"
                            "{\"clean\": [5, 6], \"corrupt\": [7, 8], \"answer\": 9, \"wrong\": 10}\n",
                            tok, &p, &err, &dir) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(p.n_pairs, 2);
    int want[] = {model->cfg.bos_token_id, 256, 'x', 256, 5, 6};
    for (int t = 0; t < 6; t++) ck_assert_int_eq(p.clean[t], want[t]);
    ck_assert_int_eq(p.corrupt[2], 'y');
    ck_assert_int_eq(p.offset[1], 4);
    ck_assert_int_eq(p.answer[0], 'x');
    ck_assert_int_eq(p.wrong[1], 10);
    cc_eap_pairs_free(&p);
    tu_rmtree(dir);
    free(dir);
    expect_refused("{\"clean\": [1, 2], \"corrupt\": [1], \"answer\": 3, \"wrong\": 4}\n", NULL,
                   "line 1: the clean prompt is 2 tokens and the corrupted one 1");
    expect_refused("\n{\"clean\": [1], \"corrupt\": [2], \"answer\": 3}\n", NULL, "line 2: \"wrong\" must be a token");
    expect_refused("{\"clean\": [1], \"corrupt\": [2], \"answer\": 3, \"wrong\": 999}\n", NULL,
                   "\"wrong\" holds token id 999, outside the model's vocabulary 0..511");
    expect_refused("{\"clean\": \"ab\", \"corrupt\": \"ab\", \"answer\": 3, \"wrong\": 4}\n", NULL,
                   "line 1: \"clean\" is text, but no tokenizer");
    expect_refused("{\"clean\": \"ab\", \"corrupt\": \"ab\", \"answer\": \"abab\", \"wrong\": 4}\n", tok,
                   "encodes to 2 tokens");
    expect_refused("{\"clean\": [1], \"corrupt\": [2],\n", NULL, "line 1: not JSON");
    expect_refused("[1, 2]\n", NULL, "line 1: expected a JSON object");
    expect_refused("\n\n", NULL, "no pair in the file");
    cc_tokenizer_free(tok);
}
END_TEST

/* Each sender's delta sums, over all senders, to the change of the last
 * residual (the biases and positions are the same in both runs). */
START_TEST(sender_deltas_sum_to_the_residual_change)
{
    cc_eap_pairs p;
    cc_error err;
    ck_assert_int_eq(cc_eap_pairs_repeat(model, 1, 5, 3, &p, &err), 0);
    int T = p.offset[1], d = model->cfg.d_model, L = model->cfg.n_layers;
    float *delta = malloc((size_t)graph.n_senders * T * d * sizeof *delta);
    ck_assert_msg(cc_eap_sender_deltas(model, &graph, p.clean, p.corrupt, T, CC_KERNEL_REF, 0, delta, &err) == 0, "%s",
                  err.msg);
    cc_fwd_result rc, rx;
    cc_fwd_opts o = {.kernel = CC_KERNEL_REF, .skip_unembed = true};
    cc_fwd_want(&o, CC_HOOK_RESID_POST, L - 1);
    ck_assert_int_eq(cc_forward(model, p.clean, 1, T, &o, &rc, &err), 0);
    ck_assert_int_eq(cc_forward(model, p.corrupt, 1, T, &o, &rx, &err), 0);
    const float *a = cc_fwd_act(&rc, CC_HOOK_RESID_POST, L - 1), *b = cc_fwd_act(&rx, CC_HOOK_RESID_POST, L - 1);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < (size_t)T * d; i++) {
        double sum = 0;
        for (int s = 0; s < graph.n_senders; s++) sum += delta[(size_t)s * T * d + i];
        worst = fmax(worst, fabs(sum - ((double)b[i] - a[i])));
        scale = fmax(scale, fabs((double)b[i] - a[i]));
    }
    ck_assert_msg(worst <= 1e-5 * scale, "sum of deltas off by %.3g (scale %.3g)", worst, scale);
    cc_fwd_result_free(&rc);
    cc_fwd_result_free(&rx);
    free(delta);
    cc_eap_pairs_free(&p);
}
END_TEST

/* Scores against the definition's sum, on small random data. */
START_TEST(scores_are_delta_dot_gradient)
{
    int T = 3, D = 5, nS = graph.n_senders, nR = graph.n_receivers;
    float *delta = malloc((size_t)nS * T * D * sizeof *delta), *grad = malloc((size_t)nR * T * D * sizeof *grad);
    for (size_t i = 0; i < (size_t)nS * T * D; i++) delta[i] = (float)((int)(i * 37 % 101) - 50) / 64.0f;
    for (size_t i = 0; i < (size_t)nR * T * D; i++) grad[i] = (float)((int)(i * 53 % 97) - 48) / 32.0f;
    double *scores = calloc((size_t)graph.n_edges, sizeof *scores);
    cc_error err;
    ck_assert_int_eq(cc_eap_scores_add(&graph, T, D, delta, grad, 0.5, scores, &err), 0);
    ck_assert_int_eq(cc_eap_scores_add(&graph, T, D, delta, grad, 0.5, scores, &err), 0);
    for (long e = 0; e < graph.n_edges; e++) {
        int s = cc_eap_edge_sender(&graph, e), r = cc_eap_edge_receiver(&graph, e);
        double want = 0;
        for (int i = 0; i < T * D; i++) want += (double)delta[(size_t)s * T * D + i] * grad[(size_t)r * T * D + i];
        ck_assert_msg(fabs(scores[e] - want) <= 1e-6 * fmax(1, fabs(want)), "edge %ld: %.9g, want %.9g", e, scores[e],
                      want);
    }
    free(scores);
    free(delta);
    free(grad);
}
END_TEST

START_TEST(faithfulness_curve_ends)
{
    cc_eap_pairs p;
    cc_error err;
    ck_assert_int_eq(cc_eap_pairs_repeat(model, 2, 6, 4, &p, &err), 0);
    double *scores = malloc((size_t)graph.n_edges * sizeof *scores);
    for (long e = 0; e < graph.n_edges; e++) scores[e] = sin((double)e);
    long sizes[] = {0, graph.n_edges / 2, graph.n_edges};
    for (int sel = 0; sel <= CC_EAP_GREEDY; sel++) {
        cc_eap_faith_options o = {.metric = CC_PAIR_LOGIT_DIFF, .selection = (cc_eap_selection)sel, .sizes = sizes,
                                  .n_sizes = 3};
        cc_eap_curve c;
        ck_assert_msg(cc_eap_faithfulness(model, &graph, &p, scores, &o, &c, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(c.edges[0], 0);
        ck_assert(c.faithfulness[0] == 0);
        ck_assert_int_eq(c.edges[2], graph.n_edges);
        ck_assert(c.faithfulness[2] == 1);
        ck_assert_int_le(c.edges[1], graph.n_edges / 2);
        ck_assert(c.faithfulness[1] == (c.metric[1] - c.corrupt) / (c.clean - c.corrupt));
        cc_eap_curve_free(&c);
    }
    scores[7] = NAN;
    cc_eap_faith_options o = {.sizes = sizes, .n_sizes = 3};
    cc_eap_curve c;
    ck_assert_int_eq(cc_eap_faithfulness(model, &graph, &p, scores, &o, &c, &err), -1);
    tu_assert_contains(err.msg, "NaN score");
    free(scores);
    cc_eap_pairs_free(&p);
}
END_TEST

/* OUT = pair I of P alone (a batch of one pair). */
static void pair_alone(const cc_eap_pairs *p, int i, cc_eap_pairs *out)
{
    int T = p->offset[i + 1] - p->offset[i];
    *out = (cc_eap_pairs){.n_pairs = 1, .offset = malloc(2 * sizeof(int)), .clean = malloc((size_t)T * sizeof(int)),
                          .corrupt = malloc((size_t)T * sizeof(int)), .answer = malloc(sizeof(int)),
                          .wrong = malloc(sizeof(int))};
    out->offset[0] = 0, out->offset[1] = T;
    memcpy(out->clean, p->clean + p->offset[i], (size_t)T * sizeof(int));
    memcpy(out->corrupt, p->corrupt + p->offset[i], (size_t)T * sizeof(int));
    out->answer[0] = p->answer[i], out->wrong[0] = p->wrong[i];
}

/* Pairs of different lengths in one call (the evaluation's buffers, kept from
 * pair to pair, then serve a longer pair after a shorter one and the other way
 * round): every circuit's metric is the mean of the pairs' metrics evaluated
 * one pair at a time, exactly. */
START_TEST(evaluate_pairs_of_different_lengths)
{
    cc_eap_pairs longer, shorter, mixed = {0};
    cc_error err;
    ck_assert_int_eq(cc_eap_pairs_repeat(model, 2, 6, 1, &longer, &err), 0);
    ck_assert_int_eq(cc_eap_pairs_repeat(model, 2, 2, 2, &shorter, &err), 0);
    mixed.n_pairs = 4; /* 12, 4, 12, 4 tokens */
    mixed.offset = malloc(5 * sizeof(int)), mixed.answer = malloc(4 * sizeof(int)), mixed.wrong = malloc(4 * sizeof(int));
    mixed.clean = malloc(32 * sizeof(int)), mixed.corrupt = malloc(32 * sizeof(int));
    mixed.offset[0] = 0;
    for (int i = 0; i < 4; i++) {
        const cc_eap_pairs *from = i % 2 ? &shorter : &longer;
        int k = i / 2, T = from->offset[k + 1] - from->offset[k];
        memcpy(mixed.clean + mixed.offset[i], from->clean + from->offset[k], (size_t)T * sizeof(int));
        memcpy(mixed.corrupt + mixed.offset[i], from->corrupt + from->offset[k], (size_t)T * sizeof(int));
        mixed.answer[i] = from->answer[k], mixed.wrong[i] = from->wrong[k], mixed.offset[i + 1] = mixed.offset[i] + T;
    }
    unsigned char *in[3];
    for (int c = 0; c < 3; c++) {
        in[c] = malloc((size_t)graph.n_edges);
        for (long e = 0; e < graph.n_edges; e++) in[c][e] = (e * (c + 3)) % 5 < 2 + c;
    }
    double all[3], alone[3], sum[3] = {0};
    ck_assert_msg(cc_eap_evaluate(model, &graph, &mixed, (const unsigned char *const *)in, 3, CC_PAIR_LOGIT_DIFF,
                                  CC_KERNEL_FAST, 0, all, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 4; i++) {
        cc_eap_pairs one;
        pair_alone(&mixed, i, &one);
        ck_assert_msg(cc_eap_evaluate(model, &graph, &one, (const unsigned char *const *)in, 3, CC_PAIR_LOGIT_DIFF,
                                      CC_KERNEL_FAST, 0, alone, NULL, NULL, &err) == 0, "%s", err.msg);
        for (int c = 0; c < 3; c++) sum[c] += alone[c];
        cc_eap_pairs_free(&one);
    }
    for (int c = 0; c < 3; c++)
        ck_assert_msg(all[c] == sum[c] / 4, "circuit %d: %.9g over the mixed pairs, %.9g one pair at a time", c,
                      all[c], sum[c] / 4);
    for (int c = 0; c < 3; c++) free(in[c]);
    cc_eap_pairs_free(&longer), cc_eap_pairs_free(&shorter), cc_eap_pairs_free(&mixed);
}
END_TEST

/* The text tasks on GPT-2's tokenizer (a model of GPT-2's vocabulary is all they read of it). */
static cc_tokenizer *gpt2_tokenizer(void)
{
    cc_tokenizer *tok;
    cc_error err;
    ck_assert_msg(cc_tokenizer_load(getenv("CIRCUITC_GPT2_TOKENIZER"), &tok, &err) == 0, "%s", err.msg);
    return tok;
}

static int count_of(const int *x, int T, int id)
{
    int n = 0;
    for (int t = 0; t < T; t++) n += x[t] == id;
    return n;
}

/* The acceptance check on the bundled fixture, whose planted circuit
 * is the previous-token head L0H0 feeding the induction head L1H0: EAP-IG on
 * repeated-token pairs (second half corrupted) ranks the edge L0H0 -> L1H0
 * and L1H0 -> logits among its top 5, and the faithfulness curve reaches 90%
 * with a circuit holding both. (The key edge L0H0 -> L1H0<k> scores near 0
 * here: the corruption leaves the first half, where the induction head's keys
 * are, unchanged, so that edge carries no difference; docs/eap.md.) */
START_TEST(eap_finds_the_planted_induction_circuit)
{
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 10, 8, 0, &p, &err) == 0, "%s", err.msg);
    cc_eap_run_options o = {.metric = CC_PAIR_LOGIT_DIFF, .ig_steps = 5, .selection = CC_EAP_TOPN,
                            .circuit_edges = 8, .kernel = CC_KERNEL_FAST};
    cc_eap_run_result r;
    ck_assert_msg(cc_eap_run(model, &p, &o, &r, &err) == 0, "%s", err.msg);
    const char *planted[] = {"a0.h0->a1.h0<q>", "a1.h0->logits"};
    long edge[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_msg((edge[i] = cc_eap_edge_find(&r.graph, planted[i], &err)) >= 0, "%s", err.msg);
        long rank = 0;
        while (r.order[rank] != edge[i]) rank++;
        ck_assert_msg(rank < 5, "%s ranks %ld", planted[i], rank + 1);
    }
    int hit = -1;
    for (int i = 0; i < r.curve.n_points && hit < 0; i++)
        if (r.curve.faithfulness[i] >= 0.9) hit = i;
    ck_assert_msg(hit >= 0, "the faithfulness curve stays below 90%% (%.3f at every edge)",
                  r.curve.faithfulness[r.curve.n_points - 1]);
    unsigned char *in = malloc((size_t)r.graph.n_edges);
    ck_assert_int_ge(cc_eap_select_topn(&r.graph, r.scores, r.curve.asked[hit], true, in, &err), 0);
    ck_assert_msg(in[edge[0]] && in[edge[1]], "the first circuit at 90%% (%ld edges) lacks the planted edges",
                  r.curve.edges[hit]);
    free(in);
    cc_eap_run_result_free(&r);
    cc_eap_pairs_free(&p);
}
END_TEST

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

/* The --json "scores" SCORES are the library's WANT [n_edges], exactly as the
 * JSON prints them (9 significant digits, JSON_REAL_PRECISION). */
static void assert_json_scores(const json_t *scores, const double *want)
{
    ck_assert_int_eq((long)json_array_size(scores), graph.n_edges);
    for (long e = 0; e < graph.n_edges; e++) {
        char nine[32];
        snprintf(nine, sizeof nine, "%.9g", want[e]);
        double got = json_number_value(json_array_get(scores, (size_t)e));
        ck_assert_msg(got == strtod(nine, NULL), "edge %ld: %s in the library, %.17g in the JSON", e, nine, got);
    }
}

/* circuitc eap: its JSON holds the library's scores for the same pairs, the
 * curve ends at every edge with faithfulness 1, --plot draws a chart, and bad
 * requests fail with a message and nothing on stdout. */
START_TEST(eap_command)
{
    char *fx = golden_path("models/induction-3l4h"), *dir = tu_tmpdir(), png[4096];
    tu_run_result r = RUN("eap", "--model", fx, "--batch", "3", "--seq-len", "5", "--ig-steps", "2", "--top-n", "6",
                          "--seed", "4", "--json");
    json_t *j = tu_parse_ok(&r);
    tu_run_free(&r);
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 3, 5, 4, &p, &err) == 0, "%s", err.msg);
    double *want = malloc((size_t)graph.n_edges * sizeof *want);
    ck_assert_msg(cc_eap_scores(model, &graph, &p, CC_PAIR_LOGIT_DIFF, 2, CC_KERNEL_FAST, 0, want, &err) == 0, "%s",
                  err.msg);
    json_t *curve = json_object_get(j, "curve");
    assert_json_scores(json_object_get(j, "scores"), want);
    json_t *last = json_array_get(curve, json_array_size(curve) - 1);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "edges")), graph.n_edges);
    ck_assert(fabs(json_number_value(json_object_get(last, "faithfulness")) - 1) < 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "circuit"), "asked")), 6);
    snprintf(png, sizeof png, "%s/eap.png", dir);
    r = RUN("eap", "--model", fx, "--batch", "2", "--seq-len", "4", "--plot", png);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "faithfulness curve");
    size_t len;
    free(tu_read_file(png, &len));
    ck_assert(len > 1000);
    tu_run_free(&r);
    tu_expect_fail(RUN("eap", "--model", fx, "--pairs", "x.jsonl", "--task", "ioi"), 2, "pass one");
    tu_expect_fail(RUN("eap", "--model", fx, "--top-n", "100000"), 1, "the graph has 262");
    json_decref(j);
    free(want);
    cc_eap_pairs_free(&p);
    tu_rmtree(dir);
    free(dir), free(fx);
}
END_TEST

/* circuitc eap --metric kl: EAP-IG's default metric from the command line,
 * the library's KL scores, 0 on the clean run. */
START_TEST(eap_command_kl)
{
    char *fx = golden_path("models/induction-3l4h");
    tu_run_result r = RUN("eap", "--model", fx, "--batch", "2", "--seq-len", "4", "--ig-steps", "3", "--metric",
                          "kl", "--json");
    json_t *j = tu_parse_ok(&r);
    tu_run_free(&r);
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 2, 4, 0, &p, &err) == 0, "%s", err.msg);
    double *want = malloc((size_t)graph.n_edges * sizeof *want);
    ck_assert_msg(cc_eap_scores(model, &graph, &p, CC_PAIR_KL, 3, CC_KERNEL_FAST, 0, want, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(j, "metric")), "kl");
    ck_assert(json_number_value(json_object_get(j, "clean")) == 0);
    ck_assert(json_number_value(json_object_get(j, "corrupt")) > 0);
    assert_json_scores(json_object_get(j, "scores"), want);
    json_decref(j);
    free(want), free(fx);
    cc_eap_pairs_free(&p);
}
END_TEST

/* circuitc eap --scores-only: the library's scores, ranked, with no circuit,
 * no curve and no clean or corrupted metric (nothing runs with patching);
 * the library's no_curve keeps an asked-for circuit, measured as before. */
START_TEST(eap_scores_only)
{
    char *fx = golden_path("models/induction-3l4h");
    tu_run_result r = RUN("eap", "--model", fx, "--batch", "3", "--seq-len", "5", "--ig-steps", "2", "--seed", "4",
                          "--scores-only", "--json");
    json_t *j = tu_parse_ok(&r);
    tu_run_free(&r);
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 3, 5, 4, &p, &err) == 0, "%s", err.msg);
    cc_eap_run_options o = {.metric = CC_PAIR_LOGIT_DIFF, .ig_steps = 2, .circuit_edges = 6, .kernel = CC_KERNEL_FAST};
    cc_eap_run_result full, part;
    ck_assert_msg(cc_eap_run(model, &p, &o, &full, &err) == 0, "%s", err.msg);
    assert_json_scores(json_object_get(j, "scores"), full.scores);
    ck_assert_int_eq((long)json_array_size(json_object_get(j, "curve")), 0);
    ck_assert(json_is_null(json_object_get(j, "clean")) && json_is_null(json_object_get(j, "corrupt")));
    ck_assert_ptr_null(json_object_get(j, "circuit"));
    o.no_curve = true;
    ck_assert_msg(cc_eap_run(model, &p, &o, &part, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(part.curve.n_points, 0);
    /* the same circuit, run in a batch of one instead of with the curve's circuits: OpenBLAS' float32 sums may
       differ in the last bits with the batch's row count */
    ck_assert_msg(fabs(part.circuit_faithfulness - full.circuit_faithfulness) < 1e-6 &&
                      part.curve.clean == full.curve.clean,
                  "circuit faithfulness %.9g alone, %.9g with the curve", part.circuit_faithfulness,
                  full.circuit_faithfulness);
    cc_eap_run_result_free(&part);
    tu_expect_fail(RUN("eap", "--model", fx, "--scores-only", "--top-n", "5"), 2, "drop --top-n");
    json_decref(j);
    cc_eap_run_result_free(&full);
    cc_eap_pairs_free(&p);
    free(fx);
}
END_TEST

/* A progress callback that counts its calls, checks that DONE grows by one
 * pair of TOTAL, and asks to stop once DONE reaches stop_at (0: never). */
typedef struct {
    long calls, last, total, stop_at;
} eap_progress_log;

static int eap_progress(void *ctx, long done, long total)
{
    eap_progress_log *l = ctx;
    ck_assert_int_eq(done, l->last + 1);
    l->calls++, l->last = done, l->total = total;
    return l->stop_at && done >= l->stop_at;
}

/* cc_eap_run reports every pair it scores and then every pair it evaluates,
 * and a callback that returns non-zero stops it with CC_E_CANCELLED and is
 * not called again. */
START_TEST(eap_run_progress_and_cancel)
{
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_repeat(model, 6, 4, 0, &p, &err) == 0, "%s", err.msg);
    eap_progress_log log = {0};
    cc_eap_run_options o = {.metric = CC_PAIR_LOGIT_DIFF, .ig_steps = 2, .circuit_edges = 4,
                            .kernel = CC_KERNEL_FAST, .progress = eap_progress, .progress_ctx = &log};
    cc_eap_run_result r;
    ck_assert_msg(cc_eap_run(model, &p, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(log.total, 12);
    ck_assert_int_eq(log.last, 12);
    cc_eap_run_result_free(&r);
    o.no_curve = true, o.circuit_edges = 0, log = (eap_progress_log){0};
    ck_assert_msg(cc_eap_run(model, &p, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(log.total, 6);
    ck_assert_int_eq(log.last, 6);
    cc_eap_run_result_free(&r);
    for (long stop_at = 1; stop_at <= 12; stop_at += 8) { /* while scoring, and while evaluating */
        o.no_curve = false, o.circuit_edges = 4, log = (eap_progress_log){.stop_at = stop_at};
        ck_assert_int_eq(cc_eap_run(model, &p, &o, &r, &err), -1);
        ck_assert_int_eq(err.code, CC_E_CANCELLED);
        tu_assert_contains(err.msg, "cancelled");
        ck_assert_int_eq(log.calls, stop_at);
        cc_eap_run_result_free(&r);
    }
    cc_eap_pairs_free(&p);
}
END_TEST

START_TEST(ioi_pairs_on_gpt2)
{
    cc_model gpt2 = {.cfg = {.d_vocab = 50257, .n_ctx = 1024, .bos_token_id = 50256}};
    cc_tokenizer *tok = gpt2_tokenizer();
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_ioi(&gpt2, tok, 30, 5, &p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p.n_pairs, 30);
    ck_assert_int_eq(cc_eap_pairs_check(&p, &gpt2, &err), 0);
    for (int i = 0; i < p.n_pairs; i++) {
        int T = p.offset[i + 1] - p.offset[i];
        const int *c = p.clean + p.offset[i], *x = p.corrupt + p.offset[i];
        ck_assert_int_eq(c[0], 50256);
        ck_assert_int_eq(count_of(c, T, p.answer[i]), 1); /* the indirect object, once */
        ck_assert_int_eq(count_of(c, T, p.wrong[i]), 2);  /* the subject, twice */
        ck_assert_int_eq(count_of(x, T, p.answer[i]) + count_of(x, T, p.wrong[i]), 0);
        int differ = 0;
        for (int t = 0; t < T; t++) differ += c[t] != x[t];
        ck_assert_int_eq(differ, 3); /* the three name slots */
    }
    cc_eap_pairs_free(&p);
    /* the bundled fixture's 512 tokens cannot take GPT-2's ids */
    ck_assert_int_eq(cc_eap_pairs_ioi(model, tok, 1, 5, &p, &err), -1);
    tu_assert_contains(err.msg, "the tokenizer has 50257 tokens, the model's vocabulary 512");
    cc_tokenizer_free(tok);
}
END_TEST

static int two_digits(const cc_tokenizer *tok, int id)
{
    const char *b;
    size_t len;
    cc_error err;
    ck_assert_int_eq(cc_tokenizer_token_bytes(tok, id, &b, &len, &err), 0);
    ck_assert_int_eq(len, 2);
    return (b[0] - '0') * 10 + (b[1] - '0');
}

START_TEST(greater_than_pairs_on_gpt2)
{
    cc_model gpt2 = {.cfg = {.d_vocab = 50257, .n_ctx = 1024, .bos_token_id = 50256}};
    cc_tokenizer *tok = gpt2_tokenizer();
    cc_eap_pairs p;
    cc_error err;
    ck_assert_msg(cc_eap_pairs_greater_than(&gpt2, tok, 20, 5, &p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p.n_pairs, 20);
    for (int i = 0; i < p.n_pairs; i++) {
        int T = p.offset[i + 1] - p.offset[i], at = -1;
        const int *c = p.clean + p.offset[i], *x = p.corrupt + p.offset[i];
        for (int t = 0; t < T; t++)
            if (c[t] != x[t]) {
                ck_assert_int_eq(at, -1); /* one position differs: the year's last two digits */
                at = t;
            }
        ck_assert_int_ge(at, 0);
        ck_assert_int_eq(two_digits(tok, x[at]), 1);
        int yy = two_digits(tok, c[at]);
        ck_assert_int_eq(two_digits(tok, p.answer[i]), yy + 1);
        ck_assert_int_eq(two_digits(tok, p.wrong[i]), yy - 1);
    }
    cc_eap_pairs_free(&p);
    cc_tokenizer_free(tok);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eap");
    TCase *tc = tcase_create("forward");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, all_edges_give_clean_and_none_corrupt_exactly);
    tcase_add_test(tc, metrics_and_their_gradients);
    tcase_add_test(tc, repeated_token_pairs);
    tcase_add_test(tc, pairs_from_json_lines);
    tcase_add_test(tc, sender_deltas_sum_to_the_residual_change);
    tcase_add_test(tc, scores_are_delta_dot_gradient);
    tcase_add_test(tc, faithfulness_curve_ends);
    tcase_add_test(tc, evaluate_pairs_of_different_lengths);
    tcase_add_test(tc, eap_finds_the_planted_induction_circuit);
    tcase_add_test(tc, eap_command);
    tcase_add_test(tc, eap_command_kl);
    tcase_add_test(tc, eap_scores_only);
    tcase_add_test(tc, eap_run_progress_and_cancel);
    tcase_add_test(tc, ioi_pairs_on_gpt2);
    tcase_add_test(tc, greater_than_pairs_on_gpt2);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
