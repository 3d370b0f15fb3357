/* json_error.h — one wording for a JSON file jansson could not parse
 * (internal). jansson reports line and column -1 for errors that have no
 * place in the text (a NULL buffer, out of memory); the place is then left out
 * rather than printed as "line -1 column -1". */
#ifndef CIRCUITC_CORE_JSON_ERROR_H
#define CIRCUITC_CORE_JSON_ERROR_H

#include <jansson.h>

#include "circuitc/error.h"

/* "LABEL: not valid JSON (TEXT, line L column C)" into ERR; returns -1. */
static inline int cc_fail_json(cc_error *err, const char *label, const json_error_t *je)
{
    if (je->line < 1) return cc_fail_code(err, CC_E_FORMAT, "%s: not valid JSON (%s)", label, je->text);
    return cc_fail_code(err, CC_E_FORMAT, "%s: not valid JSON (%s, line %d column %d)", label, je->text, je->line, je->column);
}

#endif
