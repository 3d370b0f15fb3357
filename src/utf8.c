/* utf8.c — strict UTF-8 validation (include/circuitc/utf8.h). */
#include "circuitc/utf8.h"

#include <string.h>

/* Length of the valid sequence starting at S (at most N bytes available), 0 if invalid. */
static size_t sequence_length(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        else if (c == 0xED) hi = 0x9F;  /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        else if (c == 0xF4) hi = 0x8F;  /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

size_t cc_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = sequence_length(u + i, n - i);
        if (!len) return i;
        i += len;
    }
    return n;
}

bool cc_utf8_valid(const char *s)
{
    size_t n = strlen(s);
    return cc_utf8_invalid_at(s, n) == n;
}
