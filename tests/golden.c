/* golden.c — reading the TransformerLens golden files in tests. */
#include "golden.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/sha256.h"
#include "circuitc/synth.h"
#include "testutil.h"

char *golden_path(const char *rel)
{
    const char *root = getenv("CIRCUITC_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "CIRCUITC_SOURCE_ROOT is not set (run through meson test)");
    char *p = NULL;
    ck_assert(asprintf(&p, "%s/golden/%s", root, rel) > 0);
    return p;
}

json_t *golden_load(const char *model, const char *file)
{
    char rel[1024];
    snprintf(rel, sizeof rel, "out/%s/%s", model, file);
    char *path = golden_path(rel);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    ck_assert_msg(j != NULL, "golden file %s: %s (line %d) — regenerate with golden/generate", path, jerr.text,
                  jerr.line);
    free(path);
    return j;
}

golden_tensor golden_as_tensor(json_t *t, const char *what)
{
    golden_tensor g = {0};
    json_t *shape = json_object_get(t, "shape"), *data = json_object_get(t, "data");
    ck_assert_msg(json_is_array(shape) && json_is_array(data), "golden tensor %s lacks shape/data", what);
    g.ndim = (int)json_array_size(shape);
    ck_assert(g.ndim <= 8);
    size_t n = 1;
    for (int i = 0; i < g.ndim; i++) {
        g.shape[i] = json_integer_value(json_array_get(shape, (size_t)i));
        n *= (size_t)g.shape[i];
    }
    ck_assert_msg(json_array_size(data) == n, "golden tensor %s: %zu values for %zu elements", what,
                  json_array_size(data), n);
    g.n = n;
    g.data = malloc((n ? n : 1) * sizeof *g.data);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(data, i);
        ck_assert_msg(json_is_number(v), "golden tensor %s: element %zu is not a number", what, i);
        g.data[i] = json_number_value(v);
    }
    return g;
}

golden_tensor golden_get_tensor(json_t *obj, const char *key)
{
    json_t *t = json_object_get(obj, key);
    ck_assert_msg(t != NULL, "golden: missing key \"%s\"", key);
    return golden_as_tensor(t, key);
}

void golden_tensor_free(golden_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

double golden_number(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_number(v), "golden: missing number \"%s\"", key);
    return json_number_value(v);
}

golden_tol golden_tolerance(const char *name, const char *relative_to)
{
    char *path = golden_path("tolerances.json");
    json_error_t jerr;
    json_t *table = json_load_file(path, 0, &jerr);
    ck_assert_msg(table != NULL, "%s: %s (line %d)", path, jerr.text, jerr.line);
    json_t *c = json_object_get(json_object_get(table, "classes"), name);
    ck_assert_msg(json_is_object(c), "%s: no tolerance class \"%s\" under \"classes\"", path, name);
    json_t *abs_v = json_object_get(c, "abs"), *rel_v = json_object_get(c, "rel");
    ck_assert_msg(json_is_number(abs_v) && json_is_number(rel_v), "%s: class \"%s\" needs numbers \"abs\" and \"rel\"",
                  path, name);
    const char *rel_to = json_string_value(json_object_get(c, "relative_to"));
    rel_to = rel_to ? rel_to : "value";
    ck_assert_msg(strcmp(rel_to, relative_to) == 0,
                  "%s: class \"%s\" is relative to \"%s\", but this test measures against \"%s\"", path, name, rel_to,
                  relative_to);
    golden_tol t = {name, json_number_value(abs_v), json_number_value(rel_v)};
    json_decref(table);
    free(path);
    return t;
}

double golden_allowed(golden_tol t, double ref)
{
    return fmax(t.abs, t.rel * ref);
}

int golden_near(golden_tol t, double got, double want)
{
    return fabs(got - want) <= golden_allowed(t, fabs(want));
}

cc_model *golden_fixture(bool process)
{
    char *dir = golden_path("models/induction-3l4h");
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, process, &m, &err) == 0, "%s", err.msg);
    free(dir);
    return m;
}

cc_model *golden_gpt2_small_random(char **dir)
{
    json_t *prov = golden_load("gpt2-small-random", "provenance.json");
    const char *want = json_string_value(json_object_get(json_object_get(prov, "model_files"), "model.safetensors"));
    ck_assert_ptr_nonnull(want);
    *dir = tu_tmpdir();
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("gpt2-small", &c, &err), 0);
    ck_assert_msg(cc_synth_write(&c, 0, NULL, *dir, &err) == 0, "%s", err.msg);
    char path[4096], sha[65];
    snprintf(path, sizeof path, "%s/model.safetensors", *dir);
    ck_assert_int_eq(cc_sha256_file(path, sha, &err), 0);
    ck_assert_str_eq(sha, want);
    json_decref(prov);
    cc_model *m;
    ck_assert_msg(cc_model_load(*dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}
