/* circuitc/eap.h — edge attribution patching's forward side: prompt pairs,
 * the edge-patched forward pass that measures a circuit, and faithfulness
 * curves over circuit sizes (docs/eap.md). The graph and circuit selection are
 * in circuitc/eap_graph.h, the metrics in circuitc/pair_metric.h.
 *
 * A circuit is evaluated as EAP-IG's evaluate_graph does with patching: each
 * pair's clean tokens run through the model, and every receiver's input is
 * rebuilt as the sum over its senders of the sender's output in this run when
 * the edge is in the circuit, and of its output in the corrupted run when it
 * is not (what the residual stream holds besides the senders, such as the
 * positional embedding and the attention output biases, is the same in both
 * runs and stays). The metric of that run, relative to the clean and corrupted
 * runs' metrics, is the circuit's faithfulness.
 *
 * THREADS (cc_eap_evaluate, cc_eap_sender_deltas, cc_eap_scores) and the
 * options' threads (cc_eap_faithfulness): the call's thread count, 0: the
 * default (docs/library.md, "Threads per call"). */
#ifndef CIRCUITC_EAP_H
#define CIRCUITC_EAP_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/eap_graph.h"
#include "circuitc/forward.h"
#include "circuitc/pair_metric.h"
#include "circuitc/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ prompt pairs */

/* N prompt pairs. Pair i's clean and corrupted prompts have the same length,
 * offset[i + 1] - offset[i] tokens, stored at clean + offset[i] and corrupt +
 * offset[i]; ANSWER[i] and WRONG[i] are the tokens the metric compares at the
 * last position (logit_diff: answer minus wrong). */
typedef struct {
    int n_pairs;
    int *offset;          /* [n_pairs + 1] */
    int *clean, *corrupt; /* [offset[n_pairs]] */
    int *answer, *wrong;  /* [n_pairs] */
} cc_eap_pairs;

void cc_eap_pairs_free(cc_eap_pairs *p);

/* Checks P against M: at least one pair, every token id in [0, d_vocab), each
 * prompt 1..n_ctx tokens long. The error names the pair and the field. */
int cc_eap_pairs_check(const cc_eap_pairs *p, const cc_model *m, cc_error *err);

/* Reads prompt pairs from PATH (JSON Lines), one object a line (blank lines
 * skipped):
 *   {"clean": "...", "corrupt": "...", "answer": " Mary", "wrong": " John"}
 * Each prompt is text, encoded with TOK with the model's BOS prepended (as
 * TransformerLens' to_tokens does), or a list of token ids used as given; an
 * answer or wrong token is text that must encode to exactly one token, or an
 * id. A pair's clean and corrupted prompts must be the same length. Errors
 * name the file, the line and the field. TOK may be NULL when the file holds
 * token ids only. */
int cc_eap_pairs_load(const char *path, const cc_model *m, cc_tokenizer *tok, cc_eap_pairs *out, cc_error *err);

/* N repeated-token pairs for model M (the induction task; the bundled
 * fixture's vocabulary has no text): pair i's clean prompt is [BOS, r_1..r_K,
 * r_1..r_(K-1)] with r the repeated random tokens of cc_repeat_tokens (SEED,
 * batch N, length K), whose answer is r_K; the corrupted prompt keeps the first
 * half and replaces the second by fresh random tokens s_1..s_(K-1), each
 * different from the clean token at its place, and its wrong token s_K (!= r_K)
 * is drawn with them. Prompts are 2K tokens long; K >= 2. */
int cc_eap_pairs_repeat(const cc_model *m, int n, int k, uint64_t seed, cc_eap_pairs *out, cc_error *err);

/* N IOI-style pairs on TOK (text: BOS first, as TransformerLens' to_tokens):
 * clean "When A and B went to the PLACE, B gave a THING to" (a few templates)
 * with answer " A" and wrong " B"; the corrupted prompt has three other names
 * in the three name slots (the reference's ABC corruption), so it carries no
 * information about which name to repeat. Names are drawn from a list of those
 * that are one token each on TOK (at least 5 needed), so both prompts have the
 * same length. */
int cc_eap_pairs_ioi(const cc_model *m, cc_tokenizer *tok, int n, uint64_t seed, cc_eap_pairs *out, cc_error *err);

/* N greater-than pairs on TOK: clean "The NOUN lasted from the year 17YY to the
 * year 17" with YY in 02..98, corrupted the same with 01; answer "YY+1" and
 * wrong "YY-1" (two-digit tokens: logit_diff measures whether the model puts a
 * later year above an earlier one; kl compares the whole distribution). Years
 * whose prompt does not tokenize to the same length as the corrupted one, or
 * whose answer is not one token, are drawn again. */
int cc_eap_pairs_greater_than(const cc_model *m, cc_tokenizer *tok, int n, uint64_t seed, cc_eap_pairs *out,
                              cc_error *err);

/* ------------------------------------------------------------ evaluation */

/* The metric (mean over P's pairs) of each of the N_CIRCUITS circuits
 * CIRCUITS[c] ([g->n_edges] flags each) into VALUES[c], and of the clean and
 * corrupted runs into *CLEAN and *CORRUPT (either may be NULL). Each circuit is
 * pruned first (cc_eap_prune on a copy), as EAP-IG's evaluate_graph does. The
 * circuit of every edge gives the clean metric exactly and the empty one the
 * corrupted metric exactly: a receiver whose edges are all in the circuit is
 * not touched, one whose edges are all outside takes the corrupted run's value. */
int cc_eap_evaluate(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p,
                    const unsigned char *const *circuits, int n_circuits, cc_pair_metric metric, cc_kernel kernel,
                    int threads, double *values, double *clean, double *corrupt, cc_error *err);

/* ------------------------------------------------------------ edge scores
 * EAP scores an edge (s, r) by the change of the metric a linear model of the
 * run predicts when the edge carries s's corrupted output instead of its clean
 * one: (corrupted - clean output of s) . d metric / d (input of r), summed over
 * positions; EAP-IG takes that gradient as its mean over runs whose token
 * embedding moves from the corrupted to the clean one in STEPS steps. A
 * backward pass supplies the gradients; these two functions are the rest. */

/* DELTA [n_senders, T, d] = each sender's output on CORRUPT minus its output
 * on CLEAN (both [T] tokens): the input's hook_embed, a head's z_h W_O[h]
 * (without b_O), an MLP's hook_mlp_out. */
int cc_eap_sender_deltas(const cc_model *m, const cc_eap_graph *g, const int *clean, const int *corrupt, int T,
                         cc_kernel kernel, int threads, float *delta, cc_error *err);

/* SCORES [n_edges] += WEIGHT * sum over positions of DELTA[s] . GRAD[r] for
 * every edge (s, r). DELTA [n_senders, T, D] from cc_eap_sender_deltas; GRAD
 * [n_receivers, T, D] = d metric / d (receiver r's input) at every position:
 * a head's q, k or v input and an MLP's input before their norm, the logits'
 * the residual before ln_final (EAP: on the clean run; EAP-IG: the mean over
 * its steps). WEIGHT = 1 / n_pairs makes the scores a mean over pairs. */
int cc_eap_scores_add(const cc_eap_graph *g, int T, int D, const float *delta, const float *grad, double weight,
                      double *scores, cc_error *err);

/* SCORES [g->n_edges] = the edge scores of METRIC over P's pairs (mean over
 * pairs): EAP when IG_STEPS is 0 (the gradient on the clean run), EAP-IG with
 * IG_STEPS >= 1 (the gradient averaged over IG_STEPS runs of the clean tokens
 * whose token embedding is corrupted + k / IG_STEPS (clean - corrupted), k = 0
 * .. IG_STEPS - 1). One backward pass per pair and step (cc_backward with
 * split_inputs). loss's gradient is computed as KL from the one-hot answer. */
int cc_eap_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, cc_pair_metric metric,
                  int ig_steps, cc_kernel kernel, int threads, double *scores, cc_error *err);

/* Writes SCORES [g->n_edges] to PATH, in the format its extension names
 * (.safetensors or .npz, as cc_cache_write) under the output-path rule
 * (circuitc/fsio.h: nothing partial is left on failure): "scores", float64
 * [n_edges] in graph order (the order of cc_eap_edge_name), and "matrix",
 * float64 [n_senders, n_receivers], edge (s, r)'s score at [s, r] and 0 where
 * receiver r does not read sender s (EAP-IG's Graph.scores layout). */
int cc_eap_scores_write(const char *path, const cc_eap_graph *g, const double *scores, cc_error *err);

/* ------------------------------------------------------------ faithfulness */

typedef enum { CC_EAP_TOPN = 0, CC_EAP_GREEDY } cc_eap_selection;

typedef struct {
    cc_pair_metric metric;
    cc_eap_selection selection; /* how a circuit of n edges is chosen from the scores */
    bool signed_scores;         /* rank by score, not by |score| (EAP-IG's absolute=False) */
    cc_kernel kernel;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
    const long *sizes;          /* [n_sizes] circuit sizes asked for (edges before pruning) */
    int n_sizes;
} cc_eap_faith_options;

typedef struct {
    double clean, corrupt; /* the metric of the clean and corrupted runs */
    int n_points;
    long *asked;           /* [n_points] edges asked for */
    long *edges;           /* [n_points] edges left after pruning */
    double *metric;        /* [n_points] the circuit's metric */
    double *faithfulness;  /* [n_points] (metric - corrupt) / (clean - corrupt); NaN when clean == corrupt */
} cc_eap_curve;

/* The faithfulness of the circuits selected from SCORES [g->n_edges] (an
 * edge ranking: EAP or EAP-IG scores, or any other) at each size of O. */
int cc_eap_faithfulness(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, const double *scores,
                        const cc_eap_faith_options *o, cc_eap_curve *out, cc_error *err);
void cc_eap_curve_free(cc_eap_curve *c);

#ifdef __cplusplus
}
#endif

#endif
