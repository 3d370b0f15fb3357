/* json_scan.c — strict in-place JSON scanning (json_scan.h). */
#include "json_scan.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/utf8.h"

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at S[*I]. */
static int read_hex4(const char *s, size_t n, size_t *i, unsigned *cp)
{
    if (n - *i < 4) return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_value(s[*i + (size_t)k]);
        if (h < 0) return -1;
        v = v << 4 | (unsigned)h;
    }
    *i += 4;
    *cp = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the escape after a backslash at S[*I] into OUT (when not NULL). */
static int scan_escape(const char *s, size_t n, size_t *i, char *out, size_t *len, const char **why)
{
    static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
    if (*i >= n) return *why = "premature end of input", -1;
    char e = s[(*i)++];
    const char *k = strchr(simple_in, e);
    if (e != 'u') {
        if (!e || !k) return (*i)--, *why = "invalid escape", -1;
        if (out) out[*len] = simple_out[k - simple_in];
        (*len)++;
        return 0;
    }
    unsigned cp;
    if (read_hex4(s, n, i, &cp) != 0) return *why = "invalid \\u escape", -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return *why = "invalid Unicode \\u escape (lone low surrogate)", -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (n - *i < 2 || s[*i] != '\\' || s[*i + 1] != 'u') return *why = "invalid Unicode \\u escape (lone high surrogate)", -1;
        *i += 2;
        if (read_hex4(s, n, i, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return *why = "invalid Unicode \\u escape (bad surrogate pair)", -1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) return *why = "\\u0000 is not allowed", -1;
    char buf[4];
    size_t m = put_utf8(buf, cp);
    if (out) memcpy(out + *len, buf, m);
    *len += m;
    return 0;
}

/* Scans the string whose opening quote is at S[*I]; *I ends after the closing
 * quote (or at the error). Decoded bytes go to OUT (when not NULL; it needs
 * room for the raw length), their count to *LEN. */
static int scan_string(const char *s, size_t n, size_t *i, char *out, size_t *len, const char **why)
{
    *len = 0;
    (*i)++;
    for (;;) {
        if (*i >= n) return *why = "premature end of input", -1;
        unsigned char c = (unsigned char)s[*i];
        if (c == '"') return (*i)++, 0;
        if (c < 0x20) return *why = "control character in string", -1;
        if (c == '\\') {
            (*i)++;
            if (scan_escape(s, n, i, out, len, why) != 0) return -1;
            continue;
        }
        size_t run = 1;
        if (c >= 0x80) { /* a run of non-ASCII bytes must be whole UTF-8 sequences */
            while (*i + run < n && (unsigned char)s[*i + run] >= 0x80) run++;
            size_t bad = cc_utf8_invalid_at(s + *i, run);
            if (bad < run) return *i += bad, *why = "invalid UTF-8 in string", -1;
        }
        if (out) memcpy(out + *len, s + *i, run);
        *len += run;
        *i += run;
    }
}

/* ---- validation ------------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t n, i;
    const char *why;
    size_t err_pos;
    bool oom;
} validator;

/* The decoded keys of one object, back to back with NULs, for the duplicate check. */
typedef struct {
    char *text;
    size_t len, cap;
    size_t *offsets;
    size_t count, offsets_cap;
} keyset;

static int fail(validator *v, const char *why)
{
    v->why = why;
    v->err_pos = v->i;
    return -1;
}

static int cmp_keys(const void *a, const void *b, void *text)
{
    return strcmp((const char *)text + *(const size_t *)a, (const char *)text + *(const size_t *)b);
}

/* Bytes from the opening quote at S[i] to the closing one (or the end): the
 * decoded text is never longer. */
static size_t raw_string_length(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
    return j - i;
}

static int add_key(validator *v, keyset *k, size_t raw_len)
{
    if (k->len + raw_len + 1 > k->cap) {
        size_t cap = (k->len + raw_len + 1) * 2;
        char *t = realloc(k->text, cap);
        if (!t) return v->oom = true, -1;
        k->text = t, k->cap = cap;
    }
    if (k->count == k->offsets_cap) {
        size_t cap = k->offsets_cap ? 2 * k->offsets_cap : 16;
        size_t *o = realloc(k->offsets, cap * sizeof *o);
        if (!o) return v->oom = true, -1;
        k->offsets = o, k->offsets_cap = cap;
    }
    size_t len;
    if (scan_string(v->s, v->n, &v->i, k->text + k->len, &len, &v->why) != 0) return v->err_pos = v->i, -1;
    k->offsets[k->count++] = k->len;
    k->text[k->len + len] = '\0';
    k->len += len + 1;
    return 0;
}

static int validate_value(validator *v, int depth);

static int validate_number(validator *v)
{
    size_t start = v->i;
    const char *s = v->s;
    bool neg = v->i < v->n && s[v->i] == '-', integer = true;
    if (neg) v->i++;
    if (v->i < v->n && s[v->i] == '0') v->i++;
    else if (v->i < v->n && is_digit(s[v->i]) && s[v->i] != '0')
        while (v->i < v->n && is_digit(s[v->i])) v->i++;
    else return fail(v, "invalid number");
    size_t int_end = v->i;
    if (v->i < v->n && s[v->i] == '.') {
        integer = false, v->i++;
        if (v->i >= v->n || !is_digit(s[v->i])) return fail(v, "invalid number");
        while (v->i < v->n && is_digit(s[v->i])) v->i++;
    }
    if (v->i < v->n && (s[v->i] == 'e' || s[v->i] == 'E')) {
        integer = false, v->i++;
        if (v->i < v->n && (s[v->i] == '+' || s[v->i] == '-')) v->i++;
        if (v->i >= v->n || !is_digit(s[v->i])) return fail(v, "invalid number");
        while (v->i < v->n && is_digit(s[v->i])) v->i++;
    }
    if (integer) { /* must fit int64, as jansson requires */
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (size_t k = start + neg; k < int_end; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (mag > (limit - d) / 10) return v->i = start, fail(v, "too big integer");
            mag = mag * 10 + d;
        }
        return 0;
    }
    size_t len = v->i - start;
    char *copy = malloc(len + 1);
    if (!copy) return v->oom = true, -1;
    memcpy(copy, s + start, len);
    copy[len] = '\0';
    bool overflow = isinf(strtod(copy, NULL));
    free(copy);
    return overflow ? (v->i = start, fail(v, "real number overflow")) : 0;
}

/* Validates the object at v->i ('{'); *MEMBERS gets its member count. */
static int validate_object(validator *v, int depth, size_t *members)
{
    keyset k = {0};
    size_t open = v->i++;
    int rc = -1;
    v->i = js_skip_ws(v->s, v->n, v->i);
    if (v->i < v->n && v->s[v->i] == '}') {
        v->i++;
        rc = 0;
        goto out;
    }
    for (;;) {
        v->i = js_skip_ws(v->s, v->n, v->i);
        if (v->i >= v->n || v->s[v->i] != '"') {
            fail(v, "string or '}' expected");
            goto out;
        }
        if (add_key(v, &k, raw_string_length(v->s, v->n, v->i)) != 0) goto out;
        v->i = js_skip_ws(v->s, v->n, v->i);
        if (v->i >= v->n || v->s[v->i] != ':') {
            fail(v, "':' expected");
            goto out;
        }
        v->i++;
        if (validate_value(v, depth + 1) != 0) goto out;
        v->i = js_skip_ws(v->s, v->n, v->i);
        if (v->i < v->n && v->s[v->i] == ',') {
            v->i++;
            continue;
        }
        if (v->i < v->n && v->s[v->i] == '}') {
            v->i++;
            break;
        }
        fail(v, "',' or '}' expected");
        goto out;
    }
    qsort_r(k.offsets, k.count, sizeof *k.offsets, cmp_keys, k.text);
    for (size_t j = 1; j < k.count; j++)
        if (strcmp(k.text + k.offsets[j - 1], k.text + k.offsets[j]) == 0) {
            v->why = "duplicate object key";
            v->err_pos = open;
            goto out;
        }
    rc = 0;
out:
    if (members) *members = k.count;
    free(k.text);
    free(k.offsets);
    return rc;
}

static int validate_array(validator *v, int depth)
{
    v->i = js_skip_ws(v->s, v->n, v->i + 1);
    if (v->i < v->n && v->s[v->i] == ']') return v->i++, 0;
    for (;;) {
        if (validate_value(v, depth + 1) != 0) return -1;
        v->i = js_skip_ws(v->s, v->n, v->i);
        if (v->i < v->n && v->s[v->i] == ',') {
            v->i++;
            continue;
        }
        if (v->i < v->n && v->s[v->i] == ']') return v->i++, 0;
        return fail(v, "',' or ']' expected");
    }
}

static int validate_value(validator *v, int depth)
{
    if (depth > JS_MAX_DEPTH) return fail(v, "maximum parsing depth reached");
    v->i = js_skip_ws(v->s, v->n, v->i);
    if (v->i >= v->n) return fail(v, "premature end of input");
    char c = v->s[v->i];
    if (c == '{') return validate_object(v, depth, NULL);
    if (c == '[') return validate_array(v, depth);
    if (c == '"') {
        size_t len;
        return scan_string(v->s, v->n, &v->i, NULL, &len, &v->why) == 0 ? 0 : (v->err_pos = v->i, -1);
    }
    if (c == '-' || is_digit(c)) return validate_number(v);
    static const char *const literals[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(literals[k]);
        if (v->n - v->i >= len && memcmp(v->s + v->i, literals[k], len) == 0) return v->i += len, 0;
    }
    return fail(v, "invalid token");
}

int js_validate(const char *s, size_t n, size_t *members, char *msg, size_t msg_size, size_t *err_pos)
{
    validator v = {.s = s, .n = n};
    v.i = js_skip_ws(s, n, 0);
    int rc;
    *members = 0;
    if (v.i >= n) rc = fail(&v, "premature end of input");
    else if (s[v.i] == '{') rc = validate_object(&v, 1, members);
    else if (s[v.i] == '[') rc = validate_array(&v, 1);
    else rc = fail(&v, "'[' or '{' expected");
    if (rc == 0) {
        v.i = js_skip_ws(s, n, v.i);
        if (v.i < n) rc = fail(&v, "end of file expected");
    }
    if (v.oom) return -2;
    if (rc != 0) {
        snprintf(msg, msg_size, "%s", v.why);
        *err_pos = v.err_pos;
    }
    return rc;
}

/* ---- readers over validated text ------------------------------------------------ */

size_t js_skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* The offset after the (validated) string starting at S[i]. */
static size_t skip_string(const char *s, size_t i)
{
    for (i++; s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    return i + 1;
}

size_t js_skip_value(const char *s, size_t n, size_t i)
{
    i = js_skip_ws(s, n, i);
    if (s[i] == '"') return skip_string(s, i);
    if (s[i] != '{' && s[i] != '[') { /* number or literal */
        while (i < n && (is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'z') || (s[i] && strchr("+-.E", s[i])))) i++;
        return i;
    }
    size_t depth = 0;
    for (;;) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i);
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
        i++;
    }
}

size_t js_string(const char *s, size_t n, size_t i, char **out)
{
    size_t end = skip_string(s, i), len;
    const char *why;
    *out = malloc(end - i + 1);
    if (!*out) return end;
    scan_string(s, n, &i, *out, &len, &why);
    (*out)[len] = '\0';
    return end;
}

size_t js_uint(const char *s, size_t n, size_t i, uint64_t *out, int *ok)
{
    i = js_skip_ws(s, n, i);
    size_t end = js_skip_value(s, n, i);
    *ok = end > i && is_digit(s[i]);
    uint64_t v = 0;
    for (size_t k = i; *ok && k < end; k++) {
        if (!is_digit(s[k])) *ok = 0;
        else v = v * 10 + (uint64_t)(s[k] - '0'); /* validated: fits int64 */
    }
    *out = v;
    return end;
}
