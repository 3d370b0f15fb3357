/* circuit_compile.c — compiling a parsed circuit for some heads: bindings,
 * shapes and constraints, the plan (split at the cheapest inner dimension,
 * matrix-chain order per side) and its evaluation (float32 sgemm into a
 * FactoredMatrix), plus the same factors in float64 with the error bounds of
 * a float32 left-to-right evaluation (for exact top-k and near-ties). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit_internal.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

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
const char *cc_circuit_model_note(const cc_circuit *c, const cc_config *cfg)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    CC_ARG_NOT_NULL(cfg, NULL, NULL);
    bool q = false, k = false;
    for (int i = 0; i < c->n_terms; i++) q |= c->terms[i].kind == MAT_Q, k |= c->terms[i].kind == MAT_K;
    if (cfg->pos != CC_POS_ROTARY || !q || !k) return NULL;
    return "rotary positions: W_Q W_K^T is composed without the rotation, as TransformerLens' FactoredMatrix "
           "composes it; at run time q and k are also rotated by their positions";
}

/* Fails when circuit C reads a matrix that a model of G does not have:
 * W_pos with rotary positions, W_in / W_out without MLPs. */
static int check_matrices_exist(const cc_circuit *c, const cc_config *g, cc_error *err)
{
    for (int i = 0; i < c->n_terms; i++) {
        int k = c->terms[i].kind;
        if (k == MAT_POS && g->pos == CC_POS_ROTARY)
            return cc_fail_code(err, CC_E_UNSUPPORTED, "circuit %s reads W_pos, but this model (%s) has rotary positions and no positional "
                                "embedding matrix (positions rotate q and k at run time: see hook_rot_q / hook_rot_k)",
                           c->name, cc_family_name(g->family));
        if ((k == MAT_IN || k == MAT_OUT) && g->attn_only)
            return cc_fail_code(err, CC_E_UNSUPPORTED, "circuit %s reads %s, but this model is attention-only (no MLPs)", c->name,
                           k == MAT_IN ? "W_in" : "W_out");
    }
    return 0;
}

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
    return check_matrices_exist(c, &m->cfg, err);
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

static void order_text(const cc_circuit *c, const chain_dp *dp, int i, int j, bool top, cci_sbuf *b)
{
    if (i == j) {
        char buf[160];
        cci_sb_add(b, "%s", cci_term_label(c, &c->terms[i], buf, sizeof buf));
        return;
    }
    int k = dp->split[i][j];
    if (!top) cci_sb_add(b, "(");
    order_text(c, dp, i, k, false, b);
    cci_sb_add(b, " ");
    order_text(c, dp, k + 1, j, false, b);
    if (!top) cci_sb_add(b, ")");
}

static void set_order_text(const cc_circuit *c, const chain_dp *dp, int i, int j, char *dst, size_t size)
{
    cci_sbuf b = {0};
    order_text(c, dp, i, j, true, &b);
    char *s = cci_sb_done(&b);
    snprintf(dst, size, "%s", s ? s : "?");
    free(s);
}

/* The weight part term T reads, its parameters bound to HEADS. */
static cc_part term_part(const term *t, const cc_head *heads)
{
    static const cc_part_kind KINDS[N_MATS] = {
        [MAT_E] = CC_PART_W_E, [MAT_POS] = CC_PART_W_POS, [MAT_U] = CC_PART_W_U, [MAT_Q] = CC_PART_Q,
        [MAT_K] = CC_PART_K,   [MAT_V] = CC_PART_V,       [MAT_O] = CC_PART_O,   [MAT_IN] = CC_PART_IN,
        [MAT_OUT] = CC_PART_OUT};
    cc_head h = t->param >= 0 ? heads[t->param] : (cc_head){0, 0};
    return (cc_part){KINDS[t->kind], h.layer, h.head};
}

static int bind_checked(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                        const cc_head *bind_heads, int n_bind, cc_head *heads, cc_error *err)
{
    if (n_bind < 0 || (n_bind > 0 && (!bind_names || !bind_heads)))
        return cc_fail_code(err, CC_E_INTERNAL, "internal: bad binding arrays");
    return bind(c, m, bind_names, bind_heads, n_bind, heads, err);
}

int cc_circuit_parts(const cc_circuit *c, const cc_model *m, const char *const *bind_names, const cc_head *bind_heads,
                     int n_bind, cc_part *parts, int *n_parts, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_NOT_NULL(parts, err, -1);
    CC_ARG_NOT_NULL(n_parts, err, -1);
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (bind_checked(c, m, bind_names, bind_heads, n_bind, heads, err) != 0) return -1;
    for (int i = 0; i < c->n_terms; i++)
        parts[i] = term_part(&c->terms[i], heads);
    *n_parts = c->n_terms;
    return 0;
}

int cc_circuit_plan_make(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                         const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                         cc_circuit_plan *plan, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_ENUM(order_a, CC_ORDER_RIGHT + 1, err, -1);
    CC_ARG_ENUM(order_b, CC_ORDER_RIGHT + 1, err, -1);
    CC_ARG_NOT_NULL(plan, err, -1);
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (bind_checked(c, m, bind_names, bind_heads, n_bind, heads, err) != 0) return -1;
    for (int i = 0; i < c->n_terms; i++)
        if (!cc_model_has(m, term_part(&c->terms[i], heads)))
            return cc_fail_code(err, CC_E_INTERNAL, "internal: the model's weights for term %d of circuit %s are not loaded", i + 1, c->name);
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
                           c->label, t->line, t->col, cci_term_label(c, p, b1, sizeof b1), po.rows, po.cols,
                           cci_term_label(c, t, b2, sizeof b2), o.rows, o.cols);
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
    if (!dp) return cci_oom(err);
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
        return cci_oom(err);
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
        cci_oom(err);
        return NULL;
    }
    if (!v.v.trans) memcpy(x, v.v.p, (size_t)(R * C) * sizeof *x);
    else
        for (long long r = 0; r < R; r++)
            for (long long q = 0; q < C; q++) x[r * C + q] = v.v.p[q * R + r];
    return x;
}

/* ---- float64 factors and float32 error bounds ------------------------------------ */

/* A float32 left-to-right evaluation (TransformerLens': A = T_0 T_1 ..., and B
 * as the transpose of its reversed, transposed chain, e.g. (W_E W_V W_O W_K)^T)
 * works row by row of the first operand, so both are streamed in blocks of
 * CHAIN_BLOCK rows of it, in float64. Later operands are held in float64 whole,
 * up to MAX_DENSE64 entries each. */
enum { CHAIN_BLOCK = 512 };
#define MAX_DENSE64 (1ll << 25)

static operand_mat transposed(operand_mat o)
{
    return (operand_mat){o.p, o.cols, o.rows, !o.trans};
}

/* Entry (r, c) of the logical matrix O. */
static double entry(const operand_mat *o, long long r, long long c)
{
    return o->trans ? o->p[c * o->rows + r] : o->p[r * o->cols + c];
}

/* A later operand of the chain in float64, with what its stage's error bound needs. */
typedef struct {
    double *x;       /* [rows, cols] */
    double *row_sq;  /* [rows]: sum over c of x[t, c]^2 */
    double spectral; /* largest singular value */
} dense_term;

static int dense_term_make(const operand_mat *o, dense_term *d)
{
    long long R = o->rows, C = o->cols;
    *d = (dense_term){0};
    if (R * C > MAX_DENSE64) return 1;
    d->x = malloc((size_t)(R * C > 0 ? R * C : 1) * sizeof *d->x);
    d->row_sq = calloc((size_t)(R > 0 ? R : 1), sizeof *d->row_sq);
    double *work = malloc((size_t)(R * C > 0 ? R * C : 1) * sizeof *work);
    double *S = malloc((size_t)(R < C ? R : C) * sizeof *S + 1);
    int rc = -1;
    if (!d->x || !d->row_sq || !work || !S) goto out;
    for (long long r = 0; r < R; r++)
        for (long long c = 0; c < C; c++) {
            double v = entry(o, r, c);
            d->x[r * C + c] = work[r * C + c] = v;
            d->row_sq[r] += v * v;
        }
    if (R > 0 && C > 0 && LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (int)R, (int)C, work, (int)C, S, NULL, (int)R, NULL, (int)C) != 0) {
        rc = 1;
        goto out;
    }
    d->spectral = R > 0 && C > 0 ? S[0] : 0;
    rc = 0;
out:
    free(work), free(S);
    if (rc != 0) free(d->x), free(d->row_sq), *d = (dense_term){0};
    return rc;
}

/* F [rows, rows] with F^T F = W W^T for W [rows, cols], cols >= rows (F = R of
 * W^T = Q R), so that |x W|^2 = |x F^T|^2 costs rows^2 per row x instead of
 * rows cols. Returns 0 or -1 (allocation). */
static int gram_root(const double *W, int rows, int cols, double *F)
{
    if (rows == 0) return 0;
    double *Wt = malloc((size_t)cols * rows * sizeof *Wt), *tau = malloc((size_t)rows * sizeof *tau);
    int rc = Wt && tau ? 0 : -1;
    if (rc == 0) {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) Wt[(size_t)c * rows + r] = W[(size_t)r * cols + c];
        rc = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, cols, rows, Wt, rows, tau) == 0 ? 0 : -1;
    }
    if (rc == 0)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < rows; j++) F[(size_t)i * rows + j] = j >= i ? Wt[(size_t)i * rows + j] : 0;
    free(Wt), free(tau);
    return rc;
}

/* Stage k of a chain (the product by OPS[k]), planned once for all rows. The
 * rows are only formed in float64 at their narrowest: T_k (the product of the
 * first k+1 operands, one row per row of OPS[0]) is formed from the last formed
 * T_base as T_base P, P the product of the operands in between, when it is no
 * wider than T_base or is the result; otherwise the two row norms its error
 * bound needs are quadratic forms of T_base's rows through Gram roots. For
 * kcomp's W_E W_V W_O W_K that is one [V, d] x [d, d_head] product instead of
 * three of that size. */
typedef struct {
    int base;           /* index of the formed T this stage reads */
    bool formed;        /* T_k = T_base P is formed */
    const double *P;    /* [w_base, w_k] */
    double *own_P;      /* P when it is not the operand itself */
    double *weight_root; /* [w_base, w_base]: |row of T_base F^T|^2 = sum_t T_{k-1,t}^2 |OPS[k]_t|^2; NULL when T_{k-1} is formed */
    double *norm_root;  /* [w_base, w_base]: |row of T_base F^T|^2 = |row of T_k|^2; NULL when T_k is formed */
} chain_stage;

static void stages_free(chain_stage *st, int q)
{
    for (int k = 1; k < q; k++) free(st[k].own_P), free(st[k].weight_root), free(st[k].norm_root);
}

/* Plans stages 1..Q-1; LAZY allows T_k to stay unformed. Returns 0 or -1 (allocation). */
static int stages_plan(const operand_mat *ops, const dense_term *terms, int q, bool lazy, chain_stage *st)
{
    int base = 0;
    long long wb = ops[0].cols;
    for (int k = 1; k < q; k++) {
        long long wprev = ops[k - 1].cols, wk = ops[k].cols;
        chain_stage *s = &st[k];
        s->base = base;
        if (base == k - 1) s->P = terms[k].x;
        else {
            /* P_k = P_{k-1} OPS[k]; the weighted norm reads P_{k-1} diag(|OPS[k]_t|) */
            const double *Pp = st[k - 1].P;
            s->own_P = malloc((size_t)(wb * wk > 0 ? wb * wk : 1) * sizeof *s->own_P);
            s->weight_root = malloc((size_t)(wb * wb > 0 ? wb * wb : 1) * sizeof *s->weight_root);
            double *W = malloc((size_t)(wb * wprev > 0 ? wb * wprev : 1) * sizeof *W);
            int rc = s->own_P && s->weight_root && W ? 0 : -1;
            if (rc == 0) {
                for (long long r = 0; r < wb; r++)
                    for (long long t = 0; t < wprev; t++) W[r * wprev + t] = Pp[r * wprev + t] * sqrt(terms[k].row_sq[t]);
                rc = gram_root(W, (int)wb, (int)wprev, s->weight_root);
            }
            free(W);
            if (rc != 0) return -1;
            if (wb > 0 && wk > 0)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)wb, (int)wk, (int)wprev, 1.0, Pp,
                            (int)wprev, terms[k].x, (int)wk, 0.0, s->own_P, (int)wk);
            s->P = s->own_P;
        }
        s->formed = !lazy || k == q - 1 || wk <= wb;
        if (s->formed) base = k, wb = wk;
        else {
            s->norm_root = malloc((size_t)(wb * wb > 0 ? wb * wb : 1) * sizeof *s->norm_root);
            if (!s->norm_root || gram_root(s->P, (int)wb, (int)wk, s->norm_root) != 0) return -1;
        }
    }
    return 0;
}

/* OUT [nb, n] = X [nb, k] Y [k, n] (Y^T when Y_TRANS, stored [n, k]). */
static void dgemm_rows(const double *X, int nb, int k, const double *Y, bool y_trans, int n, double *out)
{
    if (nb > 0 && n > 0 && k > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, y_trans ? CblasTrans : CblasNoTrans, nb, n, k, 1.0, X, k, Y,
                    y_trans ? k : n, 0.0, out, n);
    else
        memset(out, 0, (size_t)nb * (size_t)n * sizeof *out);
}

/* SQ[r] = |row r of X [nb, w] F^T|^2, F [w, w] (Y: scratch [nb, w]). */
static void root_norms(const double *X, int nb, int w, const double *F, double *Y, double *sq)
{
    dgemm_rows(X, nb, w, F, true, w, Y);
    for (int r = 0; r < nb; r++) {
        double s = 0;
        for (int c = 0; c < w; c++) s += Y[(size_t)r * w + c] * Y[(size_t)r * w + c];
        sq[r] = s;
    }
}

/* OUT[r] = sum_t X[r, t]^2 W[t] for the rows of X [nb, w], each sum in index
 * order, SQ_LANES rows side by side so that one row's float64 additions do not
 * wait on each other (kcomp's first stage: w = d_model for every vocabulary row). */
enum { SQ_LANES = 8 };

static void weighted_sq(const double *X, int nb, int w, const double *W, double *out)
{
    int r = 0;
    for (; r + SQ_LANES <= nb; r += SQ_LANES) {
        double sum[SQ_LANES] = {0};
        for (int t = 0; t < w; t++)
            for (int k = 0; k < SQ_LANES; k++) {
                double x = X[(size_t)(r + k) * w + t];
                sum[k] += x * x * W[t];
            }
        for (int k = 0; k < SQ_LANES; k++) out[r + k] = sum[k];
    }
    for (; r < nb; r++) {
        double sum = 0;
        for (int t = 0; t < w; t++) sum += X[(size_t)r * w + t] * X[(size_t)r * w + t] * W[t];
        out[r] = sum;
    }
}

/* The rows of a chain after its first STAGE + 1 operands (the formed T_base
 * of that stage, float64 [rows, width]) and their error bounds so far: what
 * the remaining stages continue from. Kept by a cc_chain_cache for a side's
 * operands that all belong to one head (or none), e.g. kcomp's W_E W_V[P]
 * W_O[P], shared by every later head paired with P. */
typedef struct {
    int stage;
    operand_mat ops[CC_CIRCUIT_MAX_TERMS]; /* the operands 0 .. stage (weight views): the key */
    bool lazy, last;  /* the plan's choices that shape those stages (stages_plan) */
    int width;
    double *T, *err;  /* NULL until recorded */
    unsigned long used; /* last use, for eviction */
} chain_prefix;

/* One chain64 evaluation, split by blocks of CHAIN_BLOCK rows across threads. */
typedef struct {
    const operand_mat *ops;
    int q;
    const dense_term *terms;
    const chain_stage *st;
    double *out, *err;
    bool out_transposed;
    chain_prefix *prefix; /* NULL, or the rows after prefix->stage: read (prefix->T set) or recorded */
    bool resume;          /* start from prefix->T instead of OPS[0] */
    atomic_bool failed;   /* out of memory in some thread */
} chain_job;

/* Row blocks [lo, hi) of the chain, for cc_par_for. */
static void chain_blocks(void *ctx, size_t lo, size_t hi)
{
    chain_job *J = ctx;
    const operand_mat *ops = J->ops;
    int q = J->q;
    long long N = ops[0].rows, width = ops[0].cols, cols = ops[q - 1].cols;
    for (int k = 1; k < q; k++) width = ops[k].cols > width ? ops[k].cols : width;
    size_t block = (size_t)CHAIN_BLOCK * (size_t)width;
    double *T = malloc(block * sizeof *T), *U = malloc(block * sizeof *U), *Y = malloc(block * sizeof *Y);
    double *weighted = malloc(CHAIN_BLOCK * sizeof *weighted), *out_sq = malloc(CHAIN_BLOCK * sizeof *out_sq);
    if (!T || !U || !Y || !weighted || !out_sq) {
        J->failed = true;
        hi = lo;
    }
    const double lambda_u = CC_FP32_ERR_LAMBDA * 0x1p-24;
    for (size_t b = lo; b < hi; b++) {
        long long r0 = (long long)b * CHAIN_BLOCK;
        int nb = (int)(N - r0 < CHAIN_BLOCK ? N - r0 : CHAIN_BLOCK);
        int wb = (int)ops[0].cols, k_first = 1; /* width of T, the formed T_base */
        double *err = J->err + r0;
        if (J->resume) {
            wb = J->prefix->width, k_first = J->prefix->stage + 1;
            memcpy(T, J->prefix->T + (size_t)r0 * wb, (size_t)nb * wb * sizeof *T);
            memcpy(err, J->prefix->err + r0, (size_t)nb * sizeof *err);
        } else
            for (int r = 0; r < nb; r++) {
                for (int c = 0; c < wb; c++) T[(size_t)r * wb + c] = entry(&ops[0], r0 + r, c);
                err[r] = 0;
            }
        for (int k = k_first; k < q; k++) {
            const chain_stage *s = &J->st[k];
            const dense_term *term = &J->terms[k];
            int wn = (int)ops[k].cols;
            if (s->weight_root) root_norms(T, nb, wb, s->weight_root, Y, weighted);
            else weighted_sq(T, nb, wb, term->row_sq, weighted);
            if (s->formed) {
                dgemm_rows(T, nb, wb, s->P, false, wn, U);
                for (int r = 0; r < nb; r++) {
                    double sum = 0;
                    for (int c = 0; c < wn; c++) sum += U[(size_t)r * wn + c] * U[(size_t)r * wn + c];
                    out_sq[r] = sum;
                }
                double *swap = T;
                T = U, U = swap, wb = wn;
            } else
                root_norms(T, nb, wb, s->norm_root, Y, out_sq);
            for (int r = 0; r < nb; r++) {
                double stage = lambda_u * sqrt((double)(ops[k - 1].cols + 1) * (weighted[r] / 2 + out_sq[r] / 3));
                err[r] = stage + err[r] * term->spectral;
            }
            if (J->prefix && !J->resume && k == J->prefix->stage) {
                memcpy(J->prefix->T + (size_t)r0 * wb, T, (size_t)nb * wb * sizeof *T);
                memcpy(J->prefix->err + r0, err, (size_t)nb * sizeof *err);
            }
        }
        for (int r = 0; r < nb; r++)
            for (long long c = 0; c < cols; c++) {
                if (J->out_transposed) J->out[c * N + r0 + r] = T[r * cols + c];
                else J->out[(r0 + r) * cols + c] = T[r * cols + c];
            }
    }
    free(T), free(U), free(Y), free(weighted), free(out_sq);
}

/* Multiplies OPS[0] OPS[1] ... OPS[q-1] in float64 into OUT ([rows, cols]
 * row-major, or [cols, rows] when OUT_TRANSPOSED), and bounds the error of each
 * output row under a float32 evaluation left to right (ERR): each product X Y
 * adds, per row, the statistical bound of factored.h (CC_FP32_ERR_LAMBDA) over
 * the row's dot products,
 *     lambda u sqrt((n+1) (sum_t x_t^2 |Y_t|^2 / 2 + |x Y|^2 / 3)),
 * and carries the earlier error through |Y|_2. The float64 product itself is
 * formed in the cheaper order of chain_stage; blocks of rows run on all cores,
 * each GEMM on one, so the values do not depend on the thread count. Returns 0,
 * 1 when an operand is too large to hold in float64, -1 on allocation failure. */
static int chain64(const operand_mat *ops, int q, double *out, bool out_transposed, double *err, chain_prefix *prefix)
{
    long long N = ops[0].rows, width = ops[0].cols;
    for (int k = 1; k < q; k++) width = ops[k].cols > width ? ops[k].cols : width;
    dense_term terms[CC_CIRCUIT_MAX_TERMS] = {{0}};
    chain_stage st[CC_CIRCUIT_MAX_TERMS] = {{0}};
    bool resume = prefix && prefix->T;
    int rc = 0, first = resume ? prefix->stage + 1 : 1; /* the stages to run need the plan up to them */
    for (int k = 1; k < q && first < q && rc == 0; k++) rc = dense_term_make(&ops[k], &terms[k]);
    /* the Gram roots and partial products are [w_0, width] at most */
    if (rc == 0 && first < q) rc = stages_plan(ops, terms, q, ops[0].cols * width <= MAX_DENSE64, st);
    if (rc == 0 && prefix && !resume) {
        int k = prefix->stage;
        prefix->width = (int)(st[k].formed ? ops[k].cols : ops[st[k].base].cols);
        prefix->T = malloc((size_t)N * prefix->width * sizeof *prefix->T + 1);
        prefix->err = malloc((size_t)N * sizeof *prefix->err + 1);
        if (!prefix->T || !prefix->err) rc = -1;
    }
    if (rc == 0) {
        chain_job job = {ops, q, terms, st, out, err, out_transposed, prefix, resume, false};
        int blas_threads = cc_blas_threads_hold();
        cc_par_for((size_t)((N + CHAIN_BLOCK - 1) / CHAIN_BLOCK), 4, chain_blocks, &job);
        cc_blas_threads_restore(blas_threads);
        if (job.failed) rc = -1;
    }
    stages_free(st, q);
    for (int k = 1; k < q; k++) free(terms[k].x), free(terms[k].row_sq);
    return rc;
}

/* ---- two-operand chains sharing their first operand ------------------------------ */

/* chain64 of the chains FIRST SECOND[u] (u < n; each SECOND[u] [first.cols, w]),
 * computed together: FIRST's rows are widened to float64 once per block, and
 * every SECOND[u] multiplies them in one GEMM, the SECOND[u] side by side as
 * the columns of P. A column of a GEMM's result is computed as it would be
 * alone (its own dot products, the same inner dimension; tests check it bit
 * for bit), so each OUT[u], ERR[u] is what chain64 gives that chain. */
typedef struct {
    const operand_mat *first;
    int n, w;                 /* chains; columns of each */
    const dense_term *terms;  /* [n]: SECOND[u] in float64 */
    const double *P;          /* [first.cols, n w] */
    double **out, **err;      /* [n]: [rows, w] and [rows] */
    atomic_bool failed;
} shared_job;

static void shared_blocks(void *ctx, size_t lo, size_t hi)
{
    shared_job *J = ctx;
    long long N = J->first->rows;
    int w0 = (int)J->first->cols, w = J->w, nw = J->n * J->w;
    double *T = malloc((size_t)CHAIN_BLOCK * w0 * sizeof *T + 1), *U = malloc((size_t)CHAIN_BLOCK * nw * sizeof *U + 1);
    double *weighted = malloc(CHAIN_BLOCK * sizeof *weighted);
    if (!T || !U || !weighted) {
        J->failed = true;
        hi = lo;
    }
    const double lambda_u = CC_FP32_ERR_LAMBDA * 0x1p-24;
    for (size_t b = lo; b < hi; b++) {
        long long r0 = (long long)b * CHAIN_BLOCK;
        int nb = (int)(N - r0 < CHAIN_BLOCK ? N - r0 : CHAIN_BLOCK);
        for (int r = 0; r < nb; r++)
            for (int c = 0; c < w0; c++) T[(size_t)r * w0 + c] = entry(J->first, r0 + r, c);
        dgemm_rows(T, nb, w0, J->P, false, nw, U);
        for (int u = 0; u < J->n; u++) {
            weighted_sq(T, nb, w0, J->terms[u].row_sq, weighted);
            for (int r = 0; r < nb; r++) {
                const double *x = U + (size_t)r * nw + (size_t)u * w;
                double sum = 0, e = 0; /* the error so far: none before the first product */
                for (int c = 0; c < w; c++) sum += x[c] * x[c];
                double stage = lambda_u * sqrt((double)(J->first->cols + 1) * (weighted[r] / 2 + sum / 3));
                J->err[u][r0 + r] = stage + e * J->terms[u].spectral;
                memcpy(J->out[u] + (size_t)(r0 + r) * w, x, (size_t)w * sizeof *x);
            }
        }
    }
    free(T), free(U), free(weighted);
}

/* Returns 0, 1 when an operand is too large to hold in float64, -1 on
 * allocation failure (as chain64). */
static int chain64_shared_first(const operand_mat *first, const operand_mat *second, int n, double **out, double **err)
{
    int w0 = (int)first->cols, w = (int)second[0].cols;
    dense_term *terms = calloc((size_t)n, sizeof *terms);
    double *P = malloc((size_t)w0 * n * w * sizeof *P + 1);
    int rc = terms && P ? 0 : -1;
    for (int u = 0; u < n && rc == 0; u++) {
        rc = dense_term_make(&second[u], &terms[u]);
        for (int t = 0; t < w0 && rc == 0; t++)
            memcpy(P + ((size_t)t * n + u) * w, terms[u].x + (size_t)t * w, (size_t)w * sizeof *P);
    }
    if (rc == 0) {
        shared_job job = {first, n, w, terms, P, out, err, false};
        int blas_threads = cc_blas_threads_hold();
        cc_par_for((size_t)((first->rows + CHAIN_BLOCK - 1) / CHAIN_BLOCK), 4, shared_blocks, &job);
        cc_blas_threads_restore(blas_threads);
        if (job.failed) rc = -1;
    }
    for (int u = 0; terms && u < n; u++) free(terms[u].x), free(terms[u].row_sq);
    free(terms), free(P);
    return rc;
}

/* ---- prefixes shared between compilations (cc_chain_cache) ----------------------- */

enum { CHAIN_CACHE_SLOTS = 4 }; /* prefixes kept: [rows, width] float64 each (kcomp: V x d_head) */

struct cc_chain_cache {
    unsigned long clock;
    chain_prefix slot[CHAIN_CACHE_SLOTS];
};

cc_chain_cache *cc_chain_cache_new(void) { return calloc(1, sizeof(cc_chain_cache)); }

static void prefix_clear(chain_prefix *p)
{
    free(p->T), free(p->err);
    *p = (chain_prefix){0};
}

void cc_chain_cache_free(cc_chain_cache *cache)
{
    if (!cache) return;
    for (int i = 0; i < CHAIN_CACHE_SLOTS; i++) prefix_clear(&cache->slot[i]);
    free(cache);
}

static bool same_operands(const operand_mat *a, const operand_mat *b, int n)
{
    for (int k = 0; k < n; k++)
        if (a[k].p != b[k].p || a[k].rows != b[k].rows || a[k].cols != b[k].cols || a[k].trans != b[k].trans)
            return false;
    return true;
}

/* The cached prefix of the chain OPS[0 .. q) (terms TERM_OF[0 .. q) of C), or
 * a slot to record it in, or NULL when it has no prefix worth keeping:
 * operands 0 .. k (k >= 1) reading one head (and no other parameter), the
 * longest such run. A prefix is found again by its operands, the same
 * weights of the same model. */
static chain_prefix *prefix_slot(cc_chain_cache *cache, const cc_circuit *c, const int *term_of,
                                 const operand_mat *ops, int q)
{
    int param = -1, stage = 0;
    for (int k = 0; k < q; k++) {
        int p = c->terms[term_of[k]].param;
        if (p >= 0 && param >= 0 && p != param) break;
        if (p >= 0) param = p;
        if (param >= 0) stage = k;
    }
    if (!cache || param < 0 || stage < 1) return NULL;
    long long width = ops[0].cols;
    for (int k = 1; k < q; k++) width = ops[k].cols > width ? ops[k].cols : width;
    bool lazy = ops[0].cols * width <= MAX_DENSE64, last = stage == q - 1; /* as chain64 plans them */
    chain_prefix *victim = &cache->slot[0];
    for (int i = 0; i < CHAIN_CACHE_SLOTS; i++) {
        chain_prefix *p = &cache->slot[i];
        if (p->T && p->stage == stage && p->lazy == lazy && p->last == last && same_operands(p->ops, ops, stage + 1)) {
            p->used = ++cache->clock;
            return p;
        }
        if (p->used < victim->used) victim = p;
    }
    prefix_clear(victim);
    *victim = (chain_prefix){.stage = stage, .lazy = lazy, .last = last, .used = ++cache->clock};
    memcpy(victim->ops, ops, (size_t)(stage + 1) * sizeof *ops);
    return victim;
}

/* The left side's operands LEFT[0 .. s) and the right side's, reversed and
 * transposed (B^T = T_{n-1}^T ... T_s^T), with the terms they come from. */
static void side_operands(const cc_circuit *c, const cc_model *m, const cc_head *heads, const cc_circuit_plan *plan,
                          operand_mat *left, int *left_terms, operand_mat *right, int *right_terms)
{
    int n = plan->n_terms, s = plan->split;
    for (int i = 0; i < n; i++) {
        const term *t = &c->terms[i];
        operand_mat o = term_matrix(m, t, t->param >= 0 ? heads[t->param] : (cc_head){0, 0});
        if (i < s) left[i] = o, left_terms[i] = i;
        else right[n - 1 - i] = transposed(o), right_terms[n - 1 - i] = i;
    }
}

static void exact_drop(cc_fm *fm)
{
    free(fm->A64), free(fm->B64), free(fm->errA), free(fm->errB);
    fm->A64 = fm->B64 = fm->errA = fm->errB = NULL;
}

/* FM's float64 factors and error bounds, allocated. Returns 0 or -1. */
static int exact_alloc(cc_fm *fm)
{
    fm->A64 = malloc((size_t)fm->l * fm->m * sizeof *fm->A64 + 1);
    fm->B64 = malloc((size_t)fm->m * fm->r * sizeof *fm->B64 + 1);
    fm->errA = malloc((size_t)fm->l * sizeof *fm->errA + 1);
    fm->errB = malloc((size_t)fm->r * sizeof *fm->errB + 1);
    if (fm->A64 && fm->B64 && fm->errA && fm->errB) return 0;
    exact_drop(fm);
    return -1;
}

/* Fills FM's float64 factors and float32 error bounds (factored.h), reusing
 * and recording head-specific prefixes in CACHE (may be NULL). Leaves them
 * NULL (top-k then uses the float32 factors) when an inner operand is too large
 * to hold in float64. LEFT_DONE: FM's factors are allocated and A64, errA
 * already computed (cci_circuit_compile_exact_many). */
static int compile_exact(const cc_circuit *c, const cc_model *m, const cc_head *heads, const cc_circuit_plan *plan,
                         cc_chain_cache *cache, bool left_done, cc_fm *fm, cc_error *err)
{
    int n = plan->n_terms, s = plan->split;
    operand_mat left[CC_CIRCUIT_MAX_TERMS], right[CC_CIRCUIT_MAX_TERMS];
    int left_terms[CC_CIRCUIT_MAX_TERMS], right_terms[CC_CIRCUIT_MAX_TERMS];
    side_operands(c, m, heads, plan, left, left_terms, right, right_terms);
    chain_prefix *pa = left_done ? NULL : prefix_slot(cache, c, left_terms, left, s);
    chain_prefix *pb = prefix_slot(cache, c, right_terms, right, n - s);
    int rc = left_done ? 0 : exact_alloc(fm);
    if (rc == 0 && !left_done) rc = chain64(left, s, fm->A64, false, fm->errA, pa);
    if (rc == 0) rc = chain64(right, n - s, fm->B64, true, fm->errB, pb);
    if (rc != 0) { /* a prefix recorded in part is no prefix */
        if (pa) prefix_clear(pa);
        if (pb) prefix_clear(pb);
        exact_drop(fm);
    }
    return rc < 0 ? cci_oom(err) : 0;
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
    CC_ARG_NOT_NULL(c, NULL, NULL);
    CC_ARG_NOT_NULL(plan, NULL, NULL);
    CC_ARG_NOT_NULL(bind_names, NULL, NULL);
    CC_ARG_NOT_NULL(bind_heads, NULL, NULL);
    cci_sbuf b = {0};
    char buf[160], hb[32];
    int n = plan->n_terms, s = plan->split;
    cci_sb_add(&b, "circuit  %s: %s\n", c->name, c->chain_text);
    if (n_bind > 0) {
        cci_sb_add(&b, "bind    ");
        for (int i = 0; i < n_bind; i++) cci_sb_add(&b, " %s=%s", bind_names[i], cc_head_name(bind_heads[i], hb, sizeof hb));
        cci_sb_add(&b, "\n");
    }
    cci_sb_add(&b, "terms   ");
    for (int i = 0; i < n; i++)
        cci_sb_add(&b, " %s[%lld,%lld]", cci_term_label(c, &c->terms[i], buf, sizeof buf), plan->dims[i], plan->dims[i + 1]);
    cci_sb_add(&b, "\nresult   [%lld, %lld] = A [%lld, %lld] B [%lld, %lld]\n", plan->dims[0], plan->dims[n],
           plan->dims[0], plan->dims[s], plan->dims[s], plan->dims[n]);
    cci_sb_add(&b, "split    after term %d of %d (%s): inner dimension %lld, the smallest of", s, n,
           cci_term_label(c, &c->terms[s - 1], buf, sizeof buf), plan->dims[s]);
    for (int i = 1; i < n; i++) cci_sb_add(&b, " %lld", plan->dims[i]);
    cci_sb_add(&b, " (leftmost on ties)\n");
    char f1[32], f2[32], f3[32];
    cci_sb_add(&b, "A        %s  [%s order]  %s (left to right %s, right to left %s)\n", plan->order_text_a,
           order_name(plan->order_a), fmt_flops(plan->flops_a, f1, sizeof f1),
           fmt_flops(plan->flops_a_left, f2, sizeof f2), fmt_flops(plan->flops_a_right, f3, sizeof f3));
    cci_sb_add(&b, "B        %s  [%s order]  %s (left to right %s, right to left %s)\n", plan->order_text_b,
           order_name(plan->order_b), fmt_flops(plan->flops_b, f1, sizeof f1),
           fmt_flops(plan->flops_b_left, f2, sizeof f2), fmt_flops(plan->flops_b_right, f3, sizeof f3));
    cci_sb_add(&b, "total    %s (2 p q r per [p,q] x [q,r] product; float32 sgemm)\n",
           fmt_flops(plan->flops_a + plan->flops_b, f1, sizeof f1));
    return cci_sb_done(&b);
}

/* OUT = the float32 factors A and B of PLAN, each side in its order. */
static int compile_f32(const cc_circuit *c, const cc_model *m, const cc_head *heads, const cc_circuit_plan *plan,
                       cc_fm *out, cc_error *err)
{
    chain_dp *dp = malloc(sizeof *dp);
    if (!dp) return cci_oom(err);
    int n = plan->n_terms, s = plan->split;
    dp_fill(plan->dims, 0, s, plan->order_a, dp);
    float *A = eval_side(c, m, heads, dp, plan->dims, 0, s - 1, err);
    float *B = NULL;
    if (A) {
        dp_fill(plan->dims, s, n, plan->order_b, dp);
        B = eval_side(c, m, heads, dp, plan->dims, s, n - 1, err);
    }
    free(dp);
    if (!A || !B) {
        free(A);
        return -1;
    }
    cc_fm_wrap(A, B, (int)plan->dims[0], (int)plan->dims[s], (int)plan->dims[n], out);
    return 0;
}

int cc_circuit_compile_ex(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                          const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                          cc_fm *out, cc_circuit_plan *plan_out, char **plan_text, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_ENUM(order_a, CC_ORDER_RIGHT + 1, err, -1);
    CC_ARG_ENUM(order_b, CC_ORDER_RIGHT + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (plan_text) *plan_text = NULL;
    cc_circuit_plan plan;
    if (cc_circuit_plan_make(c, m, bind_names, bind_heads, n_bind, order_a, order_b, &plan, err) != 0) return -1;
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (bind(c, m, bind_names, bind_heads, n_bind, heads, err) != 0) return -1;
    if (compile_f32(c, m, heads, &plan, out, err) != 0) return -1;
    if (plan_text && !(*plan_text = cc_circuit_plan_text(c, &plan, bind_names, bind_heads, n_bind))) {
        cc_fm_free(out);
        return cci_oom(err);
    }
    if (compile_exact(c, m, heads, &plan, NULL, false, out, err) != 0) {
        if (plan_text) free(*plan_text), *plan_text = NULL;
        cc_fm_free(out);
        return -1;
    }
    if (plan_out) *plan_out = plan;
    return 0;
}

int cc_circuit_compile(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                       const cc_head *bind_heads, int n_bind, cc_fm *out, char **plan_text, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    return cc_circuit_compile_ex(c, m, bind_names, bind_heads, n_bind, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, out,
                                 NULL, plan_text, err);
}

/* The default plan (optimal orders) of C's chain for the bindings, and the
 * bound heads in parameter order: what the partial compiles below start from. */
static int plan_and_bind(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                         const cc_head *bind_heads, int n_bind, cc_circuit_plan *plan, cc_head *heads, cc_error *err)
{
    if (cc_circuit_plan_make(c, m, bind_names, bind_heads, n_bind, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, plan, err) != 0)
        return -1;
    return bind(c, m, bind_names, bind_heads, n_bind, heads, err);
}

int cc_circuit_compile_f32(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                           const cc_head *bind_heads, int n_bind, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    cc_circuit_plan plan;
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (plan_and_bind(c, m, bind_names, bind_heads, n_bind, &plan, heads, err) != 0) return -1;
    return compile_f32(c, m, heads, &plan, out, err);
}

int cc_circuit_compile_exact(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                             const cc_head *bind_heads, int n_bind, cc_chain_cache *cache, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(bind_names, err, -1);
    CC_ARG_NOT_NULL(bind_heads, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    cc_circuit_plan plan;
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    if (plan_and_bind(c, m, bind_names, bind_heads, n_bind, &plan, heads, err) != 0) return -1;
    int n = plan.n_terms, s = plan.split;
    *out = (cc_fm){.l = (int)plan.dims[0], .m = (int)plan.dims[s], .r = (int)plan.dims[n]};
    if (compile_exact(c, m, heads, &plan, cache, false, out, err) != 0) return -1;
    if (out->A64) return 0;
    /* an operand too large for float64: top-k reads the float32 factors */
    cc_fm f32;
    if (compile_f32(c, m, heads, &plan, &f32, err) != 0) return -1;
    out->A = f32.A, out->B = f32.B;
    return 0;
}

/* The bindings whose left side is two operands, the first shared (kcomp's
 * A = W_E W_Q[I]), have that side formed in one pass (chain64_shared_first),
 * each distinct second operand once; the rest as cc_circuit_compile_exact. */
int cci_circuit_compile_exact_many(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                                   const cc_head *bind_heads, int n_bind, int n, cc_chain_cache *cache, cc_fm *out,
                                   cc_error *err)
{
    if (n < 0 || n > CCI_COMPILE_MANY_MAX) return cc_fail_code(err, CC_E_INTERNAL, "internal: %d bindings at once", n);
    cc_circuit_plan plan[CCI_COMPILE_MANY_MAX];
    cc_head heads[CCI_COMPILE_MANY_MAX][CC_CIRCUIT_MAX_PARAMS];
    operand_mat first = {0}, second[CCI_COMPILE_MANY_MAX];
    double *A64[CCI_COMPILE_MANY_MAX], *errA[CCI_COMPILE_MANY_MAX];
    int shared_of[CCI_COMPILE_MANY_MAX], n_shared = 0, rc = 0; /* shared_of[k]: binding k's chain, or -1 */
    for (int k = 0; k < n; k++) out[k] = (cc_fm){0};
    for (int k = 0; k < n && rc == 0; k++) {
        rc = plan_and_bind(c, m, bind_names, bind_heads + (size_t)k * n_bind, n_bind, &plan[k], heads[k], err);
        if (rc != 0) break;
        int terms = plan[k].n_terms, s = plan[k].split;
        out[k] = (cc_fm){.l = (int)plan[k].dims[0], .m = (int)plan[k].dims[s], .r = (int)plan[k].dims[terms]};
        operand_mat left[CC_CIRCUIT_MAX_TERMS], right[CC_CIRCUIT_MAX_TERMS];
        int left_terms[CC_CIRCUIT_MAX_TERMS], right_terms[CC_CIRCUIT_MAX_TERMS];
        side_operands(c, m, heads[k], &plan[k], left, left_terms, right, right_terms);
        shared_of[k] = -1;
        if (s != 2 || (n_shared > 0 && (!same_operands(&left[0], &first, 1) || left[1].cols != second[0].cols)))
            continue;
        first = left[0];
        for (int u = 0; u < n_shared && shared_of[k] < 0; u++)
            if (same_operands(&left[1], &second[u], 1)) shared_of[k] = u;
        if (shared_of[k] < 0) {
            if (exact_alloc(&out[k]) != 0) rc = cci_oom(err);
            A64[n_shared] = out[k].A64, errA[n_shared] = out[k].errA;
            second[n_shared] = left[1], shared_of[k] = n_shared++;
        }
    }
    int shared = rc == 0 && n_shared > 0 ? chain64_shared_first(&first, second, n_shared, A64, errA) : 0;
    if (shared < 0) rc = cci_oom(err);
    for (int k = 0; k < n && rc == 0; k++) { /* a chain two bindings share: copied */
        int u = shared_of[k];
        if (shared != 0 || u < 0) exact_drop(&out[k]); /* computed alone below */
        else if (!out[k].A64) {
            if (exact_alloc(&out[k]) != 0) rc = cci_oom(err);
            else {
                memcpy(out[k].A64, A64[u], (size_t)out[k].l * out[k].m * sizeof *A64[u]);
                memcpy(out[k].errA, errA[u], (size_t)out[k].l * sizeof *errA[u]);
            }
        }
    }
    for (int k = 0; k < n && rc == 0; k++) {
        rc = compile_exact(c, m, heads[k], &plan[k], cache, out[k].A64 != NULL, &out[k], err);
        if (rc == 0 && !out[k].A64) { /* an operand too large for float64: top-k reads the float32 factors */
            cc_fm f32;
            rc = compile_f32(c, m, heads[k], &plan[k], &f32, err);
            if (rc == 0) out[k].A = f32.A, out[k].B = f32.B;
        }
    }
    if (rc != 0)
        for (int k = 0; k < n; k++) cc_fm_free(&out[k]);
    return rc;
}
