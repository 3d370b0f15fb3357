/* circuit_internal.h — what the circuit parser (circuit.c) and the circuit
 * compiler (circuit_compile.c) share: the parsed representation, the table of
 * matrices a chain may name, and a few helpers. Not part of the public API. */
#ifndef CIRCUITC_CIRCUIT_INTERNAL_H
#define CIRCUITC_CIRCUIT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "circuitc/circuit.h"

/* The matrices a chain may name. */
typedef enum { MAT_E, MAT_POS, MAT_U, MAT_Q, MAT_K, MAT_V, MAT_O, MAT_IN, MAT_OUT, N_MATS } mat_kind;

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


typedef struct {
    const char *name;
    bool indexed; /* takes a head parameter: W_Q[p] */
} cci_mat_info;

extern const cci_mat_info CCI_MATS[N_MATS];

/* A growable string; OOM is remembered and reported by cci_sb_done. */
typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} cci_sbuf;

void cci_sb_add(cci_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The finished string (never NULL unless out of memory). */
char *cci_sb_done(cci_sbuf *b);

/* "W_Q[ind]^T" for term T of circuit C, into BUF. */
char *cci_term_label(const cc_circuit *c, const term *t, char *buf, size_t size);

int cci_oom(cc_error *err);

/* cc_circuit_compile_exact of N bindings (binding k: BIND_HEADS[k n_bind ..
 * (k+1) n_bind), named BIND_NAMES) into OUT[0 .. N), bit for bit, sharing the
 * work the bindings' chains have in common: the left sides that are one
 * product of a shared first operand by a per-binding second one (kcomp's
 * W_E W_Q[I]) are formed in one pass over the first operand. On failure
 * every OUT[k] is freed. N <= CCI_COMPILE_MANY_MAX. */
#define CCI_COMPILE_MANY_MAX 16
int cci_circuit_compile_exact_many(const cc_circuit *c, const cc_model *m, const char *const *bind_names,
                                   const cc_head *bind_heads, int n_bind, int n, cc_chain_cache *cache, cc_fm *out,
                                   cc_error *err);

#endif
