/* prompt_json.c — the prompt commands' JSON (include/circuitc/prompt_json.h):
 * the prompt's keys, dla's attribution and lens' layers. */
#include "circuitc/prompt_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/args.h"

/* The folder B's tokenizer was read from, or null. */
static json_t *tokenizer_json(const cc_prompt_batch *b)
{
    return b->tokenizer_dir ? json_string(b->tokenizer_dir) : json_null();
}

json_t *cc_prompt_row_json(const cc_prompt_batch *b, int row)
{
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (row < 0 || row >= b->batch) return NULL;
    json_t *j = json_object(), *ids = json_array(), *texts = json_array();
    for (int t = 0; t < b->length[row]; t++) {
        int id = b->tokens[(size_t)row * b->pos + t];
        char *text = cc_prompt_token_text(b, id);
        json_array_append_new(ids, json_integer(id));
        json_array_append_new(texts, text ? json_string(text) : json_null());
        free(text);
    }
    json_object_set_new(j, "text", b->text[row] ? json_string(b->text[row]) : json_null());
    json_object_set_new(j, "ids", ids);
    json_object_set_new(j, "tokens", texts);
    return j;
}

json_t *cc_prompt_json(const cc_prompt_batch *b, int row)
{
    CC_ARG_NOT_NULL(b, NULL, NULL);
    json_t *keys = cc_prompt_row_json(b, row);
    if (!keys) return NULL;
    json_t *j = json_pack("{s:o}", "tokenizer", tokenizer_json(b));
    if (j) json_object_update(j, keys);
    json_decref(keys);
    return j;
}

/* {"id", "token", "prob"} of each of the K tokens IDS / PROBS. */
static json_t *top_json(const cc_prompt_batch *b, const int32_t *ids, const double *probs, int k)
{
    json_t *a = json_array();
    for (int i = 0; i < k; i++) {
        char *text = cc_prompt_token_text(b, ids[i]);
        json_array_append_new(a, json_pack("{s:i, s:s?, s:f}", "id", ids[i], "token", text, "prob", probs[i]));
        free(text);
    }
    return a;
}

/* Row ROW of run's predictions: the prompt's keys, logprob, rank, loss, top. */
static json_t *next_tokens_row_json(const cc_next_tokens *r, const cc_prompt_batch *b, int row)
{
    json_t *j = cc_prompt_row_json(b, row);
    if (!j) return NULL;
    json_t *lp = json_array(), *rank = json_array(), *top = json_array();
    for (int t = 0; t < b->length[row]; t++) {
        size_t at = (size_t)row * r->pos + t;
        json_array_append_new(lp, isnan(r->logprob[at]) ? json_null() : json_real(r->logprob[at]));
        json_array_append_new(rank, r->rank[at] < 0 ? json_null() : json_integer(r->rank[at]));
        json_array_append_new(top, top_json(b, r->top_id + at * r->k, r->top_prob + at * r->k, r->k));
    }
    json_object_set_new(j, "logprob", lp);
    json_object_set_new(j, "rank", rank);
    json_object_set_new(j, "loss", isnan(r->loss[row]) ? json_null() : json_real(r->loss[row]));
    json_object_set_new(j, "top", top);
    return j;
}

json_t *cc_next_tokens_json(const cc_next_tokens *r, const cc_prompt_batch *b)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (!r->logprob || r->batch != b->batch) return NULL;
    json_t *prompts = json_array();
    for (int row = 0; row < b->batch; row++) json_array_append_new(prompts, next_tokens_row_json(r, b, row));
    return json_pack("{s:o, s:o, s:i, s:o}", "tokenizer", tokenizer_json(b),
                     "bos", b->bos >= 0 ? json_integer(b->bos) : json_null(), "top_k", r->k, "prompts", prompts);
}

/* {id, token} of token ID (token null when it has no text). */
static json_t *token_json(const cc_prompt_batch *b, int32_t id)
{
    char *text = cc_prompt_token_text(b, id);
    json_t *j = json_pack("{s:i, s:s?}", "id", id, "token", text);
    free(text);
    return j;
}

json_t *cc_dla_json(const cc_dla *d, const cc_prompt_batch *b)
{
    CC_ARG_NOT_NULL(d, NULL, NULL);
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (!d->head) return NULL;
    int L = d->n_layers, H = d->n_heads;
    json_t *j = cc_prompt_json(b, 0);
    if (!j) return NULL;
    json_object_set_new(j, "position", json_integer(d->position));
    json_object_set_new(j, "answer", token_json(b, d->answer));
    json_object_set_new(j, "wrong", d->wrong >= 0 ? token_json(b, d->wrong) : json_null());
    json_object_set_new(j, "metric", json_string(d->wrong >= 0 ? "logit_diff" : "logit"));
    json_t *heads = json_array(), *attn_bias = json_array(), *attn_out = json_array(), *mlp_out = json_array();
    for (int l = 0; l < L; l++) {
        json_t *row = json_array();
        for (int h = 0; h < H; h++) json_array_append_new(row, json_real(d->head[l * H + h]));
        json_array_append_new(heads, row);
        json_array_append_new(attn_bias, json_real(d->attn_bias[l]));
        json_array_append_new(attn_out, json_real(d->attn_out[l]));
        json_array_append_new(mlp_out, json_real(d->mlp_out[l]));
    }
    json_object_update_new(j, json_pack("{s:f, s:f, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:f}", "embed", d->embed,
                                        "pos_embed", d->pos_embed, "heads", heads, "attn_bias", attn_bias, "attn_out",
                                        attn_out, "mlp_out", mlp_out, "unembed_bias", d->unembed_bias, "sum", d->sum,
                                        "logit", d->logit, "ln_final_scale", d->scale));
    return j;
}

char *cc_logit_lens_label(const cc_logit_lens *r, int row, char *buf, size_t size)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    if (row < r->n_rows - 1) snprintf(buf, size, "%d_pre", row);
    else snprintf(buf, size, "final_post");
    return buf;
}

/* One residual stream of the lens: label, prob_next, rank_next, top. */
static json_t *lens_row_json(const cc_logit_lens *r, const cc_prompt_batch *b, int i)
{
    char label[32];
    cc_logit_lens_label(r, i, label, sizeof label);
    json_t *prob = json_array(), *rank = json_array(), *top = json_array();
    int T = r->pos;
    for (int t = 0; t < T; t++) {
        size_t at = (size_t)i * T + t;
        json_array_append_new(prob, isnan(r->prob[at]) ? json_null() : json_real(r->prob[at]));
        json_array_append_new(rank, r->rank[at] < 0 ? json_null() : json_integer(r->rank[at]));
        json_array_append_new(top, top_json(b, r->top_id + at * r->k, r->top_prob + at * r->k, r->k));
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "label", label, "prob_next", prob, "rank_next", rank, "top", top);
}

json_t *cc_logit_lens_json(const cc_logit_lens *r, const cc_prompt_batch *b)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (!r->prob) return NULL;
    json_t *j = cc_prompt_json(b, 0), *layers = json_array();
    if (!j) return NULL;
    for (int i = 0; i < r->n_rows; i++) json_array_append_new(layers, lens_row_json(r, b, i));
    json_object_set_new(j, "top_k", json_integer(r->k));
    json_object_set_new(j, "layers", layers);
    return j;
}

/* PATTERN [T, T] as rows. */
static json_t *pattern_rows(const float *pattern, int T)
{
    json_t *jp = json_array();
    for (int i = 0; i < T; i++) {
        json_t *row = json_array();
        for (int k = 0; k < T; k++) json_array_append_new(row, json_real(pattern[(size_t)i * T + k]));
        json_array_append_new(jp, row);
    }
    return jp;
}

/* {head, layer, index} of H. */
static json_t *head_json(cc_head h)
{
    char name[32];
    return json_pack("{s:s, s:i, s:i}", "head", cc_head_name(h, name, sizeof name), "layer", h.layer, "index", h.head);
}

json_t *cc_prompt_pattern_json(const cc_prompt_pattern *r, const cc_prompt_batch *b)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (!r->pattern) return NULL;
    json_t *j = json_pack("{s:o}", "tokenizer", tokenizer_json(b));
    if (!j) return NULL;
    json_object_update_new(j, head_json(r->head));
    json_object_update_new(j, cc_prompt_row_json(b, 0));
    json_object_set_new(j, "pattern", pattern_rows(r->pattern, r->positions));
    return j;
}

json_t *cc_prompt_patterns_json(const cc_prompt_patterns *r, const cc_prompt_batch *b)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_NOT_NULL(b, NULL, NULL);
    if (!r->pattern) return NULL;
    int T = r->positions;
    json_t *j = cc_prompt_json(b, 0), *all = json_array();
    for (int k = 0; all && k < r->n_heads; k++) {
        json_t *e = head_json(r->heads[k]);
        if (e) json_object_set_new(e, "pattern", pattern_rows(r->pattern + (size_t)k * T * T, T));
        json_array_append_new(all, e);
    }
    if (j) json_object_set_new(j, "patterns", all);
    else json_decref(all);
    return j;
}
