/* test_tokenizer.c — the GPT-2 tokenizer against GPT2TokenizerFast's goldens
 * (golden/out/gpt2-tokenizer/corpus.jsonl: every id, every decode), the
 * tokenizer.json route, the piece cache, and every class of bad input. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/tokenizer.h"
#include "testutil.h"

/* GPT-2's vocab.json + merges.txt, fetched by scripts/fetch-gpt2-tokenizer (bootstrap). */
static const char *gpt2_dir(void)
{
    const char *dir = getenv("CIRCUITC_GPT2_TOKENIZER");
    ck_assert_msg(dir != NULL, "CIRCUITC_GPT2_TOKENIZER is not set (meson sets it)");
    return dir;
}

static cc_tokenizer *load_gpt2(void)
{
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert_msg(cc_tokenizer_load(gpt2_dir(), &tok, &err) == 0, "%s (run scripts/fetch-gpt2-tokenizer)", err.msg);
    return tok;
}

static void encode_ok(cc_tokenizer *tok, const char *text, size_t len, cc_invalid_utf8 mode, cc_token_ids *ids)
{
    cc_error err;
    ids->n = 0;
    ck_assert_msg(cc_tokenizer_encode(tok, text, len, mode, ids, &err) == 0, "%s", err.msg);
}

static void assert_ids_equal(const cc_token_ids *got, json_t *want, const char *path, size_t line,
                             const char *oracle)
{
    size_t n = json_array_size(want);
    ck_assert_msg(got->n == n, "%s line %zu: %zu ids, %s has %zu", path, line, got->n, oracle, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got->ids[i] == json_integer_value(json_array_get(want, i)),
                      "%s line %zu: id %zu is %d, %s has %lld", path, line, i, got->ids[i], oracle,
                      (long long)json_integer_value(json_array_get(want, i)));
}

static void assert_decodes_to(const cc_tokenizer *tok, const int32_t *ids, size_t n, const char *want,
                              size_t want_len, const char *path, size_t line)
{
    char *text;
    size_t len;
    cc_error err;
    ck_assert_msg(cc_tokenizer_decode(tok, ids, n, &text, &len, &err) == 0, "%s", err.msg);
    ck_assert_msg(len == want_len && memcmp(text, want, len) == 0, "%s line %zu: decodes to \"%s\", want \"%s\"",
                  path, line, text, want);
    free(text);
}

static uint8_t *hex_bytes(const char *hex, size_t *len)
{
    *len = strlen(hex) / 2;
    uint8_t *out = malloc(*len + 1);
    for (size_t i = 0; i < *len; i++) ck_assert(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
    return out;
}

static void assert_encodes_to(cc_tokenizer *tok, const char *text, const int32_t *want, size_t n)
{
    cc_token_ids ids = {0};
    encode_ok(tok, text, strlen(text), CC_INVALID_UTF8_ERROR, &ids);
    ck_assert_uint_eq(ids.n, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(ids.ids[i], want[i]);
    cc_token_ids_free(&ids);
}

START_TEST(hello_world)
{
    cc_tokenizer *tok = load_gpt2();
    static const int32_t want[] = {15496, 995, 0};
    assert_encodes_to(tok, "Hello world!", want, 3);
    ck_assert_int_eq(cc_tokenizer_vocab_size(tok), 50257);
    ck_assert_int_eq(cc_tokenizer_token_id(tok, CC_GPT2_EOT_TEXT), 50256);
    ck_assert_int_eq(cc_tokenizer_token_id(tok, "\xC4\xA0world"), 995); /* "Ġworld" */
    cc_tokenizer_free(tok);
}
END_TEST

/* GPT-2's merges.txt rewritten with CRLF and with bare CR line ends loads the
 * same merges: "hello" is one token, not five bytes (bare CR once made the whole
 * file a single "#version" line, silently skipped). */
START_TEST(merges_line_ends)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", gpt2_dir());
    size_t vocab_len, merges_len;
    char *vocab = (char *)tu_read_file(path, &vocab_len);
    snprintf(path, sizeof path, "%s/merges.txt", gpt2_dir());
    char *lf = (char *)tu_read_file(path, &merges_len);
    char *crlf = malloc(2 * merges_len), *cr = malloc(merges_len);
    size_t crlf_len = 0;
    for (size_t i = 0; i < merges_len; i++) {
        if (lf[i] == '\n') crlf[crlf_len++] = '\r';
        crlf[crlf_len++] = lf[i];
        cr[i] = lf[i] == '\n' ? '\r' : lf[i];
    }
    const char *texts[] = {crlf, cr};
    size_t lens[] = {crlf_len, merges_len};
    static const int32_t want[] = {31373, 15496, 995, 0}; /* "hello", "Hello", " world", "!" */
    for (int i = 0; i < 2; i++) {
        cc_tokenizer *tok = NULL;
        cc_error err;
        ck_assert_msg(cc_tokenizer_from_buffers(vocab, vocab_len, texts[i], lens[i], &tok, &err) == 0, "%s", err.msg);
        assert_encodes_to(tok, "helloHello world!", want, 4);
        cc_tokenizer_free(tok);
    }
    free(vocab);
    free(lf);
    free(crlf);
    free(cr);
}
END_TEST

/* Every case of the corpus at PATH (golden/FORMAT.md): ids identical to ORACLE's, decode
 * identical to its decode (== the text for valid UTF-8); invalid UTF-8 refused by default
 * and, with replacement, tokenized as HF tokenizes the replaced str. Returns the number of
 * text cases. */
static size_t check_corpus(cc_tokenizer *tok, const char *path, const char *oracle)
{
    size_t size;
    char *corpus = (char *)tu_read_file(path, &size);
    cc_token_ids ids = {0};
    size_t line = 0, texts = 0, invalid = 0, decodes = 0;
    for (char *at = corpus, *nl; at < corpus + size; at = nl + 1) {
        nl = memchr(at, '\n', (size_t)(corpus + size - at));
        ck_assert(nl != NULL);
        line++;
        json_error_t jerr;
        json_t *c = json_loadb(at, (size_t)(nl - at), JSON_ALLOW_NUL, &jerr);
        ck_assert_msg(c != NULL, "%s line %zu: %s", path, line, jerr.text);
        json_t *text = json_object_get(c, "text"), *hex = json_object_get(c, "bytes");
        json_t *decoded = json_object_get(c, "decoded");
        if (text) {
            encode_ok(tok, json_string_value(text), json_string_length(text), CC_INVALID_UTF8_ERROR, &ids);
            assert_ids_equal(&ids, json_object_get(c, "ids"), path, line, oracle);
            assert_decodes_to(tok, ids.ids, ids.n, json_string_value(decoded), json_string_length(decoded), path, line);
            texts++;
        } else if (hex) {
            size_t len;
            uint8_t *bytes = hex_bytes(json_string_value(hex), &len);
            cc_error err;
            ids.n = 0;
            ck_assert(cc_tokenizer_encode(tok, (const char *)bytes, len, CC_INVALID_UTF8_ERROR, &ids, &err) != 0);
            tu_assert_contains(err.msg, "not valid UTF-8");
            encode_ok(tok, (const char *)bytes, len, CC_INVALID_UTF8_REPLACE, &ids);
            assert_ids_equal(&ids, json_object_get(c, "ids"), path, line, oracle);
            assert_decodes_to(tok, ids.ids, ids.n, json_string_value(decoded), json_string_length(decoded), path, line);
            free(bytes);
            invalid++;
        } else {
            json_t *want = json_object_get(c, "decode");
            ids.n = 0;
            for (size_t i = 0; i < json_array_size(want); i++)
                ck_assert_int_eq(cc_token_ids_push(&ids, (int32_t)json_integer_value(json_array_get(want, i)), NULL), 0);
            assert_decodes_to(tok, ids.ids, ids.n, json_string_value(decoded), json_string_length(decoded), path, line);
            decodes++;
        }
        json_decref(c);
    }
    ck_assert_msg(texts > 2000 && invalid >= 100 && decodes >= 100, "%s too small: %zu texts, %zu invalid, %zu "
                  "decodes", path, texts, invalid, decodes);
    cc_token_ids_free(&ids);
    free(corpus);
    return texts;
}

/* GPT-2's vocabulary against GPT2TokenizerFast; valid text also round-trips (the corpus's
 * decoded == text there, checked in check_corpus through the decode golden). */
START_TEST(golden_corpus)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/out/gpt2-tokenizer/corpus.jsonl", getenv("CIRCUITC_SOURCE_ROOT"));
    cc_tokenizer *tok = load_gpt2();
    check_corpus(tok, path, "GPT2TokenizerFast");
    cc_tokenizer_free(tok);
}
END_TEST

/* The tokenizer.json fixtures of golden/tokenizers/ (GPT-NeoX and Llama style, made by
 * golden/tokenizer_json_goldens.py) against Hugging Face tokenizers: every id and every
 * decode of their corpora. */
static const char *const json_fixtures[] = {"neox", "neox-prefix", "llama2", "llama-meta", "llama-always"};

START_TEST(tokenizer_json_goldens)
{
    const char *name = json_fixtures[_i];
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/golden/tokenizers/%s", getenv("CIRCUITC_SOURCE_ROOT"), name);
    snprintf(path, sizeof path, "%s/golden/out/tokenizers/%s.jsonl", getenv("CIRCUITC_SOURCE_ROOT"), name);
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert_msg(cc_tokenizer_load(dir, &tok, &err) == 0, "%s: %s", name, err.msg);
    check_corpus(tok, path, "tokenizers");
    cc_tokenizer_free(tok);
}
END_TEST

/* More distinct pieces than the cache holds, so it empties itself midway:
 * encoding the whole text (words in order) gives the ids of encoding each word
 * alone on a second tokenizer in reverse order (other cache contents). */
START_TEST(cache_overflow)
{
    enum { WORDS = 70000, WORD_LEN = 5 };
    char *text = malloc((size_t)WORDS * WORD_LEN);
    for (int i = 0; i < WORDS; i++) {
        char *w = text + (size_t)i * WORD_LEN;
        w[0] = ' ';
        for (int v = i, k = 1; k < WORD_LEN; k++, v /= 26) w[k] = (char)('a' + v % 26);
    }
    cc_tokenizer *forward = load_gpt2(), *backward = load_gpt2();
    cc_token_ids all = {0}, word = {0};
    encode_ok(forward, text, (size_t)WORDS * WORD_LEN, CC_INVALID_UTF8_ERROR, &all);
    size_t end = all.n;
    for (int i = WORDS - 1; i >= 0; i--) {
        encode_ok(backward, text + (size_t)i * WORD_LEN, WORD_LEN, CC_INVALID_UTF8_ERROR, &word);
        ck_assert(word.n <= end);
        end -= word.n;
        ck_assert_msg(memcmp(all.ids + end, word.ids, word.n * sizeof *word.ids) == 0, "word %d differs", i);
    }
    ck_assert_uint_eq(end, 0);
    cc_token_ids_free(&all);
    cc_token_ids_free(&word);
    cc_tokenizer_free(forward);
    cc_tokenizer_free(backward);
    free(text);
}
END_TEST

/* GPT-2's vocabulary and merges written as a tokenizer.json (merges as
 * "a b" strings or as pairs) encode exactly as vocab.json + merges.txt. */
static char *gpt2_tokenizer_json(bool pair_merges)
{
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/vocab.json", gpt2_dir());
    char *vocab_text = (char *)tu_read_file(path, &len);
    json_t *vocab = json_loadb(vocab_text, len, 0, NULL);
    snprintf(path, sizeof path, "%s/merges.txt", gpt2_dir());
    char *merges_text = (char *)tu_read_file(path, &len);
    json_t *merges = json_array();
    for (char *line = strtok(merges_text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "#version", 8) == 0) continue;
        char *space = strchr(line, ' ');
        *space = '\0';
        json_array_append_new(merges, pair_merges ? json_pack("[ss]", line, space + 1)
                                                  : json_sprintf("%s %s", line, space + 1));
    }
    json_t *root = json_pack("{s:[{s:i,s:s,s:b,s:b,s:b}],s:n,s:{s:s,s:b,s:b},s:{s:s,s:o,s:o}}",
                             "added_tokens", "id", 50256, "content", CC_GPT2_EOT_TEXT, "special", 1, "lstrip", 0,
                             "rstrip", 0, "normalizer", "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0,
                             "use_regex", 1, "model", "type", "BPE", "vocab", vocab, "merges", merges);
    ck_assert(root != NULL);
    char *out = json_dumps(root, 0);
    json_decref(root);
    free(vocab_text);
    free(merges_text);
    return out;
}

START_TEST(tokenizer_json_matches)
{
    static const char *texts[] = {"Hello world!", "I'm here<|endoftext|>  and there\n\n", "Привет 👩‍💻 123"};
    cc_tokenizer *ref = load_gpt2();
    for (int pairs = 0; pairs <= 1; pairs++) {
        char *json = gpt2_tokenizer_json(pairs);
        cc_tokenizer *tok = NULL;
        cc_error err;
        ck_assert_msg(cc_tokenizer_from_tokenizer_json(json, strlen(json), &tok, &err) == 0, "%s", err.msg);
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            cc_token_ids a = {0}, b = {0};
            encode_ok(ref, texts[i], strlen(texts[i]), CC_INVALID_UTF8_ERROR, &a);
            encode_ok(tok, texts[i], strlen(texts[i]), CC_INVALID_UTF8_ERROR, &b);
            ck_assert_uint_eq(a.n, b.n);
            ck_assert(memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
            cc_token_ids_free(&a);
            cc_token_ids_free(&b);
        }
        cc_tokenizer_free(tok);
        free(json);
    }
    cc_tokenizer_free(ref);
}
END_TEST

static void expect_load_error(const char *vocab, const char *merges, const char *needle1, const char *needle2)
{
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert(cc_tokenizer_from_buffers(vocab, strlen(vocab), merges, strlen(merges), &tok, &err) != 0);
    ck_assert(tok == NULL);
    tu_assert_contains(err.msg, needle1);
    tu_assert_contains(err.msg, needle2);
}

START_TEST(small_vocabulary)
{
    char *vocab = tu_byte_vocab("{\"ab\": 256, \"abc\": 257, \"<|endoftext|>\": 258}");
    const char *merges = "#version: 0.2\na b\nab c\n";
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert_msg(cc_tokenizer_from_buffers(vocab, strlen(vocab), merges, strlen(merges), &tok, &err) == 0, "%s",
                  err.msg);
    static const int32_t want[] = {257, 256, 258}; /* "abc", "ab", "<|endoftext|>" */
    assert_encodes_to(tok, "abcab<|endoftext|>", want, 3);
    int32_t bad = 259;
    char *text;
    size_t len;
    ck_assert(cc_tokenizer_decode(tok, &bad, 1, &text, &len, &err) != 0);
    tu_assert_contains(err.msg, "token id 259 is not in the vocabulary");
    cc_tokenizer_free(tok);
    free(vocab);
}
END_TEST

START_TEST(bad_inputs)
{
    char *vocab = tu_byte_vocab("{\"ab\": 256}");
    expect_load_error("{\"a\": ", "", "vocab.json", "not valid JSON");
    expect_load_error("[1, 2]", "", "vocab.json", "must be a JSON object");
    expect_load_error("{\"a\": -1}", "", "vocab.json", "id of token \"a\"");
    /* the id tables are sized by the largest id: 2e9 took 16 GB and 20 s before the limit */
    expect_load_error("{\"a\": 2000000000}", "", "vocab.json", "must be an integer in [0, 1048576)");
    expect_load_error("{\"a\": 0, \"b\": 0}", "", "vocab.json", "id 0 is given to both");
    expect_load_error("{\"a\": 0}", "", "vocab.json", "no token for byte 0x00");
    expect_load_error(vocab, "a b\nb zz\n", "merges.txt line 2", "\"zz\" is not in the vocabulary");
    expect_load_error(vocab, "b a\n", "merges.txt line 1", "gives \"ba\", which is not in the vocabulary");
    expect_load_error(vocab, "a b c\n", "merges.txt line 1", "two tokens separated by one space");
    expect_load_error(vocab, "ab\n", "merges.txt line 1", "two tokens separated by one space");
    /* no merges at all: every word would silently split into bytes */
    expect_load_error(vocab, "", "merges.txt", "no merges");
    expect_load_error(vocab, "#version: 0.2\n", "merges.txt", "no merges");
    expect_load_error(vocab, "#version: 0.2\r\n\r\n", "merges.txt", "no merges");

    cc_tokenizer *tok = NULL;
    cc_error err;
    const char *not_bpe = "{\"model\": {\"type\": \"WordPiece\"}}";
    ck_assert(cc_tokenizer_from_tokenizer_json(not_bpe, strlen(not_bpe), &tok, &err) != 0);
    tu_assert_contains(err.msg, "tokenizer.json: model type \"WordPiece\" is not supported; circuitc reads BPE");
    char no_merges[8192];
    snprintf(no_merges, sizeof no_merges, "{\"model\": {\"type\": \"BPE\", \"vocab\": %s, \"merges\": []}, "
             "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"normalizer\": null}", vocab);
    ck_assert(cc_tokenizer_from_tokenizer_json(no_merges, strlen(no_merges), &tok, &err) != 0);
    tu_assert_contains(err.msg, "tokenizer.json: field \"model.merges\" is empty");

    /* errors with no file or place: never "(null)" or "line -1 column -1" */
    ck_assert(cc_tokenizer_load(NULL, &tok, &err) != 0);
    ck_assert_msg(!strstr(err.msg, "(null)"), "%s", err.msg);
    tu_assert_contains(err.msg, "argument dir is NULL");
    ck_assert(cc_tokenizer_from_buffers("", 0, "a b", 3, &tok, &err) != 0);
    ck_assert_msg(!strstr(err.msg, "line -1"), "%s", err.msg);
    tu_assert_contains(err.msg, "vocab.json: not valid JSON");

    char *dir = tu_tmpdir();
    ck_assert(cc_tokenizer_load(dir, &tok, &err) != 0);
    tu_assert_contains(err.msg, dir);
    tu_assert_contains(err.msg, "tokenizer.json or vocab.json + merges.txt");
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    tu_write_file(path, vocab, strlen(vocab));
    ck_assert(cc_tokenizer_load(dir, &tok, &err) != 0);
    tu_assert_contains(err.msg, "cannot open tokenizer merges file");
    tu_assert_contains(err.msg, "merges.txt: No such file");
    tu_rmtree(dir);
    free(dir);
    free(vocab);
}
END_TEST

static json_t *load_fixture_json(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/tokenizers/%s/tokenizer.json", getenv("CIRCUITC_SOURCE_ROOT"), name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
    return root;
}

/* Sets the member at dotted PATH (e.g. "model.type", "added_tokens.1.id") of ROOT to the JSON text VALUE. */
static void set_path(json_t *root, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *at = root;
    char *key = strtok(buf, "."), *next;
    while ((next = strtok(NULL, "."))) {
        at = json_is_array(at) ? json_array_get(at, (size_t)atoi(key)) : json_object_get(at, key);
        ck_assert_msg(at != NULL, "no %s in %s", key, path);
        key = next;
    }
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    ck_assert_msg(v != NULL, "bad JSON %s", value);
    if (json_is_array(at)) ck_assert_int_eq(json_array_set_new(at, (size_t)atoi(key), v), 0);
    else ck_assert_int_eq(json_object_set_new(at, key, v), 0);
}

/* What circuitc does not implement is refused, naming the file, the field and what it reads. */
START_TEST(tokenizer_json_refusals)
{
    static const struct {
        const char *fixture, *path, *value, *want;
    } cases[] = {
        {"llama2", "model.type", "\"Unigram\"",
         "tokenizer.json: model type \"Unigram\" is not supported; circuitc reads BPE models"},
        {"llama2", "model.type", "\"WordPiece\"", "model type \"WordPiece\" is not supported"},
        {"neox", "pre_tokenizer", "{\"type\": \"Whitespace\"}",
         "tokenizer.json: pre_tokenizer type \"Whitespace\" is not supported; circuitc reads ByteLevel (GPT-2, "
         "GPT-NeoX) and Metaspace (Llama) tokenizers"},
        {"neox", "normalizer", "{\"type\": \"NFKC\"}", "normalizer type \"NFKC\" is not supported; circuitc reads NFC"},
        {"llama2", "normalizer.normalizers.1", "{\"type\": \"Lowercase\"}",
         "normalizer.normalizers[1] type \"Lowercase\" is not supported"},
        {"llama2", "normalizer.normalizers.1.pattern", "{\"Regex\": \" +\"}",
         "field \"normalizer.normalizers[1].pattern\" is a Regex"},
        {"llama2", "decoder.decoders.2", "{\"type\": \"CTC\"}", "decoder.decoders[2] type \"CTC\" is not supported"},
        {"neox", "decoder", "{\"type\": \"WordPiece\"}", "decoder type \"WordPiece\" is not supported"},
        {"neox", "model.dropout", "0.1", "field \"model.dropout\" must be null"},
        {"neox", "model.continuing_subword_prefix", "\"##\"", "field \"model.continuing_subword_prefix\" is \"##\""},
        {"neox", "added_tokens.1.content", "\"<|endoftext|>\"", "added_tokens[1] (\"<|endoftext|>\") repeats "
                                                                 "added_tokens[0]"},
        {"neox", "added_tokens.2.id", "7", "added_tokens[2] (\"    \") has id 7, but Hugging Face gives it 480"},
        {"llama2", "post_processor.single.1", "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}",
         "field \"post_processor.single\" must be \"$A\" or \"BOS $A\""},
        {"llama2", "post_processor", "{\"type\": \"RobertaProcessing\"}",
         "post_processor type \"RobertaProcessing\" is not supported"},
        {"llama2", "model.unk_token", "\"<nope>\"", "field \"model.unk_token\" must be a token of model.vocab"},
        {"llama-meta", "pre_tokenizer.prepend_scheme", "\"sometimes\"",
         "field \"pre_tokenizer.prepend_scheme\" must be \"first\", \"always\" or \"never\""},
        {"llama-meta", "pre_tokenizer.replacement", "\"ab\"", "field \"pre_tokenizer.replacement\" must be a string "
                                                              "of one character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *root = load_fixture_json(cases[i].fixture);
        set_path(root, cases[i].path, cases[i].value);
        char *text = json_dumps(root, 0);
        cc_tokenizer *tok = NULL;
        cc_error err;
        ck_assert_msg(cc_tokenizer_from_tokenizer_json(text, strlen(text), &tok, &err) != 0, "%s = %s accepted",
                      cases[i].path, cases[i].value);
        ck_assert(tok == NULL);
        tu_assert_contains(err.msg, cases[i].want);
        free(text);
        json_decref(root);
    }
}
END_TEST

/* The ByteLevel decoder in a Sequence with other steps goes through the generic decoder
 * steps, not the lone-ByteLevel fast path: the same decodes. */
START_TEST(byte_level_in_sequence)
{
    json_t *root = load_fixture_json("neox");
    set_path(root, "decoder", "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Fuse\"}]}");
    char *text = json_dumps(root, 0), path[4096];
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert_msg(cc_tokenizer_from_tokenizer_json(text, strlen(text), &tok, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/golden/out/tokenizers/neox.jsonl", getenv("CIRCUITC_SOURCE_ROOT"));
    check_corpus(tok, path, "tokenizers");
    cc_tokenizer_free(tok);
    free(text);
    json_decref(root);
}
END_TEST

/* cc_tokenizer_load: tokenizer.json before vocab.json + merges.txt (as Hugging Face's fast
 * tokenizers), a SentencePiece model alone refused with the way out; the BOS of each kind. */
START_TEST(tokenizer_folders)
{
    char *dir = tu_tmpdir(), path[4096], fixture[4096];
    snprintf(fixture, sizeof fixture, "%s/golden/tokenizers/llama2/tokenizer.json", getenv("CIRCUITC_SOURCE_ROOT"));
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    tu_write_file(path, "x", 1);
    cc_tokenizer *tok = NULL;
    cc_error err;
    ck_assert(cc_tokenizer_load(dir, &tok, &err) != 0);
    tu_assert_contains(err.msg, "tokenizer.model: a SentencePiece model alone is not read");
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    tu_write_file(path, "not json", 8); /* would fail if read */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ck_assert_int_eq(symlink(fixture, path), 0);
    ck_assert_msg(cc_tokenizer_load(dir, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cc_tokenizer_bos_id(tok), 1); /* "<s>", from the "<s> $A" template */
    cc_tokenizer_free(tok);
    tu_rmtree(dir);
    free(dir);

    snprintf(fixture, sizeof fixture, "%s/golden/tokenizers/neox", getenv("CIRCUITC_SOURCE_ROOT"));
    ck_assert_msg(cc_tokenizer_load(fixture, &tok, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cc_tokenizer_bos_id(tok), 0); /* "<|endoftext|>" */
    cc_tokenizer_free(tok);

    /* circuitc tokenize with a Llama tokenizer alone: "<s>" as BOS, "\u2581" read as a space */
    snprintf(fixture, sizeof fixture, "%s/golden/tokenizers/llama2", getenv("CIRCUITC_SOURCE_ROOT"));
    const char *argv[] = {"tokenize", "--tokenizer", fixture, "--json", "a b", NULL};
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bos")), 1);
    json_decref(j);
    tu_run_free(&r);
}
END_TEST

/* Runs circuitc with ARGV, expecting exit STATUS, nothing on stdout and NEEDLE on stderr. */
static void expect_cli_failure(const char *const *argv, int status, const char *needle)
{
    tu_run_result r = tu_run(argv);
    ck_assert_int_eq(r.status, status);
    ck_assert_str_eq(r.out, "");
    tu_assert_contains(r.err, needle);
    tu_run_free(&r);
}

START_TEST(cli_tokenize)
{
    const char *encode[] = {"tokenize", "--json", "Hello world!", NULL};
    tu_run_result r = tu_run(encode);
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    json_t *prompt = json_array_get(json_object_get(j, "prompts"), 0);
    json_t *want_ids = json_pack("[iiii]", 50256, 15496, 995, 0);
    json_t *want_tokens = json_pack("[ssss]", CC_GPT2_EOT_TEXT, "Hello", " world", "!");
    ck_assert(json_equal(json_object_get(prompt, "ids"), want_ids));
    ck_assert(json_equal(json_object_get(prompt, "tokens"), want_tokens));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bos")), 50256);
    json_decref(want_ids);
    json_decref(want_tokens);
    json_decref(j);
    tu_run_free(&r);

    const char *no_bos[] = {"tokenize", "--no-bos", "Hello world!", NULL};
    r = tu_run(no_bos);
    ck_assert_int_eq(r.status, 0);
    tu_assert_contains(r.out, "3 tokens\n");
    tu_assert_contains(r.out, "995  \" world\"");
    tu_run_free(&r);

    /* control characters, quotes and backslashes escaped as in every prompt command's output */
    const char *escaped[] = {"tokenize", "--no-bos", "x\ry\t\"q\" \\\x01", NULL};
    r = tu_run(escaped);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "\"\\r\"");
    tu_assert_contains(r.out, "\"\\t\"");
    tu_assert_contains(r.out, "\"\\\"\"");
    tu_assert_contains(r.out, "\\x01\"");
    tu_run_free(&r);

    const char *decode[] = {"tokenize", "--decode", "15496, 995,0", NULL};
    r = tu_run(decode);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "Hello world!\n");
    tu_run_free(&r);

    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/prompts.txt", dir);
    tu_write_file(path, "fine\nbad \xC3\x28\n", 12);
    const char *bad_file[] = {"tokenize", "--prompt-file", path, NULL};
    expect_cli_failure(bad_file, 1, "line 2: the text is not valid UTF-8 (byte 4 is 0xC3)");
    const char *replaced[] = {"tokenize", "--prompt-file", path, "--replace-invalid", "--no-bos", "--json", NULL};
    r = tu_run(replaced);
    ck_assert_msg(r.status == 0, "%s", r.err);
    j = tu_parse_json(r.out);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "prompts")), 2);
    prompt = json_array_get(json_object_get(j, "prompts"), 1);
    ck_assert(json_is_null(json_object_get(prompt, "text")));
    want_tokens = json_pack("[sss]", "bad", " \xEF\xBF\xBD", "(");
    ck_assert(json_equal(json_object_get(prompt, "tokens"), want_tokens));
    json_decref(want_tokens);
    json_decref(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);

    const char *bad_id[] = {"tokenize", "--decode", "15496,50257", NULL};
    expect_cli_failure(bad_id, 2, "\"50257\" is not a token id");
    const char *one[] = {"tokenize", "hi", "--no-bos", NULL};
    r = tu_run(one);
    ck_assert_msg(r.status == 0 && strncmp(r.out, "1 token\n", 8) == 0, "%s", r.out); /* not "1 tokens" */
    tu_run_free(&r);
    const char *signed_id[] = {"tokenize", "--decode", "15496,+995", NULL};
    expect_cli_failure(signed_id, 2, "\"+995\" is not a token id");
    const char *empty_item[] = {"tokenize", "--decode", "15496,,995", NULL};
    expect_cli_failure(empty_item, 2, "--decode: empty item before the comma at character 7");
    const char *leading_comma[] = {"tokenize", "--decode", ",995", NULL};
    expect_cli_failure(leading_comma, 2, "--decode: empty item before the comma at character 1");
    const char *trailing_comma[] = {"tokenize", "--decode", "15496 ,", NULL};
    expect_cli_failure(trailing_comma, 2, "--decode: empty item after the last comma");

    char fixture[4096];
    snprintf(fixture, sizeof fixture, "%s/golden/models/induction-3l4h", getenv("CIRCUITC_SOURCE_ROOT"));
    const char *small_model[] = {"tokenize", "--tokenizer", gpt2_dir(), "--model", fixture, "hi", NULL};
    expect_cli_failure(small_model, 1, "the tokenizer has 50257 tokens but the model's vocab_size is 512");

    /* A model folder with its own tokenizer: that tokenizer, and the model's BOS (511). */
    char *model_dir = tu_tmpdir();
    static const char *model_files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char from[8192], to[8192];
        snprintf(from, sizeof from, "%s/%s", fixture, model_files[i]);
        snprintf(to, sizeof to, "%s/%s", model_dir, model_files[i]);
        ck_assert_int_eq(symlink(from, to), 0);
    }
    char *vocab = tu_byte_vocab("{\"ab\": 256}");
    snprintf(path, sizeof path, "%s/vocab.json", model_dir);
    tu_write_file(path, vocab, strlen(vocab));
    snprintf(path, sizeof path, "%s/merges.txt", model_dir);
    tu_write_file(path, "a b\n", 4);
    const char *with_model[] = {"tokenize", "--model", model_dir, "--json", "ab", NULL};
    r = tu_run(with_model);
    ck_assert_msg(r.status == 0, "%s", r.err);
    j = tu_parse_json(r.out);
    want_ids = json_pack("[ii]", 511, 256);
    ck_assert(json_equal(json_object_get(json_array_get(json_object_get(j, "prompts"), 0), "ids"), want_ids));
    json_decref(want_ids);
    json_decref(j);
    tu_run_free(&r);
    tu_rmtree(model_dir);
    free(model_dir);
    free(vocab);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, hello_world);
    tcase_add_test(tc, merges_line_ends);
    tcase_add_test(tc, golden_corpus);
    tcase_add_loop_test(tc, tokenizer_json_goldens, 0, (int)(sizeof json_fixtures / sizeof json_fixtures[0]));
    tcase_add_test(tc, cache_overflow);
    tcase_add_test(tc, tokenizer_json_matches);
    tcase_add_test(tc, tokenizer_json_refusals);
    tcase_add_test(tc, tokenizer_folders);
    tcase_add_test(tc, byte_level_in_sequence);
    tcase_add_test(tc, small_vocabulary);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, cli_tokenize);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
