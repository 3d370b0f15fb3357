/* attribute.c — `circuitc attribute HOOK`: attribution patching on a prompt
 * pair (cc_attr_report_run), or without one the repeated-token mlp_out sweep
 * (cc_attr_mlp_sweep); --verify K or all checks the estimate against exact
 * patching. As in analyses.c: the library's one call with the GIL released,
 * its result as the library's JSON text. */
#include <stdlib.h>

#include "binding.h"
#include "circuitc/attribution.h"
#include "circuitc/experiments.h"
#include "pair_args.h"

/* VERIFY (an int K >= 0, or "all") as cc_attr_report_run's verify; -1 with the exception set. */
static int verify_count(PyObject *verify)
{
    if (PyUnicode_Check(verify) && !strcmp(PyUnicode_AsUTF8(verify), "all")) return CC_ATTR_VERIFY_ALL;
    long k = PyLong_Check(verify) ? PyLong_AsLong(verify) : -1;
    if (k >= 0 && k <= 1000000) return (int)k;
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "verify takes a count K from 0 to 1000000 or \"all\"");
    return -1;
}

/* The mlp_out sweep on SEED's [BOS, A, A] of SEQ_LEN tokens: its JSON, or NULL with ERR set. */
static json_t *sweep_json(const cc_model *m, unsigned long long seed, int seq_len, int verify, int top, int threads,
                          cc_error *err)
{
    int *tokens = malloc((1 + 2 * (size_t)(seq_len > 0 ? seq_len : 0)) * sizeof *tokens);
    cc_attr_sweep s = {0};
    json_t *j = NULL;
    if (!tokens) cc_fail_code(err, CC_E_NOMEM, "out of memory");
    else if (seq_len < 1) cc_fail_code(err, CC_E_ARG, "seq_len is %d; give at least 1", seq_len);
    else if (cc_repeat_tokens(cc_model_config(m), seed, 1, seq_len, tokens, err) == 0 &&
             cc_attr_mlp_sweep(m, tokens, seq_len, verify, CC_KERNEL_FAST, threads, &s, err) == 0) {
        bool all = verify == CC_ATTR_VERIFY_ALL;
        if (!(j = cc_attr_sweep_json(&s, seed, all, all && s.n_top > top ? top : s.n_top)))
            cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    cc_attr_sweep_free(&s);
    free(tokens);
    return j;
}

/* attribute(model, hook, PAIR_KW..., per_head=False, all_positions=False, verify=0, top=10, seed=0,
 *           seq_len=50, progress=None, threads=0): without a pair (every PAIR_KW prompt None), the mlp_out sweep */
PyObject *py_attribute(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "hook", PAIR_KW, "per_head", "all_positions", "verify", "top", "seed",
                             "seq_len", "progress", "threads", NULL};
    ModelObject *model;
    const char *hook, *metric = "logit_diff";
    cc_prompt_pair_source src = {0};
    int bos = 1, per_head = 0, all_positions = 0, top = 10, seq_len = 50, threads = 0;
    unsigned long long seed = 0;
    PyObject *verify_arg = NULL, *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|" PAIR_FORMAT "ppOiKiOi:attribute", kwlist, &Model_Type, &model,
                                     &hook, PAIR_ARGS(src, metric, bos), &per_head, &all_positions, &verify_arg, &top,
                                     &seed, &seq_len, &progress, &threads))
        return NULL;
    int verify = verify_arg ? verify_count(verify_arg) : 0;
    if (verify < 0 || pair_metric(&src, metric, bos) != 0) return NULL;
    if (top < 1) return PyErr_Format(PyExc_ValueError, "top is %d; give at least 1", top);
    bool pair = src.clean || src.corrupt || src.clean_tokens || src.corrupt_tokens;
    cc_error err = {0};
    cc_patch_opts po = {.per_head = per_head, .all_positions = all_positions, .kernel = CC_KERNEL_FAST,
                        .threads = threads};
    if (cc_patch_hook_parse(hook, &po.hook, &err) != 0) return raise_cc_error(&err, true);
    if (!pair && po.hook != CC_HOOK_MLP_OUT)
        return PyErr_Format(PyExc_TypeError, "attributing %s needs a prompt pair (clean=, corrupt= or clean_tokens=, "
                            "corrupt_tokens=); without one only the repeated-token mlp_out sweep runs", hook);
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    po.progress = progress_bridge_call, po.progress_ctx = &p;
    cc_prompt_pair pp = {0};
    cc_attr_report r = {0};
    json_t *j = NULL;
    int rc = 0;
    COMPUTE_BEGIN
    if (!pair) rc = (j = sweep_json(model->m, seed, seq_len, verify, top, threads, &err)) ? 0 : -1;
    else if ((rc = cc_prompt_pair_load(&src, model->m, &pp, &err)) == 0) {
        po.metric = pp.metric;
        rc = cc_attr_report_run(model->m, &pp, &po, verify, top, &r, &err);
        if (rc == 0 && !(j = cc_attr_report_json(&pp, &po, &r))) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    }
    COMPUTE_END
    cc_attr_report_free(&r);
    cc_prompt_pair_free(&pp);
    return progress_bridge_result(&p, rc, &err, j);
}
