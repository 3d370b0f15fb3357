/* utf8.c — strict UTF-8 validation and U+FFFD repair (include/circuitc/utf8.h). */
#include "circuitc/utf8.h"

#include <stdlib.h>
#include <string.h>

#include "core/args.h"

size_t cc_utf8_sequence_length(const uint8_t *s, size_t len, size_t *bad_len)
{
    CC_ARG_NOT_NULL(s, NULL, 0);
    CC_ARG_NOT_NULL(bad_len, NULL, 0);
    uint8_t lead = s[0];
    if (lead < 0x80) return 1;
    size_t need;
    uint8_t second_lo = 0x80, second_hi = 0xBF; /* Unicode Table 3-7: the second byte's range */
    if (lead >= 0xC2 && lead <= 0xDF) need = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 3;
        if (lead == 0xE0) second_lo = 0xA0;      /* no overlong forms */
        if (lead == 0xED) second_hi = 0x9F;      /* no surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 4;
        if (lead == 0xF0) second_lo = 0x90;
        if (lead == 0xF4) second_hi = 0x8F;      /* nothing beyond U+10FFFF */
    } else {
        *bad_len = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < len; i++) {
        uint8_t lo = i == 1 ? second_lo : 0x80, hi = i == 1 ? second_hi : 0xBF;
        if (s[i] < lo || s[i] > hi) break;
    }
    if (i == need) return need;
    *bad_len = i;
    return 0;
}

size_t cc_utf8_invalid_at(const char *s, size_t n)
{
    CC_ARG_NOT_NULL(s, NULL, 0);
    const uint8_t *u = (const uint8_t *)s;
    size_t pos = 0, bad;
    while (pos < n) {
        size_t len = cc_utf8_sequence_length(u + pos, n - pos, &bad);
        if (!len) return pos;
        pos += len;
    }
    return n;
}

bool cc_utf8_valid(const char *s)
{
    CC_ARG_NOT_NULL(s, NULL, false);
    size_t n = strlen(s);
    return cc_utf8_invalid_at(s, n) == n;
}

char *cc_utf8_replace_invalid(const char *s, size_t len, size_t *out_len)
{
    CC_ARG_NOT_NULL(s, NULL, NULL);
    CC_ARG_NOT_NULL(out_len, NULL, NULL);
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const uint8_t *u = (const uint8_t *)s;
    char *out = malloc(3 * len + 1);                   /* one bad byte grows to at most three */
    if (!out) return NULL;
    size_t pos = 0, o = 0, bad;
    while (pos < len) {
        size_t n = cc_utf8_sequence_length(u + pos, len - pos, &bad);
        if (n) {
            memcpy(out + o, s + pos, n);
            o += n;
            pos += n;
        } else {
            memcpy(out + o, replacement, 3);
            o += 3;
            pos += bad;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
