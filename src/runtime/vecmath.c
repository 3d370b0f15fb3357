/* vecmath.c — element-wise and row-wise kernels of the fast forward pass on
 * 8-lane GCC/Clang vectors, each body compiled for AVX2 and for baseline
 * x86-64 (see vecmath.h and the end of this file). */
#include "runtime/vecmath.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Every helper and body is inlined into both variants (see the end). */
#define INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

#define SPLAT8(v) {v, v, v, v, v, v, v, v}

/* exp(x) for x in [-87, 88], in place on 8 lanes: x = k ln2 + r, |r| <= ln2/2,
 * exp(r) by Cephes' expf polynomial (relative error about 1e-7, within 2 ulp
 * of expf), times 2^k built in the exponent bits. Tails shorter than 8 run in
 * padded vectors, so every element gets exactly these operations. */
INLINE void exp_body8(v8f *px)
{
    v8f x = *px;
    v8f kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    v8f r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    v8f r2 = r * r;
    v8f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    v8i bits = (__builtin_convertvector(kf, v8i) + 127) << 23;
    *px = p * (v8f)bits;
}

/* Vectors are passed to helpers by pointer and selected by macro: a vector
 * argument or result of this width would change the calling convention
 * between the two targets (an error for Clang, a warning for GCC). */
#define SELECT8(mask, a, b) ((v8f)(((mask) & (v8i)(a)) | (~(mask) & (v8i)(b))))

/* exp(x) for x <= 0; below -87 clamped (exp(-87) = 1.6e-38: the terms it
 * affects are below float precision relative to a sum holding the term 1). */
INLINE void exp_nonpos8(v8f *x)
{
    const v8f lo = SPLAT8(-87.0f);
    *x = SELECT8(*x < lo, lo, *x);
    exp_body8(x);
}

/* exp(x) clamped to [-87, 88] (its callers only need 1/(1 + exp(y)), which the
 * clamp leaves unchanged in float32). */
INLINE void exp_clamped8(v8f *x)
{
    const v8f lo = SPLAT8(-87.0f), hi = SPLAT8(88.0f);
    *x = SELECT8(*x < lo, lo, *x);
    *x = SELECT8(*x > hi, hi, *x);
    exp_body8(x);
}

#define LOW4(v) __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d)
#define HIGH4(v) __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d)

INLINE float max_of(const float *x, int n)
{
    float mx = -INFINITY;
    int i = 0;
    v8f m = SPLAT8(-INFINITY);
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, x + i, sizeof v);
        m = SELECT8(v > m, v, m);
    }
    for (int k = 0; k < 8; k++) mx = m[k] > mx ? m[k] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

/* ------------------------------------------------------------------ gelu_new */

/* -0 for very negative x (exp(-2u) > 2^127, where expf would give inf). */
INLINE void gelu_body(float *x, size_t lo, size_t hi)
{
    const float c = (float)sqrt(2.0 / M_PI);
    const v8f big = SPLAT8(88.0f), zero = SPLAT8(0.0f);
    for (size_t i = lo; i < hi; i += 8) {
        size_t w = hi - i < 8 ? hi - i : 8; /* the last group may be short: zero padding */
        v8f v = zero;
        memcpy(&v, x + i, w * sizeof *x);
        v8f y = -2.0f * (c * (v + 0.044715f * (v * v * v)));
        v8f e = y;
        exp_clamped8(&e);
        v8f g = SELECT8(y > big, v * zero, v / (1.0f + e));
        memcpy(x + i, &g, w * sizeof *x);
    }
}

/* ------------------------------------------------------------------ softmax */

/* exp(x - mx) of W (at most 8) values at X in place, -inf -> 0, also into *E
 * (lanes past W are 0). */
INLINE void softmax_exp8(float *x, int w, float mx, v8f *e)
{
    const v8f ninf = SPLAT8(-INFINITY), zero = SPLAT8(0.0f);
    v8f v = ninf;
    memcpy(&v, x, (size_t)w * sizeof *x);
    *e = v - mx;
    exp_nonpos8(e);
    *e = SELECT8(v == ninf, zero, *e);
    memcpy(x, e, (size_t)w * sizeof *x);
}

INLINE void softmax_body(float *x, int n)
{
    float mx = max_of(x, n);
    if (mx == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    /* four float64 lanes: element j goes to lane j % 4 in order, then the
     * lanes are added, then the tail of fewer than four */
    v4d acc = {0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        v8f e;
        softmax_exp8(x + j, 8, mx, &e);
        acc += LOW4(e);
        acc += HIGH4(e);
    }
    if (j + 4 <= n) {
        v8f e;
        softmax_exp8(x + j, 4, mx, &e);
        acc += LOW4(e);
        j += 4;
    }
    double sum = acc[0] + acc[1] + acc[2] + acc[3];
    if (j < n) { /* fewer than four left: added one by one */
        v8f e;
        softmax_exp8(x + j, n - j, mx, &e);
        for (int k = 0; k < n - j; k++) sum += e[k];
    }
    for (j = 0; j < n; j++) x[j] = (float)(x[j] / sum);
}

/* ------------------------------------------------------------------ float64 sums */

typedef enum { SUM_PLAIN, SUM_SQUARES, SUM_EXP } sum_kind;

/* Float64 lane sums of x, x^2 or exp(x - mx) (x <= mx) over the whole groups of
 * eight in X [n]: element i goes to lane i % 8, lanes 0-3 in *LO, 4-7 in *HI
 * (two registers: an eight-double vector would live on the stack under AVX2).
 * Returns the number of elements summed; the callers add the lanes and the
 * tail in their own order. */
INLINE int sum_lanes(const float *x, int n, sum_kind kind, float mx, v4d *lo, v4d *hi)
{
    const v4d zero = {0, 0, 0, 0};
    *lo = *hi = zero;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, x + i, sizeof v);
        if (kind == SUM_EXP) {
            v -= mx;
            exp_nonpos8(&v);
        }
        v4d a = LOW4(v), c = HIGH4(v);
        *lo += kind == SUM_SQUARES ? a * a : a;
        *hi += kind == SUM_SQUARES ? c * c : c;
    }
    return i;
}


INLINE double sum_exp_body(const float *x, int n, float mx)
{
    v4d lo, hi;
    int i = sum_lanes(x, n, SUM_EXP, mx, &lo, &hi);
    double sum = 0;
    for (int k = 0; k < 4; k++) sum += lo[k] + hi[k]; /* lanes k and k + 4 first */
    if (i < n) { /* the tail, one by one */
        v8f v = SPLAT8(0.0f);
        memcpy(&v, x + i, (size_t)(n - i) * sizeof *x);
        v -= mx;
        exp_nonpos8(&v);
        for (int k = 0; k < n - i; k++) sum += v[k];
    }
    return sum;
}

/* ------------------------------------------------------------------ LayerNorm */

/* Sum of X [n] (SQUARE: of the squares) in float64: the eight lanes in order,
 * then the tail. */
INLINE double sum_f64(const float *x, int n, bool square)
{
    v4d lo, hi;
    int i = sum_lanes(x, n, square ? SUM_SQUARES : SUM_PLAIN, 0.0f, &lo, &hi);
    double sum = 0;
    for (int k = 0; k < 4; k++) sum += lo[k];
    for (int k = 0; k < 4; k++) sum += hi[k];
    for (; i < n; i++) sum += square ? (double)x[i] * x[i] : x[i];
    return sum;
}

INLINE void layernorm_body(const float *x, int d, const float *w, const float *b, double eps, float *o)
{
    float mean = (float)(sum_f64(x, d, false) / d);
    for (int i = 0; i < d; i++) o[i] = x[i] - mean;
    double ss = sum_f64(o, d, true);
    float scale = (float)sqrt(ss / d + eps);
    for (int i = 0; i < d; i++) o[i] /= scale;
    if (w)
        for (int i = 0; i < d; i++) o[i] = o[i] * w[i] + b[i];
}

/* RMSNorm: no centring; the same float64 sum of squares and division. */
INLINE void rmsnorm_body(const float *x, int d, const float *w, double eps, float *o)
{
    float scale = (float)sqrt(sum_f64(x, d, true) / d + eps);
    for (int i = 0; i < d; i++) o[i] = x[i] / scale;
    if (w)
        for (int i = 0; i < d; i++) o[i] = o[i] * w[i];
}

/* ------------------------------------------------------------------ range check */

/* The first element of X [n] that is NaN or has |x| >= LIMIT (LIMIT > 0, +inf
 * allowed), -inf aside when NEG_INF_OK; n when none. On the float's bits: |x|
 * >= LIMIT (NaN included) is (bits & 0x7fffffff) >= LIMIT's bits, a signed
 * compare of two non-negative integers. Groups of 64 are tested at once. */
INLINE size_t first_beyond_body(const float *x, size_t n, float limit, bool neg_inf_ok)
{
    int32_t lim_bits, ninf_bits;
    float ninf = -INFINITY;
    memcpy(&lim_bits, &limit, sizeof lim_bits);
    memcpy(&ninf_bits, &ninf, sizeof ninf_bits);
    const v8i abs_mask = SPLAT8(0x7fffffff), lim = SPLAT8(lim_bits), skip = SPLAT8(neg_inf_ok ? ninf_bits : 0);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        v8i any = SPLAT8(0);
        for (size_t j = i; j < i + 64; j += 8) {
            v8i v;
            memcpy(&v, x + j, sizeof v);
            any |= ((v & abs_mask) >= lim) & (v != skip);
        }
        bool found = false;
        for (int k = 0; k < 8; k++) found |= any[k] != 0;
        if (found) break; /* the element itself is found one by one below */
    }
    for (; i < n; i++) {
        int32_t b;
        memcpy(&b, x + i, sizeof b);
        if ((b & 0x7fffffff) >= lim_bits && !(neg_inf_ok && b == ninf_bits)) return i;
    }
    return n;
}

/* ------------------------------------------------------------------ the two variants */

/* Each entry point runs its body compiled for AVX2 when the CPU has it, else
 * the baseline build of the same body. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AVX2 __attribute__((target("avx2")))
static AVX2 void gelu_avx2(float *x, size_t lo, size_t hi) { gelu_body(x, lo, hi); }
static AVX2 void softmax_avx2(float *x, int n) { softmax_body(x, n); }
static AVX2 float max_avx2(const float *x, int n) { return max_of(x, n); }
static AVX2 void layernorm_avx2(const float *x, int d, const float *w, const float *b, double eps, float *o)
{
    layernorm_body(x, d, w, b, eps, o);
}
static AVX2 void rmsnorm_avx2(const float *x, int d, const float *w, double eps, float *o)
{
    rmsnorm_body(x, d, w, eps, o);
}
static AVX2 double sum_exp_avx2(const float *x, int n, float mx) { return sum_exp_body(x, n, mx); }
static AVX2 size_t first_beyond_avx2(const float *x, size_t n, float limit, bool neg_inf_ok)
{
    return first_beyond_body(x, n, limit, neg_inf_ok);
}
#define HAVE_AVX2() __builtin_cpu_supports("avx2")
#else
#define gelu_avx2 gelu_body
#define softmax_avx2 softmax_body
#define max_avx2 max_of
#define sum_exp_avx2 sum_exp_body
#define layernorm_avx2 layernorm_body
#define rmsnorm_avx2 rmsnorm_body
#define first_beyond_avx2 first_beyond_body
#define HAVE_AVX2() 0
#endif

void cc_vec_gelu_new(float *x, size_t lo, size_t hi)
{
    if (HAVE_AVX2()) gelu_avx2(x, lo, hi);
    else gelu_body(x, lo, hi);
}

void cc_vec_softmax(float *x, int n)
{
    if (HAVE_AVX2()) softmax_avx2(x, n);
    else softmax_body(x, n);
}

float cc_vec_max(const float *x, int n)
{
    return HAVE_AVX2() ? max_avx2(x, n) : max_of(x, n);
}

double cc_vec_sum_exp(const float *x, int n, float mx)
{
    return HAVE_AVX2() ? sum_exp_avx2(x, n, mx) : sum_exp_body(x, n, mx);
}

void cc_vec_layernorm(const float *x, int d, const float *w, const float *b, double eps, float *out)
{
    if (HAVE_AVX2()) layernorm_avx2(x, d, w, b, eps, out);
    else layernorm_body(x, d, w, b, eps, out);
}

void cc_vec_rmsnorm(const float *x, int d, const float *w, double eps, float *out)
{
    if (HAVE_AVX2()) rmsnorm_avx2(x, d, w, eps, out);
    else rmsnorm_body(x, d, w, eps, out);
}

size_t cc_vec_first_beyond(const float *x, size_t n, float limit, bool neg_inf_ok)
{
    return HAVE_AVX2() ? first_beyond_avx2(x, n, limit, neg_inf_ok) : first_beyond_body(x, n, limit, neg_inf_ok);
}
