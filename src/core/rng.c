/* rng.c — splitmix64 and the distributions built on it (docs/rng.md). */
#include "circuitc/rng.h"

#include <math.h>

#include "core/args.h"

void cc_rng_seed(cc_rng *r, uint64_t seed)
{
    if (!r) return;
    r->state = seed;
}

static inline uint64_t splitmix_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull); /* cc_rng_skip relies on this step */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double to_uniform(uint64_t x) { return (double)(x >> 11) * 0x1p-53; }

uint64_t cc_rng_next(cc_rng *r)
{
    CC_ARG_NOT_NULL(r, NULL, 0);
    return splitmix_next(&r->state);
}

void cc_rng_skip(cc_rng *r, uint64_t n)
{
    if (!r) return;
    r->state += n * 0x9e3779b97f4a7c15ull;
}

uint32_t cc_rng_below(cc_rng *r, uint32_t n)
{
    CC_ARG_NOT_NULL(r, NULL, 0);
    /* Lemire: take the high 32 bits of x*n; reject the few low products that would bias it. */
    uint64_t m = (uint64_t)(uint32_t)(cc_rng_next(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)-n % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(cc_rng_next(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double cc_rng_uniform(cc_rng *r)
{
    CC_ARG_NOT_NULL(r, NULL, NAN);
    return to_uniform(splitmix_next(&r->state));
}

static double box_muller(double u1, double u2)
{
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

double cc_rng_normal(cc_rng *r)
{
    CC_ARG_NOT_NULL(r, NULL, NAN);
    double u1 = cc_rng_uniform(r), u2 = cc_rng_uniform(r);
    return box_muller(u1, u2);
}

#ifdef CC_HAVE_LIBMVEC
#include <immintrin.h>

/* glibc's vector libm (libmvec), four lanes, AVX2: within 4 ulp of the scalar functions. */
__attribute__((target("avx2"))) __m256d _ZGVdN4v_log(__m256d x);
__attribute__((target("avx2"))) __m256d _ZGVdN4v_cos(__m256d x);

enum { NORMALS_BLOCK = 64 };

/* OUT[k] = (float)box_muller(U1[k], U2[k]) for a block, through vector log and
 * cos; returns a mask with bit k set for each value k that the caller must
 * recompute the scalar way. The vector functions' few-ulp error (under 2^-48
 * relative in the result) can only change the float32 rounding when the result
 * lies within 2^-40 of a rounding boundary: those values are flagged, and so
 * are the ranges where relative accuracy is hardest (log near 1, cos near a
 * zero), about 0.7% of all. */
__attribute__((target("avx2"))) static uint64_t normals_block_avx2(const double *u1, const double *u2, float *out)
{
    const __m256d small = _mm256_set1_pd(0x1p-8), sign = _mm256_set1_pd(-0.0);
    uint64_t redo = 0;
    for (int k = 0; k < NORMALS_BLOCK; k += 4) {
        __m256d a = _mm256_loadu_pd(u1 + k);
        __m256d s = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0),
                                                 _ZGVdN4v_log(_mm256_sub_pd(_mm256_set1_pd(1.0), a))));
        __m256d c = _ZGVdN4v_cos(_mm256_mul_pd(_mm256_set1_pd(2.0 * 3.14159265358979323846), _mm256_loadu_pd(u2 + k)));
        __m256d v = _mm256_mul_pd(s, c), margin = _mm256_mul_pd(_mm256_andnot_pd(sign, v), _mm256_set1_pd(0x1p-40));
        __m128 f = _mm256_cvtpd_ps(v);
        __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(v, margin)), hi = _mm256_cvtpd_ps(_mm256_add_pd(v, margin));
        __m256d hard = _mm256_or_pd(_mm256_cmp_pd(a, small, _CMP_LT_OQ),
                                    _mm256_cmp_pd(_mm256_andnot_pd(sign, c), small, _CMP_LT_OQ));
        int bits = _mm256_movemask_pd(hard) | _mm_movemask_ps(_mm_or_ps(_mm_cmpneq_ps(f, lo), _mm_cmpneq_ps(f, hi)));
        _mm_storeu_ps(out + k, f);
        redo |= (uint64_t)bits << k;
    }
    return redo;
}

/* Fills whole blocks of OUT[0..n) and returns how many values it filled. */
__attribute__((target("avx2"))) static size_t normals_blocks(cc_rng *r, float *out, size_t n)
{
    size_t i = 0;
    for (; n - i >= NORMALS_BLOCK; i += NORMALS_BLOCK) {
        double u1[NORMALS_BLOCK], u2[NORMALS_BLOCK];
        for (int k = 0; k < NORMALS_BLOCK; k++) {
            u1[k] = to_uniform(splitmix_next(&r->state));
            u2[k] = to_uniform(splitmix_next(&r->state));
        }
        uint64_t redo = normals_block_avx2(u1, u2, out + i);
        for (int k = 0; redo; k++, redo >>= 1)
            if (redo & 1) out[i + k] = (float)box_muller(u1[k], u2[k]);
    }
    return i;
}
#endif

void cc_rng_normals_f32(cc_rng *r, float *out, size_t n)
{
    if (!r || !out) return;
    size_t i = 0;
#ifdef CC_HAVE_LIBMVEC
    if (__builtin_cpu_supports("avx2")) i = normals_blocks(r, out, n);
#endif
    for (; i < n; i++) out[i] = (float)cc_rng_normal(r);
}
