/* analyses.c — one function per CLI analysis: the library's one call with the
 * CLI's defaults (the package passes them), the GIL released while it runs,
 * and its result serialised by the library's own JSON serialiser, returned as
 * text. The package turns the text into a result object (circuitc/_results.py),
 * so the numbers are exactly those `circuitc COMMAND --json` prints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "circuitc/circuit_report.h"
#include "circuitc/comp_scores.h"
#include "circuitc/discover.h"
#include "circuitc/prompt_json.h"
#include "circuitc/runtime_report.h"

int parse_head(const cc_model *m, PyObject *head, cc_head *out)
{
    const char *s = PyUnicode_Check(head) ? PyUnicode_AsUTF8(head) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "heads are str (L0H0) here");
        return -1;
    }
    cc_error err = {0};
    if (cc_head_parse(s, cc_model_config(m), out, &err) != 0) return raise_cc_error(&err, true), -1;
    return 0;
}

/* HEADS (a list of str) into OUT [n]: -1 with the exception set on a bad one. */
static int parse_heads(const cc_model *m, PyObject *heads, cc_head *out, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (parse_head(m, PyList_GET_ITEM(heads, i), &out[i]) != 0) return -1;
    return 0;
}

/* The end of every analysis: the JSON text of a successful call (SERIALISE(RESULT)),
 * or the exception of a failed one (what a progress callback raised first). */
static PyObject *finish(int rc, const cc_error *err, progress_bridge *p, json_t *(*serialise)(const void *),
                        const void *result)
{
    if (progress_bridge_finish(p) != 0) return NULL;
    if (rc != 0) return raise_cc_error(err, false);
    return json_text(serialise(result));
}

/* (TEXT, a FactoredMatrix taking over FM): a compiled circuit's JSON and its factors. Consumes TEXT. */
static PyObject *with_factors(PyObject *text, cc_fm *fm)
{
    PyObject *factors = factored_take(fm);
    return factors ? Py_BuildValue("(NN)", text, factors) : (Py_DECREF(text), NULL);
}

#define SERIALISER(fn) ((json_t * (*)(const void *))(fn))

/* (binding.h) As the CLI opens it: a circuit call then reads only the tensors it needs
 * (cc_model_need, processed when PROCESS). */
cc_model *circuit_model(PyObject *model, int process, cc_model **owned, int *processed)
{
    *owned = NULL;
    if (PyObject_TypeCheck(model, &Model_Type)) {
        *processed = cc_model_processed(((ModelObject *)model)->m);
        return ((ModelObject *)model)->m;
    }
    const char *path = PyUnicode_Check(model) ? PyUnicode_AsUTF8(model) : NULL;
    if (!path) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "model is a circuitc.Model or a model path (str)");
        return NULL;
    }
    cc_error err = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cc_model_open(path, NULL, owned, &err);
    Py_END_ALLOW_THREADS
    if (rc != 0) return raise_cc_error(&err, false), NULL;
    *processed = process;
    return *owned;
}

/* kcomp, qcomp, vcomp, ov, qk (NAME) of HEADS on model M (py_circuit's work); *OWNED (M or NULL) is freed
 * between the compilation and the measurement. */
static PyObject *circuit_run(cc_model *m, cc_model **owned, const char *name, PyObject *heads,
                             cc_circuit_report_options *op, const char *ranks, const char *method, int compare,
                             int processed, unsigned long long seed, PyObject *progress)
{
    cc_circuit_report_options o = *op;
    int b = 0;
    while (b < CC_N_BUILTINS && strcmp(cc_builtin_circuit_name((cc_builtin_circuit)b), name) != 0) b++;
    if (b == CC_N_BUILTINS) return PyErr_Format(PyExc_ValueError, "%s is not a built-in circuit", name);
    o.circuit = (cc_builtin_circuit)b;
    if (PyList_GET_SIZE(heads) != cc_builtin_circuit_heads(o.circuit))
        return PyErr_Format(PyExc_TypeError, "%s takes %d heads", name, cc_builtin_circuit_heads(o.circuit));
    if (parse_heads(m, heads, o.heads, PyList_GET_SIZE(heads)) != 0) return NULL;
    o.measure.ranks = !strcmp(ranks, "always") ? CC_RANKS_ALWAYS : !strcmp(ranks, "never") ? CC_RANKS_NEVER : CC_RANKS_AUTO;
    o.measure.method = !strcmp(method, "brute") ? CC_TOPK_BRUTE : CC_TOPK_FAST;
    o.measure.compare = compare;
    o.process = processed;
    o.seed = seed;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.measure.progress = progress_bridge_call, o.measure.progress_ctx = &p;
    cc_circuit_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_circuit_report_compile(m, &o, &r, &err);
    if (*owned) cc_model_free(*owned), *owned = NULL; /* as the CLI: the measurement reads the factors alone */
    if (rc == 0) rc = cc_circuit_report_measure(&r, &o.measure, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_circuit_report_json), &r);
    if (out) out = with_factors(out, &r.factors);
    cc_circuit_report_free(&r);
    return out;
}

PyObject *py_circuit(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "circuit", "heads", "k", "ranks", "method", "compare", "components",
                             "singular", "baseline_samples", "seed", "progress", "process", NULL};
    PyObject *model;
    const char *name, *ranks = "auto", *method = "fast";
    PyObject *heads, *progress = NULL;
    cc_circuit_report_options o;
    cc_circuit_report_defaults(&o);
    int compare = 0, process = 1, processed;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OsO!|issp" "iiiKOp:circuit", kwlist, &model, &name, &PyList_Type,
                                     &heads, &o.measure.k_max, &ranks, &method, &compare, &o.measure.components,
                                     &o.measure.n_singular, &o.baseline_samples, &seed, &progress, &process))
        return NULL;
    cc_model *owned, *m = circuit_model(model, process, &owned, &processed);
    if (!m) return NULL;
    PyObject *out = circuit_run(m, &owned, name, heads, &o, ranks, method, compare, processed, seed, progress);
    cc_model_free(owned);
    return out;
}

PyObject *py_comp_scores(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "modes", "top", "baseline_samples", "seed", "progress", NULL};
    ModelObject *model;
    const char *modes = "qkv";
    PyObject *progress = NULL;
    cc_comp_scores_options o;
    cc_comp_scores_defaults(&o);
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|siiKO:comp_scores", kwlist, &Model_Type, &model, &modes, &o.top,
                                     &o.baseline_samples, &seed, &progress))
        return NULL;
    for (int k = 0; k < 3; k++) o.modes[k] = strchr(modes, cc_comp_mode_name((cc_comp_mode)k)[0]) != NULL;
    o.seed = seed;
    o.process = cc_model_processed(model->m);
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_comp_scores r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_comp_scores_run(model->m, &o, &r, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_comp_scores_json), &r);
    cc_comp_scores_free(&r);
    return out;
}

/* TOKENS [batch, 1 + 2 seq_len]: the repeated-token input of SEED (caller frees *TOKENS). */
static int repeat_tokens(const cc_model *m, cc_repeat_input in, int **tokens, cc_error *err)
{
    *tokens = NULL;
    if (in.batch < 1 || in.seq_len < 1) return cc_fail(err, "batch and seq_len must be at least 1");
    if (!(*tokens = malloc((size_t)in.batch * (1 + 2 * (size_t)in.seq_len) * sizeof **tokens)))
        return cc_fail(err, "out of memory for %d x %d tokens", in.batch, 1 + 2 * in.seq_len);
    return cc_repeat_tokens(cc_model_config(m), in.seed, in.batch, in.seq_len, *tokens, err);
}

PyObject *py_discover(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "circuit", "top", "baseline_samples", "seed", "runtime", "seq_len", "batch",
                             "progress", NULL};
    ModelObject *model;
    cc_discover_report_options o;
    cc_discover_report_defaults(&o);
    int runtime = 1;
    unsigned long long seed = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|siiKpiiO:discover", kwlist, &Model_Type, &model, &o.circuit,
                                     &o.top, &o.baseline_samples, &seed, &runtime, &o.seq_len, &o.batch, &progress))
        return NULL;
    o.seed = seed;
    o.process = cc_model_processed(model->m);
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_discover_report r = {0};
    cc_error err = {0};
    int rc = 0, *tokens = NULL;
    COMPUTE_BEGIN
    if (runtime)
        rc = repeat_tokens(model->m, (cc_repeat_input){.seed = seed, .seq_len = o.seq_len, .batch = o.batch}, &tokens,
                           &err);
    o.tokens = tokens;
    if (rc == 0) rc = cc_discover_report_run(model->m, &o, &r, &err);
    COMPUTE_END
    free(tokens);
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_discover_report_json), &r);
    cc_discover_report_free(&r);
    return out;
}

/* The repeated-token input's keywords, shared by repeat, heads, pattern and ablate. */
#define REPEAT_KW "seed", "seq_len", "batch"

PyObject *py_repeat(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, "progress", NULL};
    ModelObject *model;
    cc_repeat_input in = {0};
    unsigned long long seed = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!Kii|O:repeat", kwlist, &Model_Type, &model, &seed, &in.seq_len,
                                     &in.batch, &progress))
        return NULL;
    in.seed = seed;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    cc_repeat_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_repeat_report_run(model->m, &in, 0, progress_bridge_call, &p, &r, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_repeat_report_json), &r);
    cc_repeat_report_free(&r);
    return out;
}

PyObject *py_heads(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, "top", "exclude_bos", "exclude_current", "progress", NULL};
    ModelObject *model;
    cc_heads_options o = {0};
    unsigned long long seed = 0;
    int exclude_bos = 0, exclude_current = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!Kiiipp|O:heads", kwlist, &Model_Type, &model, &seed,
                                     &o.input.seq_len, &o.input.batch, &o.top, &exclude_bos, &exclude_current, &progress))
        return NULL;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.input.seed = seed, o.exclude_bos = exclude_bos, o.exclude_current = exclude_current;
    cc_heads_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    rc = cc_heads_report_run(model->m, &o, &r, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_heads_report_json), &r);
    cc_heads_report_free(&r);
    return out;
}

PyObject *py_pattern(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, "head", "threads", NULL};
    ModelObject *model;
    PyObject *head;
    cc_pattern_options o = {0};
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!KiiO|i:pattern", kwlist, &Model_Type, &model, &seed,
                                     &o.input.seq_len, &o.input.batch, &head, &o.threads))
        return NULL;
    o.input.seed = seed;
    if (parse_head(model->m, head, &o.head) != 0) return NULL;
    cc_pattern_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_pattern_report_run(model->m, &o, &r, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &(progress_bridge){0}, SERIALISER(cc_pattern_report_json), &r);
    cc_pattern_report_free(&r);
    return out;
}

PyObject *py_ablate(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, "heads", "mode", "progress", NULL};
    ModelObject *model;
    PyObject *heads;
    const char *mode = "mean";
    cc_ablate_options o = {0};
    unsigned long long seed = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!KiiO!|sO:ablate", kwlist, &Model_Type, &model, &seed,
                                     &o.input.seq_len, &o.input.batch, &PyList_Type, &heads, &mode, &progress))
        return NULL;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.input.seed = seed;
    o.mode = !strcmp(mode, "zero") ? CC_ABLATE_ZERO : CC_ABLATE_MEAN;
    o.n_heads = (int)PyList_GET_SIZE(heads);
    cc_head *hs = calloc(o.n_heads ? (size_t)o.n_heads : 1, sizeof *hs);
    if (!hs) return PyErr_NoMemory();
    if (parse_heads(model->m, heads, hs, o.n_heads) != 0) return free(hs), NULL;
    o.heads = hs;
    cc_ablate_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    rc = cc_ablate_report_run(model->m, &o, &r, &err);
    COMPUTE_END
    free(hs);
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_ablate_report_json), &r);
    cc_ablate_report_free(&r);
    return out;
}

/* ---- the prompt commands: dla, lens, run, pattern on a prompt ------------- */

typedef struct {
    const char *command;       /* "dla", "lens", "run", "pattern" */
    const char *answer, *wrong; /* dla */
    int top;                   /* lens, run */
    cc_head head;              /* pattern */
    int threads;               /* the call's thread count, 0: the default */
} prompt_request;

/* Runs request Q on batch B; *J: its JSON. */
static int prompt_run(const cc_model *m, const cc_prompt_batch *b, const prompt_request *q, json_t **j, cc_error *err)
{
    if (!strcmp(q->command, "dla")) {
        int32_t answer = -1, wrong = -1;
        cc_dla d = {0};
        int rc = cc_prompt_single_token(b, cc_model_config(m), q->answer, "answer", &answer, err);
        if (rc == 0 && q->wrong) rc = cc_prompt_single_token(b, cc_model_config(m), q->wrong, "wrong", &wrong, err);
        if (rc == 0) rc = cc_dla_run(m, b->tokens, b->length[0], answer, wrong, CC_KERNEL_FAST, q->threads, &d, err);
        if (rc == 0) *j = cc_dla_json(&d, b);
        cc_dla_free(&d);
        return rc;
    }
    if (!strcmp(q->command, "lens")) {
        cc_logit_lens r = {0};
        int rc = cc_logit_lens_run(m, b->tokens, b->length[0], q->top, CC_KERNEL_FAST, q->threads, &r, err);
        if (rc == 0) *j = cc_logit_lens_json(&r, b);
        cc_logit_lens_free(&r);
        return rc;
    }
    if (!strcmp(q->command, "run")) {
        cc_next_tokens r = {0};
        int rc = cc_next_tokens_run(m, b->tokens, b->length, b->batch, b->pos, q->top, CC_KERNEL_FAST, q->threads, &r,
                                    err);
        if (rc == 0) *j = cc_next_tokens_json(&r, b);
        cc_next_tokens_free(&r);
        return rc;
    }
    cc_prompt_pattern r = {0};
    int rc = cc_prompt_pattern_run(m, b, q->head, q->threads, &r, err);
    if (rc == 0) *j = cc_prompt_pattern_json(&r, b);
    cc_prompt_pattern_free(&r);
    return rc;
}

/* prompt_analysis(model, command, text=None, tokens=None, prepend_bos=True,
 * tokenizer=None, answer=None, wrong=None, top=10, head=None, threads=0) */
PyObject *py_prompt_analysis(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "command", "text", "tokens", "prepend_bos", "tokenizer", "answer", "wrong",
                             "top", "head", "threads", NULL};
    ModelObject *model;
    prompt_request q = {.top = 10};
    cc_prompt_source src = {0};
    int prepend_bos = 1;
    PyObject *head = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|zzpzzziOi:prompt_analysis", kwlist, &Model_Type, &model,
                                     &q.command, &src.text, &src.tokens, &prepend_bos, &src.tokenizer_dir, &q.answer,
                                     &q.wrong, &q.top, &head, &q.threads))
        return NULL;
    src.no_bos = !prepend_bos;
    const char *known[] = {"dla", "lens", "run", "pattern"};
    bool is_known = false;
    for (size_t i = 0; i < 4; i++) is_known = is_known || !strcmp(q.command, known[i]);
    if (!is_known) return PyErr_Format(PyExc_ValueError, "%s is not a prompt command", q.command);
    if (!strcmp(q.command, "dla") && !q.answer) return PyErr_Format(PyExc_TypeError, "dla needs answer");
    if (!strcmp(q.command, "pattern") && parse_head(model->m, head, &q.head) != 0) return NULL;
    cc_prompt_batch b = {0};
    cc_error err = {0};
    json_t *j = NULL;
    int rc;
    COMPUTE_BEGIN
    rc = cc_prompt_batch_load(&src, model->m, &b, &err);
    if (rc == 0) rc = prompt_run(model->m, &b, &q, &j, &err);
    COMPUTE_END
    cc_prompt_batch_free(&b);
    if (rc != 0) return raise_cc_error(&err, false);
    return json_text(j);
}

/* patch mlp_out on repeated tokens: the sweep mlp_out[p] <- mlp_out[p-n] */
PyObject *py_patch_sweep(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, "naive", "progress", NULL};
    ModelObject *model;
    cc_patch_sweep_options o = {0};
    unsigned long long seed = 0;
    int naive = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!Kii|pO:patch_sweep", kwlist, &Model_Type, &model, &seed,
                                     &o.input.seq_len, &o.input.batch, &naive, &progress))
        return NULL;
    o.input.seed = seed, o.naive = naive;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_patch_sweep_report r = {0};
    cc_error err = {0};
    int rc;
    COMPUTE_BEGIN
    rc = cc_patch_sweep_report_run(model->m, &o, &r, &err);
    COMPUTE_END
    PyObject *out = finish(rc, &err, &p, SERIALISER(cc_patch_sweep_report_json), &r);
    cc_patch_sweep_report_free(&r);
    return out;
}

/* repeated_tokens(model, seed, seq_len, batch) -> int64 [batch, 1 + 2 seq_len]: the commands' input */
PyObject *py_repeated_tokens(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", REPEAT_KW, NULL};
    ModelObject *model;
    cc_repeat_input in = {0};
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!Kii:repeated_tokens", kwlist, &Model_Type, &model, &seed,
                                     &in.seq_len, &in.batch))
        return NULL;
    in.seed = seed;
    int *tokens = NULL;
    cc_error err = {0};
    if (repeat_tokens(model->m, in, &tokens, &err) != 0) return free(tokens), raise_cc_error(&err, true);
    npy_intp dims[2] = {in.batch, 1 + 2 * (npy_intp)in.seq_len};
    PyObject *arr = PyArray_SimpleNew(2, dims, NPY_INT64);
    if (arr) {
        int64_t *dst = PyArray_DATA((PyArrayObject *)arr);
        for (npy_intp i = 0; i < dims[0] * dims[1]; i++) dst[i] = tokens[i];
    }
    free(tokens);
    return arr;
}

/* compile(model, circuit, bind={name: head}, order="optimal", explain=False) */
PyObject *py_compile(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "circuit", "bind", "order", "explain", NULL};
    ModelObject *model;
    PyObject *bind;
    const char *order = "optimal";
    int explain = 0;
    cc_compile_options o = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!sO!|sp:compile", kwlist, &Model_Type, &model, &o.circuit,
                                     &PyDict_Type, &bind, &order, &explain))
        return NULL;
    Py_ssize_t n = PyDict_Size(bind), pos = 0, i = 0;
    const char **names = calloc(n ? (size_t)n : 1, sizeof *names);
    cc_head *heads = calloc(n ? (size_t)n : 1, sizeof *heads);
    PyObject *name, *head;
    int ok = names && heads;
    if (!ok) PyErr_NoMemory();
    while (ok && PyDict_Next(bind, &pos, &name, &head)) {
        ok = (names[i] = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL) && parse_head(model->m, head, &heads[i]) == 0;
        if (!ok && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "bindings are {name (str): head (str)}");
        i++;
    }
    cc_compile_result r = {0};
    cc_error err = {0};
    int rc = -1;
    if (ok) {
        o.n_bind = (int)n, o.bind_names = names, o.bind_heads = heads, o.explain = explain;
        o.order = !strcmp(order, "tl") ? CC_COMPILE_TL : CC_COMPILE_OPTIMAL;
        o.process = cc_model_processed(model->m);
        COMPUTE_BEGIN
        rc = cc_compile_run(model->m, &o, &r, &err);
        COMPUTE_END
    }
    PyObject *out = ok ? finish(rc, &err, &(progress_bridge){0}, SERIALISER(cc_compile_result_json), &r) : NULL;
    if (out) out = with_factors(out, &r.factors);
    cc_compile_result_free(&r);
    free(names), free(heads);
    return out;
}
