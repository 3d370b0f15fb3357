/* consumer.c — a program built outside the project against the installed
 * libcircuitc, the way a user would (`cc consumer.c $(pkg-config --cflags
 * --libs circuitc)`); tests/install/test_install.sh builds and runs it. It loads
 * the model named on its command line with the default processing, measures
 * the K-composition score of L0H0 -> L1H0 and prints what it found. */
#include <stdio.h>
#include <stdlib.h>

#include <circuitc/composition.h>
#include <circuitc/model.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    cc_error err;
    cc_model *m = NULL;
    if (cc_model_load(argv[1], NULL, true, &m, &err) != 0) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        return 1;
    }
    printf("layers %d heads %d vocab %d\n", m->cfg.n_layers, m->cfg.n_heads, m->cfg.d_vocab);
    int heads = m->cfg.n_layers * m->cfg.n_heads;
    double *scores = malloc((size_t)heads * (size_t)heads * sizeof *scores);
    int rc = scores ? cc_composition_scores(m, CC_COMP_K, scores, &err) : cc_fail(&err, "out of memory");
    if (rc == 0) /* [l1, h1, l2, h2] = [0, 0, 1, 0] */
        printf("k-composition score %.6f\n", scores[1 * m->cfg.n_heads]);
    else
        fprintf(stderr, "consumer: %s\n", err.msg);
    free(scores);
    cc_model_free(m);
    return rc == 0 ? 0 : 1;
}
