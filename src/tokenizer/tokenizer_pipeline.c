/* tokenizer_pipeline.c — tokenizer.json's normalizer, pre-tokenizer and decoder
 * (tokenizer_pipeline.h): reading them, refusing what circuitc does not implement, and
 * applying them as Hugging Face tokenizers does. */
#include "tokenizer_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/utf8.h"
#include "tokenizer_nfc.h"

#define SUPPORTED_NORMALIZERS "circuitc reads NFC, Prepend, Replace with a string pattern, and a Sequence of them " \
                              "(GPT-NeoX, Llama)"
#define SUPPORTED_PRE_TOKENIZERS "circuitc reads ByteLevel (GPT-2, GPT-NeoX) and Metaspace (Llama) tokenizers"
#define SUPPORTED_DECODERS "circuitc reads ByteLevel, Metaspace, and Replace, ByteFallback, Fuse, Strip in a Sequence " \
                           "(GPT-2, GPT-NeoX, Llama)"

/* ---- GPT-2's byte alphabet ---- */

/* Printable Latin-1 bytes stand for themselves, the other 68 (0x00-0x20, 0x7F-0xA0, 0xAD)
 * for U+0100.. in byte order. */
static bool byte_is_printable(unsigned b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint32_t byte_to_codepoint(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33 + (b - 0x7Fu);
    return 256u + 67; /* 0xAD */
}

/* The inverse of byte_to_codepoint: -1 for a codepoint outside the alphabet. */
static int codepoint_to_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + cp - 256 - 33);
    return cp == 256 + 67 ? 0xAD : -1;
}

size_t tp_byte_level_char(uint8_t b, char *out)
{
    uint32_t cp = byte_to_codepoint(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6); /* the alphabet stays below U+0800 */
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

size_t tp_byte_level_bytes(const char *text, size_t len, char *out)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t pos = 0, n = 0, bad;
    while (pos < len) {
        size_t k = cc_utf8_sequence_length(s + pos, len - pos, &bad);
        if (k == 0 || k > 2) break;
        uint32_t cp = k == 1 ? s[pos] : (uint32_t)(s[pos] & 0x1F) << 6 | (s[pos + 1] & 0x3F);
        int b = codepoint_to_byte(cp);
        if (b < 0) break;
        out[n++] = (char)b;
        pos += k;
    }
    if (pos == len) return n;
    memcpy(out, text, len);
    return len;
}

int tp_byte_fallback_value(const char *t, size_t len)
{
    /* "<0xNN>" with two hexadecimal digits of either case (Rust's u8::from_str_radix, which
     * also takes a "+" sign: "<0x+A>" is byte 0x0A) */
    if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                                                          : -1;
        if (d < 0 && !(i == 3 && c == '+')) return -1;
        v = d < 0 ? v : v * 16 + d;
    }
    return v;
}

/* ---- reading the JSON ---- */

static const char *type_of(json_t *o)
{
    return json_string_value(json_object_get(o, "type"));
}

/* A JSON string holding exactly one character, copied to OUT (5 bytes). */
static int one_char(json_t *o, const char *key, const char *field, const char *label, char out[5], cc_error *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t bad, n = s ? cc_utf8_sequence_length((const uint8_t *)s, strlen(s), &bad) : 0;
    if (!s || n == 0 || s[n] != '\0')
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.%s\" must be a string of one character", label, field, key);
    memcpy(out, s, n + 1);
    return 0;
}

static int dup_string(json_t *o, const char *key, const char *field, const char *label, bool non_empty, char **out,
                      cc_error *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || (non_empty && !*s))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.%s\" must be a%s string", label, field, key, non_empty ? " non-empty" : "");
    *out = strdup(s);
    return *out ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
}

/* Replace's {"pattern": {"String": S}, "content": C}; a Regex pattern is refused. */
static int read_replace(json_t *o, const char *field, const char *label, char **pattern, char **content, cc_error *err)
{
    json_t *pat = json_object_get(o, "pattern");
    if (json_object_get(pat, "Regex"))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.pattern\" is a Regex; circuitc reads Replace with a String pattern only "
                            "(Llama's \" \" -> \"\\u2581\")", label, field);
    if (dup_string(pat, "String", field, label, true, pattern, err) != 0) return -1;
    return dup_string(o, "content", field, label, false, content, err);
}

static int read_scheme(json_t *o, const char *field, const char *label, tp_prepend_scheme *scheme, cc_error *err)
{
    json_t *s = json_object_get(o, "prepend_scheme");
    const char *v = json_string_value(s);
    if (!s) *scheme = TP_PREPEND_ALWAYS; /* Hugging Face's default */
    else if (v && strcmp(v, "always") == 0) *scheme = TP_PREPEND_ALWAYS;
    else if (v && strcmp(v, "first") == 0) *scheme = TP_PREPEND_FIRST;
    else if (v && strcmp(v, "never") == 0) *scheme = TP_PREPEND_NEVER;
    else return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.prepend_scheme\" must be \"first\", \"always\" or \"never\"", label, field);
    if (json_is_false(json_object_get(o, "add_prefix_space"))) { /* the older spelling of "never" */
        if (s && *scheme != TP_PREPEND_NEVER)
            return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.add_prefix_space\" is false but prepend_scheme is not \"never\"", label,
                           field);
        *scheme = TP_PREPEND_NEVER;
    }
    return 0;
}

static int read_normalizer(json_t *n, const char *field, const char *label, tp_pipeline *p, cc_error *err)
{
    const char *type = type_of(n);
    if (type && strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers"), *item;
        size_t i;
        if (!json_is_array(list)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.normalizers\" must be an array", label, field);
        json_array_foreach(list, i, item) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", field, i);
            if (read_normalizer(item, sub, label, p, err) != 0) return -1;
        }
        return 0;
    }
    tp_norm_step step = {0};
    int rc = 0;
    if (type && strcmp(type, "NFC") == 0) step.kind = TP_NORM_NFC;
    else if (type && strcmp(type, "Prepend") == 0) {
        step.kind = TP_NORM_PREPEND;
        rc = dup_string(n, "prepend", field, label, false, &step.content, err);
    } else if (type && strcmp(type, "Replace") == 0) {
        step.kind = TP_NORM_REPLACE;
        rc = read_replace(n, field, label, &step.pattern, &step.content, err);
    } else
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: %s type \"%s\" is not supported; %s", label, field, type ? type : "(none)",
                       SUPPORTED_NORMALIZERS);
    tp_norm_step *grown = rc == 0 ? realloc(p->norm, (p->n_norm + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(step.pattern);
        free(step.content);
        return rc == 0 ? cc_fail_code(err, CC_E_NOMEM, "out of memory") : -1;
    }
    p->norm = grown;
    p->norm[p->n_norm++] = step;
    return 0;
}

static int read_pre_tokenizer(json_t *pre, const char *label, tp_pipeline *p, cc_error *err)
{
    const char *type = type_of(pre);
    if (!pre || json_is_null(pre)) {
        p->pre = TP_PRE_NONE;
        return 0;
    }
    if (type && strcmp(type, "ByteLevel") == 0) {
        json_t *prefix = json_object_get(pre, "add_prefix_space"), *regex = json_object_get(pre, "use_regex");
        if (prefix && !json_is_boolean(prefix))
            return cc_fail_code(err, CC_E_FORMAT, "%s: field \"pre_tokenizer.add_prefix_space\" must be true or false", label);
        p->pre = TP_PRE_BYTE_LEVEL;
        p->add_prefix_space = json_is_true(prefix);
        p->use_regex = !json_is_false(regex); /* true unless given */
        return 0;
    }
    if (type && strcmp(type, "Metaspace") == 0) {
        p->pre = TP_PRE_METASPACE;
        p->split = !json_is_false(json_object_get(pre, "split")); /* true unless given */
        return one_char(pre, "replacement", "pre_tokenizer", label, p->replacement, err) == 0 &&
                       read_scheme(pre, "pre_tokenizer", label, &p->scheme, err) == 0
                   ? 0 : -1;
    }
    return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported; " SUPPORTED_PRE_TOKENIZERS, label,
                   type ? type : "(none)");
}

static int read_decoder(json_t *d, const char *field, const char *label, tp_pipeline *p, cc_error *err)
{
    const char *type = type_of(d);
    if (type && strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(d, "decoders"), *item;
        size_t i;
        if (!json_is_array(list)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.decoders\" must be an array", label, field);
        json_array_foreach(list, i, item) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", field, i);
            if (read_decoder(item, sub, label, p, err) != 0) return -1;
        }
        return 0;
    }
    tp_dec_step step = {0};
    int rc = 0;
    if (type && strcmp(type, "ByteLevel") == 0) step.kind = TP_DEC_BYTE_LEVEL;
    else if (type && strcmp(type, "ByteFallback") == 0) step.kind = TP_DEC_BYTE_FALLBACK;
    else if (type && strcmp(type, "Fuse") == 0) step.kind = TP_DEC_FUSE;
    else if (type && strcmp(type, "Replace") == 0) {
        step.kind = TP_DEC_REPLACE;
        rc = read_replace(d, field, label, &step.pattern, &step.content, err);
    } else if (type && strcmp(type, "Strip") == 0) {
        json_t *start = json_object_get(d, "start"), *stop = json_object_get(d, "stop");
        step.kind = TP_DEC_STRIP;
        rc = one_char(d, "content", field, label, step.strip, err);
        if (rc == 0 && (!json_is_integer(start) || !json_is_integer(stop) || json_integer_value(start) < 0 ||
                        json_integer_value(stop) < 0))
            rc = cc_fail_code(err, CC_E_FORMAT, "%s: fields \"%s.start\" and \"%s.stop\" must be counts (integers >= 0)", label, field,
                         field);
        step.start = rc == 0 ? (size_t)json_integer_value(start) : 0;
        step.stop = rc == 0 ? (size_t)json_integer_value(stop) : 0;
    } else if (type && strcmp(type, "Metaspace") == 0) {
        step.kind = TP_DEC_METASPACE;
        rc = one_char(d, "replacement", field, label, step.replacement, err) == 0 &&
                     read_scheme(d, field, label, &step.scheme, err) == 0
                 ? 0 : -1;
    } else
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: %s type \"%s\" is not supported; " SUPPORTED_DECODERS, label, field,
                       type ? type : "(none)");
    tp_dec_step *grown = rc == 0 ? realloc(p->dec, (p->n_dec + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(step.pattern);
        free(step.content);
        return rc == 0 ? cc_fail_code(err, CC_E_NOMEM, "out of memory") : -1;
    }
    p->dec = grown;
    p->dec[p->n_dec++] = step;
    return 0;
}

/* One TemplateProcessing item: {"SpecialToken": ...} or {"Sequence": {"id": "A"}}. */
static bool is_sequence_a(json_t *item)
{
    const char *id = json_string_value(json_object_get(json_object_get(item, "Sequence"), "id"));
    return id && strcmp(id, "A") == 0;
}

/* The post-processor only adds special tokens around the text, which cc_tokenizer_encode
 * never does (callers prepend BOS as TransformerLens does). What it would add must
 * therefore be at most a BOS: anything after the text, or a pair-only processor, is refused. */
static int check_post_processor(json_t *pp, const char *field, const char *label, tp_pipeline *p, cc_error *err)
{
    const char *type = type_of(pp);
    if (!pp || json_is_null(pp) || (type && strcmp(type, "ByteLevel") == 0)) return 0;
    if (type && strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pp, "processors"), *item;
        size_t i;
        json_array_foreach(list, i, item) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", field, i);
            if (check_post_processor(item, sub, label, p, err) != 0) return -1;
        }
        return 0;
    }
    if (type && strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(pp, "single");
        size_t n = json_array_size(single);
        bool bos_then_text = n == 2 && json_object_get(json_array_get(single, 0), "SpecialToken") &&
                             is_sequence_a(json_array_get(single, 1));
        if (n == 1 && is_sequence_a(json_array_get(single, 0))) return 0;
        if (bos_then_text) { /* the BOS's id, from the template's special_tokens */
            const char *name = json_string_value(
                json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
            json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), name ? name : ""), "ids");
            if (json_array_size(ids) != 1 || !json_is_integer(json_array_get(ids, 0)))
                return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.special_tokens\" must give the one id of \"%s\"", label, field,
                               name ? name : "(none)");
            p->template_bos = json_integer_value(json_array_get(ids, 0));
            return 0;
        }
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"%s.single\" must be \"$A\" or \"BOS $A\": circuitc adds no special token "
                            "but the BOS its prompts start with (as TransformerLens)", label, field);
    }
    return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: %s type \"%s\" is not supported; circuitc reads ByteLevel and TemplateProcessing "
                        "(\"BOS $A\") post-processors", label, field, type ? type : "(none)");
}

int tp_parse(json_t *root, const char *label, tp_pipeline *p, cc_error *err)
{
    memset(p, 0, sizeof *p);
    json_t *norm = json_object_get(root, "normalizer"), *dec = json_object_get(root, "decoder");
    if (norm && !json_is_null(norm) && read_normalizer(norm, "normalizer", label, p, err) != 0) return -1;
    if (read_pre_tokenizer(json_object_get(root, "pre_tokenizer"), label, p, err) != 0) return -1;
    p->has_decoder = dec && !json_is_null(dec);
    if (p->has_decoder && read_decoder(dec, "decoder", label, p, err) != 0) return -1;
    p->template_bos = -1;
    return check_post_processor(json_object_get(root, "post_processor"), "post_processor", label, p, err);
}

int tp_gpt2(tp_pipeline *p, cc_error *err)
{
    memset(p, 0, sizeof *p);
    p->template_bos = -1;
    p->pre = TP_PRE_BYTE_LEVEL;
    p->use_regex = true;
    p->has_decoder = true;
    p->dec = calloc(1, sizeof *p->dec);
    if (!p->dec) return cc_fail_code(err, CC_E_NOMEM, "out of memory while loading the tokenizer");
    p->dec[0].kind = TP_DEC_BYTE_LEVEL;
    p->n_dec = 1;
    return 0;
}

void tp_free(tp_pipeline *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_norm; i++) {
        free(p->norm[i].pattern);
        free(p->norm[i].content);
    }
    for (size_t i = 0; i < p->n_dec; i++) {
        free(p->dec[i].pattern);
        free(p->dec[i].content);
    }
    free(p->norm);
    free(p->dec);
    memset(p, 0, sizeof *p);
}

/* ---- applying them ---- */

/* A growable byte string. */
typedef struct {
    char *s;
    size_t len, cap;
} buf;

static bool buf_add(buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) return false;
        b->s = grown;
        b->cap = cap;
    }
    if (len) memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = '\0';
    return true;
}

/* S[0..LEN) with every occurrence of PATTERN (non-overlapping, left to right) replaced by
 * CONTENT, appended to OUT. */
static bool replace_all(const char *s, size_t len, const char *pattern, const char *content, buf *out)
{
    size_t plen = strlen(pattern), clen = strlen(content);
    for (size_t pos = 0; pos < len;) {
        const char *hit = memmem(s + pos, len - pos, pattern, plen);
        size_t end = hit ? (size_t)(hit - s) : len;
        if (!buf_add(out, s + pos, end - pos) || (hit && !buf_add(out, content, clen))) return false;
        pos = hit ? end + plen : len;
    }
    return true;
}

char *tp_normalize(const tp_pipeline *p, const char *s, size_t len, size_t *out_len)
{
    buf cur = {0};
    if (!buf_add(&cur, s, len)) return NULL;
    for (size_t i = 0; i < p->n_norm; i++) {
        const tp_norm_step *step = &p->norm[i];
        buf next = {0};
        bool ok = true;
        if (step->kind == TP_NORM_NFC) {
            next.s = cc_nfc(cur.s, cur.len, &next.len);
            ok = next.s != NULL;
        } else if (step->kind == TP_NORM_PREPEND) { /* only a non-empty text gets the prefix */
            ok = buf_add(&next, "", 0) && (!cur.len || buf_add(&next, step->content, strlen(step->content))) &&
                 buf_add(&next, cur.s, cur.len);
        } else {
            ok = buf_add(&next, "", 0) && replace_all(cur.s, cur.len, step->pattern, step->content, &next);
        }
        free(cur.s);
        if (!ok) {
            free(next.s);
            return NULL;
        }
        cur = next;
    }
    *out_len = cur.len;
    return cur.s;
}

int tp_pre_tokenize(const tp_pipeline *p, const char *s, size_t len, bool at_start, tp_word_fn fn, void *ctx,
                    cc_error *err)
{
    if (len == 0) return 0;
    if (p->pre == TP_PRE_NONE) return fn(ctx, s, len, err);
    if (p->pre == TP_PRE_BYTE_LEVEL) { /* the regex split happens in the caller, which knows the bytes */
        if (!p->add_prefix_space || s[0] == ' ') return fn(ctx, s, len, err);
        buf b = {0};
        int rc = buf_add(&b, " ", 1) && buf_add(&b, s, len) ? fn(ctx, b.s, b.len, err) : cc_fail_code(err, CC_E_NOMEM, "out of memory");
        free(b.s);
        return rc;
    }
    /* Metaspace: spaces become the replacement, which may be prepended, and words start at each replacement */
    const char *rep = p->replacement;
    size_t rep_len = strlen(rep);
    buf b = {0};
    bool prepend = p->scheme == TP_PREPEND_ALWAYS || (p->scheme == TP_PREPEND_FIRST && at_start);
    bool ok = buf_add(&b, "", 0) && replace_all(s, len, " ", rep, &b);
    if (ok && prepend && !(b.len >= rep_len && memcmp(b.s, rep, rep_len) == 0)) {
        buf withp = {0};
        ok = buf_add(&withp, rep, rep_len) && buf_add(&withp, b.s, b.len);
        free(b.s);
        b = withp;
    }
    if (!ok) {
        free(b.s);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    int rc = 0;
    size_t start = 0;
    while (rc == 0 && start < b.len) {
        size_t end = b.len;
        if (p->split) {
            const char *hit = memmem(b.s + start + 1, b.len - start - 1, rep, rep_len);
            if (hit) end = (size_t)(hit - b.s);
        }
        rc = fn(ctx, b.s + start, end - start, err);
        start = end;
    }
    free(b.s);
    return rc;
}

/* ---- decoding: a list of token strings through the decoder's steps ---- */

typedef struct {
    buf *items;
    size_t n, cap;
} strings;

static void strings_free(strings *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i].s);
    free(l->items);
    *l = (strings){0};
}

static bool strings_push(strings *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        buf *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return false;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n] = (buf){0};
    return buf_add(&l->items[l->n++], s, len);
}

static size_t utf8_char_len(const char *s, size_t len)
{
    size_t bad, n = cc_utf8_sequence_length((const uint8_t *)s, len, &bad);
    return n ? n : 1;
}

/* ByteFallback: runs of "<0xNN>" tokens become their bytes when those are valid UTF-8, else
 * one U+FFFD per byte. */
static bool byte_fallback(const strings *in, strings *out)
{
    buf run = {0};
    bool ok = true;
    for (size_t i = 0; ok && i <= in->n; i++) {
        int v = i < in->n ? tp_byte_fallback_value(in->items[i].s, in->items[i].len) : -1;
        if (v >= 0) {
            char byte = (char)v;
            ok = buf_add(&run, &byte, 1);
            continue;
        }
        if (run.len) {
            bool valid = cc_utf8_invalid_at(run.s, run.len) == run.len;
            for (size_t k = 0; ok && k < (valid ? 1 : run.len); k++)
                ok = valid ? strings_push(out, run.s, run.len) : strings_push(out, "\xEF\xBF\xBD", 3);
            run.len = 0;
        }
        if (ok && i < in->n) ok = strings_push(out, in->items[i].s, in->items[i].len);
    }
    free(run.s);
    return ok;
}

/* Strip: up to START copies of the character at the front and STOP at the back. */
static bool strip(const tp_dec_step *step, const buf *t, strings *out)
{
    size_t c_len = strlen(step->strip), from = 0, to = t->len;
    for (size_t k = 0; k < step->start && to - from >= c_len && memcmp(t->s + from, step->strip, c_len) == 0; k++)
        from += c_len;
    for (size_t k = 0; k < step->stop && to - from >= c_len && memcmp(t->s + to - c_len, step->strip, c_len) == 0; k++)
        to -= c_len;
    return strings_push(out, t->s + from, to - from);
}

/* Metaspace: the replacement becomes a space, except in the first token (dropped there) when
 * the pre-tokenizer prepended it. */
static bool metaspace(const tp_dec_step *step, const buf *t, bool first, strings *out)
{
    buf b = {0};
    size_t rep_len = strlen(step->replacement);
    bool ok = buf_add(&b, "", 0);
    for (size_t pos = 0; ok && pos < t->len;) {
        size_t n = utf8_char_len(t->s + pos, t->len - pos);
        if (n == rep_len && memcmp(t->s + pos, step->replacement, n) == 0)
            ok = first && step->scheme != TP_PREPEND_NEVER ? true : buf_add(&b, " ", 1);
        else ok = buf_add(&b, t->s + pos, n);
        pos += n;
    }
    ok = ok && strings_push(out, b.s, b.len);
    free(b.s);
    return ok;
}

static bool apply_step(const tp_dec_step *step, const strings *in, strings *out)
{
    if (step->kind == TP_DEC_BYTE_FALLBACK) return byte_fallback(in, out);
    if (step->kind == TP_DEC_FUSE || step->kind == TP_DEC_BYTE_LEVEL) {
        buf all = {0};
        bool ok = buf_add(&all, "", 0);
        for (size_t i = 0; ok && i < in->n; i++) {
            const buf *t = &in->items[i];
            if (step->kind == TP_DEC_FUSE) {
                ok = buf_add(&all, t->s, t->len);
            } else { /* ByteLevel: each token's characters back to bytes, then invalid UTF-8 replaced */
                char *bytes = malloc(t->len + 1);
                ok = bytes && buf_add(&all, bytes, tp_byte_level_bytes(t->s, t->len, bytes));
                free(bytes);
            }
        }
        size_t fixed_len = 0;
        char *fixed = ok && step->kind == TP_DEC_BYTE_LEVEL ? cc_utf8_replace_invalid(all.s, all.len, &fixed_len) : NULL;
        ok = ok && (step->kind == TP_DEC_FUSE ? strings_push(out, all.s, all.len)
                                                : fixed && strings_push(out, fixed, fixed_len));
        free(fixed);
        free(all.s);
        return ok;
    }
    for (size_t i = 0; i < in->n; i++) {
        const buf *t = &in->items[i];
        bool ok;
        if (step->kind == TP_DEC_STRIP) ok = strip(step, t, out);
        else if (step->kind == TP_DEC_METASPACE) ok = metaspace(step, t, i == 0, out);
        else {
            buf b = {0};
            ok = buf_add(&b, "", 0) && replace_all(t->s, t->len, step->pattern, step->content, &b) &&
                 strings_push(out, b.s, b.len);
            free(b.s);
        }
        if (!ok) return false;
    }
    return true;
}

char *tp_decode(const tp_pipeline *p, const char *const *texts, const size_t *lens, size_t n, size_t *out_len,
                cc_error *err)
{
    strings cur = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) ok = strings_push(&cur, texts[i], lens[i]);
    for (size_t s = 0; ok && s < p->n_dec; s++) {
        strings next = {0};
        ok = apply_step(&p->dec[s], &cur, &next);
        strings_free(&cur);
        cur = next;
    }
    buf all = {0};
    ok = ok && buf_add(&all, "", 0);
    for (size_t i = 0; ok && i < cur.n; i++) /* the decoder's strings joined; without a decoder, with spaces */
        ok = (i == 0 || p->has_decoder || buf_add(&all, " ", 1)) && buf_add(&all, cur.items[i].s, cur.items[i].len);
    strings_free(&cur);
    if (!ok) {
        free(all.s);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory decoding %zu tokens", n), NULL;
    }
    *out_len = all.len;
    return all.s;
}
