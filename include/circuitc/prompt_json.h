/* circuitc/prompt_json.h — the JSON the prompt commands print, for results
 * computed on a prompt batch (prompts.h): run (cc_next_tokens_run,
 * predictions.h), dla (cc_dla_run, dla.h), lens (cc_logit_lens_run,
 * predictions.h) and pattern (cc_prompt_pattern_run, runtime_report.h). Every body
 * starts with the prompt's keys (cc_prompt_json); token texts come from the
 * batch's tokenizer. Each returns a new object (keys in README.md, "JSON
 * output"), NULL when out of memory. */
#ifndef CIRCUITC_PROMPT_JSON_H
#define CIRCUITC_PROMPT_JSON_H

#include <jansson.h>

#include "circuitc/dla.h"
#include "circuitc/predictions.h"
#include "circuitc/prompts.h"
#include "circuitc/runtime_report.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row ROW of B: text (null for ids), ids, tokens (their texts). */
json_t *cc_prompt_row_json(const cc_prompt_batch *b, int row);

/* tokenizer (the folder read, or null), then cc_prompt_row_json's keys. */
json_t *cc_prompt_json(const cc_prompt_batch *b, int row);

/* pattern's body for R computed on row 0 of B: tokenizer, head, layer,
 * index, the prompt's keys, pattern [T][T]. */
json_t *cc_prompt_pattern_json(const cc_prompt_pattern *r, const cc_prompt_batch *b);

/* pattern's body for several heads R computed on row 0 of B: the prompt's keys
 * (tokenizer, text, ids, tokens), patterns [{head, layer, index, pattern}]. */
json_t *cc_prompt_patterns_json(const cc_prompt_patterns *r, const cc_prompt_batch *b);

/* run's body for R computed on every row of B: tokenizer, bos (null
 * without one), top_k, prompts (per row: text, ids, tokens, logprob, rank,
 * loss, top). */
json_t *cc_next_tokens_json(const cc_next_tokens *r, const cc_prompt_batch *b);

/* dla's body for D computed on row 0 of B: the prompt's keys, position,
 * answer, wrong, metric, embed, pos_embed, heads, attn_bias, attn_out,
 * mlp_out, unembed_bias, sum, logit, scale. */
json_t *cc_dla_json(const cc_dla *d, const cc_prompt_batch *b);

/* Row ROW's label as TransformerLens' accumulated_resid names it ("0_pre" ...
 * "final_post") into BUF; BUF. */
char *cc_logit_lens_label(const cc_logit_lens *r, int row, char *buf, size_t size);

/* lens' body for R computed on row 0 of B: the prompt's keys, top_k, layers
 * (per residual stream: label, prob_next, rank_next, top). */
json_t *cc_logit_lens_json(const cc_logit_lens *r, const cc_prompt_batch *b);

#ifdef __cplusplus
}
#endif

#endif
