/* factored.c — circuitc.FactoredMatrix: a cc_fm (M = A B kept as its two
 * factors, circuitc/factored.h) with TransformerLens' FactoredMatrix
 * operations. The factors are read-only views (base: the object); AB, the
 * SVD and the eigenvalues are computed only when asked for. A compiled
 * circuit (compile, kcomp ...) hands its factors over without a copy. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "circuitc/factored.h"
#include "circuitc/topk.h"

typedef struct {
    PyObject_HEAD
    cc_fm fm;
} FactoredObject;

static void Factored_dealloc(FactoredObject *self)
{
    cc_fm_free(&self->fm);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyObject *factored_take(cc_fm *fm)
{
    FactoredObject *f = PyObject_New(FactoredObject, &Factored_Type);
    if (!f) return NULL;
    f->fm = *fm;
    memset(fm, 0, sizeof *fm); /* the object owns the buffers now */
    return (PyObject *)f;
}

/* A new uninitialised array (numpy_api: a FactoredMatrix may come from a circuit on a path, with no Model). */
static PyObject *new_array(int ndim, npy_intp *dims, int type)
{
    return numpy_api() == 0 ? PyArray_SimpleNew(ndim, dims, type) : NULL;
}

/* A float32 C-contiguous 2-D copy of OBJ (a new reference), or NULL. */
static PyArrayObject *matrix_arg(PyObject *obj, const char *what)
{
    if (numpy_api() != 0) return NULL;
    PyArrayObject *a = (PyArrayObject *)PyArray_FROM_OTF(obj, NPY_FLOAT32, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (a && PyArray_NDIM(a) != 2) {
        PyErr_Format(PyExc_ValueError, "%s must be a matrix (2-D), not %d-D", what, PyArray_NDIM(a));
        Py_CLEAR(a);
    }
    return a;
}

static PyObject *Factored_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"A", "B", NULL};
    PyObject *a_obj, *b_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:FactoredMatrix", kwlist, &a_obj, &b_obj)) return NULL;
    PyArrayObject *A = matrix_arg(a_obj, "A"), *B = A ? matrix_arg(b_obj, "B") : NULL;
    FactoredObject *self = NULL;
    if (A && B && PyArray_DIM(A, 1) != PyArray_DIM(B, 0))
        PyErr_Format(PyExc_ValueError, "A is [%zd, %zd] and B [%zd, %zd]: A's columns must be B's rows",
                     (Py_ssize_t)PyArray_DIM(A, 0), (Py_ssize_t)PyArray_DIM(A, 1), (Py_ssize_t)PyArray_DIM(B, 0),
                     (Py_ssize_t)PyArray_DIM(B, 1));
    else if (A && B && (self = (FactoredObject *)type->tp_alloc(type, 0))) {
        cc_error err = {0};
        if (cc_fm_create(PyArray_DATA(A), PyArray_DATA(B), (int)PyArray_DIM(A, 0), (int)PyArray_DIM(A, 1),
                         (int)PyArray_DIM(B, 1), &self->fm, &err) != 0) {
            Py_CLEAR(self);
            raise_cc_error(&err, true);
        }
    }
    Py_XDECREF(A);
    Py_XDECREF(B);
    return (PyObject *)self;
}

static PyObject *Factored_A(FactoredObject *self, void *closure)
{
    (void)closure;
    npy_intp dims[2] = {self->fm.l, self->fm.m};
    return view_of((PyObject *)self, self->fm.A, 2, dims, NPY_FLOAT32, false);
}

static PyObject *Factored_B(FactoredObject *self, void *closure)
{
    (void)closure;
    npy_intp dims[2] = {self->fm.m, self->fm.r};
    return view_of((PyObject *)self, self->fm.B, 2, dims, NPY_FLOAT32, false);
}

static PyObject *Factored_shape(FactoredObject *self, void *closure)
{
    (void)closure;
    return Py_BuildValue("(ii)", self->fm.l, self->fm.r);
}

/* AB [l, r], a new array: the dense matrix, formed only here. */
static PyObject *Factored_AB(FactoredObject *self, void *closure)
{
    (void)closure;
    npy_intp dims[2] = {self->fm.l, self->fm.r};
    PyObject *out = new_array(2, dims, NPY_FLOAT32);
    if (!out) return NULL;
    float *dst = PyArray_DATA((PyArrayObject *)out);
    COMPUTE_BEGIN
    cc_fm_AB(&self->fm, dst);
    COMPUTE_END
    return out;
}

static PyObject *Factored_BA(FactoredObject *self, void *closure)
{
    (void)closure;
    npy_intp dims[2] = {self->fm.m, self->fm.m};
    PyObject *out = new_array(2, dims, NPY_FLOAT32);
    if (!out) return NULL;
    float *dst = PyArray_DATA((PyArrayObject *)out);
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_fm_BA(&self->fm, dst, &err);
    COMPUTE_END
    if (rc != 0) {
        Py_CLEAR(out);
        raise_cc_error(&err, true);
    }
    return out;
}

static void svd_destroy(void *arg)
{
    cc_fm_svd_free(arg);
    free(arg);
}

/* (U [l, k], S [k], V [r, k]): M = U diag(S) V^T, S descending (TransformerLens' svd()). */
static PyObject *Factored_svd(FactoredObject *self, PyObject *unused)
{
    (void)unused;
    cc_fm_svd *s = calloc(1, sizeof *s);
    if (!s) return PyErr_NoMemory();
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_fm_svd_compute(&self->fm, s, &err);
    COMPUTE_END
    if (rc != 0) return svd_destroy(s), raise_cc_error(&err, false);
    PyObject *owner = buffers_new(svd_destroy, s);
    if (!owner) return NULL;
    npy_intp du[2] = {s->l, s->k}, ds[1] = {s->k}, dv[2] = {s->r, s->k};
    PyObject *out = Py_BuildValue("(NNN)", view_of(owner, s->U, 2, du, NPY_FLOAT32, false),
                                  view_of(owner, s->S, 1, ds, NPY_FLOAT32, false),
                                  view_of(owner, s->V, 2, dv, NPY_FLOAT32, false));
    Py_DECREF(owner);
    return out;
}

/* The eigenvalues of BA (M square), complex, as cc_fm_eigenvalues orders them. */
static PyObject *Factored_eigenvalues(FactoredObject *self, void *closure)
{
    (void)closure;
    int m = self->fm.m;
    double *re = malloc((size_t)(m ? m : 1) * sizeof *re), *im = malloc((size_t)(m ? m : 1) * sizeof *im);
    npy_intp dims[1] = {m};
    PyObject *out = re && im ? new_array(1, dims, NPY_COMPLEX128) : PyErr_NoMemory();
    cc_error err = {0};
    int rc = -1;
    if (out) {
        COMPUTE_BEGIN
        rc = cc_fm_eigenvalues(&self->fm, re, im, &err);
        COMPUTE_END
    }
    if (out && rc == 0) {
        double *dst = PyArray_DATA((PyArrayObject *)out); /* (re, im) pairs */
        for (int i = 0; i < m; i++) dst[2 * i] = re[i], dst[2 * i + 1] = im[i];
    } else if (out) {
        Py_CLEAR(out);
        raise_cc_error(&err, true);
    }
    free(re), free(im);
    return out;
}

static PyObject *Factored_norm(FactoredObject *self, PyObject *unused)
{
    (void)unused;
    return PyFloat_FromDouble(cc_fm_norm(&self->fm));
}

static PyObject *Factored_T(FactoredObject *self, void *closure)
{
    (void)closure;
    cc_fm t = {0};
    cc_error err = {0};
    if (cc_fm_transpose(&self->fm, &t, &err) != 0) return cc_fm_free(&t), raise_cc_error(&err, false);
    return factored_take(&t);
}

/* topk(k=5, columns=False, method="fast", ranks=False): exact top-k of the diagonal over rows (or columns). */
static PyObject *Factored_topk(FactoredObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"k", "columns", "method", "ranks", NULL};
    cc_topk_options o = {.k_max = 5};
    int columns = 0, ranks = 0;
    const char *method = "fast";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|ipsp:topk", kwlist, &o.k_max, &columns, &method, &ranks)) return NULL;
    o.columns = columns, o.ranks = ranks;
    o.method = !strcmp(method, "brute") ? CC_TOPK_BRUTE : CC_TOPK_FAST;
    cc_topk_result r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_topk_diagonal(&self->fm, &o, &r, &err);
    COMPUTE_END
    if (rc != 0) return raise_cc_error(&err, true);
    PyObject *correct = PyList_New(r.k_max);
    for (int k = 0; correct && k < r.k_max; k++) PyList_SET_ITEM(correct, k, PyLong_FromLong(r.correct[k]));
    if (!correct) return NULL;
    return Py_BuildValue("{s:l,s:N,s:l,s:O,s:d,s:d,s:s}", "n", r.n, "correct", correct, "tied_rows", r.tied_rows,
                         "has_ranks", r.has_ranks ? Py_True : Py_False, "rank_mean", r.has_ranks ? r.rank_mean : -1.0,
                         "rank_median", r.has_ranks ? r.rank_median : -1.0, "method",
                         r.method == CC_TOPK_BRUTE ? "brute" : "fast");
}

/* M @ X: X a FactoredMatrix (cc_fm_matmul) or a dense matrix (cc_fm_matmul_dense);
 * X @ M for a dense X on the left (cc_fm_rmatmul_dense). */
static PyObject *Factored_matmul(PyObject *left, PyObject *right)
{
    cc_fm out = {0};
    cc_error err = {0};
    int rc;
    if (PyObject_TypeCheck(left, &Factored_Type) && PyObject_TypeCheck(right, &Factored_Type)) {
        rc = cc_fm_matmul(&((FactoredObject *)left)->fm, &((FactoredObject *)right)->fm, &out, &err);
    } else {
        bool fm_left = PyObject_TypeCheck(left, &Factored_Type);
        PyArrayObject *X = matrix_arg(fm_left ? right : left, "the dense operand");
        if (!X) return NULL;
        const cc_fm *fm = &((FactoredObject *)(fm_left ? left : right))->fm;
        int rows = (int)PyArray_DIM(X, 0), cols = (int)PyArray_DIM(X, 1);
        if (fm_left ? rows != fm->r : cols != fm->l) {
            Py_DECREF(X);
            return PyErr_Format(PyExc_ValueError, "shapes do not match for @: [%d, %d] and [%d, %d]",
                                fm_left ? fm->l : rows, fm_left ? fm->r : cols, fm_left ? rows : fm->l,
                                fm_left ? cols : fm->r);
        }
        rc = fm_left ? cc_fm_matmul_dense(fm, PyArray_DATA(X), cols, &out, &err)
                     : cc_fm_rmatmul_dense(PyArray_DATA(X), rows, fm, &out, &err);
        Py_DECREF(X);
    }
    if (rc != 0) return cc_fm_free(&out), raise_cc_error(&err, true);
    return factored_take(&out);
}

static PyNumberMethods Factored_number = {.nb_matrix_multiply = Factored_matmul};

static PyMethodDef Factored_methods[] = {
    {"svd", (PyCFunction)Factored_svd, METH_NOARGS, "svd() -> (U, S, V): M = U diag(S) V^T, S descending"},
    {"norm", (PyCFunction)Factored_norm, METH_NOARGS, "the Frobenius norm, from the factors"},
    {"topk", (PyCFunction)(void (*)(void))Factored_topk, METH_VARARGS | METH_KEYWORDS,
     "topk(k=5, columns=False, method='fast', ranks=False): exact top-1..k of the diagonal (square M)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Factored_getset[] = {
    {"A", (getter)Factored_A, NULL, "the left factor [l, m], read-only", NULL},
    {"B", (getter)Factored_B, NULL, "the right factor [m, r], read-only", NULL},
    {"shape", (getter)Factored_shape, NULL, "(l, r)", NULL},
    {"AB", (getter)Factored_AB, NULL, "the dense matrix A B [l, r] (computed on each access)", NULL},
    {"BA", (getter)Factored_BA, NULL, "B A [m, m] (square M)", NULL},
    {"T", (getter)Factored_T, NULL, "the transpose, (B^T, A^T)", NULL},
    {"eigenvalues", (getter)Factored_eigenvalues, NULL, "the eigenvalues of B A (square M), complex", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Factored_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "circuitc.FactoredMatrix",
    .tp_doc = "FactoredMatrix(A, B): M = A B kept as its factors (TransformerLens' FactoredMatrix)",
    .tp_basicsize = sizeof(FactoredObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Factored_new,
    .tp_dealloc = (destructor)Factored_dealloc,
    .tp_as_number = &Factored_number,
    .tp_methods = Factored_methods,
    .tp_getset = Factored_getset,
};
