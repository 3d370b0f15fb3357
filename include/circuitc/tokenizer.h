/* circuitc/tokenizer.h — BPE tokenizers bit-identical to Hugging Face's
 * (docs/tokenizer.md): GPT-2's byte-level BPE (vocab.json + merges.txt, as
 * GPT2TokenizerFast), and tokenizer.json files: GPT-NeoX's byte-level BPE with its
 * normalizer and added tokens, Llama's SentencePiece-style BPE (metaspace, byte
 * fallback), as the tokenizers library encodes and decodes them.
 *
 * Encoding: the text is split on added tokens ("<|endoftext|>", "<s>" ...), each part
 * is normalized and pre-tokenized (GPT-2's regex over bytes, or metaspace words), and
 * each word is merged by BPE in merge-rank order. Decoding runs the file's decoder.
 *
 * A tokenizer keeps a cache of encoded pieces, so encoding mutates it: one
 * tokenizer must not be used by two threads at once. */
#ifndef CIRCUITC_TOKENIZER_H
#define CIRCUITC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_tokenizer cc_tokenizer;

/* GPT-2's end-of-text token: the BOS TransformerLens prepends for a tokenizer alone. */
#define CC_GPT2_EOT_TEXT "<|endoftext|>"

/* Loads DIR/tokenizer.json, else DIR/vocab.json + DIR/merges.txt; its kind follows
 * from the file (docs/tokenizer.md). Errors name the file and the field (malformed
 * JSON, a merge whose token is not in the vocabulary, ids that are negative or
 * repeated, a tokenizer.json feature circuitc does not implement, ...). */
int cc_tokenizer_load(const char *dir, cc_tokenizer **out, cc_error *err);

/* The same from memory: a vocab.json text and a merges.txt text (neither needs
 * a terminating NUL). "<|endoftext|>", when in the vocabulary, is the special
 * token, as GPT2TokenizerFast built from these two files has it: matched
 * verbatim in the text before pre-tokenization. */
int cc_tokenizer_from_buffers(const char *vocab_json, size_t vocab_len, const char *merges_txt, size_t merges_len,
                              cc_tokenizer **out, cc_error *err);

/* The same from a tokenizer.json text (a BPE model; the normalizers, pre-tokenizers,
 * decoders and added-token flags docs/tokenizer.md lists). */
int cc_tokenizer_from_tokenizer_json(const char *json, size_t len, cc_tokenizer **out, cc_error *err);

void cc_tokenizer_free(cc_tokenizer *tok);

/* One more than the largest id in the vocabulary. */
int32_t cc_tokenizer_vocab_size(const cc_tokenizer *tok);

/* The BOS TransformerLens prepends for this tokenizer alone: the token a tokenizer.json's
 * post-processor template puts before the text ("<s>" for Llama), else "<|endoftext|>"
 * (GPT-2, GPT-NeoX); -1 when there is neither. */
int32_t cc_tokenizer_bos_id(const cc_tokenizer *tok);

/* The id of the token whose text is TEXT exactly (byte-level text for ordinary
 * tokens, e.g. "Ġworld"; verbatim for special tokens), or -1. */
int32_t cc_tokenizer_token_id(const cc_tokenizer *tok, const char *text);

/* A growable list of token ids. Zero-initialise; free with cc_token_ids_free. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} cc_token_ids;

void cc_token_ids_free(cc_token_ids *list);

/* Appends ID to LIST; -1 (with err) if out of memory. */
int cc_token_ids_push(cc_token_ids *list, int32_t id, cc_error *err);

/* How encoding treats bytes that are not valid UTF-8. */
typedef enum {
    /* Refuse the text, naming the byte offset (the default: Hugging Face only
     * ever receives a valid str, so there is no answer to match). */
    CC_INVALID_UTF8_ERROR = 0,
    /* Replace each maximal invalid subsequence by U+FFFD first, as Python's
     * bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do:
     * the ids are then those GPT2TokenizerFast gives for that decoded str. */
    CC_INVALID_UTF8_REPLACE = 1,
} cc_invalid_utf8;

/* Encodes TEXT (LEN bytes; NULL when LEN is 0) and appends its ids to OUT (no
 * BOS and no other post-processor token: callers prepend a BOS). */
int cc_tokenizer_encode(cc_tokenizer *tok, const char *text, size_t len, cc_invalid_utf8 invalid,
                        cc_token_ids *out, cc_error *err);

/* The bytes a token stands for (not NUL-terminated; special tokens give their
 * text; for a non-byte-level tokenizer "<0xNN>" is its byte and U+2581 a space).
 * -1 (with err) if ID is out of range or unused. */
int cc_tokenizer_token_bytes(const cc_tokenizer *tok, int32_t id, const char **bytes, size_t *len, cc_error *err);

/* Decodes IDS (N of them; NULL when N is 0) into a NUL-terminated UTF-8 string (*OUT, caller frees; *OUT_LEN
 * its length), as Hugging Face's decode (special tokens kept): for a byte-level
 * tokenizer the tokens' bytes concatenated, then any invalid UTF-8 (a character
 * cut between tokens) replaced by U+FFFD; otherwise through the file's decoder. */
int cc_tokenizer_decode(const cc_tokenizer *tok, const int32_t *ids, size_t n, char **out, size_t *out_len,
                        cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
