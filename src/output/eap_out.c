/* eap_out.c — every edge's score to a .safetensors or .npz file
 * (circuitc/eap.h), through the activations file's writers. */
#include <stdlib.h>

#include "circuitc/eap.h"
#include "core/args.h"
#include "output/npz.h"

int cc_eap_scores_write(const char *path, const cc_eap_graph *g, const double *scores, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(g, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    int nS = g->n_senders, nR = g->n_receivers, n_edges = (int)g->n_edges;
    double *matrix = calloc((size_t)nS * nR, sizeof *matrix); /* [n_senders, n_receivers] */
    if (!matrix) return cc_fail_code(err, CC_E_NOMEM, "out of memory for a %d x %d score matrix", nS, nR);
    for (int r = 0; r < nR; r++)
        for (int s = 0; s < g->n_inputs[r]; s++) matrix[(size_t)s * nR + r] = scores[g->first_edge[r] + s];
    int dim_scores[] = {n_edges}, dim_matrix[] = {nS, nR};
    cci_npz_array a[] = {{.name = "scores", .ndim = 1, .dim = dim_scores, .data = scores, .f64 = true},
                         {.name = "matrix", .ndim = 2, .dim = dim_matrix, .data = matrix, .f64 = true}};
    int rc = cci_arrays_write(path, a, 2, err);
    free(matrix);
    return rc;
}
