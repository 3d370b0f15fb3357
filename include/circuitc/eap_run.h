/* circuitc/eap_run.h — `circuitc eap` as one call: edge scores (EAP or
 * EAP-IG) of a batch of prompt pairs, the edges ranked, a circuit chosen from
 * them and its faithfulness, and the faithfulness curve over circuit sizes
 * (docs/eap.md). The pieces are in circuitc/eap.h and circuitc/eap_graph.h. */
#ifndef CIRCUITC_EAP_RUN_H
#define CIRCUITC_EAP_RUN_H

#include <jansson.h>

#include "circuitc/eap.h"
#include "circuitc/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cc_pair_metric metric;
    int ig_steps;               /* 0: EAP; N >= 1: EAP-IG with N steps (cc_eap_scores) */
    cc_eap_selection selection; /* how the circuit and the curve's circuits are chosen (by |score|) */
    long circuit_edges;         /* edges asked for the circuit (before pruning); 0: no circuit */
    cc_kernel kernel;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
    bool no_curve;              /* skip the faithfulness curve; with circuit_edges 0 too, no forward pass is
                                   patched: the scores and their ranking only (clean, corrupt NaN) */
    cc_progress_fn progress;    /* optional: pairs done, of the pairs scored then the pairs evaluated (the
                                   circuit and the curve); non-zero cancels (CC_E_CANCELLED) */
    void *progress_ctx;
} cc_eap_run_options;

typedef struct {
    cc_eap_run_options opts;
    int n_pairs;
    cc_eap_graph graph;
    double *scores;           /* [n_edges] */
    long *order;              /* [n_edges] edge indices by |score|, largest first (ties: lower index) */
    unsigned char *circuit;   /* [n_edges] the circuit (NULL without one) */
    long circuit_kept;        /* its edges after pruning */
    double circuit_metric;    /* its metric */
    double circuit_faithfulness; /* (metric - corrupt) / (clean - corrupt); NaN when clean == corrupt */
    cc_eap_curve curve;       /* faithfulness at 1, 2, 4, ... edges and at every edge (no points with no_curve) */
} cc_eap_run_result;

/* Scores every edge of M's graph on P, ranks them, and measures the circuit
 * and the faithfulness curve (each unless O says not to). RES is overwritten; free it with
 * cc_eap_run_result_free (also after a failure). */
int cc_eap_run(const cc_model *m, const cc_eap_pairs *p, const cc_eap_run_options *o, cc_eap_run_result *res,
               cc_error *err);
void cc_eap_run_result_free(cc_eap_run_result *res);

/* The CLI's --json body: method, metric, ig_steps, n_pairs, n_edges, every
 * edge's name and score (graph order), the top edges, the circuit (its edges
 * and faithfulness) and the faithfulness curve; clean and corrupt are null
 * when nothing was measured (no circuit, no curve). */
json_t *cc_eap_run_json(const cc_eap_run_result *res);

#ifdef __cplusplus
}
#endif

#endif
