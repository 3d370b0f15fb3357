/* json_num.h — a double as JSON (internal): JSON has no NaN or infinity, so
 * those (an undefined normalisation, a correlation of constants) are null. */
#ifndef CIRCUITC_CORE_JSON_NUM_H
#define CIRCUITC_CORE_JSON_NUM_H

#include <jansson.h>
#include <math.h>

static inline json_t *cc_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

#endif
