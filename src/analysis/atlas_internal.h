/* atlas_internal.h — the insides of a cc_atlas (include/circuitc/atlas.h),
 * shared by its work units (atlas.c) and the command's report
 * (atlas_report.c). Internal. */
#ifndef CIRCUITC_ATLAS_INTERNAL_H
#define CIRCUITC_ATLAS_INTERNAL_H

#include "atlas_bound.h"
#include "circuitc/atlas.h"

struct cc_atlas {
    const cc_model *m;
    const cc_circuit *c;
    const char *param[2];  /* the circuit's parameters: earlier, later */
    int L, H;
    long V;
    double min_acc;
    long n_pairs;
    int n_units;
    long *later_first;     /* [L*H]: index of the first pair of later head h (layer >= 1) */
    int *unit_later;       /* [n_units]: later head index */
    int *unit_earlier;     /* [n_units]: first earlier head index of the block */
    atlas_screen *screen;  /* NULL: no bound */
};

#endif
