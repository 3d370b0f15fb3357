/* test_process.c — TransformerLens default weight processing, checked against
 * expectations derived by hand from docs/processing.md and computed here
 * independently, in float64, from the raw weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/model.h"
#include "circuitc/process.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "thread_counter.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define TOL 2e-6

static cc_model *load_tiny(bool process, char **dir_out)
{
    char *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("tiny", &c, &err), 0);
    ck_assert_int_eq(cc_synth_write(&c, 42, NULL, dir, &err), 0);
    cc_model *m;
    ck_assert_msg(cc_model_load(dir, NULL, process, &m, &err) == 0, "%s", err.msg);
    *dir_out = dir;
    return m;
}

static void assert_close(double got, double want, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= TOL, "%s[%d]: got %.9g want %.9g", what, i, got, want);
}

/* Expected W [rows, cols] and B [cols] after folding LN (LW, LB) and centring the reading axis. */
static void expect_fold(const float *W, const float *B, const float *LW, const float *LB, int rows, int cols,
                        const float *gotW, const float *gotB, const char *what)
{
    for (int j = 0; j < cols; j++) {
        double b = B[j], mean = 0;
        for (int k = 0; k < rows; k++) {
            b += (double)W[k * cols + j] * LB[k];
            mean += (double)W[k * cols + j] * LW[k];
        }
        mean /= rows;
        assert_close(gotB[j], b, what, j);
        for (int k = 0; k < rows; k++) assert_close(gotW[k * cols + j], (double)W[k * cols + j] * LW[k] - mean, what, k);
    }
}

START_TEST(processing_matches_hand_derivation)
{
    char *d1, *d2;
    cc_model *raw = load_tiny(false, &d1), *pro = load_tiny(true, &d2);
    const cc_config *c = &raw->cfg;
    const cc_weights *r = &raw->w, *p = &pro->w;
    int L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    ck_assert(d > 0 && d <= 64 && V > 0);
    ck_assert(pro->processed);
    ck_assert(p->ln1_w == NULL && p->ln1_b == NULL && p->ln2_w == NULL && p->lnf_w == NULL && p->lnf_b == NULL);

    for (int l = 0; l < L; l++) {
        for (int h = 0; h < H; h++) {
            size_t wo = ((size_t)l * H + h) * d * dh, bo = ((size_t)l * H + h) * dh;
            expect_fold(r->W_Q + wo, r->b_Q + bo, r->ln1_w + l * d, r->ln1_b + l * d, d, dh, p->W_Q + wo, p->b_Q + bo, "Q");
            expect_fold(r->W_K + wo, r->b_K + bo, r->ln1_w + l * d, r->ln1_b + l * d, d, dh, p->W_K + wo, p->b_K + bo, "K");
        }
        expect_fold(r->W_in + (size_t)l * d * M, r->b_in + l * M, r->ln2_w + l * d, r->ln2_b + l * d, d, M,
                    p->W_in + (size_t)l * d * M, p->b_in + l * M, "W_in");
        /* b_V is folded into b_O and zeroed */
        for (int i = 0; i < d; i++) ck_assert(p->b_V[l * d + i] == 0.0f);
        /* W_O rows centred; b_O = centred b_O + sum (b_V + W_V^T ln1_b) W_O_centred */
        double bO[64] = {0}, bOmean = 0;
        for (int j = 0; j < d; j++) bOmean += r->b_O[l * d + j] / (double)d;
        for (int j = 0; j < d; j++) bO[j] = r->b_O[l * d + j] - bOmean;
        for (int hi = 0; hi < d; hi++) { /* hi = h * dh + i */
            int h = hi / dh, i = hi % dh;
            const float *WV = r->W_V + ((size_t)l * H + h) * d * dh;
            double bv = r->b_V[l * d + hi];
            for (int k = 0; k < d; k++) bv += (double)WV[k * dh + i] * r->ln1_b[l * d + k];
            const float *wo = r->W_O + ((size_t)l * d + hi) * d;
            double mean = 0;
            for (int j = 0; j < d; j++) mean += wo[j] / (double)d;
            for (int j = 0; j < d; j++) {
                assert_close(p->W_O[((size_t)l * d + hi) * d + j], wo[j] - mean, "W_O", j);
                bO[j] += bv * (wo[j] - mean);
            }
        }
        for (int j = 0; j < d; j++) assert_close(p->b_O[l * d + j], bO[j], "b_O", j);
        for (int row = 0; row < M; row++) {
            const float *wr = r->W_out + ((size_t)l * M + row) * d;
            double mean = 0;
            for (int j = 0; j < d; j++) mean += wr[j] / (double)d;
            for (int j = 0; j < d; j++) assert_close(p->W_out[((size_t)l * M + row) * d + j], wr[j] - mean, "W_out", j);
        }
    }
    /* embeddings: rows centred over d_model */
    for (int v = 0; v < V; v++) {
        double mean = 0;
        for (int j = 0; j < d; j++) mean += r->W_E[v * d + j] / (double)d;
        for (int j = 0; j < d; j++) assert_close(p->W_E[v * d + j], r->W_E[v * d + j] - mean, "W_E", j);
    }
    /* unembedding: fold ln_f, centre over d_model, then centre over the vocabulary */
    double *W2 = calloc((size_t)d * V, sizeof *W2), *b1 = calloc((size_t)V, sizeof *b1), b1mean = 0;
    for (int v = 0; v < V; v++) {
        double mean = 0;
        for (int k = 0; k < d; k++) {
            b1[v] += (double)r->W_U[k * V + v] * r->lnf_b[k];
            mean += (double)r->W_U[k * V + v] * r->lnf_w[k] / d;
        }
        for (int k = 0; k < d; k++) W2[k * V + v] = (double)r->W_U[k * V + v] * r->lnf_w[k] - mean;
        b1mean += b1[v] / V;
    }
    for (int k = 0; k < d; k++) {
        double mean = 0;
        for (int v = 0; v < V; v++) mean += W2[k * V + v] / V;
        for (int v = 0; v < V; v++) assert_close(p->W_U[k * V + v], W2[k * V + v] - mean, "W_U", v);
    }
    for (int v = 0; v < V; v++) assert_close(p->b_U[v], b1[v] - b1mean, "b_U", v);
    free(W2);
    free(b1);
    cc_model_free(raw);
    cc_model_free(pro);
    tu_rmtree(d1);
    tu_rmtree(d2);
    free(d1);
    free(d2);
}
END_TEST

START_TEST(processing_is_idempotent_and_requires_weights)
{
    char *dir;
    cc_model *m = load_tiny(true, &dir);
    float before = m->w.W_Q[5];
    cc_error err;
    ck_assert_int_eq(cc_process_weights(m, &err), 0); /* second call is a no-op */
    ck_assert(m->w.W_Q[5] == before);
    cc_model_free(m);
    cc_model *o;
    ck_assert_int_eq(cc_model_open(dir, NULL, &o, &err), 0);
    ck_assert_int_eq(cc_process_weights(o, &err), -1);
    tu_assert_contains(err.msg, "loaded");
    cc_model_free(o);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A model whose unembedding and embedding are large enough for processing
 * to split them over threads (the fold by columns, the centring by rows),
 * loaded and processed with the loading thread count THREADS; *STARTED: the
 * threads that took. */
static cc_model *load_wide(const char *dir, int threads, int *started)
{
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_open(dir, NULL, &m, &err) == 0, "%s", err.msg);
    cc_model_set_load_threads(m, threads);
    int before = atomic_load(&threads_started);
    ck_assert_msg(cc_model_load_weights(m, &err) == 0 && cc_process_weights(m, &err) == 0, "%s", err.msg);
    *started = atomic_load(&threads_started) - before;
    return m;
}

START_TEST(processing_gives_the_same_bits_on_one_thread_and_on_four)
{
    char *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("tiny", &c, &err), 0);
    c.d_vocab = 40000, c.bos_token_id = 39999; /* W_U [16, 40000], W_E [40000, 16]: split in four */
    ck_assert_msg(cc_synth_write(&c, 7, NULL, dir, &err) == 0, "%s", err.msg);
    int started_one, started_four;
    cc_model_free(load_wide(dir, 1, &started_one)); /* OpenBLAS (re)starts its pool at the first hold */
    cc_model *one = load_wide(dir, 1, &started_one), *four = load_wide(dir, 4, &started_four);
    ck_assert_msg(started_one == 0, "one loading thread started %d more", started_one);
    ck_assert_msg(started_four >= 3, "four loading threads started only %d more", started_four);
    struct {
        const char *name;
        const float *a, *b;
        size_t n;
    } arrays[] = {{"W_U", one->w.W_U, four->w.W_U, (size_t)16 * 40000},
                  {"b_U", one->w.b_U, four->w.b_U, 40000},
                  {"W_E", one->w.W_E, four->w.W_E, (size_t)40000 * 16}};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        ck_assert_msg(memcmp(arrays[i].a, arrays[i].b, arrays[i].n * sizeof(float)) == 0,
                      "%s differs between one thread and four", arrays[i].name);
    cc_model_free(one);
    cc_model_free(four);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("default processing");
    tcase_add_test(tc, processing_matches_hand_derivation);
    tcase_add_test(tc, processing_is_idempotent_and_requires_weights);
    tcase_add_test(tc, processing_gives_the_same_bits_on_one_thread_and_on_four);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
