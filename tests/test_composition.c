/* test_composition.c — batched composition scores (composition.h) against the
 * one-pair scores: of two heads (cc_head_composition_score) on a tiny synthetic
 * model, and of FactoredMatrices (cc_fm_composition_score); the layer mask and
 * the random baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/composition.h"
#include "circuitc/measure.h"
#include "circuitc/rng.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *g_dir;

START_TEST(model_scores_match_pairwise)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(g_dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    double *s = malloc((size_t)n * n * sizeof *s);
    for (int mode = 0; mode < 3; mode++) {
        ck_assert_int_eq(cc_composition_scores(m, (cc_comp_mode)mode, s, &err), 0);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                cc_head h1 = {a / H, a % H}, h2 = {b / H, b % H};
                double got = s[(size_t)a * n + b];
                if (h1.layer >= h2.layer) {
                    ck_assert_msg(got == 0.0, "mode %d: masked entry %d,%d is %g", mode, a, b, got);
                    continue;
                }
                cc_head_composition pair;
                ck_assert_int_eq(cc_head_composition_score(m, (cc_comp_mode)mode, h1, h2, 0, 0, &pair, &err), 0);
                double want = pair.score;
                ck_assert_msg(fabs(got - want) <= 1e-9 * want, "mode %s L%dH%d->L%dH%d: %.12g vs %.12g",
                              cc_comp_mode_name((cc_comp_mode)mode), h1.layer, h1.head, h2.layer, h2.head, got, want);
                ck_assert(got > 0 && got <= 1);
            }
    }
    free(s);
    cc_model_free(m);
}
END_TEST

START_TEST(fm_batch_matches_pairwise)
{
    cc_rng g;
    cc_rng_seed(&g, 9);
    enum { NL = 3, NR = 4, X = 7, M1 = 3, Y = 6, M2 = 4, Z = 5 };
    cc_fm left[NL], right[NR];
    for (int i = 0; i < NL; i++) {
        float *A = malloc(X * M1 * sizeof *A), *B = malloc(M1 * Y * sizeof *B);
        for (int k = 0; k < X * M1; k++) A[k] = (float)cc_rng_normal(&g);
        for (int k = 0; k < M1 * Y; k++) B[k] = (float)cc_rng_normal(&g);
        if (i == 2) memset(A, 0, X * M1 * sizeof *A); /* a zero matrix scores 0 */
        cc_fm_wrap(A, B, X, M1, Y, &left[i]);
    }
    for (int j = 0; j < NR; j++) {
        float *A = malloc(Y * M2 * sizeof *A), *B = malloc(M2 * Z * sizeof *B);
        for (int k = 0; k < Y * M2; k++) A[k] = (float)cc_rng_normal(&g);
        for (int k = 0; k < M2 * Z; k++) B[k] = (float)cc_rng_normal(&g);
        cc_fm_wrap(A, B, Y, M2, Z, &right[j]);
    }
    double out[NL * NR];
    cc_error err;
    ck_assert_int_eq(cc_composition_scores_fm(left, NL, right, NR, out, &err), 0);
    for (int i = 0; i < NL; i++)
        for (int j = 0; j < NR; j++) {
            double want;
            ck_assert_int_eq(cc_fm_composition_score(&left[i], &right[j], &want, &err), 0);
            ck_assert_msg(fabs(out[i * NR + j] - want) <= 1e-9 * (want + 1e-300), "%d,%d: %.12g vs %.12g", i, j,
                          out[i * NR + j], want);
        }
    ck_assert(out[2 * NR] == 0.0);
    /* shape mismatch */
    ck_assert_int_eq(cc_composition_scores_fm(right, NR, right, NR, out, &err), -1);
    tu_assert_contains(err.msg, "right matrix 0");
    for (int i = 0; i < NL; i++) cc_fm_free(&left[i]);
    for (int j = 0; j < NR; j++) cc_fm_free(&right[j]);
}
END_TEST

/* The baseline's normals: cc_rng_normals_f32 is (float)cc_rng_normal bit for
 * bit, over lengths that are not multiples of the vector width, and leaves the
 * stream where the scalar loop would. */
START_TEST(vector_normals_equal_scalar)
{
    static const size_t LENGTHS[] = {0, 1, 63, 64, 65, 1u << 19};
    float *fast = malloc(((size_t)1 << 19) * sizeof *fast);
    long checked = 0;
    for (uint64_t seed = 0; seed < 3; seed++)
        for (size_t t = 0; t < sizeof LENGTHS / sizeof *LENGTHS; t++) {
            size_t n = LENGTHS[t];
            cc_rng a, b;
            cc_rng_seed(&a, seed * 1000 + t), cc_rng_seed(&b, seed * 1000 + t);
            cc_rng_normals_f32(&a, fast, n);
            for (size_t i = 0; i < n; i++) {
                float want = (float)cc_rng_normal(&b);
                ck_assert_msg(memcmp(&fast[i], &want, sizeof want) == 0, "seed %llu, value %zu: %.9g vs %.9g",
                              (unsigned long long)seed, i, fast[i], want);
            }
            ck_assert(a.state == b.state);
            checked += (long)n;
        }
    ck_assert_int_eq(checked, 3 * (1 + 63 + 64 + 65 + (1 << 19)));
    free(fast);
}
END_TEST

START_TEST(random_baseline)
{
    double s1[50], s2[50], mean, std, mean2, std2;
    cc_error err;
    ck_assert_int_eq(cc_composition_baseline(64, 16, 50, 7, s1, &mean, &std, &err), 0);
    ck_assert_int_eq(cc_composition_baseline(64, 16, 50, 7, s2, &mean2, &std2, &err), 0);
    ck_assert(memcmp(s1, s2, sizeof s1) == 0 && mean == mean2 && std == std2); /* seeded */
    double sum = 0, sq = 0;
    for (int i = 0; i < 50; i++) sum += s1[i];
    for (int i = 0; i < 50; i++) sq += (s1[i] - sum / 50) * (s1[i] - sum / 50);
    ck_assert(fabs(mean - sum / 50) < 1e-15 && fabs(std - sqrt(sq / 50)) < 1e-15);
    /* about 1/sqrt(d_model) (docs/experiments.md, "Composition scores") */
    ck_assert_msg(mean > 0.5 / 8 && mean < 2.0 / 8, "baseline mean %g", mean);
    /* every sample recomputed by hand from one sequential stream in the
     * documented draw order: the threads' split of the stream is invisible */
    cc_rng g;
    cc_rng_seed(&g, 7);
    float *buf = malloc(4 * 64 * 16 * sizeof *buf);
    for (int s = 0; s < 50; s++) {
        for (int i = 0; i < 4 * 64 * 16; i++) buf[i] = (float)cc_rng_normal(&g);
        cc_fm a = {.l = 64, .m = 16, .r = 64, .A = buf, .B = buf + 1024};
        cc_fm b = {.l = 64, .m = 16, .r = 64, .A = buf + 2048, .B = buf + 3072};
        double want;
        ck_assert_int_eq(cc_fm_composition_score(&a, &b, &want, &err), 0);
        ck_assert_msg(fabs(s1[s] - want) <= 1e-12 * want, "sample %d: %.17g vs %.17g", s, s1[s], want);
    }
    free(buf);
    ck_assert_int_eq(cc_composition_baseline(64, 16, 0, 7, NULL, &mean, &std, &err), -1);
    tu_assert_contains(err.msg, "positive");
}
END_TEST

int main(void)
{
    cc_config cfg;
    cc_error err;
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp");
    g_dir = mkdtemp(tmpl);
    if (!g_dir || cc_synth_preset("tiny", &cfg, &err) != 0) return 1;
    cfg.n_layers = 3; /* three layers, so that layer pairs 0->1, 0->2, 1->2 all occur */
    if (cc_synth_write(&cfg, 4, NULL, g_dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    Suite *s = suite_create("composition");
    TCase *tc = tcase_create("composition");
    tcase_set_timeout(tc, 120); /* the sanitizer build on a loaded machine */
    tcase_add_test(tc, model_scores_match_pairwise);
    tcase_add_test(tc, fm_batch_matches_pairwise);
    tcase_add_test(tc, vector_normals_equal_scalar);
    tcase_add_test(tc, random_baseline);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    tu_rmtree(g_dir);
    return rc;
}
