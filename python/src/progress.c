/* progress.c — the library's progress callbacks into Python: a tqdm bar (or
 * any callable (done, total)) and Ctrl-C. The callback runs in the computing
 * thread with the GIL released, so it takes the GIL for its call. */
#include "binding.h"

/* Whether the work should stop: a callback raised, or Ctrl-C was pressed
 * (Python's handler only records SIGINT; PyErr_CheckSignals raises it, in the
 * main thread). */
static bool report(progress_bridge *p, long done, long total)
{
    if (p->exc_type) return true;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = NULL;
    if (PyErr_CheckSignals() == 0 && p->callback) r = PyObject_CallFunction(p->callback, "ll", done, total);
    else if (!PyErr_Occurred()) r = Py_NewRef(Py_None);
    if (!r) PyErr_Fetch(&p->exc_type, &p->exc_value, &p->exc_tb);
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return p->exc_type != NULL;
}

/* A stop request (a callback raised, or Ctrl-C) cancels: the library stops at
 * its next report with CC_E_CANCELLED, and progress_bridge_finish raises the
 * Python exception in its place. */
int progress_bridge_call(void *ctx, long done, long total)
{
    return report(ctx, done, total) ? 1 : 0;
}

int progress_bridge_finish(progress_bridge *p)
{
    if (!p->exc_type) return 0;
    PyErr_Restore(p->exc_type, p->exc_value, p->exc_tb);
    p->exc_type = p->exc_value = p->exc_tb = NULL;
    return -1;
}

PyObject *progress_bridge_result(progress_bridge *p, int rc, const cc_error *err, json_t *j)
{
    if (progress_bridge_finish(p) != 0 || rc != 0) {
        json_decref(j);
        return PyErr_Occurred() ? NULL : raise_cc_error(err, false);
    }
    return json_text(j);
}
