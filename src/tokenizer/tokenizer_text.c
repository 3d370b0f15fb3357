/* tokenizer_text.c — GPT-2's pre-tokenizer regex, by hand. */
#include "tokenizer_text.h"

#include "tokenizer_unicode.h"

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

bool cc_pretokenize_is_space(const uint8_t *s, size_t pos, size_t *n)
{
    return class_at(s, pos, n) == CC_CHAR_SPACE;
}

bool cc_word_char_at(const uint8_t *s, size_t pos)
{
    size_t n;
    return cc_char_is_word(decode_at(s, pos, &n));
}

bool cc_word_char_before(const uint8_t *s, size_t at)
{
    size_t start = at - 1;
    while (start > 0 && (s[start] & 0xC0) == 0x80) start--; /* back to the character's first byte */
    return cc_word_char_at(s, start);
}
