/* module.c — circuitc._circuitc: module set-up, the error hand-off to the
 * package's error table, numpy views over library memory and the owner object
 * of library-allocated results. */
#define CIRCUITC_PY_MODULE_MAIN
#include "binding.h"

#include <stdlib.h>

/* circuitc._errors.error_for(message, argument_hint, code) -> exception instance,
 * registered by the package at import (_set_error_factory). */
static PyObject *error_factory;

static PyObject *py_set_error_factory(PyObject *self, PyObject *fn)
{
    (void)self;
    if (!PyCallable_Check(fn)) return PyErr_Format(PyExc_TypeError, "the error factory must be callable");
    Py_XSETREF(error_factory, Py_NewRef(fn));
    Py_RETURN_NONE;
}

PyObject *raise_cc_error(const cc_error *err, bool argument_hint)
{
    const char *msg = err->msg[0] ? err->msg : "circuitc: failed without a message";
    if (!error_factory) {
        PyErr_SetString(PyExc_RuntimeError, msg);
        return NULL;
    }
    PyObject *exc = PyObject_CallFunction(error_factory, "sOs", msg, argument_hint ? Py_True : Py_False,
                                          cc_error_code_name(err->code));
    if (exc) PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_XDECREF(exc);
    return NULL;
}

int numpy_api(void) { return PyArray_ImportNumPyAPI(); }

PyObject *view_of(PyObject *owner, void *data, int ndim, const npy_intp *dims, int type, bool writeable)
{
    if (numpy_api() != 0) return NULL;
    PyObject *arr = PyArray_SimpleNewFromData(ndim, (npy_intp *)dims, type, data);
    if (!arr) return NULL;
    if (!writeable) PyArray_CLEARFLAGS((PyArrayObject *)arr, NPY_ARRAY_WRITEABLE);
    if (PyArray_SetBaseObject((PyArrayObject *)arr, Py_NewRef(owner)) != 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

PyObject *json_text(json_t *j)
{
    if (!j) return PyErr_NoMemory();
    /* full precision (17 significant digits): the CLI prints the same values to 9 */
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s) return PyErr_NoMemory();
    PyObject *text = PyUnicode_FromString(s);
    free(s);
    return text;
}

/* ---- one library call at a time (binding.h, CAPI-THREADS) ---------------- */

static PyThread_type_lock compute_lock;
static _Atomic unsigned long compute_owner; /* thread ident holding the lock, 0: none */
static int compute_depth;                   /* nested calls of the owner (from its hooks) */

void compute_enter(void)
{
    unsigned long me = PyThread_get_thread_ident();
    if (compute_owner != me) {
        PyThread_acquire_lock(compute_lock, WAIT_LOCK);
        compute_owner = me;
    }
    compute_depth++;
}

void compute_leave(void)
{
    if (--compute_depth == 0) {
        compute_owner = 0;
        PyThread_release_lock(compute_lock);
    }
}

/* ---- Buffers: owns a library result while numpy arrays view it ---------- */

typedef struct {
    PyObject_HEAD
    void (*free_fn)(void *arg);
    void *arg;
} BuffersObject;

static void Buffers_dealloc(BuffersObject *self)
{
    if (self->free_fn) self->free_fn(self->arg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject Buffers_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "circuitc._circuitc.Buffers",
    .tp_doc = "Owner of memory the C library allocated; numpy arrays over it hold it as their base.",
    .tp_basicsize = sizeof(BuffersObject),
    .tp_dealloc = (destructor)Buffers_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

PyObject *buffers_new(void (*free_fn)(void *arg), void *arg)
{
    BuffersObject *b = PyObject_New(BuffersObject, &Buffers_Type);
    if (!b) {
        free_fn(arg);
        return NULL;
    }
    b->free_fn = free_fn;
    b->arg = arg;
    return (PyObject *)b;
}

/* ---- the module ----------------------------------------------------------- */

#define KW (PyCFunction)(void (*)(void))
static PyMethodDef methods[] = {
    {"_set_error_factory", py_set_error_factory, METH_O, "error_factory(message, argument_hint) -> exception"},
    {"run", KW py_run, METH_VARARGS | METH_KEYWORDS, "forward pass: (logits, {hook name: array})"},
    {"hook_names", py_hook_names, METH_VARARGS, "every hook name a model has, in forward order"},
    {"circuit", KW py_circuit, METH_VARARGS | METH_KEYWORDS, "kcomp/qcomp/vcomp/ov/qk: JSON text"},
    {"comp_scores", KW py_comp_scores, METH_VARARGS | METH_KEYWORDS, "comp-scores: JSON text"},
    {"discover", KW py_discover, METH_VARARGS | METH_KEYWORDS, "discover: JSON text"},
    {"repeat", KW py_repeat, METH_VARARGS | METH_KEYWORDS, "repeat: JSON text"},
    {"heads", KW py_heads, METH_VARARGS | METH_KEYWORDS, "heads: JSON text"},
    {"pattern", KW py_pattern, METH_VARARGS | METH_KEYWORDS, "pattern on repeated tokens: JSON text"},
    {"ablate", KW py_ablate, METH_VARARGS | METH_KEYWORDS, "ablate: JSON text"},
    {"compile", KW py_compile, METH_VARARGS | METH_KEYWORDS, "compile a circuit file: JSON text"},
    {"patch_sweep", KW py_patch_sweep, METH_VARARGS | METH_KEYWORDS, "patch mlp_out on repeated tokens: JSON text"},
    {"repeated_tokens", KW py_repeated_tokens, METH_VARARGS | METH_KEYWORDS, "the repeated-token input [BOS, A, A]"},
    {"patch_pair", KW py_patch_pair, METH_VARARGS | METH_KEYWORDS, "patch HOOK on a prompt pair: JSON text"},
    {"path_patch", KW py_path_patch, METH_VARARGS | METH_KEYWORDS, "path-patch on a prompt pair: JSON text"},
    {"eap", KW py_eap, METH_VARARGS | METH_KEYWORDS, "eap on a batch of prompt pairs: JSON text"},
    {"prompt_analysis", KW py_prompt_analysis, METH_VARARGS | METH_KEYWORDS, "dla, lens, run, pattern on a prompt: JSON text"},
    {"attribute", KW py_attribute, METH_VARARGS | METH_KEYWORDS, "attribute HOOK (pair or mlp_out sweep): JSON text"},
    {"atlas", KW py_atlas, METH_VARARGS | METH_KEYWORDS, "atlas: every earlier -> later head pair, JSON text"},
    {"info", KW py_info, METH_VARARGS | METH_KEYWORDS, "info: a model's facts, JSON text"},
    {"validate", KW py_validate, METH_VARARGS | METH_KEYWORDS, "validate PREV IND: JSON text"},
    {"tokens", KW py_tokens, METH_VARARGS | METH_KEYWORDS, "a prompt's token ids as the CLI builds them"},
    {"token_texts", KW py_token_texts, METH_VARARGS | METH_KEYWORDS, "each id's text as to_str_tokens shows it"},
    {"decode", KW py_decode, METH_VARARGS | METH_KEYWORDS, "ids decoded to one string"},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *mod)
{
    if (PyType_Ready(&Model_Type) < 0 || PyType_Ready(&Buffers_Type) < 0 || PyType_Ready(&Factored_Type) < 0) return -1;
    /* numpy defers X @ M to FactoredMatrix's own @ (dense X on the left) */
    if (PyDict_SetItemString(Factored_Type.tp_dict, "__array_ufunc__", Py_None) < 0) return -1;
    PyType_Modified(&Factored_Type);
    if (PyModule_AddObjectRef(mod, "FactoredMatrix", (PyObject *)&Factored_Type) < 0) return -1;
    if (PyModule_AddObjectRef(mod, "Model", (PyObject *)&Model_Type) < 0) return -1;
    if (PyModule_AddObjectRef(mod, "Buffers", (PyObject *)&Buffers_Type) < 0) return -1;
    return 0;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "circuitc._circuitc",
    .m_doc = "The C side of the circuitc package (use the circuitc package, not this module).",
    .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__circuitc(void)
{
    if (!compute_lock && !(compute_lock = PyThread_allocate_lock())) return PyErr_NoMemory();
    PyObject *mod = PyModule_Create(&module);
    if (mod && module_exec(mod) < 0) Py_CLEAR(mod);
    return mod;
}
