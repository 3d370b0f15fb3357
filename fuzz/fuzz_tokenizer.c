/* fuzz_tokenizer.c — the GPT-2 tokenizer: loading from fuzzed vocab.json +
 * merges.txt or tokenizer.json texts, and encoding fuzzed text. The first byte
 * chooses the mode (its value mod 3), the rest is split at NUL bytes:
 *
 *   0  TEXT                          encoded with a small fixed tokenizer
 *   1  VOCAB \0 MERGES \0 TEXT       cc_tokenizer_from_buffers, then TEXT encoded with it
 *   2  TOKENIZER_JSON \0 TEXT        cc_tokenizer_from_tokenizer_json, then TEXT encoded with it
 *
 * A refused tokenizer's error must name its file. With any accepted tokenizer,
 * valid UTF-8 must encode and decode back to itself byte for byte (encoding
 * with replacement must give the same ids); invalid UTF-8 must be refused with
 * the offset of its first bad byte, and with replacement must decode to the
 * text with each maximal invalid subpart replaced by U+FFFD. The one exception
 * is a tokenizer.json added token whose text holds alphabet characters that
 * stand for other bytes ("Ā" is byte 0x00): it is matched verbatim but decodes
 * through the alphabet, as in Hugging Face, so only success is checked then. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/tokenizer.h"
#include "circuitc/utf8.h"
#include "harness.h"

/* GPT-2's byte-to-unicode alphabet: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order. Written here
 * independently of src/tokenizer/tokenizer.c so that the fixed tokenizer checks it. */
static unsigned byte_codepoint(unsigned byte)
{
    bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
    if (printable) return byte;
    unsigned below = 0; /* non-printable bytes before this one */
    for (unsigned b = 0; b < byte; b++)
        below += !((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE);
    return 256 + below;
}

/* The alphabet text of the bytes S[0..LEN) (at most 2 UTF-8 bytes each) into OUT. */
static void alphabet_text(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned cp = byte_codepoint((uint8_t)s[i]);
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
}

/* The fixed tokenizer: the 256 byte tokens, a few merges (English, a
 * multi-byte letter, an emoji's prefix, digits, whitespace runs) and
 * <|endoftext|>; built once. */
static cc_tokenizer *fixed_tokenizer(void)
{
    static cc_tokenizer *tok;
    if (tok) return tok;
    static const char *const merges[][2] = {
        {" ", "t"}, {"h", "e"}, {" t", "he"}, {"i", "n"}, {"e", "r"}, {" ", "a"}, {"'", "s"}, {"1", "2"},
        {"\xc3", "\xa9"}, {"\xf0", "\x9f"}, {"\xf0\x9f", "\x98"}, {" ", " "}, {"\n", "\n"}, {"in", "g"},
    };
    json_t *vocab = json_object();
    char text[64], left[32], right[32];
    int id = 0;
    for (unsigned b = 0; b < 256; b++) {
        char byte = (char)b;
        alphabet_text(&byte, 1, text);
        json_object_set_new(vocab, text, json_integer(id++));
    }
    size_t merges_cap = 64 * sizeof merges / sizeof merges[0] + 32;
    char *merges_txt = malloc(merges_cap);
    size_t merges_len = (size_t)snprintf(merges_txt, merges_cap, "#version: 0.2\n");
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        alphabet_text(merges[i][0], strlen(merges[i][0]), left);
        alphabet_text(merges[i][1], strlen(merges[i][1]), right);
        merges_len += (size_t)snprintf(merges_txt + merges_len, merges_cap - merges_len, "%s %s\n", left, right);
        snprintf(text, sizeof text, "%s%s", left, right);
        json_object_set_new(vocab, text, json_integer(id++));
    }
    json_object_set_new(vocab, CC_GPT2_EOT_TEXT, json_integer(id));
    char *vocab_json = json_dumps(vocab, JSON_COMPACT);
    cc_error err;
    fuzz_require(vocab_json && cc_tokenizer_from_buffers(vocab_json, strlen(vocab_json), merges_txt, merges_len,
                                                         &tok, &err) == 0,
                 "the fixed tokenizer does not load: %s", vocab_json ? err.msg : "json_dumps failed");
    free(vocab_json);
    free(merges_txt);
    json_decref(vocab);
    return tok;
}

/* Decodes IDS and, when EXACT, requires the result to be WANT[0..WANT_LEN). */
static void require_decodes_to(const cc_tokenizer *tok, const cc_token_ids *ids, const char *want, size_t want_len,
                               bool exact)
{
    char *decoded = NULL;
    size_t decoded_len = 0;
    cc_error err;
    fuzz_require(cc_tokenizer_decode(tok, ids->ids, ids->n, &decoded, &decoded_len, &err) == 0,
                 "decoding %zu ids of an encoded text fails: %s", ids->n, err.msg);
    fuzz_require(!exact || (decoded_len == want_len && memcmp(decoded, want, want_len) == 0),
                 "a %zu-byte text decodes to %zu different bytes", want_len, decoded_len);
    free(decoded);
}

/* Whether every added token of the accepted tokenizer.json JSON decodes to its own text. */
static bool added_tokens_decode_to_themselves(const cc_tokenizer *tok, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *added = json_object_get(root, "added_tokens"), *a;
    size_t i;
    bool same = true;
    json_array_foreach(added, i, a) {
        const char *content = json_string_value(json_object_get(a, "content")), *bytes;
        size_t n;
        cc_error err;
        fuzz_require(cc_tokenizer_token_bytes(tok, cc_tokenizer_token_id(tok, content), &bytes, &n, &err) == 0,
                     "accepted added token \"%s\" has no bytes: %s", content, err.msg);
        same = same && n == strlen(content) && memcmp(bytes, content, n) == 0;
    }
    json_decref(root);
    return same;
}

/* The checks of the header comment; EXACT: compare decoded texts byte for byte. */
static void check_encoding(cc_tokenizer *tok, const char *text, size_t len, bool exact)
{
    cc_error err;
    cc_token_ids strict = {0}, replaced = {0};
    int strict_rc = cc_tokenizer_encode(tok, text, len, CC_INVALID_UTF8_ERROR, &strict, &err);
    size_t bad = cc_utf8_invalid_at(text, len);
    if (bad == len) {
        fuzz_require(strict_rc == 0, "valid UTF-8 (%zu bytes) is refused: %s", len, err.msg);
        require_decodes_to(tok, &strict, text, len, exact);
    } else {
        char offset[64];
        snprintf(offset, sizeof offset, "(byte %zu is 0x", bad);
        fuzz_require(strict_rc != 0 && strstr(err.msg, "not valid UTF-8") && strstr(err.msg, offset),
                     "invalid UTF-8 (first bad byte %zu) is not refused with its offset: %s", bad,
                     strict_rc ? err.msg : "accepted");
    }
    fuzz_require(cc_tokenizer_encode(tok, text, len, CC_INVALID_UTF8_REPLACE, &replaced, &err) == 0,
                 "encoding with replacement fails: %s", err.msg);
    if (bad == len) {
        fuzz_require(replaced.n == strict.n &&
                         (!strict.n || memcmp(replaced.ids, strict.ids, strict.n * sizeof *strict.ids) == 0),
                     "valid UTF-8 gets other ids when replacement is on");
    } else {
        size_t repaired_len;
        char *repaired = cc_utf8_replace_invalid(text, len, &repaired_len);
        fuzz_require(repaired && cc_utf8_invalid_at(repaired, repaired_len) == repaired_len,
                     "the repaired text is not valid UTF-8");
        require_decodes_to(tok, &replaced, repaired, repaired_len, exact);
        free(repaired);
    }
    cc_token_ids_free(&strict);
    cc_token_ids_free(&replaced);
}

/* The next NUL-separated part of DATA[*AT..SIZE): its start and *LEN. */
static const char *next_part(const uint8_t *data, size_t size, size_t *at, size_t *len)
{
    const char *start = (const char *)data + *at;
    const uint8_t *nul = *at < size ? memchr(data + *at, '\0', size - *at) : NULL;
    size_t end = nul ? (size_t)(nul - data) : size;
    *len = end - *at;
    *at = nul ? end + 1 : size;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    unsigned mode = data[0] % 3;
    if (mode == 0) {
        check_encoding(fixed_tokenizer(), (const char *)data + 1, size - 1, true);
        return 0;
    }
    size_t at = 1, first_len, second_len;
    const char *first = next_part(data, size, &at, &first_len);
    cc_tokenizer *tok = NULL;
    cc_error err;
    if (mode == 1) {
        const char *merges = next_part(data, size, &at, &second_len);
        if (cc_tokenizer_from_buffers(first, first_len, merges, second_len, &tok, &err) != 0) {
            fuzz_require(strstr(err.msg, "vocab.json") || strstr(err.msg, "merges.txt"),
                         "the error \"%s\" names neither vocab.json nor merges.txt", err.msg);
            return 0;
        }
    } else if (cc_tokenizer_from_tokenizer_json(first, first_len, &tok, &err) != 0) {
        fuzz_require_error_names(&err, "tokenizer.json");
        return 0;
    }
    bool exact = mode == 1 || added_tokens_decode_to_themselves(tok, first, first_len);
    check_encoding(tok, (const char *)data + at, size - at, exact); /* the rest, NULs included */
    cc_tokenizer_free(tok);
    return 0;
}
