/* circuitc/eap_graph.h — the computational graph of edge attribution patching
 * (EAP, EAP-IG: github hannamw/EAP-IG, the definitions researchers cite), and
 * circuits on it: top-n or greedy selection from edge scores, then pruning to
 * the edges that lie on a path from the input to the logits (docs/eap.md).
 *
 * Senders (nodes whose output is written into the residual stream), in forward
 * order: "input" (hook_embed), then per layer l its heads "a{l}.h{h}" (each
 * head's own output z_h W_O[h], without b_O) and its MLP "m{l}" (hook_mlp_out).
 * Receivers (nodes that read the residual stream): each head's query, key and
 * value input "a{l}.h{h}<q>" (<k>, <v>), each MLP's input "m{l}", and "logits"
 * (the residual after the last block). A receiver reads every sender before it
 * in the forward pass: a head of layer l reads the input and every head and MLP
 * of layers < l; the MLP of layer l reads those and the heads of layer l, or
 * not the heads of layer l in a parallel block (GPT-NeoX); the logits read all.
 * An attention-only model has no MLP nodes. So the senders of a receiver are a
 * prefix of the sender list, and its edges are numbered contiguously:
 * edge (s, r) = first_edge[r] + s. GPT-2 small (12 layers x 12 heads) has 157
 * senders, 445 receivers and 32,491 edges. */
#ifndef CIRCUITC_EAP_GRAPH_H
#define CIRCUITC_EAP_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "circuitc/config.h"
#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CC_EAP_INPUT = 0, /* sender only: the token embedding */
    CC_EAP_HEAD,      /* sender: its output; receiver: its q, k or v input */
    CC_EAP_MLP,       /* sender: hook_mlp_out; receiver: its input (before ln2) */
    CC_EAP_LOGITS,    /* receiver only: the residual entering ln_final */
} cc_eap_node_kind;

typedef struct {
    cc_eap_node_kind kind;
    int layer, head; /* head: -1 unless CC_EAP_HEAD; layer: -1 for input and logits */
    char qkv;        /* receivers of kind CC_EAP_HEAD: 'q', 'k' or 'v'; else 0 */
} cc_eap_node;

typedef struct {
    int n_layers, n_heads;
    bool parallel, attn_only;
    int n_senders, n_receivers;
    long n_edges;
    cc_eap_node *senders;   /* [n_senders], forward order */
    cc_eap_node *receivers; /* [n_receivers], forward order: per layer q of every head, k, v, then the MLP; logits last */
    int *n_inputs;          /* [n_receivers]: receiver r reads senders [0, n_inputs[r]) */
    long *first_edge;       /* [n_receivers + 1]: its edges are [first_edge[r], first_edge[r + 1]) */
} cc_eap_graph;

/* The graph of a model of block shape CFG. Grouped-query attention is refused
 * (a head's key input is shared by its group; EAP-IG needs it ungrouped). */
int cc_eap_graph_build(const cc_config *cfg, cc_eap_graph *g, cc_error *err);
void cc_eap_graph_free(cc_eap_graph *g);

/* The receiver of edge E, and its sender (the index into g->senders). */
int cc_eap_edge_receiver(const cc_eap_graph *g, long e);
int cc_eap_edge_sender(const cc_eap_graph *g, long e);

/* EAP-IG's names: "input", "a0.h3", "m5", and for receivers "a2.h1<q>", "m5",
 * "logits"; an edge is "SENDER->RECEIVER" ("a0.h3->a2.h1<q>", "m5->logits"). */
const char *cc_eap_node_name(const cc_eap_node *n, char *buf, size_t size);
const char *cc_eap_edge_name(const cc_eap_graph *g, long e, char *buf, size_t size);

/* The edge named NAME, or -1 with ERR naming it and saying why it is not an edge of G. */
long cc_eap_edge_find(const cc_eap_graph *g, const char *name, cc_error *err);

/* ------------------------------------------------------------ circuits
 * A circuit is one flag per edge (IN [n_edges], 1 = in the circuit). */

/* Removes, until nothing changes, every node without an incoming edge (the
 * input excepted) or without an outgoing edge (the logits excepted), then every
 * edge whose sender or receiver node was removed, as EAP-IG's Graph.prune does:
 * what remains are the edges on some path from the input to the logits.
 * Returns the number of edges left. */
long cc_eap_prune(const cc_eap_graph *g, unsigned char *in);

/* The N edges of largest |score| (score, unless ABSOLUTE is false), then
 * pruned (EAP-IG's apply_topn). SCORES: [n_edges]. Ties go to the lower edge
 * index. Returns the number of edges left after pruning, or -1 (N out of range). */
long cc_eap_select_topn(const cc_eap_graph *g, const double *scores, long n, bool absolute, unsigned char *in,
                        cc_error *err);

/* EAP-IG's greedy selection (apply_greedy): starting from the edges into the
 * logits, repeatedly take the best-scored candidate edge; when its sender
 * joins the circuit, that sender's own incoming edges become candidates. N
 * edges are taken (fewer if the candidates run out), then pruned. Ties go to
 * the edge that became a candidate first, then to the lower edge index.
 * Returns the number of edges left after pruning, or -1. */
long cc_eap_select_greedy(const cc_eap_graph *g, const double *scores, long n, bool absolute, unsigned char *in,
                          cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
