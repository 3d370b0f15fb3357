/* circuitc/utf8.h — strict UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF): validation for text that ends up in JSON or in
 * messages (circuit files, paths printed with --json), and the repair the
 * tokenizer applies (each maximal invalid subpart becomes one U+FFFD, as
 * Python's and Rust's decoders do). */
#ifndef CIRCUITC_UTF8_H
#define CIRCUITC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The length of the valid UTF-8 sequence at S[0..LEN) (1..4; LEN >= 1), or 0
 * if S starts with an invalid one; then *BAD_LEN is the length of its maximal
 * invalid subpart (what one U+FFFD replaces). */
size_t cc_utf8_sequence_length(const uint8_t *s, size_t len, size_t *bad_len);

/* The byte offset of the first invalid sequence in S[0..N), or N when all of it is valid. */
size_t cc_utf8_invalid_at(const char *s, size_t n);

/* Whether the NUL-terminated string S is valid UTF-8. */
bool cc_utf8_valid(const char *s);

/* S[0..LEN) with each maximal invalid subpart replaced by U+FFFD (malloc'ed,
 * NUL-terminated, *OUT_LEN its length), or NULL if out of memory. */
char *cc_utf8_replace_invalid(const char *s, size_t len, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
