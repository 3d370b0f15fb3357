/* circuitc/utf8.h — strict UTF-8 validation (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), for text that ends up in JSON or in
 * messages: circuit files, paths printed with --json. */
#ifndef CIRCUITC_UTF8_H
#define CIRCUITC_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The byte offset of the first invalid sequence in S[0..N), or N when all of it is valid. */
size_t cc_utf8_invalid_at(const char *s, size_t n);

/* Whether the NUL-terminated string S is valid UTF-8. */
bool cc_utf8_valid(const char *s);

#endif
