/* fuzz_circuit.c — circuit files (docs/circuit-format.md) through
 * cc_circuit_parse, then, when one parses, binding, shape checking,
 * constraints and planning (cc_circuit_plan_make, cc_circuit_plan_text)
 * against the bundled fixture model: all of the compiler short of the
 * matrix products. A refused file gets a message naming it. */
#include <stdlib.h>

#include "circuitc/circuit.h"
#include "harness.h"

#define LABEL "fuzz.circuit"

/* The bundled model, loaded once (planning needs its weights' shapes). */
static const cc_model *bundled_model(void)
{
    static cc_model *model;
    cc_error err;
    if (!model) {
        char *path = NULL;
        fuzz_require(cc_default_model_path(&path, &err) == 0 && cc_model_load(path, NULL, false, &model, &err) == 0,
                     "cannot load the bundled model: %s", err.msg);
        free(path);
    }
    return model;
}

/* Binds parameter i to layer min(i, L-1), head i mod H: layers ascend, so
 * constraints such as layer(prev) < layer(ind) can hold. */
static void plan(const cc_circuit *c)
{
    const cc_model *m = bundled_model();
    const char *names[CC_CIRCUIT_MAX_PARAMS];
    cc_head heads[CC_CIRCUIT_MAX_PARAMS];
    int n = cc_circuit_n_params(c);
    fuzz_require(n >= 0 && n <= CC_CIRCUIT_MAX_PARAMS, "%d parameters", n);
    for (int i = 0; i < n; i++) {
        names[i] = cc_circuit_param(c, i);
        heads[i] = (cc_head){i < cc_model_config(m)->n_layers ? i : cc_model_config(m)->n_layers - 1, i % cc_model_config(m)->n_heads};
    }
    cc_circuit_plan p;
    cc_error err;
    if (cc_circuit_plan_make(c, m, names, heads, n, CC_ORDER_OPTIMAL, CC_ORDER_OPTIMAL, &p, &err) != 0) return;
    fuzz_require(p.n_terms == cc_circuit_n_terms(c), "the plan has %d terms, the circuit %d", p.n_terms,
                 cc_circuit_n_terms(c));
    char *text = cc_circuit_plan_text(c, &p, names, heads, n);
    fuzz_require(text != NULL, "no plan text");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    cc_circuit *c;
    cc_error err;
    if (cc_circuit_parse(text, LABEL, &c, &err) != 0) {
        fuzz_require_error_names(&err, LABEL);
    } else {
        int n_terms = cc_circuit_n_terms(c);
        fuzz_require(n_terms >= 1 && n_terms <= CC_CIRCUIT_MAX_TERMS, "%d terms", n_terms);
        fuzz_require(cc_circuit_name(c) && cc_circuit_description(c) && cc_circuit_rows(c) && cc_circuit_cols(c) &&
                         cc_circuit_chain_text(c),
                     "a NULL accessor string");
        for (int i = 0; i < cc_circuit_n_constraints(c); i++)
            fuzz_require(cc_circuit_constraint_text(c, i) != NULL, "constraint %d has no text", i);
        plan(c);
        cc_circuit_free(c);
    }
    free(text);
    return 0;
}
