/* test_eap_graph.c — EAP-IG's graph (senders, receivers, edges, names) for
 * sequential, parallel and attention-only blocks, counted from the definition
 * (docs/eap.md), and circuit selection: pruning, top-n and greedy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/eap_graph.h"
#include "testutil.h"

static cc_config shape(int L, int H, bool parallel, bool attn_only)
{
    cc_config c = {0};
    c.n_layers = L;
    c.n_heads = H;
    c.d_model = 8 * H;
    c.d_head = 8;
    c.d_mlp = attn_only ? 0 : 32 * H;
    c.parallel = parallel;
    c.attn_only = attn_only;
    return c;
}

/* The definition, written independently of the builder: whether S's output
 * reaches R's input as an edge. */
static bool sends_to(const cc_eap_node *s, const cc_eap_node *r, bool parallel)
{
    if (r->kind == CC_EAP_LOGITS || s->kind == CC_EAP_INPUT) return true;
    if (r->kind == CC_EAP_HEAD) return s->layer < r->layer;
    /* an MLP receiver: earlier layers, and the same layer's heads in a sequential block */
    return s->layer < r->layer || (s->layer == r->layer && s->kind == CC_EAP_HEAD && !parallel);
}

/* Counts the edges by the definition over every (sender, receiver) pair and
 * checks that each one's index and name round-trip. */
static long count_by_definition(const cc_eap_graph *g)
{
    long n = 0;
    char name[80];
    cc_error err;
    for (int r = 0; r < g->n_receivers; r++)
        for (int s = 0; s < g->n_senders; s++) {
            bool edge = sends_to(&g->senders[s], &g->receivers[r], g->parallel);
            ck_assert_int_eq(edge, s < g->n_inputs[r]);
            if (!edge) continue;
            long e = g->first_edge[r] + s;
            ck_assert_int_eq(cc_eap_edge_receiver(g, e), r);
            ck_assert_int_eq(cc_eap_edge_sender(g, e), s);
            ck_assert_ptr_nonnull(cc_eap_edge_name(g, e, name, sizeof name));
            ck_assert_int_eq(cc_eap_edge_find(g, name, &err), e);
            n++;
        }
    return n;
}

START_TEST(gpt2_small_has_32491_edges)
{
    cc_config c = shape(12, 12, false, false);
    cc_eap_graph g;
    cc_error err;
    ck_assert_msg(cc_eap_graph_build(&c, &g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(g.n_senders, 157);
    ck_assert_int_eq(g.n_receivers, 445);
    ck_assert_int_eq(count_by_definition(&g), 32491);
    ck_assert_int_eq(g.n_edges, 32491);
    cc_eap_graph_free(&g);
}
END_TEST

START_TEST(parallel_and_attention_only_blocks)
{
    cc_error err;
    cc_eap_graph g;
    /* parallel: the MLP of layer l does not read the heads of layer l */
    cc_config c = shape(3, 4, true, false);
    ck_assert_msg(cc_eap_graph_build(&c, &g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(count_by_definition(&g), g.n_edges);
    ck_assert_int_eq(cc_eap_edge_find(&g, "a1.h0->m1", &err), -1);
    tu_assert_contains(err.msg, "cannot send");
    ck_assert_int_ge(cc_eap_edge_find(&g, "m0->m1", &err), 0);
    cc_eap_graph_free(&g);
    c.parallel = false;
    ck_assert_msg(cc_eap_graph_build(&c, &g, &err) == 0, "%s", err.msg);
    ck_assert_int_ge(cc_eap_edge_find(&g, "a1.h0->m1", &err), 0);
    cc_eap_graph_free(&g);
    /* attention-only: no MLP nodes at all */
    c = shape(2, 4, false, true);
    ck_assert_msg(cc_eap_graph_build(&c, &g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(g.n_senders, 1 + 2 * 4);
    ck_assert_int_eq(g.n_receivers, 2 * 12 + 1);
    ck_assert_int_eq(count_by_definition(&g), g.n_edges);
    ck_assert_int_eq(g.n_edges, 12 * 1 + 12 * 5 + 9); /* layer 0 heads read the input; layer 1 the input and 4 heads */
    ck_assert_int_eq(cc_eap_edge_find(&g, "m0->logits", &err), -1);
    tu_assert_contains(err.msg, "'m0' is not a sender");
    cc_eap_graph_free(&g);
}
END_TEST

START_TEST(names_as_eap_ig_writes_them)
{
    cc_config c = shape(3, 4, false, false);
    cc_eap_graph g;
    cc_error err;
    char name[80];
    ck_assert_int_eq(cc_eap_graph_build(&c, &g, &err), 0);
    long e = cc_eap_edge_find(&g, "a0.h3->a2.h1<q>", &err);
    ck_assert_int_ge(e, 0);
    ck_assert_str_eq(cc_eap_edge_name(&g, e, name, sizeof name), "a0.h3->a2.h1<q>");
    ck_assert_str_eq(cc_eap_edge_name(&g, g.n_edges - 1, name, sizeof name), "m2->logits");
    ck_assert_str_eq(cc_eap_edge_name(&g, 0, name, sizeof name), "input->a0.h0<q>");
    ck_assert_int_eq(cc_eap_edge_find(&g, "a0.h3-a2.h1<q>", &err), -1);
    tu_assert_contains(err.msg, "SENDER->RECEIVER");
    ck_assert_int_eq(cc_eap_edge_find(&g, "a0.h3->a2.h1<x>", &err), -1);
    tu_assert_contains(err.msg, "not a receiver");
    cc_eap_graph_free(&g);
}
END_TEST

START_TEST(grouped_query_attention_refused)
{
    cc_config c = shape(2, 4, false, false);
    c.n_kv_heads = 2;
    cc_eap_graph g;
    cc_error err;
    ck_assert_int_eq(cc_eap_graph_build(&c, &g, &err), -1);
    tu_assert_contains(err.msg, "grouped-query attention");
}
END_TEST

/* Sets the circuit to the named edges. */
static void set_edges(const cc_eap_graph *g, unsigned char *in, const char *const *names)
{
    cc_error err;
    memset(in, 0, (size_t)g->n_edges);
    for (int i = 0; names[i]; i++) {
        long e = cc_eap_edge_find(g, names[i], &err);
        ck_assert_msg(e >= 0, "%s", err.msg);
        in[e] = 1;
    }
}

static long count_in(const cc_eap_graph *g, const unsigned char *in)
{
    long n = 0;
    for (long e = 0; e < g->n_edges; e++) n += in[e];
    return n;
}

static bool has(const cc_eap_graph *g, const unsigned char *in, const char *name)
{
    cc_error err;
    long e = cc_eap_edge_find(g, name, &err);
    ck_assert_msg(e >= 0, "%s", err.msg);
    return in[e];
}

START_TEST(prune_keeps_paths_from_input_to_logits)
{
    cc_config c = shape(3, 4, false, false);
    cc_eap_graph g;
    cc_error err;
    ck_assert_int_eq(cc_eap_graph_build(&c, &g, &err), 0);
    unsigned char *in = malloc((size_t)g.n_edges);
    /* a0.h1 is fed but reaches nothing; a1.h2 reaches the logits but is not fed;
     * input -> a0.h0 -> a2.h3 -> logits is a path */
    const char *edges[] = {"input->a0.h1<q>", "a1.h2->logits", "input->a0.h0<v>", "a0.h0->a2.h3<k>",
                           "a2.h3->logits",   "a0.h1->a1.h2<k>", NULL};
    set_edges(&g, in, edges);
    ck_assert_int_eq(cc_eap_prune(&g, in), 6); /* a0.h1 -> a1.h2 joins them up */
    set_edges(&g, in, (const char *const[]){"input->a0.h1<q>", "a1.h2->logits", "input->a0.h0<v>",
                                            "a0.h0->a2.h3<k>", "a2.h3->logits", NULL});
    ck_assert_int_eq(cc_eap_prune(&g, in), 3);
    ck_assert(!has(&g, in, "input->a0.h1<q>"));
    ck_assert(!has(&g, in, "a1.h2->logits"));
    ck_assert(has(&g, in, "a0.h0->a2.h3<k>"));
    free(in);
    cc_eap_graph_free(&g);
}
END_TEST

START_TEST(topn_takes_the_largest_then_prunes)
{
    cc_config c = shape(2, 2, false, false);
    cc_eap_graph g;
    cc_error err;
    ck_assert_int_eq(cc_eap_graph_build(&c, &g, &err), 0);
    double *scores = calloc((size_t)g.n_edges, sizeof *scores);
    unsigned char *in = malloc((size_t)g.n_edges);
    scores[cc_eap_edge_find(&g, "input->logits", &err)] = 0.5;
    scores[cc_eap_edge_find(&g, "a0.h1->logits", &err)] = -3.0; /* largest |score|, but a0.h1 is never fed */
    scores[cc_eap_edge_find(&g, "input->m1", &err)] = 0.4;
    scores[cc_eap_edge_find(&g, "m1->logits", &err)] = 0.3;
    ck_assert_int_eq(cc_eap_select_topn(&g, scores, 4, true, in, &err), 3);
    ck_assert(!has(&g, in, "a0.h1->logits"));
    ck_assert(has(&g, in, "m1->logits"));
    /* by signed score the negative edge is last: the top 3 are the path and input->logits */
    ck_assert_int_eq(cc_eap_select_topn(&g, scores, 3, false, in, &err), 3);
    ck_assert_int_eq(cc_eap_select_topn(&g, scores, g.n_edges + 1, true, in, &err), -1);
    tu_assert_contains(err.msg, "has 46 edges");
    free(in);
    free(scores);
    cc_eap_graph_free(&g);
}
END_TEST

START_TEST(greedy_grows_from_the_logits)
{
    cc_config c = shape(2, 2, false, false);
    cc_eap_graph g;
    cc_error err;
    ck_assert_int_eq(cc_eap_graph_build(&c, &g, &err), 0);
    double *scores = calloc((size_t)g.n_edges, sizeof *scores);
    unsigned char *in = malloc((size_t)g.n_edges);
    for (long e = 0; e < g.n_edges; e++) scores[e] = 1e-3 * (double)(e % 7);
    /* a large edge far from the logits is not a candidate until its receiver joins */
    scores[cc_eap_edge_find(&g, "input->a0.h0<q>", &err)] = 10;
    scores[cc_eap_edge_find(&g, "a1.h1->logits", &err)] = 2;
    scores[cc_eap_edge_find(&g, "a0.h0->a1.h1<v>", &err)] = 1;
    ck_assert_int_eq(cc_eap_select_greedy(&g, scores, 3, true, in, &err), 3);
    ck_assert(has(&g, in, "a1.h1->logits") && has(&g, in, "a0.h0->a1.h1<v>") && has(&g, in, "input->a0.h0<q>"));
    /* top-n takes the isolated edge first and prunes it */
    ck_assert_int_eq(cc_eap_select_topn(&g, scores, 2, true, in, &err), 0);
    ck_assert_int_eq(count_in(&g, in), 0);
    free(in);
    free(scores);
    cc_eap_graph_free(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eap_graph");
    TCase *tc = tcase_create("graph");
    tcase_add_test(tc, gpt2_small_has_32491_edges);
    tcase_add_test(tc, parallel_and_attention_only_blocks);
    tcase_add_test(tc, names_as_eap_ig_writes_them);
    tcase_add_test(tc, grouped_query_attention_refused);
    tcase_add_test(tc, prune_keeps_paths_from_input_to_logits);
    tcase_add_test(tc, topn_takes_the_largest_then_prunes);
    tcase_add_test(tc, greedy_grows_from_the_logits);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
