/* rotary.h — rotary position embeddings as TransformerLens computes them,
 * shared by the forward pass and discover's positional evidence. Internal to
 * the library. */
#ifndef CIRCUITC_ROTARY_H
#define CIRCUITC_ROTARY_H

#include "circuitc/config.h"

/* The rotary angles' sine and cosine for positions [0, pos), into SIN_T and
 * COS_T [pos, rotary_dim], computed as TransformerLens'
 * calculate_sin_cos_rotary does, in float32: frequency base^(i / (rotary_dim/2))
 * for pair i, repeated per pair member ((2 d): i and i + rotary_dim/2;
 * adjacent: (d 2)), angle = position / frequency. */
void cc_rotary_table(const cc_config *c, int pos, float *sin_t, float *cos_t);

/* Rotates the first rotary_dim values of X [d_head] in place by one row of
 * the table (SN, CS [rotary_dim]): x * cos + rotate_every_two(x) * sin, in
 * float32, as TransformerLens' apply_rotary. SCRATCH holds rotary_dim floats. */
void cc_rotary_apply(const cc_config *c, const float *sn, const float *cs, float *x, float *scratch);

#endif
