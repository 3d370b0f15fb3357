/* tokenizer_text.h — the text side of the GPT-2 tokenizer (internal): GPT-2's
 * pre-tokenizer regex written out by hand (UTF-8 itself: circuitc/utf8.h). */
#ifndef CIRCUITC_TOKENIZER_TEXT_H
#define CIRCUITC_TOKENIZER_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The end (byte offset) of the pre-tokenizer piece that starts at POS in the
 * valid UTF-8 text S[0..LEN), POS < LEN. The pieces are the matches of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * taken left to right, as Hugging Face tokenizers' ByteLevel pre-tokenizer does. */
size_t cc_pretokenize_next(const uint8_t *s, size_t len, size_t pos);

/* Whether the valid UTF-8 character at S[POS] is whitespace (\s); *N gets its length. */
bool cc_pretokenize_is_space(const uint8_t *s, size_t pos, size_t *n);

/* Whether the character that starts at S[POS] / ends at S[AT] (AT > 0) of valid UTF-8 is a
 * word character (\w): an added token with single_word must not touch one. */
bool cc_word_char_at(const uint8_t *s, size_t pos);
bool cc_word_char_before(const uint8_t *s, size_t at);

#endif
