/* atlas_bound.h — the atlas' certified cheap upper bound on a K-composition
 * pair's top-1 and top-5 counts (internal; the method is described in
 * include/circuitc/atlas.h and docs/scale-out.md). */
#ifndef CIRCUITC_ATLAS_BOUND_H
#define CIRCUITC_ATLAS_BOUND_H

#include <stdbool.h>

#include "circuitc/error.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"

/* Per-model screen data: for every head that can be an earlier head,
 * E^ = fl32(W_E W_V[P]) with its row norms and candidate order, and the
 * Frobenius norms of every head's matrices. */
typedef struct atlas_screen atlas_screen;

int atlas_screen_new(const cc_model *m, atlas_screen **out, cc_error *err);
void atlas_screen_free(atlas_screen *s);

/* One later head's factor Q^ = fl32(W_E W_Q[I]), what the bound needs of it,
 * and the pairs' work space: shared by every earlier head paired with it on
 * one thread (kept from unit to unit while the later head stays the same). */
typedef struct atlas_later atlas_later;

int atlas_later_new(const atlas_screen *s, cc_head later, atlas_later **out, cc_error *err);
void atlas_later_free(atlas_later *q);
cc_head atlas_later_head(const atlas_later *q);

/* The upper bounds on the rows' and columns' top-1 and top-5 counts of pair
 * (EARLIER, Q's later head), in Q's work space. MIN_COUNT: stop refining once
 * both top-5 bounds are below it (*PRUNED then true). */
void atlas_pair_bound(const atlas_screen *s, atlas_later *q, cc_head earlier, long min_count, long rows[2],
                      long cols[2], bool *pruned);

#endif
