/* tokens.c — to_tokens, to_str_tokens and to_string: token batches built as
 * the CLI builds them (cc_prompt_batch_load: the model's own tokenizer when
 * its folder has one, else GPT-2's; BOS the model's bos_token_id), so the
 * ids and errors are the CLI's. */
#include <stdlib.h>

#include "binding.h"
#include "circuitc/prompts.h"

/* Loads the batch of SRC for M with the GIL released; an exception when it fails. */
static int load_batch(ModelObject *model, const cc_prompt_source *src, cc_prompt_batch *b)
{
    cc_error err = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cc_prompt_batch_load(src, model->m, b, &err);
    Py_END_ALLOW_THREADS
    if (rc != 0) raise_cc_error(&err, false);
    return rc;
}

/* tokens(model, text, prepend_bos=True, tokenizer=None) -> (ids, pad) */
PyObject *py_tokens(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "text", "prepend_bos", "tokenizer", NULL};
    ModelObject *model;
    cc_prompt_source src = {0};
    int prepend_bos = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|pz:tokens", kwlist, &Model_Type, &model, &src.text, &prepend_bos,
                                     &src.tokenizer_dir))
        return NULL;
    src.no_bos = !prepend_bos;
    cc_prompt_batch b = {0};
    PyObject *ids = NULL;
    if (load_batch(model, &src, &b) == 0 && (ids = PyList_New(b.length[0])))
        for (int t = 0; t < b.length[0]; t++) PyList_SET_ITEM(ids, t, PyLong_FromLong(b.tokens[t]));
    PyObject *out = ids ? Py_BuildValue("(Ni)", ids, (int)b.pad) : NULL;
    cc_prompt_batch_free(&b);
    return out;
}

/* A batch of IDS ("1,2,3", as --tokens takes them) run as given, for its tokenizer. */
static int ids_batch(ModelObject *model, const char *ids, const char *tokenizer, cc_prompt_batch *b)
{
    cc_prompt_source src = {.tokens = ids, .tokenizer_dir = tokenizer};
    return load_batch(model, &src, b);
}

/* token_texts(model, ids "1,2,3", tokenizer=None) -> [str]: each id decoded alone ("#ID" without a tokenizer). */
PyObject *py_token_texts(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "ids", "tokenizer", NULL};
    ModelObject *model;
    const char *ids, *tokenizer = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|z:token_texts", kwlist, &Model_Type, &model, &ids, &tokenizer))
        return NULL;
    cc_prompt_batch b = {0};
    if (ids_batch(model, ids, tokenizer, &b) != 0) return cc_prompt_batch_free(&b), NULL;
    PyObject *out = PyList_New(b.length[0]);
    for (int t = 0; out && t < b.length[0]; t++) {
        char *s = cc_prompt_token_text(&b, b.tokens[t]);
        PyObject *u = s ? PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace") : PyErr_NoMemory();
        free(s);
        if (!u) Py_CLEAR(out);
        else PyList_SET_ITEM(out, t, u);
    }
    cc_prompt_batch_free(&b);
    return out;
}

/* decode(model, ids "1,2,3", tokenizer=None) -> str */
PyObject *py_decode(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "ids", "tokenizer", NULL};
    ModelObject *model;
    const char *ids, *tokenizer = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|z:decode", kwlist, &Model_Type, &model, &ids, &tokenizer))
        return NULL;
    cc_prompt_batch b = {0};
    if (ids_batch(model, ids, tokenizer, &b) != 0) return cc_prompt_batch_free(&b), NULL;
    PyObject *out = NULL;
    cc_error err = {0};
    int32_t *id32 = malloc(((size_t)b.length[0] + 1) * sizeof *id32);
    char *text = NULL;
    size_t len = 0;
    for (int t = 0; id32 && t < b.length[0]; t++) id32[t] = b.tokens[t];
    if (!id32) PyErr_NoMemory();
    else if (!b.tok) raise_cc_error(&(cc_error){.msg = "no tokenizer fits this model: pass tokenizer=DIR with its vocabulary", .code = CC_E_VALUE}, true);
    else if (cc_tokenizer_decode(b.tok, id32, (size_t)b.length[0], &text, &len, &err) != 0) raise_cc_error(&err, false);
    else out = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
    free(text), free(id32);
    cc_prompt_batch_free(&b);
    return out;
}
