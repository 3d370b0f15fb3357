/* test_circuit.c — circuit files and their compiler: the built-in circuits
 * parse, every class of syntax error names line and column, bindings /
 * constraints / shapes are checked, the split and the multiplication order are
 * the documented ones (checked against a brute-force search), compiled
 * products equal dense float64 products (the float64 factors and their
 * float32 error bounds too, bit for bit the same through the partial compiles
 * and their prefix cache), and a mutation fuzz of the parser. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/rng.h"
#include "circuitc/synth.h"
#include "analysis/circuit_internal.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *g_dir; /* the tiny synthetic model, written before Check forks */

static cc_model *tiny(void)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(g_dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}

static cc_circuit *parse_ok(const char *text)
{
    cc_circuit *c = NULL;
    cc_error err;
    ck_assert_msg(cc_circuit_parse(text, "t", &c, &err) == 0, "parse failed: %s\n--- text:\n%s", err.msg, text);
    return c;
}

static cc_circuit *builtin(const char *name)
{
    cc_circuit *c = NULL;
    cc_error err;
    ck_assert_msg(cc_circuit_open(name, &c, &err) == 0, "%s", err.msg);
    return c;
}

/* ---- parsing ----------------------------------------------------------------------- */

START_TEST(builtins_parse)
{
    struct {
        const char *name, *p0, *p1;
        int n_terms, n_cons;
    } want[] = {
        {"kcomp", "prev", "ind", 6, 1}, {"qcomp", "early", "late", 6, 1}, {"vcomp", "early", "late", 6, 1},
        {"ov", "head", NULL, 4, 0},     {"qk", "head", NULL, 4, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cc_circuit *c = builtin(want[i].name);
        ck_assert_str_eq(cc_circuit_name(c), want[i].name);
        ck_assert_int_eq(cc_circuit_n_terms(c), want[i].n_terms);
        ck_assert_int_eq(cc_circuit_n_params(c), want[i].p1 ? 2 : 1);
        ck_assert_str_eq(cc_circuit_param(c, 0), want[i].p0);
        if (want[i].p1) ck_assert_str_eq(cc_circuit_param(c, 1), want[i].p1);
        ck_assert_ptr_null(cc_circuit_param(c, 5));
        ck_assert_int_eq(cc_circuit_n_constraints(c), want[i].n_cons);
        ck_assert(strlen(cc_circuit_description(c)) > 20);
        ck_assert(*cc_circuit_rows(c) && *cc_circuit_cols(c));
        cc_circuit_free(c);
    }
    cc_circuit *c = builtin("kcomp");
    ck_assert_str_eq(cc_circuit_chain_text(c), "W_E W_Q[ind] W_K[ind]^T W_O[prev]^T W_V[prev]^T W_E^T");
    ck_assert_str_eq(cc_circuit_constraint_text(c, 0), "layer(prev) < layer(ind)");
    ck_assert_ptr_null(cc_circuit_constraint_text(c, 1));
    tu_assert_contains(cc_circuit_description(c), "K = W_E W_V[prev] W_O[prev] W_K[ind]"); /* continuation line */
    cc_circuit_free(c);
}
END_TEST

START_TEST(good_syntax_variants)
{
    /* comments, blank lines, CRLF, commas, '@', continuation lines, trailing spaces, BOM */
    cc_circuit *c = parse_ok("\xEF\xBB\xBF# a comment\r\n\r\n"
                             "params: a, b\r\n"
                             "constraint:layer(a)<=layer(b)\n"
                             "constraint: head(a) != 1   \n"
                             "constraint: 0 <= layer( b )\n"
                             "chain: W_E @ W_V[a]\n"
                             "   W_O[ a ] W_Q[b]   # a trailing comment\n"
                             "description: keeps # signs\n");
    ck_assert_int_eq(cc_circuit_n_terms(c), 4);
    ck_assert_int_eq(cc_circuit_n_constraints(c), 3);
    ck_assert_str_eq(cc_circuit_description(c), "keeps # signs");
    ck_assert_str_eq(cc_circuit_chain_text(c), "W_E W_V[a] W_O[a] W_Q[b]");
    cc_circuit_free(c);
}
END_TEST

START_TEST(continuations_and_defaults)
{
    cc_circuit *c = parse_ok("params: a b\nchain:\n  W_E W_V[a]\n\tW_O[a] W_Q[b]^T\n  W_pos^T\n");
    ck_assert_int_eq(cc_circuit_n_terms(c), 5);
    ck_assert_str_eq(cc_circuit_chain_text(c), "W_E W_V[a] W_O[a] W_Q[b]^T W_pos^T");
    ck_assert_str_eq(cc_circuit_name(c), "t"); /* no name: the label's base name */
    ck_assert_str_eq(cc_circuit_description(c), "");
    cc_circuit_free(c);
    cc_circuit *d = NULL;
    cc_error err;
    ck_assert_int_eq(cc_circuit_parse("description: one\n  two\ndescription: three\nchain: W_E W_U\n",
                                      "dir/x.circuit", &d, &err), 0);
    ck_assert_str_eq(cc_circuit_description(d), "one two three");
    ck_assert_str_eq(cc_circuit_name(d), "x");
    ck_assert_int_eq(cc_circuit_n_params(d), 0);
    cc_circuit_free(d);
}
END_TEST

/* Every class of syntax error, with the "label:line:col:" it must report. */
START_TEST(syntax_errors_name_line_and_column)
{
    struct {
        const char *text, *where, *what;
    } bad[] = {
        {"chain W_E W_U", "t:1:7:", "expected ':'"},
        {"bogus: 1\nchain: W_E W_U", "t:1:1:", "unknown key \"bogus\""},
        {"1chain: W_E W_U", "t:1:1:", "expected a key"},
        {"chain: W_E W_X", "t:1:12:", "unknown matrix \"W_X\""},
        {"chain: W_E w_u", "t:1:12:", "unknown matrix"},
        {"chain: W_E W_Q W_U", "t:1:15:", "W_Q needs a head parameter"},
        {"params: h\nchain: W_E[h] W_U", "t:2:11:", "W_E takes no parameter"},
        {"params: h\nchain: W_E W_Q[h W_U", "t:2:18:", "expected ']'"},
        {"params: h\nchain: W_E W_Q[] W_U", "t:2:16:", "expected a parameter name"},
        {"params: h\nchain: W_E W_Q[h]^X W_U", "t:2:19:", "expected 'T' after '^'"},
        {"params: h\nchain: W_E W_Q[h]x W_U", "t:2:18:", "unexpected 'x'"},
        {"params: h\nchain: W_E W_Q[g] W_K[h]^T W_E^T", "t:2:16:", "unknown parameter \"g\""},
        {"chain: W_E W_Q[g] W_U", "t:1:16:", "declare it with a line \"params: g\""},
        {"params: h h\nchain: W_E W_Q[h] W_U", "t:1:11:", "declared twice"},
        {"params: h W_E\nchain: W_E W_Q[h] W_U", "t:1:11:", "matrix's name"},
        {"params: h-1\nchain: W_E W_Q[h] W_U", "t:1:10:", "unexpected '-'"},
        {"params: h\nconstraint: layer(h) ~ 1\nchain: W_E W_V[h] W_O[h] W_U", "t:2:22:", "expected a comparison"},
        {"params: h\nconstraint: size(h) < 1\nchain: W_E W_V[h] W_O[h] W_U", "t:2:13:", "unknown function \"size\""},
        {"params: h\nconstraint: layer h < 1\nchain: W_E W_V[h] W_O[h] W_U", "t:2:19:", "expected '('"},
        {"params: h\nconstraint: layer(h < 1\nchain: W_E W_V[h] W_O[h] W_U", "t:2:21:", "expected ')'"},
        {"params: h\nconstraint: layer(h) < 1 x\nchain: W_E W_V[h] W_O[h] W_U", "t:2:26:", "unexpected 'x'"},
        {"params: h\nconstraint: 1 < 2\nchain: W_E W_V[h] W_O[h] W_U", "t:2:13:", "two integers"},
        {"params: h\nconstraint: layer(x) < 1\nchain: W_E W_V[h] W_O[h] W_U", "t:2:13:", "unknown parameter \"x\""},
        {"params: h\nconstraint:\nchain: W_E W_V[h] W_O[h] W_U", "t:2:12:", "empty constraint"},
        {"params: h\nconstraint: layer(h) < 99999999\nchain: W_E W_V[h] W_O[h] W_U", "t:2:24:", "out of range"},
        {"chain: W_E", "t:1:8:", "at least two matrices"},
        {"name: a\nname: b\nchain: W_E W_U", "t:2:1:", "duplicate \"name:\" (first given on line 1)"},
        {"chain: W_E W_U\nchain: W_E W_U", "t:2:1:", "duplicate \"chain:\""},
        {"name: two words\nchain: W_E W_U", "t:1:10:", "one word"},
        {"  W_E W_U\nchain: W_E W_U", "t:1:3:", "only description: and chain: may continue"},
        {"params: a\n  b\nchain: W_E W_U", "t:2:3:", "only description: and chain: may continue"},
        {"chain: W_E\x01 W_U", "t:1:11:", "control character 0x01"},
        {"params: h g\nchain: W_E W_V[h] W_O[h] W_U", "t:1:", "\"g\" is declared but no matrix"},
        {"", "t: no chain", "add a line \"chain:"},
        {"# only a comment\n", "t: no chain", "chain:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cc_circuit *c = (cc_circuit *)1;
        cc_error err = {0};
        int rc = cc_circuit_parse(bad[i].text, "t", &c, &err);
        ck_assert_msg(rc == -1, "accepted #%zu: %s", i, bad[i].text);
        ck_assert_ptr_null(c);
        ck_assert_msg(strncmp(err.msg, bad[i].where, strlen(bad[i].where)) == 0, "#%zu: expected \"%s\" at the start of: %s",
                      i, bad[i].where, err.msg);
        tu_assert_contains(err.msg, bad[i].what);
    }
    /* the limits */
    char big[4096] = "chain:";
    for (int i = 0; i < CC_CIRCUIT_MAX_TERMS + 1; i++) strcat(big, " W_E^T W_E");
    cc_circuit *c;
    cc_error err;
    ck_assert_int_eq(cc_circuit_parse(big, "t", &c, &err), -1);
    tu_assert_contains(err.msg, "too long");
}
END_TEST

START_TEST(files_and_builtins)
{
    cc_circuit *c;
    cc_error err;
    ck_assert_int_eq(cc_circuit_load("/nonexistent/x.circuit", &c, &err), -1);
    tu_assert_contains(err.msg, "cannot open circuit file /nonexistent/x.circuit");
    char *path = NULL;
    ck_assert_int_eq(cc_circuit_find_builtin("nosuch", &path, &err), -1);
    ck_assert_ptr_null(path);
    tu_assert_contains(err.msg, "no built-in circuit \"nosuch\"");
    tu_assert_contains(err.msg, "kcomp");
    ck_assert_int_eq(cc_circuit_find_builtin("../circuits/kcomp", &path, &err), -1); /* names only */
    ck_assert_int_eq(cc_circuit_find_builtin("kcomp", &path, &err), 0);
    tu_assert_contains(path, "/kcomp.circuit");
    free(path);
    ck_assert_int_eq(cc_circuit_open("nosuch", &c, &err), -1);
    ck_assert_int_eq(cc_circuit_open("./nosuch.circuit", &c, &err), -1);
    tu_assert_contains(err.msg, "cannot open");

    /* $CIRCUITC_CIRCUITS overrides the directory; errors in a file name the file */
    char *dir = tu_tmpdir();
    char file[4096];
    snprintf(file, sizeof file, "%s/mine.circuit", dir);
    const char *text = "params: h\nchain: W_E W_V[h] W_O[h]\n  W_Z\n";
    tu_write_file(file, text, strlen(text));
    setenv("CIRCUITC_CIRCUITS", dir, 1);
    char *found = NULL;
    ck_assert_int_eq(cc_circuit_dir(&found, &err), 0);
    ck_assert_str_eq(found, dir);
    free(found);
    ck_assert_int_eq(cc_circuit_open("mine", &c, &err), -1);
    char where[4200];
    snprintf(where, sizeof where, "%s:3:3: unknown matrix \"W_Z\"", file);
    tu_assert_contains(err.msg, where);
    ck_assert_int_eq(cc_circuit_open("kcomp", &c, &err), -1); /* not in this directory */
    tu_assert_contains(err.msg, "mine");
    unsetenv("CIRCUITC_CIRCUITS");
    tu_write_file(file, "chain: W_E\0W_U", 14);
    ck_assert_int_eq(cc_circuit_load(file, &c, &err), -1);
    tu_assert_contains(err.msg, "NUL");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- binding, constraints, shapes --------------------------------------------------------- */

START_TEST(bindings_constraints_shapes)
{
    cc_model *m = tiny();
    cc_circuit *c = builtin("kcomp");
    cc_fm fm;
    cc_error err;
    const char *names[] = {"prev", "ind", "ind"};
    cc_head heads[] = {{0, 1}, {1, 0}, {1, 1}};
    ck_assert_int_eq(cc_circuit_compile(c, m, names, heads, 1, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "parameter \"ind\" of circuit kcomp is not bound");
    ck_assert_int_eq(cc_circuit_compile(c, m, names, heads, 3, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "bound twice");
    const char *extra[] = {"prev", "ind", "other"};
    ck_assert_int_eq(cc_circuit_compile(c, m, extra, heads, 3, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "no parameter \"other\" (its parameters: prev, ind)");
    cc_head out_of_range[] = {{0, 2}, {1, 0}};
    ck_assert_int_eq(cc_circuit_compile(c, m, names, out_of_range, 2, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "prev=L0H2 is out of range");
    cc_head backwards[] = {{1, 0}, {0, 1}};
    ck_assert_int_eq(cc_circuit_compile(c, m, names, backwards, 2, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "kcomp.circuit:9: constraint \"layer(prev) < layer(ind)\"");
    tu_assert_contains(err.msg, "layer(prev) = 1, layer(ind) = 0");
    cc_head same[] = {{1, 0}, {1, 1}};
    ck_assert_int_eq(cc_circuit_compile(c, m, names, same, 2, &fm, NULL, &err), -1);
    cc_circuit_free(c);

    cc_circuit *d = parse_ok("params: h\nchain: W_E W_V[h] W_O[h]\n  W_O[h] W_U\n");
    const char *hn[] = {"h"};
    ck_assert_int_eq(cc_circuit_compile(d, m, hn, heads, 1, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "t:3:3: shape mismatch: W_O[h] is [8, 16] but the next term W_O[h] is [8, 16]");
    cc_circuit_free(d);
    d = parse_ok("chain: W_E W_U\n");
    ck_assert_int_eq(cc_circuit_compile(d, m, hn, heads, 1, &fm, NULL, &err), -1);
    tu_assert_contains(err.msg, "takes no parameters");
    cc_circuit_free(d);
    cc_model_free(m);
}
END_TEST

/* ---- planning --------------------------------------------------------------------------- */

/* Minimum multiply-adds over every parenthesisation of dims[i..j+1] (brute force). */
static double brute(const long long *d, int i, int j)
{
    if (i == j) return 0;
    double best = INFINITY;
    for (int k = i; k < j; k++) best = fmin(best, brute(d, i, k) + brute(d, k + 1, j) + (double)d[i] * d[k + 1] * d[j + 1]);
    return best;
}

static double sequential(const long long *d, int i, int j, int left)
{
    double s = 0;
    for (int k = i + 1; k <= j; k++)
        s += left ? (double)d[i] * d[k] * d[k + 1] : (double)d[j - (k - i)] * d[j - (k - i) + 1] * d[j + 1];
    return s;
}

START_TEST(split_and_order)
{
    cc_model *m = tiny(); /* V 64, d 16, dh 8, mlp 64, n_ctx 32 */
    cc_error err;
    cc_circuit_plan plan;
    cc_circuit *c = builtin("kcomp");
    const char *names[] = {"prev", "ind"};
    cc_head heads[] = {{0, 1}, {1, 0}};
    ck_assert_int_eq(cc_circuit_plan_make(c, m, names, heads, 2, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, &plan, &err), 0);
    long long want_dims[] = {64, 16, 8, 16, 8, 16, 64};
    for (int i = 0; i < 7; i++) ck_assert_int_eq(plan.dims[i], want_dims[i]);
    ck_assert_int_eq(plan.split, 2); /* leftmost d_head: right after W_Q[ind] */
    ck_assert_str_eq(plan.order_text_a, "W_E W_Q[ind]");
    /* B = K^T: ((W_K^T W_O^T) W_V^T) W_E^T = 2(8*16*8 + 8*8*16 + 8*16*64) = 20480 FLOP; TransformerLens'
     * K = ((W_E W_V) W_O) W_K is the right-to-left order of this transposed chain: 2*3*(8*16*64) = 49152. */
    ck_assert_str_eq(plan.order_text_b, "((W_K[ind]^T W_O[prev]^T) W_V[prev]^T) W_E^T");
    ck_assert(plan.flops_a == 2.0 * 64 * 16 * 8);
    ck_assert(plan.flops_b == 20480.0);
    ck_assert(plan.flops_b_right == 49152.0);
    char *text = NULL;
    cc_fm fm;
    ck_assert_int_eq(cc_circuit_compile(c, m, names, heads, 2, &fm, &text, &err), 0);
    ck_assert(fm.l == 64 && fm.m == 8 && fm.r == 64);
    tu_assert_contains(text, "split    after term 2 of 6 (W_Q[ind]): inner dimension 8");
    tu_assert_contains(text, "bind     prev=L0H1 ind=L1H0");
    tu_assert_contains(text, "20.48 kFLOP (left to right 20.48 kFLOP, right to left 49.15 kFLOP)");
    free(text);
    cc_fm_free(&fm);
    cc_circuit_free(c);

    /* assorted chains: the plan's FLOPs equal the brute-force optimum, and the
     * forced orders equal the sequential sums */
    const char *chains[] = {
        "params: a b\nchain: W_E W_V[a] W_O[a] W_V[b] W_O[b] W_U",
        "params: a\nchain: W_pos W_in[a] W_out[a] W_U",
        "params: a\nchain: W_U^T W_in[a] W_out[a] W_Q[a] W_K[a]^T W_in[a] W_out[a] W_pos^T",
        "params: a\nchain: W_E W_in[a] W_in[a]^T W_E^T",
        "chain: W_U^T W_U",
    };
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        cc_circuit *x = parse_ok(chains[i]);
        const char *an[] = {"a", "b"};
        cc_head ah[] = {{0, 1}, {1, 1}};
        int nb = cc_circuit_n_params(x);
        ck_assert_int_eq(cc_circuit_plan_make(x, m, an, ah, nb, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, &plan, &err), 0);
        int n = plan.n_terms, s = plan.split;
        for (int k = 1; k < n; k++) {
            ck_assert(plan.dims[s] <= plan.dims[k]);
            if (k < s) ck_assert_msg(plan.dims[k] > plan.dims[s], "chain %zu: split not the leftmost minimum", i);
        }
        ck_assert_msg(plan.flops_a == 2 * brute(plan.dims, 0, s - 1), "chain %zu: A not optimal", i);
        ck_assert_msg(plan.flops_b == 2 * brute(plan.dims, s, n - 1), "chain %zu: B not optimal", i);
        ck_assert(plan.flops_a_left == 2 * sequential(plan.dims, 0, s - 1, 1));
        ck_assert(plan.flops_a_right == 2 * sequential(plan.dims, 0, s - 1, 0));
        ck_assert(plan.flops_b_left == 2 * sequential(plan.dims, s, n - 1, 1));
        ck_assert(plan.flops_b_right == 2 * sequential(plan.dims, s, n - 1, 0));
        cc_circuit_free(x);
    }
    cc_model_free(m);
}
END_TEST

/* ---- compiled products vs dense float64 ------------------------------------------------------- */

/* Term (NAME, head H, TRANS) of the model as a float64 [rows, cols] matrix, read
 * straight from the TransformerLens-layout weights. */
static double *dense_term(const cc_model *m, const char *name, cc_head h, int trans, int *rows, int *cols)
{
    const cc_config *g = &m->cfg;
    int d = g->d_model, dh = g->d_head, V = g->d_vocab, mlp = g->d_mlp, R, C;
    const float *p;
    size_t hoff = ((size_t)h.layer * g->n_heads + h.head) * d * dh;
    if (!strcmp(name, "W_E")) p = m->w.W_E, R = V, C = d;
    else if (!strcmp(name, "W_pos")) p = m->w.W_pos, R = g->n_ctx, C = d;
    else if (!strcmp(name, "W_U")) p = m->w.W_U, R = d, C = V;
    else if (!strcmp(name, "W_Q")) p = m->w.W_Q + hoff, R = d, C = dh;
    else if (!strcmp(name, "W_K")) p = m->w.W_K + hoff, R = d, C = dh;
    else if (!strcmp(name, "W_V")) p = m->w.W_V + hoff, R = d, C = dh;
    else if (!strcmp(name, "W_O")) p = m->w.W_O + hoff, R = dh, C = d;
    else if (!strcmp(name, "W_in")) p = m->w.W_in + (size_t)h.layer * d * mlp, R = d, C = mlp;
    else if (!strcmp(name, "W_out")) p = m->w.W_out + (size_t)h.layer * mlp * d, R = mlp, C = d;
    else ck_abort_msg("bad term %s", name);
    double *x = malloc((size_t)R * C * sizeof *x);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            if (trans) x[(size_t)j * R + i] = p[(size_t)i * C + j];
            else x[(size_t)i * C + j] = p[(size_t)i * C + j];
        }
    *rows = trans ? C : R, *cols = trans ? R : C;
    return x;
}

typedef struct {
    const char *name;
    int param; /* index into the bindings, or -1 */
    int trans;
} dterm;

/* The naive left-to-right float64 product of TERMS. */
static double *dense_chain(const cc_model *m, const dterm *terms, int n, const cc_head *heads, int *rows, int *cols)
{
    int R, C;
    double *acc = dense_term(m, terms[0].name, terms[0].param >= 0 ? heads[terms[0].param] : (cc_head){0, 0},
                             terms[0].trans, &R, &C);
    for (int t = 1; t < n; t++) {
        int r2, c2;
        double *x = dense_term(m, terms[t].name, terms[t].param >= 0 ? heads[terms[t].param] : (cc_head){0, 0},
                               terms[t].trans, &r2, &c2);
        ck_assert_int_eq(C, r2);
        double *y = calloc((size_t)R * c2, sizeof *y);
        for (int i = 0; i < R; i++)
            for (int k = 0; k < C; k++)
                for (int j = 0; j < c2; j++) y[(size_t)i * c2 + j] += acc[(size_t)i * C + k] * x[(size_t)k * c2 + j];
        free(acc), free(x);
        acc = y, C = c2;
    }
    *rows = R, *cols = C;
    return acc;
}

/* max |AB - want| / max |want|. */
static double rel_error(const cc_fm *fm, const double *want)
{
    float *ab = malloc((size_t)fm->l * fm->r * sizeof *ab);
    cc_fm_AB(fm, ab);
    double scale = 0, worst = 0;
    for (size_t i = 0; i < (size_t)fm->l * fm->r; i++) {
        scale = fmax(scale, fabs(want[i]));
        worst = fmax(worst, fabs(ab[i] - want[i]));
    }
    free(ab);
    return worst / scale;
}

/* The compiled circuits checked against plain float64 chains: the built-ins, and
 * chains that start or end away from the vocabulary or keep several wide
 * intermediates in a row. */
typedef struct {
    const char *spec; /* built-in name or circuit text */
    const char *names[2];
    int nb;
    dterm terms[8];
    int n;
} compile_case;

static const compile_case CASES[] = {
    {"kcomp", {"prev", "ind"}, 2,
     {{"W_E", -1, 0}, {"W_Q", 1, 0}, {"W_K", 1, 1}, {"W_O", 0, 1}, {"W_V", 0, 1}, {"W_E", -1, 1}}, 6},
    {"qcomp", {"early", "late"}, 2,
     {{"W_E", -1, 0}, {"W_V", 0, 0}, {"W_O", 0, 0}, {"W_Q", 1, 0}, {"W_K", 1, 1}, {"W_E", -1, 1}}, 6},
    {"vcomp", {"early", "late"}, 2,
     {{"W_E", -1, 0}, {"W_V", 0, 0}, {"W_O", 0, 0}, {"W_V", 1, 0}, {"W_O", 1, 0}, {"W_U", -1, 0}}, 6},
    {"ov", {"head"}, 1, {{"W_E", -1, 0}, {"W_V", 0, 0}, {"W_O", 0, 0}, {"W_U", -1, 0}}, 4},
    {"qk", {"head"}, 1, {{"W_E", -1, 0}, {"W_Q", 0, 0}, {"W_K", 0, 1}, {"W_E", -1, 1}}, 4},
    {"params: a\nchain: W_pos W_in[a] W_out[a] W_U", {"a"}, 1,
     {{"W_pos", -1, 0}, {"W_in", 0, 0}, {"W_out", 0, 0}, {"W_U", -1, 0}}, 4},
    {"chain: W_U^T W_U", {NULL}, 0, {{"W_U", -1, 1}, {"W_U", -1, 0}}, 2},
    {"params: a b\nchain: W_out[b]^T W_E W_O[a]^T", {"a", "b"}, 2,
     {{"W_out", 1, 1}, {"W_E", -1, 0}, {"W_O", 0, 1}}, 3},
    {"params: a b\nchain: W_E W_V[a] W_O[a] W_in[b] W_out[b] W_V[b] W_O[b] W_U", {"a", "b"}, 2,
     {{"W_E", -1, 0}, {"W_V", 0, 0}, {"W_O", 0, 0}, {"W_in", 1, 0}, {"W_out", 1, 0}, {"W_V", 1, 0},
      {"W_O", 1, 0}, {"W_U", -1, 0}}, 8},
};
static const size_t N_CASES = sizeof CASES / sizeof CASES[0];

START_TEST(compiled_equals_dense)
{
    cc_model *m = tiny();
    cc_head heads[] = {{0, 1}, {1, 0}};
    for (size_t i = 0; i < N_CASES; i++) {
        cc_circuit *c = strchr(CASES[i].spec, ':') ? parse_ok(CASES[i].spec) : builtin(CASES[i].spec);
        int R, C;
        double *want = dense_chain(m, CASES[i].terms, CASES[i].n, heads, &R, &C);
        static const cc_chain_order orders[3] = {CC_ORDER_OPTIMAL, CC_ORDER_LEFT, CC_ORDER_RIGHT};
        for (int oa = 0; oa < 3; oa++)
            for (int ob = 0; ob < 3; ob++) {
                cc_fm fm;
                cc_error err;
                cc_circuit_plan plan;
                ck_assert_msg(cc_circuit_compile_ex(c, m, CASES[i].names, heads, CASES[i].nb, orders[oa], orders[ob],
                                                    &fm, &plan, NULL, &err) == 0,
                              "%s: %s", CASES[i].spec, err.msg);
                ck_assert(fm.l == R && fm.r == C && fm.m == plan.dims[plan.split]);
                double e = rel_error(&fm, want);
                ck_assert_msg(e < 1e-5, "case %zu orders %d/%d: compiled product off by %g (relative)", i, oa, ob, e);
                cc_fm_free(&fm);
            }
        free(want);
        cc_circuit_free(c);
    }
    cc_model_free(m);
}
END_TEST

/* The float32 error bound of factored.h for the rows of TERMS multiplied left
 * to right, computed the plain way: every intermediate product formed. */
static double *chain_error_bound(const cc_model *m, const dterm *terms, int n, const cc_head *heads)
{
    int R, C;
    double *acc = dense_term(m, terms[0].name, terms[0].param >= 0 ? heads[terms[0].param] : (cc_head){0, 0},
                             terms[0].trans, &R, &C);
    double *err = calloc((size_t)R, sizeof *err);
    for (int t = 1; t < n; t++) {
        int r2, c2;
        double *x = dense_term(m, terms[t].name, terms[t].param >= 0 ? heads[terms[t].param] : (cc_head){0, 0},
                               terms[t].trans, &r2, &c2);
        double *work = malloc((size_t)r2 * c2 * sizeof *work), *S = malloc((size_t)(r2 < c2 ? r2 : c2) * sizeof *S);
        memcpy(work, x, (size_t)r2 * c2 * sizeof *work);
        ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', r2, c2, work, c2, S, NULL, r2, NULL, c2), 0);
        double *y = calloc((size_t)R * c2, sizeof *y);
        for (int i = 0; i < R; i++) {
            double weighted = 0, out_sq = 0;
            for (int k = 0; k < C; k++) {
                double row_sq = 0;
                for (int j = 0; j < c2; j++) {
                    y[(size_t)i * c2 + j] += acc[(size_t)i * C + k] * x[(size_t)k * c2 + j];
                    row_sq += x[(size_t)k * c2 + j] * x[(size_t)k * c2 + j];
                }
                weighted += acc[(size_t)i * C + k] * acc[(size_t)i * C + k] * row_sq;
            }
            for (int j = 0; j < c2; j++) out_sq += y[(size_t)i * c2 + j] * y[(size_t)i * c2 + j];
            err[i] = CC_FP32_ERR_LAMBDA * 0x1p-24 * sqrt((C + 1.0) * (weighted / 2 + out_sq / 3)) + err[i] * S[0];
        }
        free(acc), free(x), free(work), free(S);
        acc = y, C = c2;
    }
    free(acc);
    return err;
}

/* Row r of a float64 factor (entry k at X[r * ROW_STRIDE + k * COL_STRIDE]) equals
 * WANT [rows, m] and its error bound equals WANT_ERR. */
static void assert_factor(size_t i, const char *name, const double *x, size_t row_stride, size_t col_stride, int rows,
                          int m, const double *want, const double *err, const double *want_err)
{
    for (int r = 0; r < rows; r++) {
        ck_assert_msg(fabs(err[r] - want_err[r]) <= 1e-9 * want_err[r], "case %zu: %s error bound of row %d %g, want %g",
                      i, name, r, err[r], want_err[r]);
        for (int k = 0; k < m; k++) {
            double got = x[r * row_stride + k * col_stride], w = want[(size_t)r * m + k];
            ck_assert_msg(fabs(got - w) <= 1e-12 * (1 + fabs(w)), "case %zu: %s[%d, %d] %.17g, want %.17g", i, name, r,
                          k, got, w);
        }
    }
}

/* Both float64 factors equal the plain float64 chains and their error bounds
 * equal chain_error_bound, whatever order compile_exact multiplies in (the
 * last case keeps three intermediates in a row unformed). */
START_TEST(float64_factors_and_error_bounds)
{
    cc_model *m = tiny();
    cc_head heads[] = {{0, 1}, {1, 0}};
    for (size_t i = 0; i < N_CASES; i++) {
        cc_circuit *c = strchr(CASES[i].spec, ':') ? parse_ok(CASES[i].spec) : builtin(CASES[i].spec);
        cc_fm fm;
        cc_error err;
        cc_circuit_plan plan;
        ck_assert_msg(cc_circuit_compile_ex(c, m, CASES[i].names, heads, CASES[i].nb, CC_ORDER_OPTIMAL,
                                            CC_ORDER_OPTIMAL, &fm, &plan, NULL, &err) == 0, "%s", err.msg);
        ck_assert_ptr_nonnull(fm.A64);
        int s = plan.split, n = CASES[i].n, R, C;
        /* B^T is the reversed chain of transposes */
        dterm bt[8];
        for (int t = s; t < n; t++) bt[n - 1 - t] = CASES[i].terms[t], bt[n - 1 - t].trans = !CASES[i].terms[t].trans;
        double *A = dense_chain(m, CASES[i].terms, s, heads, &R, &C);
        double *Bt = dense_chain(m, bt, n - s, heads, &R, &C);
        double *eA = chain_error_bound(m, CASES[i].terms, s, heads), *eB = chain_error_bound(m, bt, n - s, heads);
        assert_factor(i, "A", fm.A64, (size_t)fm.m, 1, fm.l, fm.m, A, fm.errA, eA);
        assert_factor(i, "B", fm.B64, 1, (size_t)fm.r, fm.r, fm.m, Bt, fm.errB, eB);
        free(A), free(Bt), free(eA), free(eB);
        cc_fm_free(&fm);
        cc_circuit_free(c);
    }
    cc_model_free(m);
}
END_TEST

/* The partial compiles return exactly (bit for bit) what cc_circuit_compile_ex
 * computes: the float32 factors alone, and the float64 factors with their error
 * bounds alone, the latter through one prefix cache kept across every case and
 * binding (pairs sharing an earlier head, a later head, or neither; more heads
 * than the cache keeps, so some prefixes are dropped and recomputed). */
static void assert_same(size_t i, int b, const char *name, const void *got, const void *want, size_t bytes)
{
    ck_assert_msg(got && want && memcmp(got, want, bytes) == 0, "case %zu binding %d: %s differs from the full compile",
                  i, b, name);
}

START_TEST(partial_compiles_equal_full)
{
    cc_model *m = tiny();
    static const cc_head BINDINGS[][2] = {{{0, 1}, {1, 0}}, {{0, 1}, {1, 1}}, {{0, 0}, {1, 1}}, {{1, 1}, {1, 0}},
                                          {{0, 0}, {1, 0}}, {{1, 0}, {0, 1}}, {{0, 1}, {1, 0}}, {{0, 0}, {1, 1}}};
    cc_chain_cache *cache = cc_chain_cache_new();
    ck_assert_ptr_nonnull(cache);
    for (size_t i = 0; i < N_CASES; i++) {
        cc_circuit *c = strchr(CASES[i].spec, ':') ? parse_ok(CASES[i].spec) : builtin(CASES[i].spec);
        for (int b = 0; b < (int)(sizeof BINDINGS / sizeof BINDINGS[0]); b++) {
            const cc_head *heads = BINDINGS[b];
            cc_fm full, f32, exact;
            cc_error err;
            if (cc_circuit_compile(c, m, CASES[i].names, heads, CASES[i].nb, &full, NULL, &err) != 0)
                continue; /* a binding the circuit's constraints refuse */
            ck_assert_msg(cc_circuit_compile_f32(c, m, CASES[i].names, heads, CASES[i].nb, &f32, &err) == 0, "%s",
                          err.msg);
            ck_assert_msg(cc_circuit_compile_exact(c, m, CASES[i].names, heads, CASES[i].nb, cache, &exact, &err) == 0,
                          "%s", err.msg);
            ck_assert(f32.A64 == NULL && f32.errA == NULL && exact.A == NULL && exact.B == NULL);
            ck_assert(exact.l == full.l && exact.m == full.m && exact.r == full.r);
            size_t l = (size_t)full.l, mm = (size_t)full.m, r = (size_t)full.r;
            assert_same(i, b, "float32 A", f32.A, full.A, l * mm * sizeof(float));
            assert_same(i, b, "float32 B", f32.B, full.B, mm * r * sizeof(float));
            assert_same(i, b, "A64", exact.A64, full.A64, l * mm * sizeof(double));
            assert_same(i, b, "B64", exact.B64, full.B64, mm * r * sizeof(double));
            assert_same(i, b, "errA", exact.errA, full.errA, l * sizeof(double));
            assert_same(i, b, "errB", exact.errB, full.errB, r * sizeof(double));
            cc_fm_free(&full), cc_fm_free(&f32), cc_fm_free(&exact);
        }
        cc_circuit_free(c);
    }
    cc_chain_cache_free(cache);
    cc_model_free(m);
}
END_TEST

/* cci_circuit_compile_exact_many returns, bit for bit, what one
 * cc_circuit_compile_exact per binding returns: for kcomp, qcomp and ov (their
 * left sides W_E W_Q[I] / W_E W_V[P] formed together in one pass over W_E,
 * two bindings with the same head among them, so one chain is computed once
 * and copied) and for chains it cannot share (computed one by one). */
START_TEST(compile_many_equals_one_by_one)
{
    cc_model *m = tiny();
    static const cc_head BINDINGS[][2] = {{{0, 1}, {1, 0}}, {{0, 1}, {1, 1}}, {{0, 0}, {1, 1}}, {{1, 1}, {1, 0}},
                                          {{0, 0}, {1, 0}}, {{1, 0}, {0, 1}}, {{0, 1}, {1, 0}}};
    enum { NB = sizeof BINDINGS / sizeof BINDINGS[0] };
    for (size_t i = 0; i < N_CASES; i++) {
        cc_circuit *c = strchr(CASES[i].spec, ':') ? parse_ok(CASES[i].spec) : builtin(CASES[i].spec);
        int nb = CASES[i].nb, n = 0;
        cc_head heads[NB * 2]; /* binding k: heads[k nb .. (k+1) nb) */
        cc_fm one[NB], many[NB];
        cc_error err;
        for (int b = 0; b < NB; b++)
            if (cc_circuit_compile_exact(c, m, CASES[i].names, BINDINGS[b], nb, NULL, &one[n], &err) == 0)
                memcpy(heads + n++ * nb, BINDINGS[b], (size_t)nb * sizeof *heads);
        cc_chain_cache *cache = cc_chain_cache_new();
        ck_assert_msg(cci_circuit_compile_exact_many(c, m, CASES[i].names, heads, nb, n, cache, many, &err) == 0,
                      "%s", err.msg);
        for (int b = 0; b < n; b++) {
            size_t l = (size_t)one[b].l, mm = (size_t)one[b].m, r = (size_t)one[b].r;
            ck_assert(many[b].l == one[b].l && many[b].m == one[b].m && many[b].r == one[b].r);
            ck_assert(many[b].A == NULL && many[b].B == NULL && one[b].A64 && one[b].B64);
            assert_same(i, b, "A64", many[b].A64, one[b].A64, l * mm * sizeof(double));
            assert_same(i, b, "B64", many[b].B64, one[b].B64, mm * r * sizeof(double));
            assert_same(i, b, "errA", many[b].errA, one[b].errA, l * sizeof(double));
            assert_same(i, b, "errB", many[b].errB, one[b].errB, r * sizeof(double));
            cc_fm_free(&one[b]), cc_fm_free(&many[b]);
        }
        cc_chain_cache_free(cache);
        cc_circuit_free(c);
    }
    cc_model_free(m);
}
END_TEST

/* ---- fuzz ---------------------------------------------------------------------------------- */

START_TEST(parser_mutation_fuzz)
{
    cc_model *m = tiny();
    const char *seeds[] = {
        "name: kcomp\ndescription: x\n  y\nparams: prev ind\nconstraint: layer(prev) < layer(ind)\n"
        "rows: q\ncols: k\nchain: W_E W_Q[ind] W_K[ind]^T W_O[prev]^T W_V[prev]^T W_E^T\n",
        "params: a, b\nconstraint: head(a) != 1\nchain:\n  W_E @ W_V[a] W_O[a]\n  W_in[b] W_out[b] W_U\n",
    };
    static const char alphabet[] = "W_EQKVOUTinoutpos[]^:#@ ,\n\t()<>=!-0123456789abhlyer\r\x01";
    cc_rng g;
    cc_rng_seed(&g, 2024);
    int accepted = 0;
    for (int iter = 0; iter < 3000; iter++) {
        const char *seed = seeds[iter % 2];
        size_t n = strlen(seed);
        char buf[1024];
        memcpy(buf, seed, n + 1);
        int edits = 1 + (int)cc_rng_below(&g, 4);
        for (int e = 0; e < edits; e++) {
            size_t len = strlen(buf);
            size_t pos = len ? cc_rng_below(&g, (uint32_t)len) : 0;
            char ch = alphabet[cc_rng_below(&g, sizeof alphabet - 1)];
            switch (cc_rng_below(&g, 4)) {
            case 0: buf[pos] = ch ? ch : 'x'; break;                               /* replace */
            case 1: memmove(buf + pos, buf + pos + 1, len - pos); break;           /* delete */
            case 2:                                                                /* insert */
                if (len + 2 < sizeof buf) memmove(buf + pos + 1, buf + pos, len - pos + 1), buf[pos] = ch;
                break;
            default: buf[pos] = '\0'; break;                                       /* truncate */
            }
        }
        cc_circuit *c = NULL;
        cc_error err = {0};
        if (cc_circuit_parse(buf, "fuzz", &c, &err) == 0) {
            accepted++;
            /* whatever parses must plan or fail cleanly on a real model */
            const char *names[] = {"prev", "ind", "a", "b"};
            cc_head heads[] = {{0, 0}, {1, 1}, {0, 1}, {1, 0}};
            cc_circuit_plan plan;
            if (cc_circuit_plan_make(c, m, names, heads, 4, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, &plan, &err) != 0)
                ck_assert(err.msg[0] != '\0');
            cc_circuit_free(c);
        } else {
            ck_assert_ptr_null(c);
            ck_assert_msg(err.msg[0] != '\0', "no message for: %s", buf);
        }
    }
    ck_assert(accepted > 0);
    cc_model_free(m);
}
END_TEST

/* A circuit reading a matrix the model does not have is refused by name:
 * W_pos in a rotary model, W_in in an attention-only one. */
START_TEST(circuits_refuse_matrices_the_block_lacks)
{
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run the tests through meson test)");
    static const struct {
        const char *model, *text, *needle;
    } cases[] = {
        {"pythia-tiny", "name: p\nparams: h\nchain: W_pos W_Q[h] W_K[h]^T W_pos^T\n", "reads W_pos, but this model (gpt_neox) has rotary"},
        {"attn-only-2l", "name: m\nparams: h\nchain: W_E W_in[h]\n", "reads W_in, but this model is attention-only"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/golden/models/%s", root, cases[i].model);
        cc_model *m = NULL;
        cc_circuit *c = NULL;
        cc_error err;
        ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
        ck_assert_msg(cc_circuit_parse(cases[i].text, NULL, &c, &err) == 0, "%s", err.msg);
        const char *name = cc_circuit_param(c, 0);
        cc_fm fm;
        ck_assert_int_eq(cc_circuit_compile(c, m, &name, &(cc_head){0, 0}, 1, &fm, NULL, &err), -1);
        tu_assert_contains(err.msg, cases[i].needle);
        cc_circuit_free(c);
        cc_model_free(m);
    }
}
END_TEST

/* The rotary note: on a rotary model for circuits multiplying W_Q by W_K^T only. */
START_TEST(rotary_note_only_where_q_meets_k)
{
    cc_config rotary = {.pos = CC_POS_ROTARY}, learned = {0};
    static const struct {
        const char *circuit;
        bool note;
    } cases[] = {{"kcomp", true}, {"qk", true}, {"pos_qk", true}, {"ov", false}, {"vcomp", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cc_circuit *c = NULL;
        cc_error err;
        ck_assert_msg(cc_circuit_open(cases[i].circuit, &c, &err) == 0, "%s", err.msg);
        const char *note = cc_circuit_model_note(c, &rotary);
        ck_assert_msg((note != NULL) == cases[i].note, "%s: note %s", cases[i].circuit, note ? note : "(none)");
        if (note) tu_assert_contains(note, "without the rotation");
        ck_assert_ptr_null(cc_circuit_model_note(c, &learned));
        cc_circuit_free(c);
    }
}
END_TEST

int main(void)
{
    cc_config cfg;
    cc_error err;
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp");
    g_dir = mkdtemp(tmpl);
    if (!g_dir || cc_synth_preset("tiny", &cfg, &err) != 0 || cc_synth_write(&cfg, 3, NULL, g_dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    unsetenv("CIRCUITC_CIRCUITS");
    Suite *s = suite_create("circuit");
    TCase *tc = tcase_create("circuit");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, builtins_parse);
    tcase_add_test(tc, good_syntax_variants);
    tcase_add_test(tc, continuations_and_defaults);
    tcase_add_test(tc, syntax_errors_name_line_and_column);
    tcase_add_test(tc, files_and_builtins);
    tcase_add_test(tc, bindings_constraints_shapes);
    tcase_add_test(tc, split_and_order);
    tcase_add_test(tc, compiled_equals_dense);
    tcase_add_test(tc, float64_factors_and_error_bounds);
    tcase_add_test(tc, partial_compiles_equal_full);
    tcase_add_test(tc, compile_many_equals_one_by_one);
    tcase_add_test(tc, parser_mutation_fuzz);
    tcase_add_test(tc, circuits_refuse_matrices_the_block_lacks);
    tcase_add_test(tc, rotary_note_only_where_q_meets_k);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    tu_rmtree(g_dir);
    return rc;
}
