/* rotary.c — rotary position embeddings (rotary.h). */
#include "rotary.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

void cc_rotary_table(const cc_config *c, int pos, float *sin_t, float *cos_t)
{
    int rd = c->rotary_dim, half = rd / 2;
    for (int i = 0; i < rd; i++) {
        int pair = c->rotary_adjacent ? i / 2 : i % half;
        float freq = powf((float)c->rotary_base, (float)pair / ((float)rd / 2.0f));
        for (int t = 0; t < pos; t++) {
            float angle = (float)t / freq;
            sin_t[(size_t)t * rd + i] = sinf(angle);
            cos_t[(size_t)t * rd + i] = cosf(angle);
        }
    }
}

void cc_rotary_apply(const cc_config *c, const float *sn, const float *cs, float *x, float *scratch)
{
    int rd = c->rotary_dim, half = rd / 2;
    memcpy(scratch, x, (size_t)rd * sizeof *scratch);
    for (int i = 0; i < rd; i++) {
        float flip = c->rotary_adjacent ? (i % 2 == 0 ? -scratch[i + 1] : scratch[i - 1])
                                        : (i < half ? -scratch[i + half] : scratch[i - half]);
        float a = scratch[i] * cs[i], b = flip * sn[i];
        x[i] = a + b;
    }
}
