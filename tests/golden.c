/* golden.c — reading the TransformerLens golden files in tests. */
#include "golden.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

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
