/* atlas.c — `circuitc atlas`: a two-head circuit's exact top-1/top-5 accuracy
 * for every earlier -> later head pair (cc_atlas_report_run). As in
 * analyses.c: the library's one call with the GIL released, its result as the
 * library's JSON text. */
#include "binding.h"
#include "circuitc/atlas_report.h"

/* atlas(model, circuit="kcomp", min_acc=0.01, top=10, threads=0, process=True, progress=None): MODEL a
 * Model, or a model path opened for this call alone (W_E and the heads read, processed when PROCESS) */
PyObject *py_atlas(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "circuit", "min_acc", "top", "threads", "process", "progress", NULL};
    PyObject *model_arg, *progress = NULL;
    cc_atlas_report_options o;
    cc_atlas_report_defaults(&o);
    int process = 1, processed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|sdiipO:atlas", kwlist, &model_arg, &o.circuit, &o.min_acc, &o.top,
                                     &o.threads, &process, &progress))
        return NULL;
    /* --top's range (the package checks min_acc's and threads') */
    if (o.top < 1 || o.top > 1000000) return PyErr_Format(PyExc_ValueError, "top is %d; give 1 to 1000000", o.top);
    cc_model *owned, *m = circuit_model(model_arg, process, &owned, &processed);
    if (!m) return NULL;
    o.process = processed;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_atlas_report r = {0};
    cc_error err = {0};
    json_t *j = NULL;
    int rc;
    COMPUTE_BEGIN
    rc = cc_atlas_report_run(m, &o, &r, &err);
    if (rc == 0 && !(j = cc_atlas_report_json(&r))) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    COMPUTE_END
    cc_atlas_report_free(&r);
    cc_model_free(owned);
    return progress_bridge_result(&p, rc, &err, j);
}
