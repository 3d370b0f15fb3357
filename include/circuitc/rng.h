/* circuitc/rng.h — the one seeded random generator circuitc uses (splitmix64,
 * docs/rng.md). Every command that draws random numbers prints its seed and
 * puts it in --json, so any figure can be reproduced. */
#ifndef CIRCUITC_RNG_H
#define CIRCUITC_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t state;
} cc_rng;

/* The stream for SEED: state = SEED. */
void cc_rng_seed(cc_rng *r, uint64_t seed);

/* splitmix64: state += 0x9e3779b97f4a7c15, output = mix(state). */
uint64_t cc_rng_next(cc_rng *r);

/* Moves R ahead by N outputs of cc_rng_next in O(1): splitmix64's state only
 * counts, so a stream can be split into independent, reproducible pieces. */
void cc_rng_skip(cc_rng *r, uint64_t n);

/* Uniform integer in [0, n), n >= 1, unbiased (rejection on the 64-bit product). */
uint32_t cc_rng_below(cc_rng *r, uint32_t n);

/* Uniform double in [0, 1) with 53 random bits. */
double cc_rng_uniform(cc_rng *r);

/* Standard normal (Box-Muller, one value per two uniforms). */
double cc_rng_normal(cc_rng *r);

/* N standard normals rounded to float32 into OUT: exactly (float)cc_rng_normal(R)
 * N times, in order, R advanced alike; vectorised where the CPU and C library
 * allow (several times faster), with the scalar path deciding every value whose
 * rounding the vector evaluation could change. */
void cc_rng_normals_f32(cc_rng *r, float *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
