/* model_checks.c — the model-level commands: `info` (a model's facts, read
 * from its header: cc_model_info_json) and `validate PREV IND` (weight-only
 * predictions against forward-pass evidence: cc_validate). As in analyses.c:
 * the library's one call with the GIL released, its JSON as text. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "circuitc/validate.h"

/* MODEL, or when it is None the default model's path (cc_default_model_path): a new reference. */
static PyObject *model_or_default(PyObject *model)
{
    if (model != Py_None) return Py_NewRef(model);
    char *path = NULL;
    cc_error err = {0};
    if (cc_default_model_path(&path, &err) != 0) return raise_cc_error(&err, false);
    PyObject *s = PyUnicode_DecodeFSDefault(path);
    free(path);
    return s;
}

/* info(model=None, checksum=False): MODEL a Model, or a path opened for this call alone (no
 * weights read), None: the default model */
PyObject *py_info(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "checksum", NULL};
    PyObject *model_arg = Py_None;
    int checksum = 0, processed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Op:info", kwlist, &model_arg, &checksum)) return NULL;
    PyObject *model = model_or_default(model_arg);
    if (!model) return NULL;
    cc_model *owned, *m = circuit_model(model, 0, &owned, &processed);
    Py_DECREF(model);
    if (!m) return NULL;
    char sha[65];
    cc_error err = {0};
    int rc = 0;
    if (checksum) {
        COMPUTE_BEGIN
        rc = cc_model_sha256(m, sha, &err);
        COMPUTE_END
    }
    json_t *j = rc == 0 ? cc_model_info_json(m, checksum ? sha : NULL) : NULL;
    cc_model_free(owned);
    if (rc != 0) return raise_cc_error(&err, false);
    return json_text(j);
}

/* validate(model, prev, ind, seq_len, batch, seed, mode="mean", golden=None, progress=None) */
PyObject *py_validate(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "prev", "ind", "seq_len", "batch", "seed", "mode", "golden", "progress", NULL};
    ModelObject *model;
    PyObject *prev_arg, *ind_arg, *progress = NULL;
    const char *mode = "mean";
    cc_validate_options o;
    cc_validate_defaults(&o);
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OOiiK|szO:validate", kwlist, &Model_Type, &model, &prev_arg, &ind_arg,
                                     &o.seq_len, &o.batch, &seed, &mode, &o.golden_dir, &progress))
        return NULL;
    if (strcmp(mode, "mean") && strcmp(mode, "zero"))
        return PyErr_Format(PyExc_ValueError, "mode must be \"mean\" or \"zero\", not \"%s\"", mode);
    o.ablate = !strcmp(mode, "zero") ? CC_ABLATE_ZERO : CC_ABLATE_MEAN;
    o.seed = seed;
    cc_head prev, ind;
    if (parse_head(model->m, prev_arg, &prev) != 0 || parse_head(model->m, ind_arg, &ind) != 0) return NULL;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_validation v;
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_validate(model->m, prev, ind, &o, &v, &err);
    COMPUTE_END
    if (progress_bridge_finish(&p) != 0) return NULL;
    if (rc != 0) return raise_cc_error(&err, false);
    return json_text(cc_validation_json(&v, prev, ind));
}
