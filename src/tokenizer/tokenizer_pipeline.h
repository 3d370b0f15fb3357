/* tokenizer_pipeline.h — the stages of a Hugging Face tokenizer.json around its BPE model
 * (internal): the normalizer, the pre-tokenizer and the decoder, read from the file and
 * applied as Hugging Face tokenizers 0.22 applies them (docs/tokenizer.md). */
#ifndef CIRCUITC_TOKENIZER_PIPELINE_H
#define CIRCUITC_TOKENIZER_PIPELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"

typedef enum { TP_NORM_NFC, TP_NORM_PREPEND, TP_NORM_REPLACE } tp_norm_kind;

typedef struct {
    tp_norm_kind kind;
    char *pattern; /* REPLACE: the string replaced */
    char *content; /* PREPEND: the prefix; REPLACE: the replacement */
} tp_norm_step;

typedef enum { TP_PRE_NONE, TP_PRE_BYTE_LEVEL, TP_PRE_METASPACE } tp_pre_kind;
typedef enum { TP_PREPEND_ALWAYS, TP_PREPEND_FIRST, TP_PREPEND_NEVER } tp_prepend_scheme;

typedef enum {
    TP_DEC_BYTE_LEVEL, TP_DEC_REPLACE, TP_DEC_BYTE_FALLBACK, TP_DEC_FUSE, TP_DEC_STRIP, TP_DEC_METASPACE
} tp_dec_kind;

typedef struct {
    tp_dec_kind kind;
    char *pattern, *content; /* REPLACE */
    char strip[5];           /* STRIP: the character (UTF-8) */
    size_t start, stop;      /* STRIP: how many of it to remove at each end */
    char replacement[5];     /* METASPACE */
    tp_prepend_scheme scheme;
} tp_dec_step;

typedef struct {
    tp_norm_step *norm;
    size_t n_norm;
    tp_pre_kind pre;
    bool add_prefix_space, use_regex; /* ByteLevel */
    char replacement[5];              /* Metaspace: the character that stands for a space (UTF-8) */
    tp_prepend_scheme scheme;
    bool split;
    bool has_decoder; /* without one, decoding joins the tokens with spaces, as Hugging Face does */
    tp_dec_step *dec;
    size_t n_dec;
    int64_t template_bos; /* the id a "BOS $A" post-processor template puts before the text, or -1 */
} tp_pipeline;

/* Reads ROOT's "normalizer", "pre_tokenizer", "decoder" and "post_processor" into P; LABEL
 * names the file in errors, which name the field and what circuitc reads instead. */
int tp_parse(json_t *root, const char *label, tp_pipeline *p, cc_error *err);

/* GPT-2's pipeline: ByteLevel pre-tokenizer and decoder, no normalizer (vocab.json + merges.txt). */
int tp_gpt2(tp_pipeline *p, cc_error *err);

void tp_free(tp_pipeline *p);

/* The normalized form of the valid UTF-8 text S[0..LEN) (malloc'd, NUL-terminated), or NULL
 * when out of memory. */
char *tp_normalize(const tp_pipeline *p, const char *s, size_t len, size_t *out_len);

/* Cuts the normalized piece S[0..LEN) into the words BPE encodes and calls FN on each.
 * AT_START: the piece begins the text (Metaspace's prepend_scheme "first"). ByteLevel words
 * are the piece's own bytes (the byte alphabet is applied by BPE). */
typedef int (*tp_word_fn)(void *ctx, const char *word, size_t len, cc_error *err);
int tp_pre_tokenize(const tp_pipeline *p, const char *s, size_t len, bool at_start, tp_word_fn fn, void *ctx,
                    cc_error *err);

/* The decoder applied to N token texts (TEXTS[i], LENS[i] bytes): malloc'd UTF-8, NUL-terminated. */
char *tp_decode(const tp_pipeline *p, const char *const *texts, const size_t *lens, size_t n, size_t *out_len,
                cc_error *err);

/* GPT-2's byte alphabet: the bytes a vocabulary text stands for, into OUT (room for LEN
 * bytes); a text with a character outside the alphabet stands for itself. Returns the count. */
size_t tp_byte_level_bytes(const char *text, size_t len, char *out);

/* The UTF-8 text of the alphabet character of byte B into OUT (2 bytes of room); returns its length. */
size_t tp_byte_level_char(uint8_t b, char *out);

/* The byte of a ByteFallback token "<0xNN>", or -1 (as the ByteFallback decoder reads it). */
int tp_byte_fallback_value(const char *text, size_t len);

#endif
