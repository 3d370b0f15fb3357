/* rng.c — splitmix64 and the distributions built on it (docs/rng.md). */
#include "circuitc/rng.h"

#include <math.h>

void cc_rng_seed(cc_rng *r, uint64_t seed) { r->state = seed; }

uint64_t cc_rng_next(cc_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull); /* cc_rng_skip relies on this step */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void cc_rng_skip(cc_rng *r, uint64_t n) { r->state += n * 0x9e3779b97f4a7c15ull; }

uint32_t cc_rng_below(cc_rng *r, uint32_t n)
{
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

double cc_rng_uniform(cc_rng *r) { return (double)(cc_rng_next(r) >> 11) * 0x1p-53; }

double cc_rng_normal(cc_rng *r)
{
    double u1 = cc_rng_uniform(r), u2 = cc_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
