/* circuit.c — circuit files (docs/circuit-format.md): parsing, loading the
 * built-ins, and the accessors. Compilation is in circuit_compile.c. */
#include "circuit_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "circuitc/datadir.h"
#include "circuitc/fsio.h"
#include "circuitc/utf8.h"
#include "core/args.h"

/* ---- the matrices a chain may name ----------------------------------------- */

#define KNOWN_MATRICES "W_E, W_pos, W_U, W_Q[p], W_K[p], W_V[p], W_O[p], W_in[p], W_out[p] (p a parameter; ^T transposes)"

const cci_mat_info CCI_MATS[N_MATS] = {
    [MAT_E] = {"W_E", false},   [MAT_POS] = {"W_pos", false}, [MAT_U] = {"W_U", false},
    [MAT_Q] = {"W_Q", true},    [MAT_K] = {"W_K", true},      [MAT_V] = {"W_V", true},
    [MAT_O] = {"W_O", true},    [MAT_IN] = {"W_in", true},    [MAT_OUT] = {"W_out", true},
};

/* ---- small string helpers ----------------------------------------------------- */

static void sb_vadd(cci_sbuf *b, const char *fmt, va_list ap)
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

void cci_sb_add(cci_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(b, fmt, ap);
    va_end(ap);
}

char *cci_sb_done(cci_sbuf *b)
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
    return cc_fail_code(p->err, CC_E_FORMAT, "%s:%d:%d: %s", p->label, p->line, col, msg);
}


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
            if (strcmp(CCI_MATS[k].name, name) == 0)
                return perr(p, col, "parameter \"%s\" has a matrix's name; rename it", name);
        if (p->c->n_params == CC_CIRCUIT_MAX_PARAMS)
            return perr(p, col, "too many parameters (at most %d)", CC_CIRCUIT_MAX_PARAMS);
        if (!(p->c->params[p->c->n_params] = strdup(name))) return cci_oom(p->err);
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
            if (strcmp(CCI_MATS[k].name, name) == 0) kind = k;
        if (kind < 0) return perr(p, col, "unknown matrix \"%s\"; the chain may name %s", name, KNOWN_MATRICES);
        term t = {.kind = (mat_kind)kind, .param = -1, .line = p->line, .col = col};
        if (s[i] == '[') {
            if (!CCI_MATS[kind].indexed)
                return perr(p, base + (int)i + 1, "%s takes no parameter; write it without [...]", name);
            i++;
            skip_space(s, &i);
            int pcol = base + (int)i + 1;
            if (read_ident(p, s, &i, base, t.pname, "a parameter name inside [...]") != 0) return -1;
            t.pcol = pcol;
            skip_space(s, &i);
            if (s[i] != ']') return perr(p, base + (int)i + 1, "expected ']' after %s[%s", name, t.pname);
            i++;
        } else if (CCI_MATS[kind].indexed) {
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
    if (!(k.text = strdup(s))) return cci_oom(p->err);
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
    if (!s) return cci_oom(p->err);
    int rc = -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || ((unsigned char)s[i] < 0x20 && s[i] != '\t')) {
            perr(p, (int)i + 1, "control character 0x%02x; circuit files are plain text",
                 (unsigned)(unsigned char)s[i]);
            goto out;
        }
    size_t bad = cc_utf8_invalid_at(s, n);
    if (bad < n) {
        perr(p, (int)bad + 1, "invalid UTF-8 (byte 0x%02x); circuit files are UTF-8 text: re-save the file as UTF-8",
             (unsigned)(unsigned char)s[bad]);
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
        if (*last_key == KEY_DESCRIPTION) rc = append_text(&p->c->description, s + i, " ") == 0 ? 0 : cci_oom(p->err);
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
            cci_oom(p->err);
            goto out;
        }
        rc = 0;
        break;
    }
    case KEY_DESCRIPTION: rc = append_text(&p->c->description, v, " ") == 0 ? 0 : cci_oom(p->err); break;
    case KEY_ROWS: rc = (p->c->rows = strdup(v)) ? 0 : cci_oom(p->err); break;
    case KEY_COLS: rc = (p->c->cols = strdup(v)) ? 0 : cci_oom(p->err); break;
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
    CC_ARG_NOT_NULL(text, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    if (!label) label = "<circuit>";
    cc_circuit *c = calloc(1, sizeof *c);
    if (!c) return cci_oom(err);
    parser p = {.c = c, .label = label, .err = err};
    int last_key = -1;
    const char *s = text;
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) s += 3; /* BOM */
    while (*s) { /* a line ends at LF, CRLF or a bare CR (old Mac files) */
        p.line++;
        size_t n = strcspn(s, "\r\n");
        if (parse_line(&p, s, n, &last_key) != 0) goto fail;
        s += n;
        if (s[0] == '\r' && s[1] == '\n') s += 2;
        else if (*s) s++;
    }
    if (c->n_terms == 0) {
        cc_fail_code(err, CC_E_FORMAT, "%s: no chain: add a line \"chain: <matrices>\", e.g. \"chain: W_E W_V[h] W_O[h] W_U\"", label);
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
        if (CCI_MATS[t->kind].indexed && resolve(&p, t->pname, t->line, t->pcol, &t->param) != 0) goto fail;
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
            cc_fail_code(err, CC_E_FORMAT, "%s:%d: parameter \"%s\" is declared but no matrix in the chain uses it; remove it", label,
                    p.line, c->params[k]);
            goto fail;
        }
    }
    if (!c->name && !(c->name = base_name(label))) goto oom;
    if (!c->description && !(c->description = strdup(""))) goto oom;
    if (!c->rows && !(c->rows = strdup(""))) goto oom;
    if (!c->cols && !(c->cols = strdup(""))) goto oom;
    if (!(c->label = strdup(label))) goto oom;
    cci_sbuf b = {0};
    for (int i = 0; i < c->n_terms; i++) {
        char buf[160];
        cci_sb_add(&b, "%s%s", i ? " " : "", cci_term_label(c, &c->terms[i], buf, sizeof buf));
    }
    if (!(c->chain_text = cci_sb_done(&b))) goto oom;
    *out = c;
    return 0;
oom:
    cci_oom(err);
fail:
    cc_circuit_free(c);
    return -1;
}

int cc_circuit_load(const char *path, cc_circuit **out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    FILE *fp = cc_fopen_regular(path, "circuit file", err);
    if (!fp) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(fp);
            return cci_oom(err);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            if (cap >= (1u << 20)) {
                free(buf);
                fclose(fp);
                return cc_fail_code(err, CC_E_FORMAT, "circuit file %s is larger than 1 MiB; is it a circuit file?", path);
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
        return cc_fail_code(err, CC_E_IO, "cannot read circuit file %s", path);
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        return cc_fail_code(err, CC_E_FORMAT, "%s contains NUL bytes; circuit files are plain text", path);
    }
    int rc = cc_circuit_parse(buf, path, out, err);
    free(buf);
    return rc;
}

int cc_circuit_dir(char **out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    return cc_data_find("CIRCUITC_CIRCUITS", "circuits", out, err);
}

int cc_circuit_find_builtin(const char *name, char **path_out, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(path_out, err, -1);
    *path_out = NULL;
    char *dir = NULL;
    if (cc_circuit_dir(&dir, err) != 0) return -1;
    bool ok = *name != '\0';
    for (const char *s = name; *s; s++) ok &= is_ident((unsigned char)*s) || *s == '-';
    char *path = NULL;
    struct stat st;
    if (ok) {
        if (asprintf(&path, "%s/%s.circuit", dir, name) < 0) {
            free(dir);
            return cci_oom(err);
        }
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            free(dir);
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
    cc_fail(err, "no built-in circuit \"%s\" in %s (%s%s); give a path to a .circuit file%s", name, dir,
            *list ? "built-ins: " : "the directory has no .circuit files", list,
            getenv("CIRCUITC_CIRCUITS") ? "" : " or set CIRCUITC_CIRCUITS to another directory");
    free(dir);
    return -1;
}

int cc_circuit_resolve(const char *spec, char **path_out, cc_error *err)
{
    CC_ARG_NOT_NULL(spec, err, -1);
    CC_ARG_NOT_NULL(path_out, err, -1);
    struct stat st;
    size_t n = strlen(spec);
    if (strchr(spec, '/') || (n > 8 && strcmp(spec + n - 8, ".circuit") == 0) ||
        (stat(spec, &st) == 0 && S_ISREG(st.st_mode))) {
        *path_out = strdup(spec);
        return *path_out ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    return cc_circuit_find_builtin(spec, path_out, err);
}

int cc_circuit_open(const char *spec, cc_circuit **out, cc_error *err)
{
    CC_ARG_NOT_NULL(spec, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    char *path;
    if (cc_circuit_resolve(spec, &path, err) != 0) return -1;
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

const char *cc_circuit_name(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return c->name;
}

const char *cc_circuit_description(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return c->description;
}

const char *cc_circuit_rows(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return c->rows;
}

const char *cc_circuit_cols(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return c->cols;
}

const char *cc_circuit_chain_text(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return c->chain_text;
}

int cc_circuit_n_params(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, -1);
    return c->n_params;
}

const char *cc_circuit_param(const cc_circuit *c, int i)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return i >= 0 && i < c->n_params ? c->params[i] : NULL;
}

int cc_circuit_n_constraints(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, -1);
    return c->n_constraints;
}

const char *cc_circuit_constraint_text(const cc_circuit *c, int i)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    return i >= 0 && i < c->n_constraints ? c->cons[i].text : NULL;
}

int cc_circuit_n_terms(const cc_circuit *c)
{
    CC_ARG_NOT_NULL(c, NULL, -1);
    return c->n_terms;
}

int cci_oom(cc_error *err) { return cc_fail_code(err, CC_E_NOMEM, "out of memory while handling a circuit"); }

char *cci_term_label(const cc_circuit *c, const term *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s", CCI_MATS[t->kind].name, t->param >= 0 ? "[" : "",
             t->param >= 0 ? c->params[t->param] : "", t->param >= 0 ? "]" : "", t->trans ? "^T" : "");
    return buf;
}
