/* tokenizer_text.c — UTF-8 handling and GPT-2's pre-tokenizer regex, by hand. */
#include "tokenizer_text.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer_unicode.h"

size_t cc_utf8_sequence_length(const uint8_t *s, size_t len, size_t *bad_len)
{
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

size_t cc_utf8_first_invalid(const uint8_t *s, size_t len)
{
    size_t pos = 0, bad;
    while (pos < len) {
        size_t n = cc_utf8_sequence_length(s + pos, len - pos, &bad);
        if (n == 0) return pos;
        pos += n;
    }
    return len;
}

char *cc_utf8_replace_invalid(const uint8_t *s, size_t len, size_t *out_len)
{
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    char *out = malloc(3 * len + 1);                   /* one bad byte grows to at most three */
    if (!out) return NULL;
    size_t pos = 0, o = 0, bad;
    while (pos < len) {
        size_t n = cc_utf8_sequence_length(s + pos, len - pos, &bad);
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

/* Decodes the valid UTF-8 character at S[POS]; *N gets its length. */
static inline uint32_t decode_at(const uint8_t *s, size_t pos, size_t *n)
{
    uint8_t b = s[pos];
    if (b < 0x80) { *n = 1; return b; }
    if (b < 0xE0) { *n = 2; return (uint32_t)(b & 0x1F) << 6 | (s[pos + 1] & 0x3F); }
    if (b < 0xF0) {
        *n = 3;
        return (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[pos + 1] & 0x3F) << 6 | (s[pos + 2] & 0x3F);
    }
    *n = 4;
    return (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[pos + 1] & 0x3F) << 12 | (uint32_t)(s[pos + 2] & 0x3F) << 6 |
           (s[pos + 3] & 0x3F);
}

static inline cc_char_class class_at(const uint8_t *s, size_t pos, size_t *n)
{
    return cc_char_class_of(decode_at(s, pos, n));
}

/* The end of the run of characters of class CLASS that starts at POS. */
static size_t run_end(const uint8_t *s, size_t len, size_t pos, cc_char_class class)
{
    size_t n;
    while (pos < len && class_at(s, pos, &n) == class) pos += n;
    return pos;
}

/* The length of an English contraction ('s 't 're 've 'm 'll 'd, lower case
 * only, as GPT-2's regex has them) at S[POS] == '\'', or 0. */
static size_t contraction_length(const uint8_t *s, size_t len, size_t pos)
{
    if (pos + 1 >= len) return 0;
    uint8_t a = s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= len) return 0;
    uint8_t b = s[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

size_t cc_pretokenize_next(const uint8_t *s, size_t len, size_t pos)
{
    if (s[pos] == '\'') {
        size_t n = contraction_length(s, len, pos);
        if (n) return pos + n;
    }
    size_t n;
    cc_char_class first = class_at(s, pos, &n);
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one optional plain space, then a run of one class. */
    if (s[pos] == ' ' && pos + 1 < len) {
        size_t n_next;
        cc_char_class next = class_at(s, pos + 1, &n_next);
        if (next != CC_CHAR_SPACE) return run_end(s, len, pos + 1, next);
    }
    if (first != CC_CHAR_SPACE) return run_end(s, len, pos, first);
    /* "\s+(?!\S)|\s+": a whitespace run leaves its last character to the piece
     * that follows it (so " word" keeps its space), unless the run is one
     * character long or ends the text. */
    size_t end = pos, last = pos;
    while (end < len && class_at(s, end, &n) == CC_CHAR_SPACE) {
        last = end;
        end += n;
    }
    if (end == len || last == pos) return end;
    return last;
}
