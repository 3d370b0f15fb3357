/* circuitc/prompts.h — a researcher's prompts (text, a file of prompts, or
 * token ids) turned into the token batch a forward pass runs, as
 * TransformerLens' HookedTransformer.to_tokens does.
 *
 * Text is encoded with GPT-2's byte-level BPE (circuitc/tokenizer.h) and BOS
 * is prepended unless no_bos, as to_tokens does by default. A batch of prompts
 * of unequal length is padded on the right (to_tokens with padding_side
 * "right") with the pad id TransformerLens uses for GPT-2: the tokenizer's
 * "<|endoftext|>" (its eos token, which HookedTransformer makes the pad token).
 * Because attention is causal, the padding after a prompt changes nothing at
 * its real positions; callers read only positions < length[b].
 *
 * Unlike to_tokens, which truncates silently to n_ctx, a prompt longer than
 * the model's context is refused. Token ids (--tokens) are used exactly as
 * given, with no BOS added: the same as passing a token tensor to the model. */
#ifndef CIRCUITC_PROMPTS_H
#define CIRCUITC_PROMPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/error.h"
#include "circuitc/model.h"
#include "circuitc/tokenizer.h"

/* Where the prompts come from: exactly one of text, file and tokens. */
typedef struct {
    const char *text;          /* --prompt TEXT: one prompt */
    const char *file;          /* --prompt-file FILE: one prompt per line (the newline is not part of it) */
    const char *tokens;        /* --tokens IDS (comma- or space-separated) or @FILE (one sequence per line) */
    bool no_bos;               /* --no-bos: do not prepend BOS to text prompts */
    const char *tokenizer_dir; /* --tokenizer DIR; NULL: the model's folder if it holds vocab.json +
                                  merges.txt or tokenizer.json, else fallback_dir */
    const char *fallback_dir;  /* GPT-2's files (the CLI passes third_party/gpt2-tokenizer) */
} cc_prompt_source;

/* A batch of token sequences, padded on the right to the longest. */
typedef struct {
    int batch, pos;
    int *tokens;               /* [batch, pos] */
    int *length;               /* [batch]: real tokens of row b; positions >= length[b] hold pad */
    int32_t bos;               /* the id prepended to every text prompt, -1 if none */
    int32_t pad;               /* the id filling rows past their length */
    char **text;               /* [batch]: each prompt's text (NULL for token ids) */
    cc_tokenizer *tok;         /* NULL when ids were given and no tokenizer fits the model */
    char *tokenizer_dir;       /* the folder the tokenizer was read from (NULL without one) */
} cc_prompt_batch;

/* Builds the batch for model M (its config gives BOS, the vocabulary size and
 * n_ctx; its folder may hold the tokenizer). Errors name the option, the file
 * and line, and the fix (an id out of range, an empty prompt, a prompt longer
 * than n_ctx, a tokenizer larger than the model's vocabulary). OUT is
 * overwritten; free with cc_prompt_batch_free (also after a failure). */
int cc_prompt_batch_load(const cc_prompt_source *src, const cc_model *m, cc_prompt_batch *out, cc_error *err);

void cc_prompt_batch_free(cc_prompt_batch *b);

/* Token ID's text as TransformerLens' to_str_tokens shows it (decoded alone;
 * a character cut between tokens becomes U+FFFD), or "#ID" without a
 * tokenizer. Caller frees; NULL when out of memory. */
char *cc_prompt_token_text(const cc_prompt_batch *b, int32_t id);

/* Resolves TOKEN (--answer / --wrong) to one id: "#ID" is an id (no token of
 * GPT-2's vocabulary has this form), anything else is text that must encode
 * to exactly one token, as TransformerLens' to_single_token requires (" Mary"
 * with its leading space). WHAT names the option in errors. */
int cc_prompt_single_token(const cc_prompt_batch *b, const cc_config *cfg, const char *token, const char *what,
                           int32_t *id, cc_error *err);

#endif
