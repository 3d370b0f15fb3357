/* json_scan.h — a strict JSON scanner that works in place on a buffer, for
 * the safetensors header (private to the library). A header of up to 100 MB
 * parsed into a jansson tree took about 20 bytes of memory per header byte;
 * scanning in place needs only what the caller keeps (and, while validating,
 * the keys of one object at a time for the duplicate check).
 *
 * Two passes: js_validate checks the whole text once (RFC 8259 grammar,
 * strict UTF-8, no \u0000, no duplicate keys in any object, integers within
 * int64, nesting at most JS_MAX_DEPTH); the js_* readers then walk the
 * validated text and cannot meet a syntax error. */
#ifndef CIRCUITC_JSON_SCAN_H
#define CIRCUITC_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define JS_MAX_DEPTH 2048

/* Validates S[0..N) as one JSON object or array (surrounding whitespace
 * allowed). Returns 0 and the number of members of the object (0 for an
 * array) in *MEMBERS; or -1 with
 * a short reason in MSG (MSG_SIZE bytes) and its byte offset in *ERR_POS.
 * Returns -2 when memory ran out. */
int js_validate(const char *s, size_t n, size_t *members, char *msg, size_t msg_size, size_t *err_pos);

/* Readers over validated text. I is an offset into S; each returns the
 * offset just after what it read. */
size_t js_skip_ws(const char *s, size_t n, size_t i);
size_t js_skip_value(const char *s, size_t n, size_t i);

/* The string at S[i] (which is '"') decoded into a new NUL-terminated buffer
 * in *OUT (NULL when out of memory). */
size_t js_string(const char *s, size_t n, size_t i, char **out);

/* The value at S[i] as a non-negative integer: *OK is 1 and *OUT set when it
 * is one (no fraction, no exponent, no sign), else *OK is 0. */
size_t js_uint(const char *s, size_t n, size_t i, uint64_t *out, int *ok);

#endif
