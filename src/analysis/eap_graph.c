/* eap_graph.c — EAP-IG's graph of senders, receivers and edges, and circuit
 * selection on it (circuitc/eap_graph.h). */
#include "circuitc/eap_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"

int cc_eap_graph_build(const cc_config *cfg, cc_eap_graph *g, cc_error *err)
{
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    memset(g, 0, sizeof *g);
    if (cc_config_kv_heads(cfg) != cfg->n_heads)
        return cc_fail(err,
                       "the EAP graph needs one key and value input per head, but this model groups %d query heads "
                       "per key/value head (grouped-query attention); EAP runs on multi-head attention models only",
                       cfg->n_heads / cc_config_kv_heads(cfg));
    int L = cfg->n_layers, H = cfg->n_heads, has_mlp = !cfg->attn_only;
    g->n_layers = L;
    g->n_heads = H;
    g->parallel = cfg->parallel;
    g->attn_only = cfg->attn_only;
    g->n_senders = 1 + L * (H + has_mlp);
    g->n_receivers = L * (3 * H + has_mlp) + 1;
    g->senders = calloc((size_t)g->n_senders, sizeof *g->senders);
    g->receivers = calloc((size_t)g->n_receivers, sizeof *g->receivers);
    g->n_inputs = calloc((size_t)g->n_receivers, sizeof *g->n_inputs);
    g->first_edge = calloc((size_t)g->n_receivers + 1, sizeof *g->first_edge);
    if (!g->senders || !g->receivers || !g->n_inputs || !g->first_edge) {
        cc_eap_graph_free(g);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for the EAP graph (%d receivers)", L * (3 * H + has_mlp) + 1);
    }
    int s = 0, r = 0;
    g->senders[s++] = (cc_eap_node){CC_EAP_INPUT, -1, -1, 0};
    for (int l = 0; l < L; l++) {
        int before_layer = s; /* senders of layers < l, and the input */
        for (int q = 0; q < 3; q++)
            for (int h = 0; h < H; h++) {
                g->receivers[r] = (cc_eap_node){CC_EAP_HEAD, l, h, "qkv"[q]};
                g->n_inputs[r++] = before_layer;
            }
        for (int h = 0; h < H; h++) g->senders[s++] = (cc_eap_node){CC_EAP_HEAD, l, h, 0};
        if (!has_mlp) continue;
        g->receivers[r] = (cc_eap_node){CC_EAP_MLP, l, -1, 0};
        g->n_inputs[r++] = cfg->parallel ? before_layer : s;
        g->senders[s++] = (cc_eap_node){CC_EAP_MLP, l, -1, 0};
    }
    g->receivers[r] = (cc_eap_node){CC_EAP_LOGITS, -1, -1, 0};
    g->n_inputs[r++] = s;
    for (int i = 0; i < g->n_receivers; i++) g->first_edge[i + 1] = g->first_edge[i] + g->n_inputs[i];
    g->n_edges = g->first_edge[g->n_receivers];
    return 0;
}

void cc_eap_graph_free(cc_eap_graph *g)
{
    if (!g) return;
    free(g->senders);
    free(g->receivers);
    free(g->n_inputs);
    free(g->first_edge);
    memset(g, 0, sizeof *g);
}

int cc_eap_edge_receiver(const cc_eap_graph *g, long e)
{
    CC_ARG_NOT_NULL(g, NULL, -1);
    if (e < 0 || e >= g->n_edges) return -1;
    int lo = 0, hi = g->n_receivers - 1; /* the last r with first_edge[r] <= e */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (g->first_edge[mid] <= e) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

int cc_eap_edge_sender(const cc_eap_graph *g, long e)
{
    int r = cc_eap_edge_receiver(g, e);
    return r < 0 ? -1 : (int)(e - g->first_edge[r]);
}

const char *cc_eap_node_name(const cc_eap_node *n, char *buf, size_t size)
{
    CC_ARG_NOT_NULL(n, NULL, NULL);
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    switch (n->kind) {
    case CC_EAP_INPUT: snprintf(buf, size, "input"); break;
    case CC_EAP_LOGITS: snprintf(buf, size, "logits"); break;
    case CC_EAP_MLP: snprintf(buf, size, "m%d", n->layer); break;
    case CC_EAP_HEAD:
        if (n->qkv) snprintf(buf, size, "a%d.h%d<%c>", n->layer, n->head, n->qkv);
        else snprintf(buf, size, "a%d.h%d", n->layer, n->head);
        break;
    default: return "?";
    }
    return buf;
}

const char *cc_eap_edge_name(const cc_eap_graph *g, long e, char *buf, size_t size)
{
    CC_ARG_NOT_NULL(g, NULL, NULL);
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    int r = cc_eap_edge_receiver(g, e);
    if (r < 0) return NULL;
    char sn[32], rn[32];
    cc_eap_node_name(&g->senders[e - g->first_edge[r]], sn, sizeof sn);
    cc_eap_node_name(&g->receivers[r], rn, sizeof rn);
    snprintf(buf, size, "%s->%s", sn, rn);
    return buf;
}

/* The index of the sender (or, when RECEIVER, the receiver) named NAME, or -1. */
static int node_index(const cc_eap_graph *g, const char *name, bool receiver)
{
    int l = -1, h = -1, i = -1, per_layer = g->n_heads + !g->attn_only;
    char qkv = 0, end = 0;
    if (strcmp(name, "input") == 0) i = receiver ? -1 : 0;
    else if (strcmp(name, "logits") == 0) i = receiver ? g->n_receivers - 1 : -1;
    else if (sscanf(name, "m%d%c", &l, &end) == 1 && !g->attn_only && l >= 0 && l < g->n_layers)
        i = receiver ? l * (3 * g->n_heads + 1) + 3 * g->n_heads : 1 + l * per_layer + g->n_heads;
    else if ((receiver ? sscanf(name, "a%d.h%d<%c>%c", &l, &h, &qkv, &end) == 3 && strchr("qkv", qkv)
                       : sscanf(name, "a%d.h%d%c", &l, &h, &end) == 2) &&
             l >= 0 && l < g->n_layers && h >= 0 && h < g->n_heads)
        i = receiver ? l * (3 * g->n_heads + !g->attn_only) + (int)(strchr("qkv", qkv) - "qkv") * g->n_heads + h
                     : 1 + l * per_layer + h;
    char back[32]; /* "m05" and the like are not names */
    if (i < 0 || strcmp(cc_eap_node_name(receiver ? &g->receivers[i] : &g->senders[i], back, sizeof back), name) != 0)
        return -1;
    return i;
}

long cc_eap_edge_find(const cc_eap_graph *g, const char *name, cc_error *err)
{
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(name, err, -1);
    const char *arrow = strstr(name, "->");
    if (!arrow)
        return cc_fail(err, "edge '%s': expected SENDER->RECEIVER (e.g. a0.h3->a2.h1<q>, m5->logits)", name), -1;
    char sn[32], rn[32];
    size_t ls = (size_t)(arrow - name);
    if (ls >= sizeof sn || strlen(arrow + 2) >= sizeof rn)
        return cc_fail(err, "edge '%s': no node has a name that long", name), -1;
    memcpy(sn, name, ls);
    sn[ls] = 0;
    snprintf(rn, sizeof rn, "%s", arrow + 2);
    int s = node_index(g, sn, false), r = node_index(g, rn, true);
    if (s < 0) return cc_fail(err, "edge '%s': '%s' is not a sender of this model's graph", name, sn), -1;
    if (r < 0) return cc_fail(err, "edge '%s': '%s' is not a receiver of this model's graph", name, rn), -1;
    if (s >= g->n_inputs[r])
        return cc_fail(err, "edge '%s': %s comes after %s in the forward pass, so it cannot send to it", name, sn,
                       rn),
               -1;
    return g->first_edge[r] + s;
}

/* ------------------------------------------------------------------ circuits */

/* The sender index of receiver R's node (its output), or -1 for the logits. */
static int receiver_node(const cc_eap_graph *g, int r)
{
    const cc_eap_node *n = &g->receivers[r];
    if (n->kind == CC_EAP_LOGITS) return -1;
    int per_layer = g->n_heads + !g->attn_only;
    return 1 + n->layer * per_layer + (n->kind == CC_EAP_MLP ? g->n_heads : n->head);
}

long cc_eap_prune(const cc_eap_graph *g, unsigned char *in)
{
    CC_ARG_NOT_NULL(g, NULL, -1);
    CC_ARG_NOT_NULL(in, NULL, -1);
    unsigned char *has_in = malloc((size_t)g->n_senders), *has_out = malloc((size_t)g->n_senders);
    if (!has_in || !has_out) {
        free(has_in);
        free(has_out);
        return -1;
    }
    long kept;
    bool changed = true;
    while (changed) {
        changed = false;
        memset(has_in, 0, (size_t)g->n_senders);
        memset(has_out, 0, (size_t)g->n_senders);
        has_in[0] = 1; /* the input counts as fed */
        for (int r = 0; r < g->n_receivers; r++)
            for (long e = g->first_edge[r]; e < g->first_edge[r + 1]; e++)
                if (in[e]) {
                    has_out[e - g->first_edge[r]] = 1;
                    int node = receiver_node(g, r);
                    if (node >= 0) has_in[node] = 1;
                }
        /* a node stays when it has both; an edge stays when its sender and receiver node stay */
        kept = 0;
        for (int r = 0; r < g->n_receivers; r++) {
            int node = receiver_node(g, r);
            bool child_ok = node < 0 || (has_in[node] && has_out[node]);
            for (long e = g->first_edge[r]; e < g->first_edge[r + 1]; e++) {
                if (!in[e]) continue;
                int s = (int)(e - g->first_edge[r]);
                if (child_ok && has_in[s] && has_out[s]) kept++;
                else in[e] = 0, changed = true;
            }
        }
    }
    free(has_in);
    free(has_out);
    return kept;
}

static double key_of(double score, bool absolute)
{
    return absolute ? fabs(score) : score;
}

/* A max-heap of candidate edges: best key first, then the earlier candidate
 * batch (EAP-IG merges each new batch after the ones before it), then the lower edge. */
typedef struct {
    double key;
    long batch, edge;
} candidate;

/* qsort order for the candidates of top-n: best key first, then the lower edge. */
static int by_key_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->edge < y->edge ? -1 : x->edge > y->edge;
}

/* The checks of a selection's N and scores (the arguments are checked by the caller). */
static int check_selection(const cc_eap_graph *g, const double *scores, long n, cc_error *err)
{
    if (n < 0 || n > g->n_edges)
        return cc_fail(err, "a circuit of %ld edges asked for: this graph has %ld edges", n, g->n_edges);
    for (long e = 0; e < g->n_edges; e++)
        if (isnan(scores[e])) {
            char name[80];
            return cc_fail(err, "edge %s has a NaN score", cc_eap_edge_name(g, e, name, sizeof name));
        }
    return 0;
}

long cc_eap_select_topn(const cc_eap_graph *g, const double *scores, long n, bool absolute, unsigned char *in,
                        cc_error *err)
{
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    CC_ARG_NOT_NULL(in, err, -1);
    if (check_selection(g, scores, n, err) != 0) return -1;
    candidate *order = malloc((size_t)g->n_edges * sizeof *order);
    if (!order) return cc_fail_code(err, CC_E_NOMEM, "out of memory ranking %ld edges", g->n_edges), -1;
    for (long e = 0; e < g->n_edges; e++) order[e] = (candidate){key_of(scores[e], absolute), 0, e};
    qsort(order, (size_t)g->n_edges, sizeof *order, by_key_desc);
    memset(in, 0, (size_t)g->n_edges);
    for (long i = 0; i < n; i++) in[order[i].edge] = 1;
    free(order);
    return cc_eap_prune(g, in);
}

/* ------------------------------------------------------------------ greedy */

static bool before(const candidate *a, const candidate *b)
{
    if (a->key != b->key) return a->key > b->key;
    if (a->batch != b->batch) return a->batch < b->batch;
    return a->edge < b->edge;
}

static void heap_push(candidate *h, long *n, candidate c)
{
    long i = (*n)++;
    while (i > 0 && before(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static candidate heap_pop(candidate *h, long *n)
{
    candidate top = h[0], last = h[--*n];
    if (*n == 0) return top;
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Pushes the incoming edges of every receiver whose node is sender S. */
static void push_inputs_of(const cc_eap_graph *g, int s, const double *scores, bool absolute, long batch,
                           candidate *h, long *n)
{
    for (int r = 0; r < g->n_receivers; r++) {
        if (s >= 0 ? receiver_node(g, r) != s : g->receivers[r].kind != CC_EAP_LOGITS) continue;
        for (long e = g->first_edge[r]; e < g->first_edge[r + 1]; e++)
            heap_push(h, n, (candidate){key_of(scores[e], absolute), batch, e});
    }
}

long cc_eap_select_greedy(const cc_eap_graph *g, const double *scores, long n, bool absolute, unsigned char *in,
                          cc_error *err)
{
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    CC_ARG_NOT_NULL(in, err, -1);
    if (check_selection(g, scores, n, err) != 0) return -1;
    candidate *heap = malloc((size_t)g->n_edges * sizeof *heap);
    unsigned char *node_in = calloc((size_t)g->n_senders, 1);
    if (!heap || !node_in) {
        free(heap);
        free(node_in);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for the greedy search over %ld edges", g->n_edges), -1;
    }
    memset(in, 0, (size_t)g->n_edges);
    long n_heap = 0, batch = 0;
    push_inputs_of(g, -1, scores, absolute, batch++, heap, &n_heap);
    for (long taken = 0; taken < n && n_heap > 0; taken++) {
        long e = heap_pop(heap, &n_heap).edge;
        in[e] = 1;
        int s = cc_eap_edge_sender(g, e);
        if (node_in[s]) continue;
        node_in[s] = 1;
        push_inputs_of(g, s, scores, absolute, batch++, heap, &n_heap);
    }
    free(heap);
    free(node_in);
    return cc_eap_prune(g, in);
}
