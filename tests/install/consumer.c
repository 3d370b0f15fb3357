/* consumer.c — a program built outside the project against the installed
 * libcircuitc, the way a user would (`cc consumer.c $(pkg-config --cflags
 * --libs circuitc)`); tests/install/test_install.sh builds and runs it. It loads
 * the library through the umbrella header, prints the version of the headers
 * and of the library, loads the model named on its command line with the
 * default processing, measures
 * the K-composition score of L0H0 -> L1H0, runs the whole `kcomp L0H0 L1H0`
 * as one call (docs/library.md) and prints what it found. */
#include <stdio.h>
#include <stdlib.h>

#include <circuitc.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    printf("version %d.%d.%d %s\n", CIRCUITC_VERSION_MAJOR, CIRCUITC_VERSION_MINOR, CIRCUITC_VERSION_PATCH,
           cc_version());
    cc_error err;
    cc_model *m = NULL;
    if (cc_model_load(argv[1], NULL, true, &m, &err) != 0) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        return 1;
    }
    const cc_config *cfg = cc_model_config(m); /* the model is opaque (docs/library.md, "ABI") */
    printf("layers %d heads %d vocab %d\n", cfg->n_layers, cfg->n_heads, cfg->d_vocab);
    int heads = cfg->n_layers * cfg->n_heads;
    double *scores = malloc((size_t)heads * (size_t)heads * sizeof *scores);
    int rc = scores ? cc_composition_scores(m, CC_COMP_K, scores, &err) : cc_fail(&err, "out of memory");
    if (rc == 0) /* [l1, h1, l2, h2] = [0, 0, 1, 0] */
        printf("k-composition score %.6f\n", scores[1 * cfg->n_heads]);
    else
        fprintf(stderr, "consumer: %s\n", err.msg);
    free(scores);
    /* kcomp L0H0 L1H0 as the CLI runs it: one call, one result, its JSON */
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o); /* kcomp, prev L0H0, ind L1H0 */
    cc_circuit_report r = {0};
    if (rc == 0 && cc_circuit_report_run(m, &o, &r, &err) == 0) {
        printf("kcomp rows top-1 %ld / %d\n", r.measurement.rows.correct[0], r.measurement.n);
        json_t *j = cc_circuit_report_json(&r);
        char *bindings = j ? json_dumps(json_object_get(j, "bindings"), JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        printf("kcomp bindings %s\n", bindings ? bindings : "?");
        free(bindings);
        json_decref(j);
    } else if (rc == 0) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        rc = -1;
    }
    cc_circuit_report_free(&r);
    cc_model_free(m);
    return rc == 0 ? 0 : 1;
}
