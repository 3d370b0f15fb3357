/* run.c — the forward pass from Python: run_with_cache's activations as numpy
 * views of the library's own result buffers (no copy; the arrays' base owns
 * the cc_fwd_result), and run_with_hooks' Python hooks through the pass's
 * edit callback (cc_hook_fn), each handed a writable view of the live
 * activation for the duration of its call. */
#include <stdlib.h>

#include "binding.h"
#include "circuitc/forward.h"

#define N_SLOTS (CC_HOOK_COUNT * CC_FWD_MAX_LAYERS)
#define SLOT(k, layer) ((size_t)(k) * CC_FWD_MAX_LAYERS + (size_t)((layer) < 0 ? 0 : (layer)))

typedef struct {
    PyObject *fn[N_SLOTS];                   /* borrowed from the hooks dict */
    PyObject *exc_type, *exc_value, *exc_tb; /* what a hook raised */
} hook_table;

/* cc_hook_fn: calls the Python hook of (KIND, LAYER), if any, with the GIL held. */
static int call_hook(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *shape, cc_error *err)
{
    hook_table *t = ctx;
    PyObject *fn = t->fn[SLOT(kind, layer)];
    if (!fn) return 0;
    char name[64];
    cc_hook_name(kind, layer, name, sizeof name);
    PyGILState_STATE gil = PyGILState_Ensure();
    npy_intp dims[4];
    for (int i = 0; i < shape->ndim; i++) dims[i] = shape->dim[i];
    PyObject *view = PyArray_SimpleNewFromData(shape->ndim, dims, NPY_FLOAT32, act);
    PyObject *ret = view ? PyObject_CallOneArg(fn, view) : NULL;
    int rc = 0;
    if (!ret) {
        PyErr_Fetch(&t->exc_type, &t->exc_value, &t->exc_tb);
        rc = cc_fail(err, "the hook on %s raised an exception", name);
    } else if (Py_REFCNT(view) > 1) {
        /* the activation's memory is the pass's own: a view kept past the call would dangle */
        rc = cc_fail(err, "the hook on %s kept a reference to its activation, whose memory the forward pass reuses; "
                          "keep a copy instead (act.copy())", name);
    }
    Py_XDECREF(ret);
    Py_XDECREF(view);
    PyGILState_Release(gil);
    return rc;
}

/* Parses hook name NAME (a str) against M into (K, LAYER); an ArgumentError when it is not one of M's hooks. */
static int parse_hook(const cc_model *m, PyObject *name, cc_hook_kind *k, int *layer)
{
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "hook names are str");
        return -1;
    }
    cc_error err = {0};
    if (cc_hook_parse(s, cc_model_config(m), k, layer, &err) != 0) return raise_cc_error(&err, true), -1;
    if (*layer >= CC_FWD_MAX_LAYERS) {
        cc_fail(&err, "%s: hooks are kept for the first %d layers only", s, CC_FWD_MAX_LAYERS);
        return raise_cc_error(&err, true), -1;
    }
    return 0;
}

static void fwd_result_destroy(void *arg)
{
    cc_fwd_result_free(arg);
    free(arg);
}

/* {name: view} of every cached activation of RES (owned by OWNER), NAMES' order. */
static PyObject *cache_dict(const cc_model *m, PyObject *owner, const cc_fwd_result *res, PyObject *names)
{
    PyObject *out = PyDict_New();
    Py_ssize_t n = names ? PyList_GET_SIZE(names) : 0;
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *name = PyList_GET_ITEM(names, i);
        cc_hook_kind k;
        int layer;
        if (parse_hook(m, name, &k, &layer) != 0) return Py_DECREF(out), NULL;
        cc_act_shape shape = cc_hook_shape(cc_model_config(m), k, res->batch, res->pos);
        npy_intp dims[4];
        for (int d = 0; d < shape.ndim; d++) dims[d] = shape.dim[d];
        PyObject *arr = view_of(owner, cc_fwd_act(res, k, layer < 0 ? 0 : layer), shape.ndim, dims, NPY_FLOAT32, false);
        if (!arr || PyDict_SetItem(out, name, arr) != 0) Py_CLEAR(out);
        Py_XDECREF(arr);
    }
    return out;
}

/* run(model, tokens [B, T] int32, cache=[names], hooks={name: fn}) -> {name: array}.
 * The package asks for "logits" in CACHE when it wants them. */
PyObject *py_run(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "tokens", "cache", "hooks", NULL};
    ModelObject *model;
    PyObject *tokens_obj, *names = NULL, *hooks = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O|O!O!:run", kwlist, &Model_Type, &model, &tokens_obj, &PyList_Type,
                                     &names, &PyDict_Type, &hooks))
        return NULL;
    const cc_model *m = model->m;
    PyArrayObject *tokens = (PyArrayObject *)PyArray_FROM_OTF(tokens_obj, NPY_INT, NPY_ARRAY_IN_ARRAY);
    if (!tokens) return NULL;
    if (PyArray_NDIM(tokens) != 2) {
        Py_DECREF(tokens);
        return PyErr_Format(PyExc_ValueError, "tokens must be [batch, pos]");
    }
    cc_fwd_opts opts = {.kernel = CC_KERNEL_FAST};
    hook_table *table = calloc(1, sizeof *table);
    cc_fwd_result *res = calloc(1, sizeof *res);
    int ok = table && res;
    for (Py_ssize_t i = 0; ok && names && i < PyList_GET_SIZE(names); i++) {
        cc_hook_kind k;
        int layer;
        ok = parse_hook(m, PyList_GET_ITEM(names, i), &k, &layer) == 0;
        if (ok) cc_fwd_want(&opts, k, layer);
    }
    Py_ssize_t pos = 0;
    PyObject *name, *fn;
    while (ok && hooks && PyDict_Next(hooks, &pos, &name, &fn)) {
        cc_hook_kind k;
        int layer;
        ok = parse_hook(m, name, &k, &layer) == 0;
        if (ok) table->fn[SLOT(k, layer)] = fn, opts.hook = call_hook, opts.hook_ctx = table;
    }
    if (!ok) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        free(table), free(res), Py_DECREF(tokens);
        return NULL;
    }
    cc_error err = {0};
    int rc, batch = (int)PyArray_DIM(tokens, 0), T = (int)PyArray_DIM(tokens, 1);
    const int *ids = PyArray_DATA(tokens);
    COMPUTE_BEGIN
    rc = cc_forward(m, ids, batch, T, &opts, res, &err);
    COMPUTE_END
    Py_DECREF(tokens);
    PyObject *owner = NULL, *out = NULL;
    if (rc != 0) {
        fwd_result_destroy(res);
        if (table->exc_type) PyErr_Restore(table->exc_type, table->exc_value, table->exc_tb);
        else raise_cc_error(&err, false);
    } else if ((owner = buffers_new(fwd_result_destroy, res))) {
        out = cache_dict(m, owner, res, names);
    }
    free(table);
    Py_XDECREF(owner);
    return out;
}

/* hook_names(model) -> [names]: every hook the model has, in the order the pass reaches them. */
PyObject *py_hook_names(PyObject *self, PyObject *args)
{
    (void)self;
    ModelObject *model;
    if (!PyArg_ParseTuple(args, "O!:hook_names", &Model_Type, &model)) return NULL;
    const cc_config *c = cc_model_config(model->m);
    PyObject *out = PyList_New(0);
    char buf[64];
    /* layer-less hooks before the blocks (embed, pos_embed), the blocks, then ln_final and logits */
    for (int stage = 0; out && stage < 3; stage++)
        for (int layer = 0; out && layer < (stage == 1 ? c->n_layers : 1); layer++)
            for (int k = 0; out && k < CC_HOOK_COUNT; k++) {
                bool per_layer = cc_hook_per_layer((cc_hook_kind)k);
                bool here = stage == 1 ? per_layer : !per_layer && ((k < CC_HOOK_RESID_PRE) == (stage == 0));
                if (!here || !cc_hook_available(c, (cc_hook_kind)k)) continue;
                PyObject *s = PyUnicode_FromString(cc_hook_name((cc_hook_kind)k, stage == 1 ? layer : -1, buf, sizeof buf));
                if (!s || PyList_Append(out, s) != 0) Py_CLEAR(out);
                Py_XDECREF(s);
            }
    return out;
}
