/* binding.h — what the files of the extension module circuitc._circuitc share.
 *
 * The module is a thin layer over libcircuitc (docs/python.md): a Model object
 * owning a cc_model loaded whole, zero-copy numpy views of its weights and of
 * forward-pass results, and one function per analysis that returns the
 * library's own JSON serialisation as text (the Python package turns it into
 * result objects). Compute runs with the GIL released; callbacks into Python
 * (hooks, progress) take it back. */
#ifndef CIRCUITC_PY_BINDING_H
#define CIRCUITC_PY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef CIRCUITC_PY_MODULE_MAIN /* module.c defines numpy's API table, the others use it */
#define NO_IMPORT_ARRAY
#endif
#define PY_ARRAY_UNIQUE_SYMBOL circuitc_py_ARRAY_API
#include <numpy/arrayobject.h>

#include <jansson.h>
#include <stdbool.h>

#include "circuitc/error.h"
#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"

typedef struct {
    PyObject_HEAD
    cc_model *m; /* loaded whole: every analysis reads it and none writes it, so threads may share it */
} ModelObject;

extern PyTypeObject Model_Type;
extern PyTypeObject Buffers_Type;
extern PyTypeObject Factored_Type;

/* A FactoredMatrix taking over FM's buffers (*FM is zeroed); NULL on failure (FM untouched then). */
PyObject *factored_take(cc_fm *fm);


/* Sets the Python exception for a failed library call (the package's error
 * table, circuitc/_errors.py, picks the class); returns NULL. ARGUMENT_HINT:
 * the failure was the parsing of an argument the caller gave (a head, a hook
 * name), so it is an ArgumentError whatever the message says. */
PyObject *raise_cc_error(const cc_error *err, bool argument_hint);

/* numpy's C API, imported on first use rather than when the module loads: a
 * circuit on a model path (circuitc.kcomp(PATH, ...)) needs no array, and
 * importing numpy is a tenth of a second of CPU, as much as such a call's
 * start-up otherwise costs. 0, or -1 with the exception set. Model objects
 * import it when they load (model.c), so the functions taking a Model, and
 * view_of, may use the PyArray_ API directly; any other code calls this
 * before its first PyArray_ function. */
int numpy_api(void);

/* A numpy view of DATA (NDIM dims, TYPE) whose base is OWNER (a new reference
 * is taken): the memory stays valid while the array lives. */
PyObject *view_of(PyObject *owner, void *data, int ndim, const npy_intp *dims, int type, bool writeable);

/* An object owning heap buffers (free()d, or freed by FREE_FN(ARG)) on
 * deallocation: the base of arrays over results the library allocated. */
PyObject *buffers_new(void (*free_fn)(void *arg), void *arg);

/* Progress and cancellation bridge (progress.c): a cc_progress_fn that calls
 * a Python callable (done, total) with the GIL held. */
typedef struct {
    PyObject *callback;  /* borrowed; NULL: no progress */
    PyObject *exc_type, *exc_value, *exc_tb; /* what the callback raised (KeyboardInterrupt ...) */
} progress_bridge;

int progress_bridge_call(void *ctx, long done, long total);
/* After the call: re-raises what a callback raised (returns -1), else 0. */
int progress_bridge_finish(progress_bridge *p);
/* The end of a call that returns J (its JSON, owned; may be NULL on failure):
 * what a progress callback raised, else the library's error when RC != 0,
 * else J as text. */
PyObject *progress_bridge_result(progress_bridge *p, int rc, const cc_error *err, json_t *j);

/* Library compute, with the GIL released: COMPUTE_BEGIN ... COMPUTE_END.
 *
 * CAPI-THREADS: the library's calls set OpenBLAS's process-wide thread count
 * around their own threads (cc_blas_threads_hold), so two calls at once can
 * see each other's count: results then differ in their last bits, and the
 * count can stay at 1. Until the thread count is per call, library calls run
 * one at a time (other Python threads still run meanwhile); a call made from
 * inside a hook of the same thread goes through. Drop the lock then. */
void compute_enter(void);
void compute_leave(void);
#define COMPUTE_BEGIN Py_BEGIN_ALLOW_THREADS compute_enter();
#define COMPUTE_END compute_leave(); Py_END_ALLOW_THREADS

/* The model a call reads: MODEL's (a Model), or for a path (MODEL a str) the model opened
 * for this call alone (cc_model_open: no weights read yet; *PROCESSED then says PROCESS), and
 * *OWNED is the model to free. NULL with the exception set. */
cc_model *circuit_model(PyObject *model, int process, cc_model **owned, int *processed);

/* Parses head HEAD (a str: L4H11 or 4.11) against M; an ArgumentError when it is not one of M's. */
int parse_head(const cc_model *m, PyObject *head, cc_head *out);

/* The module's functions, by file. */
PyObject *py_run(PyObject *self, PyObject *args, PyObject *kw);          /* run.c */
PyObject *py_hook_names(PyObject *self, PyObject *args);                  /* run.c */
PyObject *py_circuit(PyObject *self, PyObject *args, PyObject *kw);      /* analyses.c */
PyObject *py_comp_scores(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_discover(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_repeat(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_heads(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_pattern(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_ablate(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_compile(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_patch_sweep(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_repeated_tokens(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_prompt_analysis(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_patch_pair(PyObject *self, PyObject *args, PyObject *kw);   /* pairs.c */
PyObject *py_path_patch(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_eap(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_attribute(PyObject *self, PyObject *args, PyObject *kw);    /* attribute.c */
PyObject *py_atlas(PyObject *self, PyObject *args, PyObject *kw);        /* atlas.c */
PyObject *py_info(PyObject *self, PyObject *args, PyObject *kw);         /* model_checks.c */
PyObject *py_validate(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_tokens(PyObject *self, PyObject *args, PyObject *kw);        /* tokens.c */
PyObject *py_token_texts(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_decode(PyObject *self, PyObject *args, PyObject *kw);

/* The JSON object J (a new reference, consumed; NULL: out of memory) as a str. */
PyObject *json_text(json_t *j);

#endif
