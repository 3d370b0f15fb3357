/* test_parity_factored.c — the analyzer's weight-only figures against
 * TransformerLens (golden/out/induction-3l4h/factored.json, golden/FORMAT.md):
 * all composition scores (q, k, v; [L,H,L,H]), and the singular values,
 * eigenvalues and norms of the kcomp circuit and the OV/QK matrices of the
 * golden's two circuit heads. (Top-1/top-k accuracies: test_parity_topk.)
 *
 * Tolerances: the classes of golden/tolerances.json (the values and the
 * measurements behind them: golden/FORMAT.md, "Why these tolerances").
 * TransformerLens computes in float32; circuitc's reductions run in float64
 * from the same float32 weights.
 * - composition scores ("composition_scores", relative): entries with
 *   l1 >= l2 are masked and must be exactly 0 in both. No unmasked entry is
 *   near zero (they are all near 1/sqrt(d_model) or above), so no absolute
 *   floor is used.
 * - singular values ("singular_values", relative to S_0, the largest): by
 *   Weyl's inequality a perturbation E of the matrix moves every singular
 *   value by at most ||E||_2 <= ||E||_F, and float32 rounding gives
 *   ||E|| ~ eps * ||M||; a relative test of each S_i would demand meaningless
 *   digits of the kcomp circuit's last singular value (1e-4 S_0, pure rounding).
 * - eigenvalues ("eigenvalues", relative to the largest modulus): each TL
 *   eigenvalue matched to the nearest of ours (eigenvalues of non-normal
 *   matrices are more sensitive than singular values; the sort order among
 *   near-equal moduli is not a numerical property, so the lists are matched,
 *   not zipped; golden/compare.py matches them the same way).
 * - norms ("norms", relative).
 * - random baseline: the golden's samples are re-drawn from its documented
 *   generator (FORMAT.md: synth values, seed 7) and scored by circuitc's
 *   batched routine; scores and their mean as composition scores, their
 *   standard deviation as "baseline_std". The golden draws STD = 1 values,
 *   cc_synth_value draws STD = 0.02 ones from the same uniforms: the score is
 *   scale-invariant, so only float32 rounding of the inputs differs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/composition.h"
#include "circuitc/head_circuits.h"
#include "circuitc/synth.h"
#include "golden.h"
#include "golden_checks.h"
#include "testutil.h"

START_TEST(composition_scores_all_modes)
{
    cc_model *m = golden_fixture(true);
    json_t *f = golden_load("induction-3l4h", "factored.json");
    golden_check_composition_scores(m, f, "induction-3l4h");
    json_decref(f);
    cc_model_free(m);
}
END_TEST

static cc_head head_of(json_t *pair)
{
    return (cc_head){(int)json_integer_value(json_array_get(pair, 0)), (int)json_integer_value(json_array_get(pair, 1))};
}

/* Compares FM's SVD, eigenvalues and norm with golden spectra entry WHAT. */
static void check_spectrum(const cc_fm *fm, json_t *spec, const char *what)
{
    cc_error err;
    json_t *S = json_object_get(spec, "S"), *er = json_object_get(spec, "eig_re"), *ei = json_object_get(spec, "eig_im");
    ck_assert_msg(json_is_array(S) && json_is_array(er) && json_is_array(ei), "golden spectra.%s malformed", what);
    cc_fm_svd svd;
    ck_assert_int_eq(cc_fm_svd_compute(fm, &svd, &err), 0);
    ck_assert_int_eq((int)json_array_size(S), svd.k);
    golden_tol s_tol = golden_tolerance("singular_values", "list_max"), e_tol = golden_tolerance("eigenvalues", "max_modulus"),
               n_tol = golden_tolerance("norms", "value");
    double s0 = json_real_value(json_array_get(S, 0)), worst_s = 0;
    for (int i = 0; i < svd.k; i++) {
        double want = json_real_value(json_array_get(S, (size_t)i));
        double d = fabs(svd.S[i] - want);
        worst_s = fmax(worst_s, d / s0);
        ck_assert_msg(d <= golden_allowed(s_tol, s0), "%s: S[%d] = %.9g, TransformerLens %.9g (|diff| / S_0 = %.2g)", what, i,
                      svd.S[i], want, d / s0);
    }
    cc_fm_svd_free(&svd);

    int m = fm->m;
    ck_assert_int_eq((int)json_array_size(er), m);
    double *re = malloc((size_t)m * sizeof *re), *im = malloc((size_t)m * sizeof *im);
    ck_assert_int_eq(cc_fm_eigenvalues(fm, re, im, &err), 0);
    double scale = 0, worst_e = 0;
    for (int i = 0; i < m; i++)
        scale = fmax(scale, hypot(json_real_value(json_array_get(er, (size_t)i)),
                                  json_real_value(json_array_get(ei, (size_t)i))));
    char *used = calloc((size_t)m, 1);
    for (int i = 0; i < m; i++) {
        double wr = json_real_value(json_array_get(er, (size_t)i)), wi = json_real_value(json_array_get(ei, (size_t)i));
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < m; j++)
            if (!used[j] && hypot(re[j] - wr, im[j] - wi) < bd) bd = hypot(re[j] - wr, im[j] - wi), best = j;
        used[best] = 1;
        worst_e = fmax(worst_e, bd / scale);
        ck_assert_msg(bd <= golden_allowed(e_tol, scale), "%s: TL eigenvalue %d (%.9g%+.9gi): nearest of ours %.9g%+.9gi (%.2g of max)",
                      what, i, wr, wi, re[best], im[best], bd / scale);
    }
    double norm = cc_fm_norm(fm), want = json_real_value(json_object_get(spec, "norm"));
    ck_assert_msg(golden_near(n_tol, norm, want), "%s: norm %.9g, TransformerLens %.9g", what, norm, want);
    fprintf(stderr, "%-8s S worst %.2g of S_0; eigenvalues worst %.2g of max; norm rel %.2g\n", what, worst_s,
            worst_e, fabs(norm - want) / want);
    free(used), free(re), free(im);
}

START_TEST(spectra_and_norms)
{
    cc_model *m = golden_fixture(true);
    json_t *f = golden_load("induction-3l4h", "factored.json");
    json_t *heads = json_object_get(f, "circuit_heads"), *spectra = json_object_get(f, "spectra");
    cc_head prev = head_of(json_object_get(heads, "prev")), ind = head_of(json_object_get(heads, "ind"));
    cc_error err;
    cc_fm fm;

    cc_circuit *c = NULL;
    ck_assert_msg(cc_circuit_open("kcomp", &c, &err) == 0, "%s", err.msg);
    const char *names[] = {"prev", "ind"};
    cc_head hs[] = {prev, ind};
    ck_assert_msg(cc_circuit_compile(c, m, names, hs, 2, &fm, NULL, &err) == 0, "%s", err.msg);
    check_spectrum(&fm, json_object_get(spectra, "kcomp"), "kcomp");
    cc_fm_free(&fm);
    /* TransformerLens' own evaluation order of K gives the same figures */
    ck_assert_int_eq(cc_circuit_compile_ex(c, m, names, hs, 2, CC_ORDER_LEFT, CC_ORDER_RIGHT, &fm, NULL, NULL, &err), 0);
    check_spectrum(&fm, json_object_get(spectra, "kcomp"), "kcomp-TL");
    cc_fm_free(&fm);
    cc_circuit_free(c);

    struct {
        const char *key;
        cc_head h;
        int qk;
    } mats[] = {{"OV_prev", prev, 0}, {"OV_ind", ind, 0}, {"QK_prev", prev, 1}, {"QK_ind", ind, 1}};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq((mats[i].qk ? cc_head_qk : cc_head_ov)(m, mats[i].h, &fm, &err), 0);
        check_spectrum(&fm, json_object_get(spectra, mats[i].key), mats[i].key);
        cc_fm_free(&fm);
    }
    json_decref(f);
    cc_model_free(m);
}
END_TEST

/* Composition scores of random pairs drawn as FORMAT.md's random_baseline says. */
static void check_baseline(json_t *rb)
{
    int d = (int)golden_number(rb, "d_model"), dh = (int)golden_number(rb, "d_head");
    int n = (int)golden_number(rb, "samples"), seed = (int)golden_number(rb, "seed");
    json_t *scores = json_object_get(rb, "scores");
    ck_assert_int_eq((int)json_array_size(scores), n);
    float *f[4];
    for (int i = 0; i < 4; i++) f[i] = malloc((size_t)d * dh * sizeof *f[i]);
    static const char *const NAMES[4] = {"A1", "A2", "B1", "B2"};
    double worst = 0, sum = 0, sq = 0, *got = malloc((size_t)n * sizeof *got);
    golden_tol tol = golden_tolerance("composition_scores", "value"), std_tol = golden_tolerance("baseline_std", "value");
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < 4; i++) {
            char name[64];
            snprintf(name, sizeof name, "baseline:%d:%s", s, NAMES[i]);
            for (int k = 0; k < d * dh; k++) f[i][k] = cc_synth_value((uint64_t)seed, name, (uint64_t)k);
        }
        cc_fm a = {.l = d, .m = dh, .r = d, .A = f[0], .B = f[1]}, b = {.l = d, .m = dh, .r = d, .A = f[2], .B = f[3]};
        cc_error err;
        ck_assert_int_eq(cc_composition_scores_fm(&a, 1, &b, 1, &got[s], &err), 0);
        double want = json_real_value(json_array_get(scores, (size_t)s)), rel = fabs(got[s] - want) / want;
        worst = fmax(worst, rel);
        ck_assert_msg(golden_near(tol, got[s], want), "baseline sample %d: %.9g, TransformerLens %.9g", s, got[s], want);
        sum += got[s];
    }
    for (int s = 0; s < n; s++) sq += (got[s] - sum / n) * (got[s] - sum / n);
    double mean = golden_number(rb, "mean"), std = golden_number(rb, "std");
    ck_assert_msg(golden_near(tol, sum / n, mean), "baseline mean %.9g vs %.9g", sum / n, mean);
    ck_assert_msg(golden_near(std_tol, sqrt(sq / n), std), "baseline std %.9g vs %.9g", sqrt(sq / n), std);
    fprintf(stderr, "random baseline (d %d, d_head %d, %d samples): worst relative difference %.2g\n", d, dh, n, worst);
    for (int i = 0; i < 4; i++) free(f[i]);
    free(got);
}

START_TEST(random_baseline_fixture)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    check_baseline(json_object_get(f, "random_baseline"));
    json_decref(f);
}
END_TEST

/* K-composition scores [L,H,L,H] and the random baseline of the GPT-2-small-shaped
 * random model (regenerated from its seed; the bytes must equal the golden's). */
START_TEST(gpt2_small_random_k_scores)
{
    char *dir;
    cc_model *m = golden_gpt2_small_random(&dir);
    json_t *f = golden_load("gpt2-small-random", "factored.json");
    golden_check_composition_scores(m, f, "gpt2-small-random");
    check_baseline(json_object_get(f, "random_baseline"));
    json_decref(f);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_factored");
    TCase *tc = tcase_create("factored");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, composition_scores_all_modes);
    tcase_add_test(tc, spectra_and_norms);
    tcase_add_test(tc, random_baseline_fixture);
    tcase_add_test(tc, gpt2_small_random_k_scores);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
