/* fuzz_tokenizer.c — the tokenizers: loading from fuzzed vocab.json + merges.txt
 * or tokenizer.json texts, and encoding fuzzed text. The first byte chooses the
 * mode (its value mod 4), the rest is split at NUL bytes:
 *
 *   0  TEXT                          encoded with a small fixed GPT-2-style tokenizer
 *   1  VOCAB \0 MERGES \0 TEXT       cc_tokenizer_from_buffers, then TEXT encoded with it
 *   2  TOKENIZER_JSON \0 TEXT        cc_tokenizer_from_tokenizer_json, then TEXT encoded with it
 *   3  TEXT                          encoded with a small fixed Llama-2-style tokenizer.json
 *                                    (Prepend + Replace normalizer, byte_fallback, <s> </s> <unk>)
 *
 * A refused tokenizer's error must name its file. With any accepted tokenizer,
 * valid UTF-8 must encode (encoding with replacement giving the same ids) and
 * decode to valid UTF-8; invalid UTF-8 must be refused with the offset of its
 * first bad byte and encode with replacement. Decoding must give back the text
 * byte for byte (the repaired text with replacement on) where the pipeline
 * promises it: GPT-2's shape (mode 0, 1, and a tokenizer.json without normalizer,
 * with ByteLevel pre-tokenizer without prefix space and decoder, and added tokens
 * that decode to themselves and strip nothing: "Ā" is matched verbatim but
 * decodes through the alphabet as byte 0x00, as in Hugging Face), and mode 3
 * for a text without "<" (no special token), where the decode is the text with
 * each U+2581 read as a space. */
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
    fuzz_require(cc_utf8_invalid_at(decoded, decoded_len) == decoded_len && decoded[decoded_len] == '\0',
                 "a decoded text is not NUL-terminated valid UTF-8");
    fuzz_require(!exact || (decoded_len == want_len && memcmp(decoded, want, want_len) == 0),
                 "a %zu-byte text decodes to %zu different bytes", want_len, decoded_len);
    free(decoded);
}

/* Whether the accepted tokenizer.json JSON has GPT-2's shape, so that decoding gives back
 * the text: no normalizer, ByteLevel pre-tokenizer without prefix space and decoder, and
 * added tokens that strip no whitespace and decode to their own text. */
static bool round_trips(const cc_tokenizer *tok, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *pre = json_object_get(root, "pre_tokenizer"), *norm = json_object_get(root, "normalizer");
    const char *pre_type = json_string_value(json_object_get(pre, "type"));
    const char *dec_type = json_string_value(json_object_get(json_object_get(root, "decoder"), "type"));
    bool same = (!norm || json_is_null(norm)) && pre_type && strcmp(pre_type, "ByteLevel") == 0 &&
                !json_is_true(json_object_get(pre, "add_prefix_space")) && dec_type && strcmp(dec_type, "ByteLevel") == 0;
    json_t *added = json_object_get(root, "added_tokens"), *a;
    size_t i;
    json_array_foreach(added, i, a) {
        const char *content = json_string_value(json_object_get(a, "content")), *bytes;
        size_t n;
        cc_error err;
        fuzz_require(cc_tokenizer_token_bytes(tok, cc_tokenizer_token_id(tok, content), &bytes, &n, &err) == 0,
                     "accepted added token \"%s\" has no bytes: %s", content, err.msg);
        same = same && n == strlen(content) && memcmp(bytes, content, n) == 0 &&
               !json_is_true(json_object_get(a, "lstrip")) && !json_is_true(json_object_get(a, "rstrip"));
    }
    json_decref(root);
    return same;
}

/* The fixed Llama-2-style tokenizer: "<unk>" "<s>" "</s>", the 256 "<0xNN>" byte tokens, a
 * few characters and merges, Llama 2's normalizer, decoder and template; built once. */
static cc_tokenizer *fixed_llama_tokenizer(void)
{
    static cc_tokenizer *tok;
    if (tok) return tok;
    static const char *const chars[] = {"\xe2\x96\x81", "t", "h", "e", "a", "n", "\xc3\xa9", "\xe4\xb8\x96"};
    static const char *const merges[][2] = {
        {"\xe2\x96\x81", "t"}, {"h", "e"}, {"\xe2\x96\x81t", "he"}, {"a", "n"}, {"\xe2\x96\x81", "\xe2\x96\x81"},
    };
    json_t *vocab = json_pack("{s:i,s:i,s:i}", "<unk>", 0, "<s>", 1, "</s>", 2), *merge_list = json_array();
    int id = 3;
    char text[64];
    for (unsigned b = 0; b < 256; b++) {
        snprintf(text, sizeof text, "<0x%02X>", b);
        json_object_set_new(vocab, text, json_integer(id++));
    }
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) json_object_set_new(vocab, chars[i], json_integer(id++));
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        snprintf(text, sizeof text, "%s%s", merges[i][0], merges[i][1]);
        json_object_set_new(vocab, text, json_integer(id++));
        json_array_append_new(merge_list, json_pack("[ss]", merges[i][0], merges[i][1]));
    }
    json_t *root = json_pack(
        "{s:[{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b}],"
        "s:{s:s,s:[{s:s,s:s},{s:s,s:{s:s},s:s}]},s:n,"
        "s:{s:s,s:[{s:s,s:{s:s},s:s},{s:s},{s:s},{s:s,s:s,s:i,s:i}]},"
        "s:{s:s,s:s,s:b,s:b,s:b,s:o,s:o}}",
        "added_tokens", "id", 0, "content", "<unk>", "special", 1, "normalized", 0, "id", 1, "content", "<s>", "special",
        1, "normalized", 0, "id", 2, "content", "</s>", "special", 1, "normalized", 0,
        "normalizer", "type", "Sequence", "normalizers", "type", "Prepend", "prepend", "\xe2\x96\x81", "type",
        "Replace", "pattern", "String", " ", "content", "\xe2\x96\x81", "pre_tokenizer",
        "decoder", "type", "Sequence", "decoders", "type", "Replace", "pattern", "String", "\xe2\x96\x81", "content",
        " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ", "start", 1, "stop", 0,
        "model", "type", "BPE", "unk_token", "<unk>", "byte_fallback", 1, "fuse_unk", 1, "ignore_merges", 0, "vocab",
        vocab, "merges", merge_list);
    char *json = root ? json_dumps(root, JSON_COMPACT) : NULL;
    cc_error err;
    fuzz_require(json && cc_tokenizer_from_tokenizer_json(json, strlen(json), &tok, &err) == 0,
                 "the fixed Llama tokenizer does not load: %s", json ? err.msg : "json_pack failed");
    free(json);
    json_decref(root);
    return tok;
}

/* TEXT[0..LEN) with every U+2581 replaced by a space (malloc'd): what the Llama decoder gives back. */
static char *spaces_for_metaspace(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        bool meta = i + 3 <= len && memcmp(text + i, "\xe2\x96\x81", 3) == 0;
        out[n++] = meta ? ' ' : text[i];
        i += meta ? 3 : 1;
    }
    *out_len = n;
    return out;
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
    unsigned mode = data[0] % 4;
    if (mode == 0) {
        check_encoding(fixed_tokenizer(), (const char *)data + 1, size - 1, true);
        return 0;
    }
    if (mode == 3) {
        const char *text = (const char *)data + 1;
        size_t len = size - 1, want_len;
        bool exact = !memchr(text, '<', len) && cc_utf8_invalid_at(text, len) == len;
        check_encoding(fixed_llama_tokenizer(), text, len, false);
        if (exact) { /* the Llama decoder gives back the text, its U+2581 as spaces */
            cc_token_ids ids = {0};
            cc_error err;
            fuzz_require(cc_tokenizer_encode(fixed_llama_tokenizer(), text, len, CC_INVALID_UTF8_ERROR, &ids, &err) == 0,
                         "valid UTF-8 is refused: %s", err.msg);
            char *want = spaces_for_metaspace(text, len, &want_len);
            require_decodes_to(fixed_llama_tokenizer(), &ids, want, want_len, true);
            free(want);
            cc_token_ids_free(&ids);
        }
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
    bool exact = mode == 1 || round_trips(tok, first, first_len);
    check_encoding(tok, (const char *)data + at, size - at, exact); /* the rest, NULs included */
    cc_tokenizer_free(tok);
    return 0;
}
