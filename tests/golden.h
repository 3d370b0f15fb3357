/* golden.h — reading the TransformerLens golden files (golden/FORMAT.md) in tests. */
#ifndef CIRCUITC_TEST_GOLDEN_H
#define CIRCUITC_TEST_GOLDEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Path of golden/<rel> in the source tree ($CIRCUITC_SOURCE_ROOT). Caller frees. */
char *golden_path(const char *rel);

/* Loads golden/out/<model>/<file> (a JSON file); fails the test if absent or invalid. */
json_t *golden_load(const char *model, const char *file);

/* A tensor {"shape": [...], "data": [...]} as float32 (or double) values.
 * Fails the test if malformed or if data length != product(shape). Caller frees. */
typedef struct {
    int ndim;
    long long shape[8];
    size_t n;
    double *data;
} golden_tensor;
golden_tensor golden_get_tensor(json_t *obj, const char *key);
golden_tensor golden_as_tensor(json_t *t, const char *what);
void golden_tensor_free(golden_tensor *t);

/* Writes the GPT-2-small-shaped random model (docs/synthetic-models.md, preset
 * gpt2-small, seed 0) into a new temporary folder, checks that its bytes hash to
 * the SHA-256 recorded in golden/out/gpt2-small-random/provenance.json (the very
 * file TransformerLens loaded), and returns it loaded and processed. *DIR gets
 * the folder: remove it with tu_rmtree, then free it. */
#include "circuitc/model.h"
cc_model *golden_gpt2_small_random(char **dir);

/* The bundled fixture model (golden/models/induction-3l4h), processed or not. */
cc_model *golden_fixture(bool process);

/* Number at KEY (integer or real); fails the test if missing. */
double golden_number(json_t *obj, const char *key);

/* A class of golden/tolerances.json, the one tolerance table that golden/generate
 * --check uses too: a value passes when |got - want| <= golden_allowed(t, ref). */
typedef struct {
    const char *name;
    double abs, rel;
} golden_tol;

/* Class NAME; fails the test if it is absent or if its "relative_to" is not
 * RELATIVE_TO (what the caller will pass as ref: "value" = |want|, "list_max",
 * "max_modulus", "tensor_max"; see golden/FORMAT.md). */
golden_tol golden_tolerance(const char *name, const char *relative_to);

/* max(t.abs, t.rel * ref). */
double golden_allowed(golden_tol t, double ref);

/* |got - want| <= golden_allowed(t, |want|), for classes relative to the value. */
int golden_near(golden_tol t, double got, double want);

#endif
