/* tokenizer_nfc.c — Unicode NFC: full canonical decomposition, canonical ordering,
 * canonical composition (Unicode Standard Annex #15), Hangul syllables by arithmetic. */
#include "tokenizer_nfc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7,
    LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT,
};

static const cc_nfc_decomp *find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = cc_nfc_n_decomps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cc_nfc_decomps[mid].codepoint < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < cc_nfc_n_decomps && cc_nfc_decomps[lo].codepoint == cp ? &cc_nfc_decomps[lo] : NULL;
}

static unsigned combining_class(uint32_t cp)
{
    if (cp < 0x300) return 0; /* nothing below U+0300 combines: the common case */
    size_t lo = 0, hi = cc_nfc_n_classes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cc_nfc_classes[mid].codepoint < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < cc_nfc_n_classes && cc_nfc_classes[lo].codepoint == cp ? cc_nfc_classes[lo].ccc : 0;
}

/* The primary composite of FIRST + SECOND, or 0. */
static uint32_t compose_pair(uint32_t first, uint32_t second)
{
    if (first - LBASE < LCOUNT && second - VBASE < VCOUNT)
        return SBASE + ((first - LBASE) * VCOUNT + (second - VBASE)) * TCOUNT;
    if (first - SBASE < SCOUNT && (first - SBASE) % TCOUNT == 0 && second - TBASE - 1 < TCOUNT - 1)
        return first + (second - TBASE);
    size_t lo = 0, hi = cc_nfc_n_pairs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const cc_nfc_pair *p = &cc_nfc_pairs[mid];
        if (p->first < first || (p->first == first && p->second < second)) lo = mid + 1;
        else hi = mid;
    }
    const cc_nfc_pair *p = &cc_nfc_pairs[lo < cc_nfc_n_pairs ? lo : 0];
    return lo < cc_nfc_n_pairs && p->first == first && p->second == second ? p->composite : 0;
}

static uint32_t decode_utf8(const uint8_t *s, size_t *n)
{
    if (s[0] < 0x80) { *n = 1; return s[0]; }
    if (s[0] < 0xE0) { *n = 2; return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); }
    if (s[0] < 0xF0) { *n = 3; return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F); }
    *n = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

static size_t encode_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Writes the full canonical decomposition of CP to OUT (at most CC_NFC_MAX_DECOMP codepoints). */
static size_t decompose(uint32_t cp, uint32_t *out)
{
    if (cp - SBASE < SCOUNT) {
        uint32_t i = cp - SBASE;
        out[0] = LBASE + i / NCOUNT;
        out[1] = VBASE + i % NCOUNT / TCOUNT;
        if (i % TCOUNT == 0) return 2;
        out[2] = TBASE + i % TCOUNT;
        return 3;
    }
    const cc_nfc_decomp *d = find_decomp(cp);
    if (!d) {
        out[0] = cp;
        return 1;
    }
    memcpy(out, cc_nfc_decomp_pool + d->at, d->len * sizeof *out);
    return d->len;
}

char *cc_nfc(const char *text, size_t len, size_t *out_len)
{
    const uint8_t *s = (const uint8_t *)text;
    /* a character of k UTF-8 bytes decomposes into at most CC_NFC_MAX_DECOMP codepoints of 4 bytes */
    uint32_t *cps = malloc((len * CC_NFC_MAX_DECOMP + 1) * sizeof *cps); /* [codepoints after decomposition] */
    char *out = cps ? malloc(len * CC_NFC_MAX_DECOMP * 4 + 1) : NULL;
    if (!out) {
        free(cps);
        return NULL;
    }
    size_t n = 0;
    for (size_t pos = 0, k; pos < len; pos += k) n += decompose(decode_utf8(s + pos, &k), cps + n);
    /* canonical ordering: a stable sort of each run of non-starters by class */
    for (size_t i = 1; i < n; i++) {
        unsigned c = combining_class(cps[i]);
        for (size_t j = i; c && j > 0 && combining_class(cps[j - 1]) > c; j--) {
            uint32_t t = cps[j];
            cps[j] = cps[j - 1];
            cps[j - 1] = t;
        }
    }
    /* composition: each character joins the last starter unless a character between them
     * blocks it; a leading non-starter (class 256 here) composes with nothing */
    size_t kept = n ? 1 : 0, starter = 0;
    unsigned last_class = n && combining_class(cps[0]) ? 256 : 0;
    for (size_t i = 1; i < n; i++) {
        unsigned c = combining_class(cps[i]);
        uint32_t composite = last_class < c || last_class == 0 ? compose_pair(cps[starter], cps[i]) : 0;
        if (composite) {
            cps[starter] = composite;
            continue;
        }
        if (c == 0) starter = kept;
        last_class = c;
        cps[kept++] = cps[i];
    }
    size_t o = 0;
    for (size_t i = 0; i < kept; i++) o += encode_utf8(cps[i], out + o);
    out[o] = '\0';
    free(cps);
    *out_len = o;
    return out;
}
