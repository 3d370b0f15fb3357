/* tokenizer_text.h — the text side of the GPT-2 tokenizer (internal): UTF-8
 * validation and repair, and GPT-2's pre-tokenizer regex written out by hand. */
#ifndef CIRCUITC_TOKENIZER_TEXT_H
#define CIRCUITC_TOKENIZER_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at S[0..LEN) (1..4), or 0 if S starts
 * with an invalid one; then *BAD_LEN is the length of its maximal invalid
 * subpart (what one U+FFFD replaces, as Python and Rust decode). */
size_t cc_utf8_sequence_length(const uint8_t *s, size_t len, size_t *bad_len);

/* The offset of the first invalid UTF-8 byte in S, or LEN if S is valid. */
size_t cc_utf8_first_invalid(const uint8_t *s, size_t len);

/* S with each maximal invalid subpart replaced by U+FFFD (malloc'ed,
 * NUL-terminated, *OUT_LEN its length), or NULL if out of memory. */
char *cc_utf8_replace_invalid(const uint8_t *s, size_t len, size_t *out_len);

/* The end (byte offset) of the pre-tokenizer piece that starts at POS in the
 * valid UTF-8 text S[0..LEN), POS < LEN. The pieces are the matches of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * taken left to right, as Hugging Face tokenizers' ByteLevel pre-tokenizer does. */
size_t cc_pretokenize_next(const uint8_t *s, size_t len, size_t pos);

#endif
