/* circuit.c — circuit files: parser (docs/circuit-format.md), planner (split
 * at the cheapest inner dimension, matrix-chain order per side) and compiler
 * (float32 sgemm into a FactoredMatrix). */
#include "circuitc/circuit.h"

#include <cblas.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef CC_CIRCUITS_DIR
#define CC_CIRCUITS_DIR "circuits"
#endif

/* ---- the matrices a chain may name ----------------------------------------- */

typedef enum { MAT_E, MAT_POS, MAT_U, MAT_Q, MAT_K, MAT_V, MAT_O, MAT_IN, MAT_OUT, N_MATS } mat_kind;

static const struct {
    const char *name;
    bool indexed; /* takes a head parameter: W_Q[p] */
} MATS[N_MATS] = {
    [MAT_E] = {"W_E", false},   [MAT_POS] = {"W_pos", false}, [MAT_U] = {"W_U", false},
    [MAT_Q] = {"W_Q", true},    [MAT_K] = {"W_K", true},      [MAT_V] = {"W_V", true},
    [MAT_O] = {"W_O", true},    [MAT_IN] = {"W_in", true},    [MAT_OUT] = {"W_out", true},
};

#define KNOWN_MATRICES "W_E, W_pos, W_U, W_Q[p], W_K[p], W_V[p], W_O[p], W_in[p], W_out[p] (p a parameter; ^T transposes)"

typedef struct {
    mat_kind kind;
    int param;          /* index into params, or -1 */
    char pname[64];     /* the parameter as written (resolved after parsing) */
    bool trans;
    int line, col;      /* where the term starts */
    int pcol;           /* where its parameter name starts */
} term;

typedef enum { OP_LT, OP_LE, OP_EQ, OP_NE, OP_GT, OP_GE } cmp_op;

typedef struct {
    enum { OPD_INT, OPD_LAYER, OPD_HEAD } kind;
    int value;          /* OPD_INT */
    int param;          /* OPD_LAYER / OPD_HEAD */
    char pname[64];
    int col;
} operand;

typedef struct {
    operand a, b;
    cmp_op op;
    char *text;
    int line, col;
} constraint;

struct cc_circuit {
    char *label;
    char *name, *description, *rows, *cols, *chain_text;
    int n_params;
    char *params[CC_CIRCUIT_MAX_PARAMS];
    int n_terms;
    term terms[CC_CIRCUIT_MAX_TERMS];
    int n_constraints;
    constraint cons[CC_CIRCUIT_MAX_CONSTRAINTS];
};

/* ---- small string helpers ----------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_vadd(sbuf *b, const char *fmt, va_list ap)
{
    if (b->oom) return;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256);
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s, b->cap = cap;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

static void __attribute__((format(printf, 2, 3))) sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(b, fmt, ap);
    va_end(ap);
}

/* The finished string (never NULL unless out of memory). */
static char *sb_done(sbuf *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s) return strdup("");
    return b->s;
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = '\0';
    return d;
}

/* Appends " TEXT" (or TEXT when *dst is empty) to the malloc'ed *dst. */
static int append_text(char **dst, const char *text, const char *sep)
{
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(text), s = a ? strlen(sep) : 0;
    char *n = realloc(*dst, a + s + b + 1);
    if (!n) return -1;
    if (s) memcpy(n + a, sep, s);
    memcpy(n + a + s, text, b + 1);
    *dst = n;
    return 0;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_'; }
static bool is_ident(int c) { return isalnum(c) || c == '_'; }

/* ---- parser --------------------------------------------------------------------- */

typedef struct {
    cc_circuit *c;
    const char *label;
    int line;
    cc_error *err;
    int seen_line[8]; /* line of the first name/params/rows/cols/chain (0 = not yet) */
} parser;

static int __attribute__((format(printf, 3, 4))) perr(parser *p, int col, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cc_fail(p->err, "%s:%d:%d: %s", p->label, p->line, col, msg);
}

static int oom_err(cc_error *err) { return cc_fail(err, "out of memory while handling a circuit"); }

/* Reads an identifier of at most 63 characters at s[*i] into buf. */
static int read_ident(parser *p, const char *s, size_t *i, int base, char *buf, const char *what)
{
    size_t start = *i;
    if (!is_ident_start((unsigned char)s[*i]))
        return perr(p, base + (int)start + 1, "expected %s (a name of letters, digits and _), found %s%c%s", what,
                    s[*i] ? "'" : "", s[*i] ? s[*i] : ' ', s[*i] ? "'" : "end of line");
    while (is_ident((unsigned char)s[*i])) (*i)++;
    if (*i - start > 63) return perr(p, base + (int)start + 1, "%s is longer than 63 characters; shorten it", what);
    memcpy(buf, s + start, *i - start);
    buf[*i - start] = '\0';
    return 0;
}

static void skip_space(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t') (*i)++;
}

/* params: NAME [,] NAME ... ; BASE is the column of s[0] minus 1. */
static int parse_params(parser *p, const char *s, int base)
{
    size_t i = 0;
    for (;;) {
        skip_space(s, &i);
        if (s[i] == ',') {
            i++;
            continue;
        }
        if (!s[i]) break;
        char name[64];
        int col = base + (int)i + 1;
        if (read_ident(p, s, &i, base, name, "a parameter name") != 0) return -1;
        if (s[i] && s[i] != ' ' && s[i] != '\t' && s[i] != ',')
            return perr(p, base + (int)i + 1, "unexpected '%c' in params: separate names by spaces or commas", s[i]);
        for (int k = 0; k < p->c->n_params; k++)
            if (strcmp(p->c->params[k], name) == 0)
                return perr(p, col, "parameter \"%s\" is declared twice; remove one", name);
        for (int k = 0; k < N_MATS; k++)
            if (strcmp(MATS[k].name, name) == 0)
                return perr(p, col, "parameter \"%s\" has a matrix's name; rename it", name);
        if (p->c->n_params == CC_CIRCUIT_MAX_PARAMS)
            return perr(p, col, "too many parameters (at most %d)", CC_CIRCUIT_MAX_PARAMS);
        if (!(p->c->params[p->c->n_params] = strdup(name))) return oom_err(p->err);
        p->c->n_params++;
    }
    return 0;
}

/* One or more chain terms: NAME[PARAM]^T separated by spaces (or '@'). */
static int parse_chain(parser *p, const char *s, int base)
{
    size_t i = 0;
    for (;;) {
        skip_space(s, &i);
        if (s[i] == '@') {
            i++;
            continue;
        }
        if (!s[i]) break;
        int col = base + (int)i + 1;
        char name[64];
        if (read_ident(p, s, &i, base, name, "a matrix name") != 0) return -1;
        int kind = -1;
        for (int k = 0; k < N_MATS; k++)
            if (strcmp(MATS[k].name, name) == 0) kind = k;
        if (kind < 0) return perr(p, col, "unknown matrix \"%s\"; the chain may name %s", name, KNOWN_MATRICES);
        term t = {.kind = (mat_kind)kind, .param = -1, .line = p->line, .col = col};
        if (s[i] == '[') {
            if (!MATS[kind].indexed)
                return perr(p, base + (int)i + 1, "%s takes no parameter; write it without [...]", name);
            i++;
            skip_space(s, &i);
            int pcol = base + (int)i + 1;
            if (read_ident(p, s, &i, base, t.pname, "a parameter name inside [...]") != 0) return -1;
            t.pcol = pcol;
            skip_space(s, &i);
            if (s[i] != ']') return perr(p, base + (int)i + 1, "expected ']' after %s[%s", name, t.pname);
            i++;
        } else if (MATS[kind].indexed) {
            return perr(p, base + (int)i + 1, "%s needs a head parameter: write %s[p] with p declared in params:",
                        name, name);
        }
        if (s[i] == '^') {
            if (s[i + 1] != 'T')
                return perr(p, base + (int)i + 2, "expected 'T' after '^' (write ^T to transpose)");
            t.trans = true;
            i += 2;
        }
        if (s[i] && s[i] != ' ' && s[i] != '\t' && s[i] != '@')
            return perr(p, base + (int)i + 1, "unexpected '%c' after %s; separate terms by spaces", s[i], name);
        if (p->c->n_terms == CC_CIRCUIT_MAX_TERMS)
            return perr(p, col, "the chain is too long (at most %d terms)", CC_CIRCUIT_MAX_TERMS);
        p->c->terms[p->c->n_terms++] = t;
    }
    return 0;
}

static int parse_operand(parser *p, const char *s, size_t *i, int base, operand *o)
{
    skip_space(s, i);
    o->col = base + (int)*i + 1;
    if (isdigit((unsigned char)s[*i]) || (s[*i] == '-' && isdigit((unsigned char)s[*i + 1]))) {
        char *end;
        errno = 0;
        long v = strtol(s + *i, &end, 10);
        if (errno || v < -1000000 || v > 1000000)
            return perr(p, o->col, "integer out of range (at most 1000000 in magnitude)");
        o->kind = OPD_INT, o->value = (int)v, o->param = -1;
        *i = (size_t)(end - s);
        return 0;
    }
    char fn[64];
    if (read_ident(p, s, i, base, fn, "layer(p), head(p) or an integer") != 0) return -1;
    if (strcmp(fn, "layer") == 0) o->kind = OPD_LAYER;
    else if (strcmp(fn, "head") == 0) o->kind = OPD_HEAD;
    else return perr(p, o->col, "unknown function \"%s\" in a constraint; use layer(p), head(p) or an integer", fn);
    skip_space(s, i);
    if (s[*i] != '(') return perr(p, base + (int)*i + 1, "expected '(' after %s", fn);
    (*i)++;
    skip_space(s, i);
    if (read_ident(p, s, i, base, o->pname, "a parameter name") != 0) return -1;
    skip_space(s, i);
    if (s[*i] != ')') return perr(p, base + (int)*i + 1, "expected ')' after %s(%s", fn, o->pname);
    (*i)++;
    return 0;
}

/* constraint: OPERAND OP OPERAND with OP one of < <= == != > >=. */
static int parse_constraint(parser *p, const char *s, int base)
{
    if (p->c->n_constraints == CC_CIRCUIT_MAX_CONSTRAINTS)
        return perr(p, base + 1, "too many constraints (at most %d)", CC_CIRCUIT_MAX_CONSTRAINTS);
    constraint k = {.line = p->line, .col = base + 1};
    size_t i = 0;
    if (parse_operand(p, s, &i, base, &k.a) != 0) return -1;
    skip_space(s, &i);
    int ocol = base + (int)i + 1;
    if (s[i] == '<' && s[i + 1] == '=') k.op = OP_LE, i += 2;
    else if (s[i] == '>' && s[i + 1] == '=') k.op = OP_GE, i += 2;
    else if (s[i] == '=' && s[i + 1] == '=') k.op = OP_EQ, i += 2;
    else if (s[i] == '!' && s[i + 1] == '=') k.op = OP_NE, i += 2;
    else if (s[i] == '<') k.op = OP_LT, i += 1;
    else if (s[i] == '>') k.op = OP_GT, i += 1;
    else return perr(p, ocol, "expected a comparison (<, <=, ==, !=, >, >=) in the constraint");
    if (parse_operand(p, s, &i, base, &k.b) != 0) return -1;
    skip_space(s, &i);
    if (s[i]) return perr(p, base + (int)i + 1, "unexpected '%c' after the constraint; write one per line", s[i]);
    if (k.a.kind == OPD_INT && k.b.kind == OPD_INT)
        return perr(p, base + 1, "the constraint compares two integers; name a parameter, e.g. layer(p) < 3");
    if (!(k.text = strdup(s))) return oom_err(p->err);
    p->c->cons[p->c->n_constraints++] = k;
    return 0;
}

enum { KEY_NAME, KEY_DESCRIPTION, KEY_PARAMS, KEY_CONSTRAINT, KEY_ROWS, KEY_COLS, KEY_CHAIN, N_KEYS };
static const char *const KEYS[N_KEYS] = {"name", "description", "params", "constraint", "rows", "cols", "chain"};

/* Resolves a parameter name written at (line, col) into its index. */
static int resolve(parser *p, const char *name, int line, int col, int *out)
{
    for (int k = 0; k < p->c->n_params; k++)
        if (strcmp(p->c->params[k], name) == 0) {
            *out = k;
            return 0;
        }
    p->line = line;
    if (p->c->n_params == 0)
        return perr(p, col, "unknown parameter \"%s\": declare it with a line \"params: %s\"", name, name);
    char list[600] = "";
    for (int k = 0; k < p->c->n_params; k++) {
        strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, p->c->params[k], sizeof list - strlen(list) - 1);
    }
    return perr(p, col, "unknown parameter \"%s\": declared parameters are %s; add it to params:", name, list);
}

/* Parses one logical line (without its newline) of length N. */
static int parse_line(parser *p, const char *line, size_t n, int *last_key)
{
    char *s = dup_range(line, n);
    if (!s) return oom_err(p->err);
    int rc = -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || ((unsigned char)s[i] < 0x20 && s[i] != '\t')) {
            perr(p, (int)i + 1, "control character 0x%02x; circuit files are plain text",
                 (unsigned)(unsigned char)s[i]);
            goto out;
        }
    size_t i = 0;
    skip_space(s, &i);
    if (!s[i] || s[i] == '#') { /* blank or comment */
        rc = 0;
        goto out;
    }
    /* in params:, constraint: and chain: lines (and chain continuations) '#' starts a comment */
    bool code_line = i > 0 ? *last_key == KEY_CHAIN
                           : strncmp(s, "params", 6) == 0 || strncmp(s, "constraint", 10) == 0 ||
                                 strncmp(s, "chain", 5) == 0;
    if (code_line && strchr(s, '#')) *strchr(s, '#') = '\0';
    if (i > 0) { /* continuation of the previous key */
        if (*last_key == KEY_DESCRIPTION) rc = append_text(&p->c->description, s + i, " ") == 0 ? 0 : oom_err(p->err);
        else if (*last_key == KEY_CHAIN) rc = parse_chain(p, s + i, (int)i);
        else
            perr(p, (int)i + 1, "an indented line continues the previous key, and only description: and chain: "
                                "may continue; remove the indentation");
        goto out;
    }
    char key[64];
    if (read_ident(p, s, &i, 0, key, "a key (name:, description:, params:, constraint:, rows:, cols:, chain:)") != 0)
        goto out;
    int kcol = 1;
    skip_space(s, &i);
    if (s[i] != ':') {
        perr(p, (int)i + 1, "expected ':' after \"%s\" (lines are \"key: value\")", key);
        goto out;
    }
    i++;
    int k = -1;
    for (int j = 0; j < N_KEYS; j++)
        if (strcmp(KEYS[j], key) == 0) k = j;
    if (k < 0) {
        perr(p, kcol, "unknown key \"%s\"; the keys are name, description, params, constraint, rows, cols, chain",
             key);
        goto out;
    }
    skip_space(s, &i);
    /* trailing spaces are not part of a value */
    size_t e = strlen(s);
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) s[--e] = '\0';
    const char *v = s + i;
    int base = (int)i;
    if (k != KEY_DESCRIPTION && k != KEY_CONSTRAINT) {
        int slot = k == KEY_NAME ? 0 : k == KEY_PARAMS ? 1 : k == KEY_ROWS ? 2 : k == KEY_COLS ? 3 : 4;
        if (p->seen_line[slot]) {
            perr(p, kcol, "duplicate \"%s:\" (first given on line %d); keep one", key, p->seen_line[slot]);
            goto out;
        }
        p->seen_line[slot] = p->line;
    }
    *last_key = k;
    switch (k) {
    case KEY_NAME: {
        size_t j = 0;
        char name[64];
        if (read_ident(p, v, &j, base, name, "a circuit name") != 0) goto out;
        if (v[j]) {
            perr(p, base + (int)j + 1, "a circuit name is one word of letters, digits and _");
            goto out;
        }
        free(p->c->name);
        if (!(p->c->name = strdup(name))) {
            oom_err(p->err);
            goto out;
        }
        rc = 0;
        break;
    }
    case KEY_DESCRIPTION: rc = append_text(&p->c->description, v, " ") == 0 ? 0 : oom_err(p->err); break;
    case KEY_ROWS: rc = (p->c->rows = strdup(v)) ? 0 : oom_err(p->err); break;
    case KEY_COLS: rc = (p->c->cols = strdup(v)) ? 0 : oom_err(p->err); break;
    case KEY_PARAMS: rc = parse_params(p, v, base); break;
    case KEY_CONSTRAINT:
        if (!*v) {
            perr(p, base + 1, "empty constraint; write e.g. layer(prev) < layer(ind)");
            goto out;
        }
        rc = parse_constraint(p, v, base);
        break;
    case KEY_CHAIN:
        if (!*v) { /* the terms may all be on continuation lines */
            rc = 0;
            break;
        }
        rc = parse_chain(p, v, base);
        break;
    }
out:
    free(s);
    return rc;
}

static char *term_label(const cc_circuit *c, const term *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s", MATS[t->kind].name, t->param >= 0 ? "[" : "",
             t->param >= 0 ? c->params[t->param] : "", t->param >= 0 ? "]" : "", t->trans ? "^T" : "");
    return buf;
}

/* The base name of LABEL without directories and ".circuit". */
static char *base_name(const char *label)
{
    const char *b = strrchr(label, '/');
    b = b ? b + 1 : label;
    size_t n = strlen(b);
    if (n > 8 && strcmp(b + n - 8, ".circuit") == 0) n -= 8;
    return dup_range(b, n);
}

int cc_circuit_parse(const char *text, const char *label, cc_circuit **out, cc_error *err)
{
    *out = NULL;
    if (!label) label = "<circuit>";
    cc_circuit *c = calloc(1, sizeof *c);
    if (!c) return oom_err(err);
    parser p = {.c = c, .label = label, .err = err};
    int last_key = -1;
    const char *s = text;
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) s += 3; /* BOM */
    while (*s) {
        p.line++;
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (n && s[n - 1] == '\r') n--;
        if (parse_line(&p, s, n, &last_key) != 0) goto fail;
        s += nl ? (size_t)(nl - s) + 1 : n;
    }
    if (c->n_terms == 0) {
        cc_fail(err, "%s: no chain: add a line \"chain: <matrices>\", e.g. \"chain: W_E W_V[h] W_O[h] W_U\"", label);
        goto fail;
    }
    if (c->n_terms < 2) {
        p.line = c->terms[0].line;
        perr(&p, c->terms[0].col, "a chain needs at least two matrices (it is compiled into a factored product A B)");
        goto fail;
    }
    /* resolve parameter names now that every params: line is read */
    for (int i = 0; i < c->n_terms; i++) {
        term *t = &c->terms[i];
        if (MATS[t->kind].indexed && resolve(&p, t->pname, t->line, t->pcol, &t->param) != 0) goto fail;
    }
    for (int i = 0; i < c->n_constraints; i++) {
        constraint *k = &c->cons[i];
        if (k->a.kind != OPD_INT && resolve(&p, k->a.pname, k->line, k->a.col, &k->a.param) != 0) goto fail;
        if (k->b.kind != OPD_INT && resolve(&p, k->b.pname, k->line, k->b.col, &k->b.param) != 0) goto fail;
    }
    /* every parameter is used by the chain */
    for (int k = 0; k < c->n_params; k++) {
        bool used = false;
        for (int i = 0; i < c->n_terms; i++) used |= c->terms[i].param == k;
        if (!used) {
            p.line = p.seen_line[1];
            cc_fail(err, "%s:%d: parameter \"%s\" is declared but no matrix in the chain uses it; remove it", label,
                    p.line, c->params[k]);
            goto fail;
        }
    }
    if (!c->name && !(c->name = base_name(label))) goto oom;
    if (!c->description && !(c->description = strdup(""))) goto oom;
    if (!c->rows && !(c->rows = strdup(""))) goto oom;
    if (!c->cols && !(c->cols = strdup(""))) goto oom;
    if (!(c->label = strdup(label))) goto oom;
    sbuf b = {0};
    for (int i = 0; i < c->n_terms; i++) {
        char buf[160];
        sb_add(&b, "%s%s", i ? " " : "", term_label(c, &c->terms[i], buf, sizeof buf));
    }
    if (!(c->chain_text = sb_done(&b))) goto oom;
    *out = c;
    return 0;
oom:
    oom_err(err);
fail:
    cc_circuit_free(c);
    return -1;
}

int cc_circuit_load(const char *path, cc_circuit **out, cc_error *err)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return cc_fail(err, "cannot open circuit file %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(fp);
            return oom_err(err);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            if (cap >= (1u << 20)) {
                free(buf);
                fclose(fp);
                return cc_fail(err, "circuit file %s is larger than 1 MiB; is it a circuit file?", path);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb, cap *= 2;
        }
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return cc_fail(err, "cannot read circuit file %s", path);
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        return cc_fail(err, "%s contains NUL bytes; circuit files are plain text", path);
    }
    int rc = cc_circuit_parse(buf, path, out, err);
    free(buf);
    return rc;
}

const char *cc_circuit_dir(void)
{
    const char *d = getenv("CIRCUITC_CIRCUITS");
    return d && *d ? d : CC_CIRCUITS_DIR;
}

int cc_circuit_find_builtin(const char *name, char **path_out, cc_error *err)
{
    *path_out = NULL;
    const char *dir = cc_circuit_dir();
    bool ok = *name != '\0';
    for (const char *s = name; *s; s++) ok &= is_ident((unsigned char)*s) || *s == '-';
    char *path = NULL;
    struct stat st;
    if (ok) {
        if (asprintf(&path, "%s/%s.circuit", dir, name) < 0) return oom_err(err);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            *path_out = path;
            return 0;
        }
        free(path);
    }
    /* list what there is */
    char list[700] = "";
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n > 8 && strcmp(e->d_name + n - 8, ".circuit") == 0 && strlen(list) + n < sizeof list - 4) {
                if (*list) strcat(list, ", ");
                strncat(list, e->d_name, n - 8);
            }
        }
        closedir(d);
    }
    return cc_fail(err, "no built-in circuit \"%s\" in %s (%s%s); give a path to a .circuit file%s", name, dir,
                   *list ? "built-ins: " : "the directory has no .circuit files", list,
                   getenv("CIRCUITC_CIRCUITS") ? "" : " or set CIRCUITC_CIRCUITS to another directory");
}

int cc_circuit_open(const char *spec, cc_circuit **out, cc_error *err)
{
    struct stat st;
    size_t n = strlen(spec);
    if (strchr(spec, '/') || (n > 8 && strcmp(spec + n - 8, ".circuit") == 0) ||
        (stat(spec, &st) == 0 && S_ISREG(st.st_mode)))
        return cc_circuit_load(spec, out, err);
    char *path;
    if (cc_circuit_find_builtin(spec, &path, err) != 0) return -1;
    int rc = cc_circuit_load(path, out, err);
    free(path);
    return rc;
}

void cc_circuit_free(cc_circuit *c)
{
    if (!c) return;
    free(c->label), free(c->name), free(c->description), free(c->rows), free(c->cols), free(c->chain_text);
    for (int i = 0; i < c->n_params; i++) free(c->params[i]);
    for (int i = 0; i < c->n_constraints; i++) free(c->cons[i].text);
    free(c);
}

const char *cc_circuit_name(const cc_circuit *c) { return c->name; }
const char *cc_circuit_description(const cc_circuit *c) { return c->description; }
const char *cc_circuit_rows(const cc_circuit *c) { return c->rows; }
const char *cc_circuit_cols(const cc_circuit *c) { return c->cols; }
const char *cc_circuit_chain_text(const cc_circuit *c) { return c->chain_text; }
int cc_circuit_n_params(const cc_circuit *c) { return c->n_params; }
const char *cc_circuit_param(const cc_circuit *c, int i) { return i >= 0 && i < c->n_params ? c->params[i] : NULL; }
int cc_circuit_n_constraints(const cc_circuit *c) { return c->n_constraints; }
const char *cc_circuit_constraint_text(const cc_circuit *c, int i)
{
    return i >= 0 && i < c->n_constraints ? c->cons[i].text : NULL;
}
int cc_circuit_n_terms(const cc_circuit *c) { return c->n_terms; }

/* ---- binding, shapes and constraints -------------------------------------------- */

/* A term's operand: the stored matrix P [rows_stored, cols_stored]; its logical
 * shape is [rows, cols] (swapped when TRANS). */
typedef struct {
    const float *p;
    long long rows, cols;
    bool trans;
} operand_mat;

static operand_mat term_matrix(const cc_model *m, const term *t, cc_head h)
{
    const cc_config *g = &m->cfg;
    long long d = g->d_model, dh = g->d_head, V = g->d_vocab, mlp = g->d_mlp;
    size_t head_off = ((size_t)h.layer * g->n_heads + h.head) * (size_t)d * dh;
    operand_mat o = {0};
    switch (t->kind) {
    case MAT_E: o = (operand_mat){m->w.W_E, V, d, false}; break;
    case MAT_POS: o = (operand_mat){m->w.W_pos, g->n_ctx, d, false}; break;
    case MAT_U: o = (operand_mat){m->w.W_U, d, V, false}; break;
    case MAT_Q: o = (operand_mat){m->w.W_Q + head_off, d, dh, false}; break;
    case MAT_K: o = (operand_mat){m->w.W_K + head_off, d, dh, false}; break;
    case MAT_V: o = (operand_mat){m->w.W_V + head_off, d, dh, false}; break;
    case MAT_O: o = (operand_mat){m->w.W_O + head_off, dh, d, false}; break;
    case MAT_IN: o = (operand_mat){m->w.W_in + (size_t)h.layer * d * mlp, d, mlp, false}; break;
    case MAT_OUT: o = (operand_mat){m->w.W_out + (size_t)h.layer * mlp * d, mlp, d, false}; break;
    default: break;
    }
    if (t->trans) {
        long long r = o.rows;
        o.rows = o.cols, o.cols = r, o.trans = true;
    }
    return o;
}

/* Fills heads[k] for every parameter k from the bindings. */
static int bind(const cc_circuit *c, const cc_model *m, const char *const *names, const cc_head *heads, int n,
                cc_head *out, cc_error *err)
{
    bool bound[CC_CIRCUIT_MAX_PARAMS] = {false};
    char plist[600] = "";
    for (int k = 0; k < c->n_params; k++) {
        strncat(plist, k ? ", " : "", sizeof plist - strlen(plist) - 1);
        strncat(plist, c->params[k], sizeof plist - strlen(plist) - 1);
    }
    for (int i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < c->n_params; j++)
            if (names[i] && strcmp(names[i], c->params[j]) == 0) k = j;
        if (k < 0) {
            if (c->n_params == 0)
                return cc_fail(err, "circuit %s takes no parameters, but \"%s\" was bound; remove the binding",
                               c->name, names[i] ? names[i] : "(null)");
            return cc_fail(err, "circuit %s has no parameter \"%s\" (its parameters: %s); remove or rename the binding",
                           c->name, names[i] ? names[i] : "(null)", plist);
        }
        if (bound[k]) return cc_fail(err, "parameter \"%s\" of circuit %s is bound twice; bind it once", names[i], c->name);
        const cc_config *g = &m->cfg;
        if (heads[i].layer < 0 || heads[i].layer >= g->n_layers || heads[i].head < 0 || heads[i].head >= g->n_heads)
            return cc_fail(err, "%s=L%dH%d is out of range: this model has layers 0..%d and heads 0..%d", names[i],
                           heads[i].layer, heads[i].head, g->n_layers - 1, g->n_heads - 1);
        bound[k] = true;
        out[k] = heads[i];
    }
    for (int k = 0; k < c->n_params; k++)
        if (!bound[k])
            return cc_fail(err, "parameter \"%s\" of circuit %s is not bound; bind every parameter (%s), e.g. %s=L1H0",
                           c->params[k], c->name, plist, c->params[k]);
    return 0;
}

static long long opd_value(const operand *o, const cc_head *heads)
{
    return o->kind == OPD_INT ? o->value : o->kind == OPD_LAYER ? heads[o->param].layer : heads[o->param].head;
}

static int check_constraints(const cc_circuit *c, const cc_head *heads, cc_error *err)
{
    for (int i = 0; i < c->n_constraints; i++) {
        const constraint *k = &c->cons[i];
        long long a = opd_value(&k->a, heads), b = opd_value(&k->b, heads);
        bool ok = k->op == OP_LT ? a < b : k->op == OP_LE ? a <= b : k->op == OP_EQ ? a == b
                : k->op == OP_NE ? a != b : k->op == OP_GT ? a > b : a >= b;
        if (!ok) {
            char va[96] = "", vb[96] = "";
            if (k->a.kind != OPD_INT)
                snprintf(va, sizeof va, "%s(%s) = %lld", k->a.kind == OPD_LAYER ? "layer" : "head",
                         c->params[k->a.param], a);
            if (k->b.kind != OPD_INT)
                snprintf(vb, sizeof vb, "%s(%s) = %lld", k->b.kind == OPD_LAYER ? "layer" : "head",
                         c->params[k->b.param], b);
            return cc_fail(err, "%s:%d: constraint \"%s\" of circuit %s does not hold (%s%s%s); bind heads that satisfy it",
                           c->label, k->line, k->text, c->name, va, *va && *vb ? ", " : "", vb);
        }
    }
    return 0;
}

/* ---- planning: split and matrix-chain order --------------------------------------- */

/* Matrix-chain DP over terms [lo, hi) with dims d: cost[i][j] = min over k of
 * cost[i][k] + cost[k+1][j] + d[i] d[k+1] d[j+1] (multiply-adds); ties take the
 * smallest k. split[i][j] = that k. */
typedef struct {
    double cost[CC_CIRCUIT_MAX_TERMS][CC_CIRCUIT_MAX_TERMS];
    int split[CC_CIRCUIT_MAX_TERMS][CC_CIRCUIT_MAX_TERMS];
} chain_dp;

static void dp_fill(const long long *d, int lo, int hi, cc_chain_order order, chain_dp *dp)
{
    for (int i = lo; i < hi; i++) dp->cost[i][i] = 0, dp->split[i][i] = i;
    for (int len = 2; len <= hi - lo; len++)
        for (int i = lo; i + len - 1 < hi; i++) {
            int j = i + len - 1;
            int kmin = order == CC_ORDER_LEFT ? j - 1 : i, kmax = order == CC_ORDER_RIGHT ? i : j - 1;
            double best = -1;
            for (int k = kmin; k <= kmax; k++) {
                double cst = dp->cost[i][k] + dp->cost[k + 1][j] + (double)d[i] * d[k + 1] * d[j + 1];
                if (best < 0 || cst < best) best = cst, dp->split[i][j] = k;
            }
            dp->cost[i][j] = best;
        }
}

static void order_text(const cc_circuit *c, const chain_dp *dp, int i, int j, bool top, sbuf *b)
{
    if (i == j) {
        char buf[160];
        sb_add(b, "%s", term_label(c, &c->terms[i], buf, sizeof buf));
        return;
    }
    int k = dp->split[i][j];
    if (!top) sb_add(b, "(");
    order_text(c, dp, i, k, false, b);
    sb_add(b, " ");
    order_text(c, dp, k + 1, j, false, b);
    if (!top) sb_add(b, ")");
}

static void set_order_text(const cc_circuit *c, const chain_dp *dp, int i, int j, char *dst, size_t size)
{
    sbuf b = {0};
    order_text(c, dp, i, j, true, &b);
    char *s = sb_done(&b);
    snprintf(dst, size, "%s", s ? s : "?");
    free(s);
}

int cc_circuit_plan_make(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                         const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                         cc_circuit_plan *plan, cc_error *err)
{
    if (!m->loaded) return cc_fail(err, "internal: the model's weights are not loaded");
    if (n_bind < 0 || (n_bind > 0 && (!bind_names || !bind_heads)))
        return cc_fail(err, "internal: bad binding arrays");
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (bind(c, m, bind_names, bind_heads, n_bind, heads, err) != 0) return -1;
    memset(plan, 0, sizeof *plan);
    plan->n_terms = c->n_terms;
    for (int i = 0; i < c->n_terms; i++) {
        const term *t = &c->terms[i];
        operand_mat o = term_matrix(m, t, t->param >= 0 ? heads[t->param] : (cc_head){0, 0});
        if (i == 0) plan->dims[0] = o.rows;
        else if (o.rows != plan->dims[i]) {
            char b1[160], b2[160];
            const term *p = &c->terms[i - 1];
            operand_mat po = term_matrix(m, p, p->param >= 0 ? heads[p->param] : (cc_head){0, 0});
            return cc_fail(err, "%s:%d:%d: shape mismatch: %s is [%lld, %lld] but the next term %s is [%lld, %lld]; "
                                "a term's columns must equal the next one's rows (transpose one with ^T or fix the chain)",
                           c->label, t->line, t->col, term_label(c, p, b1, sizeof b1), po.rows, po.cols,
                           term_label(c, t, b2, sizeof b2), o.rows, o.cols);
        }
        plan->dims[i + 1] = o.cols;
    }
    if (check_constraints(c, heads, err) != 0) return -1;
    /* the split: the smallest inner dimension, the leftmost on ties */
    int n = c->n_terms, s = 1;
    for (int i = 2; i < n; i++)
        if (plan->dims[i] < plan->dims[s]) s = i;
    plan->split = s;
    plan->order_a = order_a, plan->order_b = order_b;
    chain_dp *dp = malloc(sizeof *dp);
    if (!dp) return oom_err(err);
    static const cc_chain_order ORDERS[3] = {CC_ORDER_OPTIMAL, CC_ORDER_LEFT, CC_ORDER_RIGHT};
    double fa[3], fb[3];
    for (int o = 0; o < 3; o++) {
        dp_fill(plan->dims, 0, s, ORDERS[o], dp);
        fa[o] = 2 * dp->cost[0][s - 1];
        if (ORDERS[o] == order_a) set_order_text(c, dp, 0, s - 1, plan->order_text_a, sizeof plan->order_text_a);
        dp_fill(plan->dims, s, n, ORDERS[o], dp);
        fb[o] = 2 * dp->cost[s][n - 1];
        if (ORDERS[o] == order_b) set_order_text(c, dp, s, n - 1, plan->order_text_b, sizeof plan->order_text_b);
    }
    free(dp);
    plan->flops_a = fa[order_a], plan->flops_b = fb[order_b];
    plan->flops_a_left = fa[1], plan->flops_b_left = fb[1];
    plan->flops_a_right = fa[2], plan->flops_b_right = fb[2];
    return 0;
}

/* ---- evaluation ----------------------------------------------------------------- */

typedef struct {
    operand_mat v; /* what to multiply */
    float *own;    /* owned storage of v.p, or NULL for a weight view */
} value;

/* Caps intermediate products at 2^31 elements (8 GiB of float32), and keeps
 * every dimension inside BLAS's int. */
#define MAX_ELEMS (1ll << 31)

static int eval(const cc_circuit *c, const cc_model *m, const cc_head *heads, const chain_dp *dp, const long long *dims,
                int i, int j, value *out, cc_error *err)
{
    if (i == j) {
        const term *t = &c->terms[i];
        out->v = term_matrix(m, t, t->param >= 0 ? heads[t->param] : (cc_head){0, 0});
        out->own = NULL;
        return 0;
    }
    int k = dp->split[i][j];
    value a, b;
    if (eval(c, m, heads, dp, dims, i, k, &a, err) != 0) return -1;
    if (eval(c, m, heads, dp, dims, k + 1, j, &b, err) != 0) {
        free(a.own);
        return -1;
    }
    long long M = dims[i], K = dims[k + 1], N = dims[j + 1];
    if (M * N > MAX_ELEMS || M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff) {
        free(a.own), free(b.own);
        return cc_fail(err, "circuit %s: an intermediate product would be %lld x %lld, too large to form; "
                            "reorder the chain", c->name, M, N);
    }
    float *C = malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof *C);
    if (!C) {
        free(a.own), free(b.own);
        return oom_err(err);
    }
    if (M > 0 && N > 0) {
        if (K == 0) memset(C, 0, (size_t)(M * N) * sizeof *C);
        else
            cblas_sgemm(CblasRowMajor, a.v.trans ? CblasTrans : CblasNoTrans, b.v.trans ? CblasTrans : CblasNoTrans,
                        (int)M, (int)N, (int)K, 1.0f, a.v.p, (int)(a.v.trans ? M : K), b.v.p,
                        (int)(b.v.trans ? K : N), 0.0f, C, (int)N);
    }
    free(a.own), free(b.own);
    out->v = (operand_mat){C, M, N, false};
    out->own = C;
    return 0;
}

/* Evaluates terms [i, j] into a malloc'ed row-major [dims[i], dims[j+1]] matrix. */
static float *eval_side(const cc_circuit *c, const cc_model *m, const cc_head *heads, const chain_dp *dp,
                        const long long *dims, int i, int j, cc_error *err)
{
    value v;
    if (eval(c, m, heads, dp, dims, i, j, &v, err) != 0) return NULL;
    if (v.own) return v.own;
    /* a single term: copy (transposing if needed) so the cc_fm owns its factor */
    long long R = v.v.rows, C = v.v.cols;
    if (R * C > MAX_ELEMS) {
        cc_fail(err, "circuit %s: a factor would be %lld x %lld, too large", c->name, R, C);
        return NULL;
    }
    float *x = malloc((size_t)(R * C > 0 ? R * C : 1) * sizeof *x);
    if (!x) {
        oom_err(err);
        return NULL;
    }
    if (!v.v.trans) memcpy(x, v.v.p, (size_t)(R * C) * sizeof *x);
    else
        for (long long r = 0; r < R; r++)
            for (long long q = 0; q < C; q++) x[r * C + q] = v.v.p[q * R + r];
    return x;
}

/* FLOPs with an SI prefix: "20.48 kFLOP", "4.94 GFLOP". */
static const char *fmt_flops(double f, char *buf, size_t size)
{
    static const char *const P[] = {"", "k", "M", "G", "T", "P"};
    int i = 0;
    while (f >= 1000 && i < 5) f /= 1000, i++;
    snprintf(buf, size, "%.4g %sFLOP", f, P[i]);
    return buf;
}

static const char *order_name(cc_chain_order o)
{
    return o == CC_ORDER_LEFT ? "left to right" : o == CC_ORDER_RIGHT ? "right to left" : "FLOP-optimal";
}

char *cc_circuit_plan_text(const cc_circuit *c, const cc_circuit_plan *plan, const char *const *bind_names,
                           const cc_head *bind_heads, int n_bind)
{
    sbuf b = {0};
    char buf[160], hb[32];
    int n = plan->n_terms, s = plan->split;
    sb_add(&b, "circuit  %s: %s\n", c->name, c->chain_text);
    if (n_bind > 0) {
        sb_add(&b, "bind    ");
        for (int i = 0; i < n_bind; i++) sb_add(&b, " %s=%s", bind_names[i], cc_head_name(bind_heads[i], hb, sizeof hb));
        sb_add(&b, "\n");
    }
    sb_add(&b, "terms   ");
    for (int i = 0; i < n; i++)
        sb_add(&b, " %s[%lld,%lld]", term_label(c, &c->terms[i], buf, sizeof buf), plan->dims[i], plan->dims[i + 1]);
    sb_add(&b, "\nresult   [%lld, %lld] = A [%lld, %lld] B [%lld, %lld]\n", plan->dims[0], plan->dims[n],
           plan->dims[0], plan->dims[s], plan->dims[s], plan->dims[n]);
    sb_add(&b, "split    after term %d of %d (%s): inner dimension %lld, the smallest of", s, n,
           term_label(c, &c->terms[s - 1], buf, sizeof buf), plan->dims[s]);
    for (int i = 1; i < n; i++) sb_add(&b, " %lld", plan->dims[i]);
    sb_add(&b, " (leftmost on ties)\n");
    char f1[32], f2[32], f3[32];
    sb_add(&b, "A        %s  [%s order]  %s (left to right %s, right to left %s)\n", plan->order_text_a,
           order_name(plan->order_a), fmt_flops(plan->flops_a, f1, sizeof f1),
           fmt_flops(plan->flops_a_left, f2, sizeof f2), fmt_flops(plan->flops_a_right, f3, sizeof f3));
    sb_add(&b, "B        %s  [%s order]  %s (left to right %s, right to left %s)\n", plan->order_text_b,
           order_name(plan->order_b), fmt_flops(plan->flops_b, f1, sizeof f1),
           fmt_flops(plan->flops_b_left, f2, sizeof f2), fmt_flops(plan->flops_b_right, f3, sizeof f3));
    sb_add(&b, "total    %s (2 p q r per [p,q] x [q,r] product; float32 sgemm)\n",
           fmt_flops(plan->flops_a + plan->flops_b, f1, sizeof f1));
    return sb_done(&b);
}

int cc_circuit_compile_ex(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                          const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                          cc_fm *out, cc_circuit_plan *plan_out, char **plan_text, cc_error *err)
{
    if (plan_text) *plan_text = NULL;
    cc_circuit_plan plan;
    if (cc_circuit_plan_make(c, m, bind_names, bind_heads, n_bind, order_a, order_b, &plan, err) != 0) return -1;
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (bind(c, m, bind_names, bind_heads, n_bind, heads, err) != 0) return -1;
    chain_dp *dp = malloc(sizeof *dp);
    if (!dp) return oom_err(err);
    int n = plan.n_terms, s = plan.split;
    dp_fill(plan.dims, 0, s, order_a, dp);
    float *A = eval_side(c, m, heads, dp, plan.dims, 0, s - 1, err);
    float *B = NULL;
    if (A) {
        dp_fill(plan.dims, s, n, order_b, dp);
        B = eval_side(c, m, heads, dp, plan.dims, s, n - 1, err);
    }
    free(dp);
    if (!A || !B) {
        free(A);
        return -1;
    }
    if (plan_text && !(*plan_text = cc_circuit_plan_text(c, &plan, bind_names, bind_heads, n_bind))) {
        free(A), free(B);
        return oom_err(err);
    }
    cc_fm_wrap(A, B, (int)plan.dims[0], (int)plan.dims[s], (int)plan.dims[n], out);
    if (plan_out) *plan_out = plan;
    return 0;
}

int cc_circuit_compile(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                       const cc_head *bind_heads, int n_bind, cc_fm *out, char **plan_text, cc_error *err)
{
    return cc_circuit_compile_ex(c, m, bind_names, bind_heads, n_bind, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, out,
                                 NULL, plan_text, err);
}
