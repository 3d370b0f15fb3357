/* pairs.c — the analyses on clean/corrupted prompt pairs: `patch HOOK` and
 * `path-patch` on one pair (circuitc/prompt_pair.h), `eap` on a batch of them
 * (circuitc/eap_run.h). As in analyses.c: the library's one call with the
 * GIL released, its result as the library's JSON text. */
#include <string.h>

#include "binding.h"
#include "circuitc/eap_run.h"
#include "circuitc/prompt_pair.h"
#include "pair_args.h"

/* patch_pair(model, hook, PAIR_KW..., per_head=False, all_positions=False, naive=False, progress=None) */
PyObject *py_patch_pair(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "hook", PAIR_KW, "per_head", "all_positions", "naive", "progress", NULL};
    ModelObject *model;
    const char *hook, *metric = "logit_diff";
    cc_prompt_pair_source src = {0};
    int bos = 1, per_head = 0, all_positions = 0, naive = 0;
    PyObject *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!s|" PAIR_FORMAT "pppO:patch_pair", kwlist, &Model_Type, &model,
                                     &hook, PAIR_ARGS(src, metric, bos), &per_head, &all_positions, &naive, &progress))
        return NULL;
    if (pair_metric(&src, metric, bos) != 0) return NULL;
    cc_error err = {0};
    cc_patch_opts po = {.per_head = per_head, .all_positions = all_positions, .naive = naive, .kernel = CC_KERNEL_FAST};
    if (cc_patch_hook_parse(hook, &po.hook, &err) != 0) return raise_cc_error(&err, true);
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    po.progress = progress_bridge_call, po.progress_ctx = &p;
    cc_prompt_pair pair = {0};
    cc_patch_result r = {0};
    json_t *j = NULL;
    int rc;
    COMPUTE_BEGIN
    rc = cc_prompt_pair_load(&src, model->m, &pair, &err);
    po.metric = pair.metric;
    if (rc == 0) rc = cc_act_patch(model->m, pair.clean.tokens, pair.corrupt.tokens, pair.T, &po, &r, &err);
    if (rc == 0) j = cc_patch_pair_json(&pair, &po, &r);
    COMPUTE_END
    cc_patch_result_free(&r);
    cc_prompt_pair_free(&pair);
    return progress_bridge_result(&p, rc, &err, j);
}

/* path_patch(model, sender ("all" or a head), receivers [head], to="q", PAIR_KW..., progress=None, threads=0) */
PyObject *py_path_patch(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "sender", "receivers", "to", PAIR_KW, "progress", "threads", NULL};
    ModelObject *model;
    PyObject *sender, *receivers, *progress = NULL;
    const char *to = "q", *metric = "logit_diff";
    cc_prompt_pair_source src = {0};
    int bos = 1, threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO!|s" PAIR_FORMAT "Oi:path_patch", kwlist, &Model_Type, &model,
                                     &sender, &PyList_Type, &receivers, &to, PAIR_ARGS(src, metric, bos), &progress,
                                     &threads))
        return NULL;
    if (pair_metric(&src, metric, bos) != 0) return NULL;
    static const char *const inputs[] = {"q", "k", "v"};
    static const cc_hook_kind hooks[] = {CC_HOOK_Q, CC_HOOK_K, CC_HOOK_V};
    cc_path_patch_options o = {.n_receivers = (int)PyList_GET_SIZE(receivers), .to = CC_HOOK_COUNT,
                               .kernel = CC_KERNEL_FAST, .threads = threads};
    for (int i = 0; i < 3; i++)
        if (!strcmp(to, inputs[i])) o.to = hooks[i];
    if (o.to == CC_HOOK_COUNT) return PyErr_Format(PyExc_ValueError, "to must be \"q\", \"k\" or \"v\"");
    bool all = PyUnicode_Check(sender) && !strcmp(PyUnicode_AsUTF8(sender), "all");
    cc_head send, *recv = PyMem_Calloc(o.n_receivers ? (size_t)o.n_receivers : 1, sizeof *recv);
    if (!recv) return PyErr_NoMemory();
    int rc = all ? 0 : parse_head(model->m, sender, &send);
    for (int i = 0; rc == 0 && i < o.n_receivers; i++) rc = parse_head(model->m, PyList_GET_ITEM(receivers, i), &recv[i]);
    if (rc != 0) return PyMem_Free(recv), NULL;
    o.senders = all ? NULL : &send, o.n_senders = all ? 0 : 1, o.receivers = recv;
    progress_bridge p = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &p;
    cc_prompt_pair pair = {0};
    cc_path_patch_report r = {0};
    cc_error err = {0};
    json_t *j = NULL;
    COMPUTE_BEGIN
    rc = cc_prompt_pair_load(&src, model->m, &pair, &err);
    if (rc == 0) rc = cc_path_patch_run(model->m, &pair, &o, &r, &err);
    if (rc == 0) j = cc_path_patch_json(&pair, &r);
    COMPUTE_END
    cc_path_patch_report_free(&r);
    cc_prompt_pair_free(&pair);
    PyMem_Free(recv);
    return progress_bridge_result(&p, rc, &err, j);
}

/* The pairs of eap's TASK ("repeat", "ioi", "greater-than") or of the JSON Lines file PAIRS; the
 * text tasks and text pairs use the tokenizer the CLI would (the model folder's, else GPT-2's). */
static int eap_pairs(const cc_model *m, const char *task, const char *pairs, const char *tokenizer, int n,
                     int seq_len, unsigned long long seed, cc_eap_pairs *out, cc_error *err)
{
    if (!pairs && !strcmp(task, "repeat")) return cc_eap_pairs_repeat(m, n, seq_len, seed, out, err);
    /* a one-token batch carries the tokenizer cc_prompt_batch_load picks (NULL when none fits the model) */
    cc_prompt_batch b = {0};
    int rc = cc_prompt_batch_load(&(cc_prompt_source){.tokens = "0", .tokenizer_dir = tokenizer}, m, &b, err);
    if (rc == 0 && pairs) rc = cc_eap_pairs_load(pairs, m, b.tok, out, err);
    else if (rc == 0 && !b.tok) rc = cc_fail(err, "task %s needs a text tokenizer, and none fits this model", task);
    else if (rc == 0) rc = !strcmp(task, "ioi") ? cc_eap_pairs_ioi(m, b.tok, n, seed, out, err)
                                                : cc_eap_pairs_greater_than(m, b.tok, n, seed, out, err);
    cc_prompt_batch_free(&b);
    return rc;
}

/* eap(model, task="repeat", pairs=None, metric="logit_diff", ig_steps=5, top_n=20, greedy=False,
 *     batch=10, seq_len=8, seed=0, tokenizer=None, scores_only=False, progress=None) */
PyObject *py_eap(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"model", "task", "pairs", "metric", "ig_steps", "top_n", "greedy", "batch", "seq_len",
                             "seed", "tokenizer", "scores_only", "progress", NULL};
    ModelObject *model;
    const char *task = "repeat", *pairs = NULL, *metric = "logit_diff", *tokenizer = NULL;
    int greedy = 0, batch = 10, seq_len = 8, scores_only = 0;
    PyObject *progress = NULL;
    long top_n = 20;
    unsigned long long seed = 0;
    cc_eap_run_options o = {.ig_steps = 5, .kernel = CC_KERNEL_FAST};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|szsilpiiKzpO:eap", kwlist, &Model_Type, &model, &task, &pairs,
                                     &metric, &o.ig_steps, &top_n, &greedy, &batch, &seq_len, &seed, &tokenizer,
                                     &scores_only, &progress))
        return NULL;
    cc_error err = {0};
    if (cc_pair_metric_parse(metric_name(metric), &o.metric, &err) != 0) return raise_cc_error(&err, true);
    if (strcmp(task, "repeat") && strcmp(task, "ioi") && strcmp(task, "greater-than"))
        return PyErr_Format(PyExc_ValueError, "task must be \"repeat\", \"ioi\" or \"greater-than\"");
    o.selection = greedy ? CC_EAP_GREEDY : CC_EAP_TOPN, o.circuit_edges = scores_only ? 0 : top_n;
    o.no_curve = scores_only;
    progress_bridge pb = {.callback = progress != Py_None ? progress : NULL};
    o.progress = progress_bridge_call, o.progress_ctx = &pb;
    cc_eap_pairs p = {0};
    cc_eap_run_result r = {0};
    json_t *j = NULL;
    int rc;
    COMPUTE_BEGIN
    rc = eap_pairs(model->m, task, pairs, tokenizer, batch, seq_len, seed, &p, &err);
    if (rc == 0) rc = cc_eap_run(model->m, &p, &o, &r, &err);
    if (rc == 0) j = cc_eap_run_json(&r);
    COMPUTE_END
    cc_eap_run_result_free(&r);
    cc_eap_pairs_free(&p);
    return progress_bridge_result(&pb, rc, &err, j);
}
