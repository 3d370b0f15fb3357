/* test_vecmath.c — the forward pass's vector kernels (src/runtime/vecmath.c)
 * against float64 evaluations of their definitions, at every length from 0 to
 * 40 so that the 8-lane, 4-lane and scalar tails all run (LayerNorm: 1 to 40). On this CPU the
 * AVX2 variant runs when it has AVX2; both variants are one source. */
#include <math.h>
#include <stdlib.h>

#include "circuitc/rng.h"
#include "runtime/vecmath.h"
#include "testutil.h"

#define MAXN 40

/* Seeded values in [lo, hi). */
static void fill(float *x, int n, unsigned seed, float lo, float hi)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)cc_rng_uniform(&r);
}

static double gelu_ref(double v)
{
    return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
}

START_TEST(gelu_matches_tanh_form)
{
    float x[MAXN + 8];
    int n = _i;
    fill(x, n, 7u + (unsigned)n, -12.0f, 12.0f);
    float orig[MAXN + 8];
    for (int i = 0; i < n; i++) orig[i] = x[i];
    x[n] = 123.0f; /* past the range: untouched */
    cc_vec_gelu_new(x, 0, (size_t)n);
    ck_assert_float_eq(x[n], 123.0f);
    for (int i = 0; i < n; i++) {
        /* the kernel's job, exactly: x / (1 + exp(y)) at the float y = -2u it forms */
        float v = orig[i], y = -2.0f * ((float)sqrt(2.0 / M_PI) * (v + 0.044715f * (v * v * v)));
        double same_y = y > 88.0f ? 0.0 : v / (1.0 + exp((double)y));
        ck_assert_msg(fabs(x[i] - same_y) <= 3e-7 * fabs(same_y) + 1e-37, "gelu(%.9g) = %.9g, want %.9g", v, x[i],
                      same_y);
        /* and the definition, within float rounding of the argument (|v| scale) */
        ck_assert_msg(fabs(x[i] - gelu_ref(v)) <= 3e-7 * fabs(v), "gelu(%.9g) = %.9g, tanh form %.9g", v, x[i],
                      gelu_ref(v));
    }
}
END_TEST

START_TEST(gelu_extremes)
{
    float x[9] = {-1e30f, -200.0f, -30.0f, 0.0f, -0.0f, 30.0f, 200.0f, 1e30f, 1.0f};
    cc_vec_gelu_new(x, 0, 9);
    ck_assert(x[0] == 0.0f && x[1] == 0.0f && x[2] == 0.0f); /* -0 or 0: exp(-2u) overflows */
    ck_assert(x[3] == 0.0f && x[4] == 0.0f);
    ck_assert_float_eq(x[5], 30.0f);
    ck_assert_float_eq(x[6], 200.0f);
    ck_assert_float_eq(x[7], 1e30f);
    ck_assert(fabs(x[8] - gelu_ref(1.0)) < 1e-7);
}
END_TEST

START_TEST(softmax_matches_reference)
{
    float x[MAXN];
    int n = _i;
    fill(x, n, 11u + (unsigned)n, -20.0f, 20.0f);
    for (int i = 0; i < n; i += 3) x[i] = -INFINITY; /* masked entries */
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    /* exp at the float difference the kernel forms */
    for (int i = 0; i < n; i++) sum += x[i] == -INFINITY ? 0 : exp((double)(x[i] - (float)mx));
    double want[MAXN];
    for (int i = 0; i < n; i++) want[i] = x[i] == -INFINITY ? 0 : exp((double)(x[i] - (float)mx)) / sum;
    cc_vec_softmax(x, n);
    double total = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(fabs(x[i] - want[i]) <= 3e-7 * want[i] + 1e-38, "n %d entry %d: %.9g, want %.9g", n, i, x[i],
                      want[i]);
        if (i % 3 == 0) ck_assert(x[i] == 0.0f);
        total += x[i];
    }
    if (n > 1) ck_assert(fabs(total - 1.0) < 1e-6);
}
END_TEST

START_TEST(softmax_all_masked_is_zero)
{
    float x[MAXN];
    for (int i = 0; i < MAXN; i++) x[i] = -INFINITY;
    cc_vec_softmax(x, MAXN);
    for (int i = 0; i < MAXN; i++) ck_assert(x[i] == 0.0f);
}
END_TEST

START_TEST(max_and_sum_exp_match_reference)
{
    float x[MAXN] = {0};
    int n = _i;
    fill(x, n, 13u + (unsigned)n, -100.0f, 30.0f);
    if (n > 0) x[n / 2] = 31.5f; /* the largest, anywhere in the vector or tail */
    float mx = cc_vec_max(x, n);
    ck_assert(n == 0 ? mx == -INFINITY : mx == 31.5f);
    if (n == 0) return;
    double want = 0;
    for (int i = 0; i < n; i++) want += exp((double)(x[i] - mx));
    double got = cc_vec_sum_exp(x, n, mx);
    ck_assert_msg(fabs(got - want) <= 3e-7 * want, "n %d: %.12g, want %.12g", n, got, want);
}
END_TEST

START_TEST(layernorm_matches_reference)
{
    float x[MAXN], w[MAXN], b[MAXN], out[MAXN];
    int n = _i + 1;
    fill(x, n, 17u + (unsigned)n, -3.0f, 5.0f);
    fill(w, n, 19u, 0.5f, 1.5f);
    fill(b, n, 23u, -1.0f, 1.0f);
    for (int affine = 0; affine < 2; affine++) {
        cc_vec_layernorm(x, n, affine ? w : NULL, affine ? b : NULL, 1e-5, out);
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        double sd = sqrt(var / n + 1e-5);
        for (int i = 0; i < n; i++) {
            double want = (x[i] - mean) / sd;
            if (affine) want = want * w[i] + b[i];
            ck_assert_msg(fabs(out[i] - want) <= 1e-6 * (1 + fabs(want)), "n %d affine %d entry %d: %.9g, want %.9g", n,
                          affine, i, out[i], want);
        }
    }
}
END_TEST

/* The first NaN, infinity or value beyond the limit, at every position of
 * arrays long enough for the groups of 64 and the tail; -inf skipped on request. */
START_TEST(first_beyond_finds_the_first)
{
    enum { N = 200 };
    float x[N];
    fill(x, N, 9, -100.0f, 100.0f);
    ck_assert_uint_eq(cc_vec_first_beyond(x, N, INFINITY, false), N);
    ck_assert_uint_eq(cc_vec_first_beyond(x, N, 100.0f, false), N);
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY, 1e30f, -1e30f};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        for (int at = 0; at < N; at++) {
            float keep = x[at];
            x[at] = bad[b];
            float limit = isfinite(bad[b]) ? 1e20f : INFINITY;
            ck_assert_uint_eq(cc_vec_first_beyond(x, N, limit, false), (size_t)at);
            ck_assert_uint_eq(cc_vec_first_beyond(x, N, limit, true), bad[b] == -INFINITY ? N : (size_t)at);
            ck_assert_uint_eq(cc_vec_first_beyond(x, (size_t)at, limit, false), (size_t)at); /* before it: none */
            x[at] = keep;
        }
    x[150] = NAN, x[70] = -100.0f; /* the others lie in (-100, 100) */
    ck_assert_uint_eq(cc_vec_first_beyond(x, N, 100.0f, false), 70); /* |x| >= limit counts */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vecmath");
    TCase *tc = tcase_create("vecmath");
    tcase_add_loop_test(tc, gelu_matches_tanh_form, 0, MAXN + 1);
    tcase_add_test(tc, gelu_extremes);
    tcase_add_loop_test(tc, softmax_matches_reference, 0, MAXN + 1);
    tcase_add_test(tc, softmax_all_masked_is_zero);
    tcase_add_loop_test(tc, max_and_sum_exp_match_reference, 0, MAXN + 1);
    tcase_add_loop_test(tc, layernorm_matches_reference, 0, MAXN);
    tcase_add_test(tc, first_beyond_finds_the_first);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
