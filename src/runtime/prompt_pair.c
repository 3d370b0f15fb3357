/* prompt_pair.c — patching on a prompt pair as the commands run it
 * (include/circuitc/prompt_pair.h): the pair and its metric, patch's JSON,
 * path-patch as one call and its JSON. */
#include "circuitc/prompt_pair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/json_num.h"
#include "core/parallel.h"
#include "model/model_internal.h"

/* One prompt from TEXT or TOKENS (exactly one), named NAME / NAME-tokens in errors. */
static int load_one(const cc_prompt_pair_source *src, const char *text, const char *tokens, const char *name,
                    const cc_model *m, cc_prompt_batch *out, cc_error *err)
{
    if (!text == !tokens)
        return cc_fail_code(err, CC_E_ARG, "give exactly one of --%s TEXT and --%s-tokens IDS", name, name);
    cc_prompt_source ps = {.text = text, .tokens = tokens, .no_bos = src->no_bos, .tokenizer_dir = src->tokenizer_dir};
    if (cc_prompt_batch_load(&ps, m, out, err) != 0) return cc_fail_prefix(err, "--%s%s", name, text ? "" : "-tokens");
    if (out->batch != 1)
        return cc_fail_code(err, CC_E_ARG, "--%s%s: one prompt, not %d", name, text ? "" : "-tokens", out->batch);
    return 0;
}

int cc_prompt_pair_load(const cc_prompt_pair_source *src, const cc_model *m, cc_prompt_pair *out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    CC_ARG_NOT_NULL(src, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_ENUM(src->metric, CC_METRIC_LOSS + 1, err, -1);
    if (load_one(src, src->clean, src->clean_tokens, "clean", m, &out->clean, err) != 0 ||
        load_one(src, src->corrupt, src->corrupt_tokens, "corrupt", m, &out->corrupt, err) != 0)
        return -1;
    out->T = out->clean.pos;
    if (out->corrupt.pos != out->T)
        return cc_fail_code(err, CC_E_ARG, "the clean prompt has %d tokens and the corrupted one %d: patching needs "
                                           "the same number (reword one, or give token ids)", out->T, out->corrupt.pos);
    out->metric.kind = src->metric;
    if (src->metric == CC_METRIC_LOSS) {
        if (src->answer || src->wrong)
            return cc_fail_code(err, CC_E_ARG, "--answer and --wrong belong to --metric logit_diff, not loss");
        return 0;
    }
    if (!src->answer || !src->wrong)
        return cc_fail_code(err, CC_E_ARG, "--metric logit_diff needs --answer TOKEN and --wrong TOKEN");
    int32_t answer, wrong;
    if (cc_prompt_single_token(&out->clean, &m->cfg, src->answer, "--answer", &answer, err) != 0 ||
        cc_prompt_single_token(&out->clean, &m->cfg, src->wrong, "--wrong", &wrong, err) != 0)
        return -1;
    out->metric.answer = answer, out->metric.wrong = wrong;
    return 0;
}

void cc_prompt_pair_free(cc_prompt_pair *p)
{
    if (!p) return;
    cc_prompt_batch_free(&p->clean);
    cc_prompt_batch_free(&p->corrupt);
}

/* B's ids and token texts (by P's clean tokenizer) under IDS_KEY and TEXT_KEY. */
static int prompt_json(const cc_prompt_pair *p, const cc_prompt_batch *b, json_t *j, const char *ids_key,
                       const char *text_key)
{
    json_t *ids = json_array(), *texts = json_array();
    int rc = ids && texts ? 0 : -1;
    for (int t = 0; rc == 0 && t < b->pos; t++) {
        char *s = cc_prompt_token_text(&p->clean, b->tokens[t]);
        if (json_array_append_new(ids, json_integer(b->tokens[t])) != 0 ||
            json_array_append_new(texts, s ? json_string(s) : json_null()) != 0)
            rc = -1;
        free(s);
    }
    if (json_object_set_new(j, ids_key, ids) != 0) rc = -1;
    if (json_object_set_new(j, text_key, texts) != 0) rc = -1;
    return rc;
}

/* {id, token} of metric token ID, as dla writes its answer and wrong tokens. */
static json_t *token_json(const cc_prompt_pair *p, int id)
{
    char *s = cc_prompt_token_text(&p->clean, id);
    json_t *j = json_pack("{s:i, s:s?}", "id", id, "token", s);
    free(s);
    return j;
}

int cc_prompt_pair_json_set(const cc_prompt_pair *p, json_t *j)
{
    CC_ARG_NOT_NULL(p, NULL, -1);
    CC_ARG_NOT_NULL(j, NULL, -1);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, NULL, -1);
    if (prompt_json(p, &p->clean, j, "clean_tokens", "clean_text") != 0 ||
        prompt_json(p, &p->corrupt, j, "corrupt_tokens", "corrupt_text") != 0)
        return -1;
    bool ld = p->metric.kind == CC_METRIC_LOGIT_DIFF;
    json_t *mj = json_pack("{s:s}", "kind", ld ? "logit_diff" : "loss");
    if (mj && ld) {
        json_object_set_new(mj, "answer", token_json(p, p->metric.answer));
        json_object_set_new(mj, "wrong", token_json(p, p->metric.wrong));
    }
    return json_object_set_new(j, "metric", mj);
}

json_t *cc_patch_values_json(const cc_patch_result *r, const double *v)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(v, NULL, NULL);
    json_t *layers = json_array();
    for (int l = 0; layers && l < r->n_layers; l++) {
        json_t *pos = json_array();
        for (int q = 0; q < r->n_pos; q++) {
            json_t *heads = json_array();
            for (int h = 0; h < r->n_heads; h++)
                json_array_append_new(heads, cc_json_num(v[((size_t)l * r->n_pos + q) * r->n_heads + h]));
            json_array_append_new(pos, heads);
        }
        json_array_append_new(layers, pos);
    }
    return layers;
}

json_t *cc_patch_pair_json(const cc_prompt_pair *p, const cc_patch_opts *o, const cc_patch_result *r)
{
    CC_ARG_NOT_NULL(p, NULL, NULL);
    CC_ARG_NOT_NULL(o, NULL, NULL);
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, NULL, NULL);
    CC_ARG_ENUM(o->hook, CC_HOOK_COUNT, NULL, NULL);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, NULL, NULL);
    CC_ARG_ENUM(o->metric.kind, CC_METRIC_LOSS + 1, NULL, NULL);
    json_t *j = json_pack("{s:s, s:b, s:s, s:s}", "hook", cc_patch_hook_name(o->hook), "per_head", o->per_head,
                          "positions", o->all_positions ? "all" : "each", "method", o->naive ? "naive" : "causal");
    if (!j || cc_prompt_pair_json_set(p, j) != 0) return json_decref(j), NULL;
    json_object_set_new(j, "clean", json_real(r->clean));
    json_object_set_new(j, "corrupt", json_real(r->corrupt));
    json_object_set_new(j, "shape", json_pack("[iii]", r->n_layers, r->n_pos, r->n_heads));
    json_object_set_new(j, "layout", json_string("[layer][position][head]; one position entry with --positions "
                                                 "all, one head entry without --per-head"));
    json_object_set_new(j, "value", cc_patch_values_json(r, r->value));
    json_object_set_new(j, "normalized", cc_patch_values_json(r, r->normalized));
    json_object_set_new(j, "skipped", json_integer(r->skipped));
    return j;
}

/* OUT's senders: O's, or every head in the layers below the lowest receiver. */
static int senders_of(const cc_config *c, const cc_path_patch_options *o, cc_path_patch_report *out, cc_error *err)
{
    int lowest = c->n_layers;
    for (int i = 0; i < o->n_receivers; i++)
        if (o->receivers[i].layer < lowest) lowest = o->receivers[i].layer;
    out->n_senders = o->senders ? o->n_senders : lowest * c->n_heads;
    if (out->n_senders == 0)
        return cc_fail(err, "senders: the receivers are in layer 0, so no head sends to them");
    if (!(out->senders = malloc((size_t)out->n_senders * sizeof *out->senders)))
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; i < out->n_senders; i++)
        out->senders[i] = o->senders ? o->senders[i] : (cc_head){i / c->n_heads, i % c->n_heads};
    return 0;
}

int cc_path_patch_run(const cc_model *m, const cc_prompt_pair *p, const cc_path_patch_options *o,
                      cc_path_patch_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(o->receivers, err, -1);
    CC_ARG_AT_LEAST(o->n_receivers, 1, err, -1);
    CC_ARG_ENUM(o->to, CC_HOOK_COUNT, err, -1);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, err, -1);
    out->to = o->to;
    out->n_receivers = o->n_receivers;
    if (!(out->receivers = malloc((size_t)o->n_receivers * sizeof *out->receivers)))
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->receivers, o->receivers, (size_t)o->n_receivers * sizeof *out->receivers);
    if (senders_of(&m->cfg, o, out, err) != 0) return -1;
    return cc_path_patch(m, p->clean.tokens, p->corrupt.tokens, p->T, out->senders, out->n_senders, out->receivers,
                         out->n_receivers, o->to, &p->metric, o->kernel, 0, o->progress, o->progress_ctx,
                         &out->result, err);
}

void cc_path_patch_report_free(cc_path_patch_report *r)
{
    if (!r) return;
    cc_path_result_free(&r->result);
    free(r->senders), free(r->receivers);
    memset(r, 0, sizeof *r);
}

/* HEADS [n] by name, as a JSON array. */
static json_t *heads_json(const cc_head *heads, int n)
{
    char name[32];
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_string(cc_head_name(heads[i], name, sizeof name)));
    return a;
}

json_t *cc_path_patch_json(const cc_prompt_pair *p, const cc_path_patch_report *r)
{
    CC_ARG_NOT_NULL(p, NULL, NULL);
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, NULL, NULL);
    CC_ARG_ENUM(r->to, CC_HOOK_COUNT, NULL, NULL);
    json_t *j = json_pack("{s:o, s:s}", "receivers", heads_json(r->receivers, r->n_receivers), "to",
                          cc_patch_hook_name(r->to));
    if (!j || cc_prompt_pair_json_set(p, j) != 0) return json_decref(j), NULL;
    json_t *v = json_array(), *nv = json_array();
    for (int s = 0; s < r->result.n_senders; s++) {
        json_array_append_new(v, json_real(r->result.value[s]));
        json_array_append_new(nv, cc_json_num(r->result.normalized[s]));
    }
    json_object_set_new(j, "clean", json_real(r->result.clean));
    json_object_set_new(j, "corrupt", json_real(r->result.corrupt));
    json_object_set_new(j, "senders", heads_json(r->senders, r->n_senders));
    json_object_set_new(j, "value", v);
    json_object_set_new(j, "normalized", nv);
    return j;
}
