/* model.c — the Model object: a cc_model loaded whole (cc_model_load), its
 * configuration as a dict of TransformerLens' HookedTransformerConfig names,
 * and its weights as read-only numpy views whose base is the Model. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "circuitc/process.h"

static int Model_init(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "process", "config", NULL};
    const char *path = NULL, *config = NULL;
    int process = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zpz:Model", names, &path, &process, &config)) return -1;
    if (self->m) return PyErr_SetString(PyExc_RuntimeError, "Model is already loaded"), -1;
    if (numpy_api() != 0) return -1; /* every function taking a Model may make arrays */
    cc_error err = {0};
    char *default_path = NULL;
    int rc;
    COMPUTE_BEGIN
    rc = path ? 0 : cc_default_model_path(&default_path, &err);
    if (rc == 0) rc = cc_model_load(path ? path : default_path, config, process, &self->m, &err);
    COMPUTE_END
    free(default_path);
    if (rc != 0) {
        cc_model_free(self->m);
        self->m = NULL;
        raise_cc_error(&err, false);
        return -1;
    }
    return 0;
}

static void Model_dealloc(ModelObject *self)
{
    cc_model_free(self->m);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool check_loaded(ModelObject *self)
{
    if (self->m) return true;
    PyErr_SetString(PyExc_RuntimeError, "the Model was not loaded (its __init__ failed or was not called)");
    return false;
}

/* ---- configuration ---------------------------------------------------------- */

static const char *act_name(cc_act_kind a)
{
    static const char *const names[] = {"gelu_new", "gelu", "silu", "relu"};
    return (unsigned)a < sizeof names / sizeof *names ? names[a] : "?";
}

/* TransformerLens' normalization_type: LNPre / RMSPre once the weights are folded. */
static const char *norm_name(const cc_model *m)
{
    bool folded = cc_model_processed(m) || cc_model_config(m)->norm_folded;
    if (cc_model_config(m)->norm == CC_NORM_RMS) return folded ? "RMSPre" : "RMS";
    return folded ? "LNPre" : "LN";
}

static const char *pos_name(cc_pos_kind p)
{
    return p == CC_POS_ROTARY ? "rotary" : p == CC_POS_SHORTFORMER ? "shortformer" : "standard";
}

/* The config as {TL name: value}; the package wraps it in circuitc.Config. */
static PyObject *Model_cfg(ModelObject *self, void *closure)
{
    (void)closure;
    if (!check_loaded(self)) return NULL;
    const cc_config *c = cc_model_config(self->m);
    PyObject *local = PyList_New(0);
    for (int l = 0; local && l < c->n_layers; l++) {
        PyObject *t = PyUnicode_FromString(cc_config_layer_is_local(c, l) ? "local" : "global");
        if (!t || PyList_Append(local, t) != 0) Py_CLEAR(local);
        Py_XDECREF(t);
    }
    if (!local) return NULL;
    const char *steps[4];
    int n_steps = cc_model_processed(self->m) ? cc_processing_steps(c, steps) : 0;
    PyObject *processing = PyTuple_New(n_steps);
    for (int i = 0; processing && i < n_steps; i++) PyTuple_SET_ITEM(processing, i, PyUnicode_FromString(steps[i]));
    if (!processing) return Py_DECREF(local), NULL;
    return Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:d,s:i,s:s,s:i,s:s,s:s,s:i,s:d,s:O,s:O,s:O,s:O,s:O,s:s,s:O,s:N,s:O,s:s,s:N}",
        "n_layers", c->n_layers, "d_model", c->d_model, "n_heads", c->n_heads, "d_head", c->d_head, "d_mlp", c->d_mlp,
        "d_vocab", c->d_vocab, "n_ctx", c->n_ctx, "eps", c->ln_eps, "bos_token_id", c->bos_token_id,
        "family", cc_family_name(c->family), "n_key_value_heads", cc_config_kv_heads(c),
        "normalization_type", norm_name(self->m), "positional_embedding_type", pos_name(c->pos),
        "rotary_dim", c->pos == CC_POS_ROTARY ? c->rotary_dim : 0, "rotary_base", c->rotary_base,
        "rotary_adjacent_pairs", c->rotary_adjacent ? Py_True : Py_False,
        "use_attn_scale", c->attn_unscaled ? Py_False : Py_True, "parallel_attn_mlp", c->parallel ? Py_True : Py_False,
        "attn_only", c->attn_only ? Py_True : Py_False, "gated_mlp", c->gated ? Py_True : Py_False,
        "act_fn", act_name(c->act), "tied_embeddings", c->tied ? Py_True : Py_False, "attn_types", local,
        "processed", cc_model_processed(self->m) ? Py_True : Py_False, "model_path", cc_model_path(self->m),
        "processing", processing);
}

static PyObject *Model_path(ModelObject *self, void *closure)
{
    (void)closure;
    return check_loaded(self) ? PyUnicode_FromString(cc_model_path(self->m)) : NULL;
}

/* ---- weights ------------------------------------------------------------------ */

/* The letters of a weight's shape: L n_layers, H n_heads, d d_model, h d_head,
 * m d_mlp, V d_vocab, C n_ctx (cc_weights' shape comments). */
typedef struct {
    const char *name;
    size_t offset; /* of the float * in cc_weights */
    const char *shape;
} weight_spec;

#define W(field, shape) {#field, offsetof(cc_weights, field), shape}
static const weight_spec WEIGHTS[] = {
    W(W_E, "Vd"), W(W_pos, "Cd"), W(W_Q, "LHdh"), W(W_K, "LHdh"), W(W_V, "LHdh"), W(W_O, "LHhd"),
    W(b_Q, "LHh"), W(b_K, "LHh"), W(b_V, "LHh"), W(b_O, "Ld"), W(W_in, "Ldm"), W(W_gate, "Ldm"), W(b_in, "Lm"),
    W(W_out, "Lmd"), W(b_out, "Ld"), W(W_U, "dV"), W(b_U, "V"), W(ln1_w, "Ld"), W(ln1_b, "Ld"), W(ln2_w, "Ld"),
    W(ln2_b, "Ld"), W(lnf_w, "d"), W(lnf_b, "d"),
};
#undef W

static npy_intp dim_of(const cc_config *c, char letter)
{
    switch (letter) {
    case 'L': return c->n_layers;
    case 'H': return c->n_heads;
    case 'd': return c->d_model;
    case 'h': return c->d_head;
    case 'm': return c->d_mlp;
    case 'V': return c->d_vocab;
    default: return c->n_ctx; /* 'C' */
    }
}

/* The entry of weight NAME (a str), or NULL with KeyError (or the str error) set. */
static const weight_spec *find_weight(PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    if (!s) return NULL;
    for (size_t i = 0; i < sizeof WEIGHTS / sizeof *WEIGHTS; i++)
        if (strcmp(WEIGHTS[i].name, s) == 0) return &WEIGHTS[i];
    PyErr_Format(PyExc_KeyError, "%s is not a weight name", s);
    return NULL;
}

static float *weight_data(ModelObject *self, const weight_spec *w)
{
    return *(float *const *)((const char *)cc_model_weights(self->m) + w->offset);
}

static PyObject *Model_weight(ModelObject *self, PyObject *name)
{
    const weight_spec *w = check_loaded(self) ? find_weight(name) : NULL;
    if (!w) return NULL;
    float *data = weight_data(self, w);
    if (!data) Py_RETURN_NONE; /* the family or the processing has none (model.h) */
    npy_intp dims[4];
    int ndim = (int)strlen(w->shape);
    for (int k = 0; k < ndim; k++) dims[k] = dim_of(cc_model_config(self->m), w->shape[k]);
    return view_of((PyObject *)self, data, ndim, dims, NPY_FLOAT32, false);
}

/* The address of weight NAME's C array (0 when absent): the tests check that views alias it. */
static PyObject *Model_weight_address(ModelObject *self, PyObject *name)
{
    const weight_spec *w = check_loaded(self) ? find_weight(name) : NULL;
    return w ? PyLong_FromVoidPtr(weight_data(self, w)) : NULL;
}

static PyObject *Model_weight_names(ModelObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    size_t n = sizeof WEIGHTS / sizeof *WEIGHTS;
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t && i < n; i++) PyTuple_SET_ITEM(t, (Py_ssize_t)i, PyUnicode_FromString(WEIGHTS[i].name));
    return t;
}

static PyMethodDef Model_methods[] = {
    {"weight", (PyCFunction)Model_weight, METH_O, "weight(name): a read-only view, or None when the model has none"},
    {"_weight_address", (PyCFunction)Model_weight_address, METH_O, "the address of a weight's C array (for checks)"},
    {"weight_names", (PyCFunction)Model_weight_names, METH_NOARGS, "the names weight() accepts"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Model_getset[] = {
    {"raw_cfg", (getter)Model_cfg, NULL, "the configuration as {TransformerLens name: value} (circuitc.Config wraps it)", NULL},
    {"path", (getter)Model_path, NULL, "the path the model was loaded from", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Model_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "circuitc._circuitc.Model",
    .tp_doc = "Model(path=None, process=True, config=None): a model loaded whole (use circuitc.load)",
    .tp_basicsize = sizeof(ModelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
};
