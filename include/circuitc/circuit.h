/* circuitc/circuit.h — circuit files (docs/circuit-format.md) and their
 * compiler: a named product of weight matrices with head parameters, e.g. the
 * K-composition circuit  W_E W_Q[ind] W_K[ind]^T W_O[prev]^T W_V[prev]^T W_E^T,
 * compiled for given head bindings into a FactoredMatrix (factored.h).
 *
 * Compilation splits the chain at its cheapest inner dimension (the FIRST,
 * leftmost, minimal one on ties) into A = (terms left of the split) and
 * B = (terms right of it), and evaluates each side's sub-chain in the
 * FLOP-optimal order (matrix-chain dynamic programme, float32 sgemm). The
 * compiled FactoredMatrix also carries the factors in float64 (cc_fm.A64/B64:
 * A's chain multiplied left to right from the float32 weights, and B as the
 * transpose of its reversed transposed chain, the order TransformerLens users
 * write, e.g. (W_E W_V W_O W_K)^T) and the error bounds of a float32
 * evaluation in that order (cc_fm.errA/errB), which exact top-k uses.
 *
 * A cc_circuit is immutable once parsed; all functions are re-entrant. */
#ifndef CIRCUITC_CIRCUIT_H
#define CIRCUITC_CIRCUIT_H

#include "circuitc/error.h"
#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_circuit cc_circuit;

/* Limits of the format (each an error, with the limit, when exceeded). */
#define CC_CIRCUIT_MAX_TERMS 32
#define CC_CIRCUIT_MAX_PARAMS 8
#define CC_CIRCUIT_MAX_CONSTRAINTS 16

/* Parses TEXT (the content of a circuit file); LABEL names it in error
 * messages ("LABEL:LINE:COL: what; fix"; may be NULL: "<circuit>"). */
int cc_circuit_parse(const char *text, const char *label, cc_circuit **out, cc_error *err);

/* Reads and parses the circuit file PATH. */
int cc_circuit_load(const char *path, cc_circuit **out, cc_error *err);

/* The path of built-in circuit NAME: <dir>/<NAME>.circuit with <dir> =
 * cc_circuit_dir's. Fails (listing the built-ins) when there is no such file.
 * Caller frees. */
int cc_circuit_find_builtin(const char *name, char **path_out, cc_error *err);

/* The circuits directory cc_circuit_find_builtin searches: $CIRCUITC_CIRCUITS
 * if set, else circuits/ in the data directory (circuitc/datadir.h). Caller frees. */
int cc_circuit_dir(char **out, cc_error *err);

/* The file SPEC names: SPEC itself if it names an existing file or contains
 * '/' or ends in ".circuit", else built-in SPEC's (cc_circuit_find_builtin).
 * A resolved path resolves to itself. Caller frees. */
int cc_circuit_resolve(const char *spec, char **path_out, cc_error *err);

/* Loads the file cc_circuit_resolve finds for SPEC. */
int cc_circuit_open(const char *spec, cc_circuit **out, cc_error *err);

void cc_circuit_free(cc_circuit *c);

/* What a circuit's matrices leave out on a model of CFG, or NULL: with rotary
 * positions, a circuit that multiplies W_Q by W_K^T composes them without the
 * rotation (as TransformerLens' FactoredMatrix does), while at run time q and
 * k are rotated by their positions. */
const char *cc_circuit_model_note(const cc_circuit *c, const cc_config *cfg);

/* Accessors (strings owned by the circuit). */
const char *cc_circuit_name(const cc_circuit *c);        /* "name:", else the file's base name */
const char *cc_circuit_description(const cc_circuit *c); /* "" when none */
const char *cc_circuit_rows(const cc_circuit *c);        /* what a row means ("" when none) */
const char *cc_circuit_cols(const cc_circuit *c);        /* what a column means ("" when none) */
const char *cc_circuit_chain_text(const cc_circuit *c);  /* the chain as written, normalised spacing */
int cc_circuit_n_params(const cc_circuit *c);
const char *cc_circuit_param(const cc_circuit *c, int i);
int cc_circuit_n_constraints(const cc_circuit *c);
const char *cc_circuit_constraint_text(const cc_circuit *c, int i);
int cc_circuit_n_terms(const cc_circuit *c);

/* How a side's sub-chain is multiplied. */
typedef enum {
    CC_ORDER_OPTIMAL = 0, /* matrix-chain DP (the default) */
    CC_ORDER_LEFT,        /* ((T1 T2) T3) ... : left to right */
    CC_ORDER_RIGHT        /* T1 (T2 (T3 ...)) : right to left */
} cc_chain_order;

/* The plan for one binding: shapes, split and multiplication order. */
typedef struct {
    int n_terms;
    long long dims[CC_CIRCUIT_MAX_TERMS + 1]; /* term i is [dims[i], dims[i+1]] */
    int split;                                /* A = terms [0, split), B = terms [split, n_terms) */
    cc_chain_order order_a, order_b;
    double flops_a, flops_b;                  /* 2 p q r per product, in the chosen orders */
    double flops_a_left, flops_b_left;        /* left-to-right, for comparison */
    double flops_a_right, flops_b_right;      /* right-to-left, for comparison */
    char order_text_a[512], order_text_b[512]; /* parenthesised products, e.g. "(W_E W_Q[ind])" */
} cc_circuit_plan;

/* Checks the bindings (every parameter bound once, nothing extra, heads in
 * range), the shapes (each term's columns equal the next one's rows) and the
 * constraints, and fills PLAN. BIND_NAMES[i] names a parameter, BIND_HEADS[i]
 * its head. ORDER_A / ORDER_B are the orders the plan will use. */
int cc_circuit_plan_make(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                         const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                         cc_circuit_plan *plan, cc_error *err);

/* The weight parts the circuit reads for these bindings (checked as by
 * cc_circuit_plan_make; M need only be opened): PARTS (room for
 * CC_CIRCUIT_MAX_TERMS) and *N_PARTS, for cc_model_need. */
int cc_circuit_parts(const cc_circuit *c, const cc_model *m, const char *const *bind_names, const cc_head *bind_heads,
                     int n_bind, cc_part *parts, int *n_parts, cc_error *err);

/* Plans (FLOP-optimal orders) and compiles the circuit into OUT (caller frees
 * with cc_fm_free): OUT->A = product of the terms left of the split, OUT->B =
 * product of the rest. When PLAN_TEXT is not NULL it receives a malloc'ed
 * human explanation of the plan (caller frees). */
int cc_circuit_compile(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                       const cc_head *bind_heads, int n_bind, cc_fm *out, char **plan_text, cc_error *err);

/* The same with explicit orders for the two sides, and the plan returned too
 * (PLAN may be NULL). CC_ORDER_LEFT for A with CC_ORDER_RIGHT for B is
 * TransformerLens' evaluation of a chain written as Q K^T (K built left to right). */
int cc_circuit_compile_ex(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                          const cc_head *bind_heads, int n_bind, cc_chain_order order_a, cc_chain_order order_b,
                          cc_fm *out, cc_circuit_plan *plan, char **plan_text, cc_error *err);

/* Only the float32 factors A and B (OUT->A64, B64, errA, errB stay NULL), for
 * callers that read nothing else: the same values as cc_circuit_compile's. */
int cc_circuit_compile_f32(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                           const cc_head *bind_heads, int n_bind, cc_fm *out, cc_error *err);

/* Float64 chain prefixes kept between compilations for different heads: a
 * side whose first operands read a single head (kcomp's A = W_E W_Q[I], and
 * W_E W_V[P] W_O[P] of B's chain) is computed once per head, and found again
 * by its weights (any circuit; one model: free the cache with or before it).
 * At most a few prefixes are kept (each [d_vocab, d_head] float64 for kcomp),
 * the least recently used dropped first. Not thread-safe: one per thread. */
typedef struct cc_chain_cache cc_chain_cache;
cc_chain_cache *cc_chain_cache_new(void); /* NULL when out of memory */
void cc_chain_cache_free(cc_chain_cache *cache);

/* Only what exact top-k reads (topk.h): OUT->A64, B64, errA, errB, the same
 * values as cc_circuit_compile's, with OUT->A and B NULL (unless an operand is
 * too large for float64: then the float32 factors instead). CACHE may be NULL. */
int cc_circuit_compile_exact(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                             const cc_head *bind_heads, int n_bind, cc_chain_cache *cache, cc_fm *out, cc_error *err);

/* The plan's explanation as a malloc'ed string (caller frees), or NULL on OOM. */
char *cc_circuit_plan_text(const cc_circuit *c, const cc_circuit_plan *plan, const char *const *bind_names,
                           const cc_head *bind_heads, int n_bind);

#ifdef __cplusplus
}
#endif

#endif
