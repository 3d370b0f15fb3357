/* eap_faith.c — faithfulness of the circuits an edge ranking selects, over
 * circuit sizes (circuitc/eap.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/eap.h"
#include "core/args.h"
#include "core/parallel.h"
#include "runtime/eap_par.h"

void cc_eap_curve_free(cc_eap_curve *c)
{
    if (!c) return;
    free(c->asked);
    free(c->edges);
    free(c->metric);
    free(c->faithfulness);
    memset(c, 0, sizeof *c);
}

/* Circuit I of the curve: O->sizes[i] edges selected from SCORES into IN. */
static long select_circuit(const cc_eap_graph *g, const double *scores, const cc_eap_faith_options *o, int i,
                           unsigned char *in, cc_error *err)
{
    bool absolute = !o->signed_scores;
    return o->selection == CC_EAP_GREEDY ? cc_eap_select_greedy(g, scores, o->sizes[i], absolute, in, err)
                                         : cc_eap_select_topn(g, scores, o->sizes[i], absolute, in, err);
}

int cc_eap_faithfulness(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, const double *scores,
                        const cc_eap_faith_options *o, cc_eap_curve *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(o->sizes, err, -1);
    CC_ARG_ENUM(o->metric, CC_PAIR_KL + 1, err, -1);
    CC_ARG_ENUM(o->selection, CC_EAP_GREEDY + 1, err, -1);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_AT_LEAST(o->n_sizes, 1, err, -1);
    return cci_eap_faithfulness(m, g, p, scores, o, NULL, out, err);
}

int cci_eap_faithfulness(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, const double *scores,
                         const cc_eap_faith_options *o, cci_eap_progress *progress, cc_eap_curve *out,
                         cc_error *err)
{
    memset(out, 0, sizeof *out);
    int n = o->n_sizes, rc = -1;
    unsigned char **circuits = calloc((size_t)n, sizeof *circuits);
    out->n_points = n;
    out->asked = malloc((size_t)n * sizeof *out->asked);
    out->edges = malloc((size_t)n * sizeof *out->edges);
    out->metric = malloc((size_t)n * sizeof *out->metric);
    out->faithfulness = malloc((size_t)n * sizeof *out->faithfulness);
    if (!circuits || !out->asked || !out->edges || !out->metric || !out->faithfulness) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for a curve of %d circuits", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!(circuits[i] = malloc((size_t)g->n_edges))) {
            cc_fail_code(err, CC_E_NOMEM, "out of memory for circuit %d", i);
            goto done;
        }
        out->asked[i] = o->sizes[i];
        if ((out->edges[i] = select_circuit(g, scores, o, i, circuits[i], err)) < 0) goto done;
    }
    if (cci_eap_evaluate(m, g, p, (const unsigned char *const *)circuits, n, o->metric, o->kernel, progress,
                         out->metric, &out->clean, &out->corrupt, err) != 0)
        goto done;
    double range = out->clean - out->corrupt;
    for (int i = 0; i < n; i++) out->faithfulness[i] = range != 0 ? (out->metric[i] - out->corrupt) / range : NAN;
    rc = 0;
done:
    for (int i = 0; circuits && i < n; i++) free(circuits[i]);
    free(circuits);
    if (rc != 0) cc_eap_curve_free(out);
    return rc;
}
