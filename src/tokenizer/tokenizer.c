/* tokenizer.c — BPE tokenizers (GPT-2's and GPT-NeoX's byte-level BPE, Llama's
 * SentencePiece-style BPE): vocabulary, merges and added tokens, BPE with a cache of
 * encoded words, encoding and decoding. The normalizer, pre-tokenizer and decoder of a
 * tokenizer.json are in tokenizer_pipeline.c, GPT-2's pre-tokenizer regex in
 * tokenizer_text.c, UTF-8 validation and repair in utf8.c. */
#include "circuitc/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "circuitc/config.h"
#include "circuitc/fsio.h"
#include "circuitc/utf8.h"
#include "core/args.h"
#include "core/json_error.h"
#include "tokenizer_pipeline.h"
#include "tokenizer_text.h"

/* ---- a hash map from byte strings to 64-bit values (open addressing) ---- */

typedef struct {
    const char *key; /* NULL: empty slot; points into memory the map's owner keeps alive */
    uint32_t len;
    uint64_t value;
} str_slot;

typedef struct {
    str_slot *slots;
    size_t cap, n; /* cap a power of two, kept at most half full */
} str_map;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static str_slot *str_map_slot(const str_map *m, const char *key, size_t len)
{
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i].key && !(m->slots[i].len == len && memcmp(m->slots[i].key, key, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

static const uint64_t *str_map_get(const str_map *m, const char *key, size_t len)
{
    if (!m->cap) return NULL;
    const str_slot *s = str_map_slot(m, key, len);
    return s->key ? &s->value : NULL;
}

static int str_map_reserve(str_map *m, size_t n)
{
    if (2 * n <= m->cap) return 0;
    size_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    str_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key) *str_map_slot(m, old[i].key, old[i].len) = old[i];
    free(old);
    return 0;
}

/* Inserts or overwrites KEY; the key's memory must outlive the map. */
static int str_map_put(str_map *m, const char *key, size_t len, uint64_t value)
{
    if (str_map_reserve(m, m->n + 1) != 0) return -1;
    str_slot *s = str_map_slot(m, key, len);
    if (!s->key) m->n++;
    *s = (str_slot){key, (uint32_t)len, value};
    return 0;
}

/* ---- a hash map from id pairs to merges ---- */

typedef struct {
    uint64_t pair; /* left << 32 | right; EMPTY_PAIR for an empty slot */
    uint32_t rank;
    int32_t merged;
} merge_slot;

#define EMPTY_PAIR UINT64_MAX

typedef struct {
    merge_slot *slots;
    size_t cap, n;
} merge_map;

static inline uint64_t pair_key(int32_t left, int32_t right)
{
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static inline size_t hash_pair(uint64_t x)
{
    x ^= x >> 33; /* murmur3's finalizer */
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static inline const merge_slot *merge_get(const merge_map *m, int32_t left, int32_t right)
{
    uint64_t key = pair_key(left, right);
    size_t i = hash_pair(key) & (m->cap - 1);
    while (m->slots[i].pair != EMPTY_PAIR) {
        if (m->slots[i].pair == key) return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static int merge_map_init(merge_map *m, size_t expected)
{
    m->cap = 64;
    while (m->cap < 2 * expected) m->cap *= 2;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < m->cap; i++) m->slots[i].pair = EMPTY_PAIR;
    m->n = 0;
    return 0;
}

/* A later merge of the same pair overwrites an earlier one, as in Hugging Face's loader. */
static void merge_put(merge_map *m, int32_t left, int32_t right, uint32_t rank, int32_t merged)
{
    uint64_t key = pair_key(left, right);
    size_t i = hash_pair(key) & (m->cap - 1);
    while (m->slots[i].pair != EMPTY_PAIR && m->slots[i].pair != key) i = (i + 1) & (m->cap - 1);
    if (m->slots[i].pair == EMPTY_PAIR) m->n++;
    m->slots[i] = (merge_slot){key, rank, merged};
}

/* ---- the tokenizer ---- */

/* An added token: matched in the text before pre-tokenization, in the original text
 * (normalized false) or in the normalized pieces (normalized true: TEXT is then its
 * normalized content), with Hugging Face's flags. */
typedef struct {
    char *text; /* owned */
    size_t len;
    int32_t id;
    bool lstrip, rstrip; /* swallow the whitespace on that side */
    bool single_word;    /* matched only where no word character touches it */
    size_t next_at;      /* encode's scan state: where it next occurs (SIZE_MAX: not yet searched) */
} special_token;

typedef struct {
    special_token *tokens;
    size_t n;
} special_list;

/* Pieces up to this many bytes are cached; the cache is emptied when it holds CACHE_MAX_PIECES. */
enum { CACHE_MAX_PIECE_BYTES = 256, CACHE_MAX_PIECES = 1 << 16 };

typedef struct {
    int32_t id;
    int32_t prev, next; /* linked list of the symbols still standing; -1 at the ends */
} bpe_symbol;

typedef struct {
    uint32_t rank;
    int32_t pos; /* the pair's left symbol */
} bpe_candidate;

struct cc_tokenizer {
    int32_t vocab_size;
    char *text_arena;         /* every token's vocabulary text, NUL-separated */
    uint32_t *text_offset;    /* [vocab_size] into text_arena; UINT32_MAX for an unused id */
    char *byte_arena;         /* every token's bytes */
    uint32_t *byte_offset;    /* [vocab_size + 1] into byte_arena */
    str_map by_text;          /* vocabulary text -> id */
    bool *added_only;         /* [vocab_size] added tokens that are not in model.vocab (BPE never sees them); NULL: none */
    tp_pipeline pipe;         /* normalizer, pre-tokenizer, decoder */
    bool at_text_start;       /* encode's state: the piece being encoded starts the text */
    bool byte_level;          /* ByteLevel pre-tokenizer: BPE works on bytes through GPT-2's alphabet */
    int32_t byte_token[256];  /* byte-level: the single-byte token of each byte */
    int32_t fallback_token[256]; /* byte_fallback: the "<0xNN>" token of each byte (-1: none) */
    bool byte_fallback, fuse_unk, ignore_merges;
    int32_t unk;              /* the unk_token's id, or -1 */
    merge_map merges;
    special_list raw_specials;  /* added tokens matched in the original text */
    special_list norm_specials; /* added tokens matched in the normalized text */

    /* cache: piece bytes -> (offset << 32 | count) into cache_ids */
    str_map cache;
    char *cache_keys;
    size_t cache_keys_len;
    cc_token_ids cache_ids;

    /* BPE work space, grown as needed */
    bpe_symbol *symbols;
    bpe_candidate *heap;
    size_t work_cap;
};

void cc_tokenizer_free(cc_tokenizer *tok)
{
    if (!tok) return;
    free(tok->text_arena);
    free(tok->text_offset);
    free(tok->byte_arena);
    free(tok->byte_offset);
    free(tok->by_text.slots);
    free(tok->merges.slots);
    free(tok->added_only);
    tp_free(&tok->pipe);
    for (size_t i = 0; i < tok->raw_specials.n; i++) free(tok->raw_specials.tokens[i].text);
    for (size_t i = 0; i < tok->norm_specials.n; i++) free(tok->norm_specials.tokens[i].text);
    free(tok->raw_specials.tokens);
    free(tok->norm_specials.tokens);
    free(tok->cache.slots);
    free(tok->cache_keys);
    cc_token_ids_free(&tok->cache_ids);
    free(tok->symbols);
    free(tok->heap);
    free(tok);
}

static int out_of_memory(cc_error *err)
{
    return cc_fail_code(err, CC_E_NOMEM, "out of memory while loading the tokenizer");
}

static int32_t lookup_text(const cc_tokenizer *tok, const char *text, size_t len)
{
    const uint64_t *id = str_map_get(&tok->by_text, text, len);
    return id ? (int32_t)*id : -1;
}

/* The id of TEXT in the model's own vocabulary (not an added token outside it), or -1. */
static int32_t lookup_model_text(const cc_tokenizer *tok, const char *text, size_t len)
{
    int32_t id = lookup_text(tok, text, len);
    return id >= 0 && !(tok->added_only && tok->added_only[id]) ? id : -1;
}

/* Fills the vocabulary from VOCAB (a JSON object text -> id); LABEL names it in errors. */
static int load_vocab(cc_tokenizer *tok, json_t *vocab, const char *label, cc_error *err)
{
    if (!json_is_object(vocab))
        return cc_fail_code(err, CC_E_FORMAT, "%s: the vocabulary must be a JSON object mapping token text to id", label);
    size_t n = json_object_size(vocab), text_bytes = 0;
    int64_t max_id = -1;
    const char *key;
    json_t *value;
    json_object_foreach(vocab, key, value) {
        json_int_t id = json_is_integer(value) ? json_integer_value(value) : -1;
        /* the id tables are sized by the largest id: bound it as a model's vocab_size is */
        if (id < 0 || id >= CC_CONFIG_MAX_VOCAB)
            return cc_fail_code(err, CC_E_FORMAT, "%s: the id of token \"%s\" must be an integer in [0, %d) (circuitc's vocabulary "
                                "limit, as for a model's vocab_size)", label, key, CC_CONFIG_MAX_VOCAB);
        if (id > max_id) max_id = id;
        text_bytes += strlen(key) + 1;
    }
    if (n == 0) return cc_fail_code(err, CC_E_FORMAT, "%s: the vocabulary is empty", label);
    if (text_bytes >= UINT32_MAX) return cc_fail_code(err, CC_E_FORMAT, "%s: the vocabulary is too large", label);
    tok->vocab_size = (int32_t)max_id + 1;
    tok->text_arena = malloc(text_bytes);
    tok->text_offset = malloc((size_t)tok->vocab_size * sizeof *tok->text_offset);
    tok->byte_arena = malloc(text_bytes);
    tok->byte_offset = malloc(((size_t)tok->vocab_size + 1) * sizeof *tok->byte_offset);
    if (!tok->text_arena || !tok->text_offset || !tok->byte_arena || !tok->byte_offset ||
        str_map_reserve(&tok->by_text, n) != 0)
        return out_of_memory(err);
    for (int32_t i = 0; i < tok->vocab_size; i++) tok->text_offset[i] = UINT32_MAX;
    size_t at = 0;
    json_object_foreach(vocab, key, value) {
        int32_t id = (int32_t)json_integer_value(value);
        if (tok->text_offset[id] != UINT32_MAX)
            return cc_fail_code(err, CC_E_FORMAT, "%s: id %d is given to both \"%s\" and \"%s\"; each id must name one token", label,
                           id, tok->text_arena + tok->text_offset[id], key);
        size_t len = strlen(key);
        memcpy(tok->text_arena + at, key, len + 1);
        tok->text_offset[id] = (uint32_t)at;
        str_map_put(&tok->by_text, tok->text_arena + at, len, (uint64_t)id); /* reserved above */
        at += len + 1;
    }
    return 0;
}

/* The character a Metaspace tokenizer writes for a space: its pre-tokenizer's replacement,
 * else what its normalizer replaces " " with (Llama 2), else U+2581. */
static const char *space_symbol(const cc_tokenizer *tok)
{
    if (tok->pipe.pre == TP_PRE_METASPACE) return tok->pipe.replacement;
    for (size_t i = 0; i < tok->pipe.n_norm; i++)
        if (tok->pipe.norm[i].kind == TP_NORM_REPLACE && strcmp(tok->pipe.norm[i].pattern, " ") == 0)
            return tok->pipe.norm[i].content;
    return "\xE2\x96\x81";
}

/* The bytes a token stands for, written to OUT (room for LEN): byte-level tokens through
 * GPT-2's alphabet; otherwise a "<0xNN>" token is its byte and any other its text with the
 * space symbol read as a space. Returns the count. */
static size_t token_text_bytes(const cc_tokenizer *tok, const char *text, size_t len, char *out)
{
    if (tok->byte_level) return tp_byte_level_bytes(text, len, out);
    int b = tp_byte_fallback_value(text, len);
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    const char *sym = space_symbol(tok);
    size_t sym_len = strlen(sym), n = 0;
    for (size_t pos = 0; pos < len;) {
        bool is_sym = sym_len && pos + sym_len <= len && memcmp(text + pos, sym, sym_len) == 0;
        out[n++] = is_sym ? ' ' : text[pos];
        pos += is_sym ? sym_len : 1;
    }
    return n;
}

/* After the vocabulary and the pipeline are known: every token's bytes, and the tokens BPE
 * starts from (the 256 byte tokens of a byte-level vocabulary, or the "<0xNN>" ones of byte_fallback). */
static int index_vocab(cc_tokenizer *tok, const char *label, cc_error *err)
{
    /* Byte strings in id order, so that token id's bytes are byte_arena[byte_offset[id] .. byte_offset[id+1]). */
    size_t bytes_at = 0;
    for (int32_t id = 0; id < tok->vocab_size; id++) {
        tok->byte_offset[id] = (uint32_t)bytes_at;
        if (tok->text_offset[id] == UINT32_MAX) continue;
        const char *text = tok->text_arena + tok->text_offset[id];
        bytes_at += token_text_bytes(tok, text, strlen(text), tok->byte_arena + bytes_at);
    }
    tok->byte_offset[tok->vocab_size] = (uint32_t)bytes_at;
    for (int b = 0; b < 256; b++) {
        char text[8];
        size_t len = snprintf(text, sizeof text, "<0x%02X>", b);
        tok->fallback_token[b] = lookup_model_text(tok, text, len);
        if (!tok->byte_level) continue;
        len = tp_byte_level_char((uint8_t)b, text);
        tok->byte_token[b] = lookup_model_text(tok, text, len);
        if (tok->byte_token[b] < 0)
            return cc_fail_code(err, CC_E_FORMAT, "%s: no token for byte 0x%02X (\"%.*s\"); a byte-level BPE vocabulary has one for "
                                "each of the 256 bytes", label, b, (int)len, text);
    }
    return 0;
}


/* Adds merge number RANK, "LEFT RIGHT"; WHERE names it in errors (file and line). */
static int add_merge(cc_tokenizer *tok, const char *left, size_t left_len, const char *right, size_t right_len,
                     uint32_t rank, const char *where, cc_error *err)
{
    int32_t l = lookup_model_text(tok, left, left_len), r = lookup_model_text(tok, right, right_len);
    if (l < 0 || r < 0) {
        const char *missing = l < 0 ? left : right;
        int missing_len = (int)(l < 0 ? left_len : right_len);
        return cc_fail_code(err, CC_E_FORMAT, "%s: merge token \"%.*s\" is not in the vocabulary (do the merges belong to this "
                            "vocabulary?)", where, missing_len, missing);
    }
    char *joined = malloc(left_len + right_len);
    if (!joined) return out_of_memory(err);
    memcpy(joined, left, left_len);
    memcpy(joined + left_len, right, right_len);
    int32_t merged = lookup_model_text(tok, joined, left_len + right_len);
    if (merged < 0) {
        cc_fail_code(err, CC_E_FORMAT, "%s: the merge of \"%.*s\" and \"%.*s\" gives \"%.*s\", which is not in the vocabulary", where,
                (int)left_len, left, (int)right_len, right, (int)(left_len + right_len), joined);
        free(joined);
        return -1;
    }
    free(joined);
    merge_put(&tok->merges, l, r, rank, merged);
    return 0;
}

/* Parses merges.txt: an optional "#version" line, then one "LEFT RIGHT" per line (rank = order).
 * A line ends at LF, CRLF or a bare CR, as in circuit files: a raw CR cannot be part of a merge,
 * since byte-level tokens spell every byte with a printable character. At least one merge is
 * required: without any, BPE would silently split every word into bytes. */
static int load_merges_txt(cc_tokenizer *tok, const char *text, size_t len, const char *label, cc_error *err)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n' || text[i] == '\r';
    if (merge_map_init(&tok->merges, lines) != 0) return out_of_memory(err);
    uint32_t rank = 0;
    size_t line_no = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        size_t line_len = 0;
        while (pos + line_len < len && line[line_len] != '\n' && line[line_len] != '\r') line_len++;
        pos += line_len;
        if (pos < len) pos += text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n' ? 2 : 1;
        line_no++;
        if (line_len == 0 || (line_len >= 8 && memcmp(line, "#version", 8) == 0)) continue;
        const char *space = memchr(line, ' ', line_len);
        if (!space || memchr(space + 1, ' ', line_len - (size_t)(space + 1 - line)) || space == line ||
            space == line + line_len - 1)
            return cc_fail_code(err, CC_E_FORMAT, "%s line %zu: expected two tokens separated by one space, got \"%.*s\"", label,
                           line_no, (int)line_len, line);
        char where[600];
        snprintf(where, sizeof where, "%s line %zu", label, line_no);
        if (add_merge(tok, line, (size_t)(space - line), space + 1, line_len - (size_t)(space + 1 - line), rank++,
                      where, err) != 0)
            return -1;
    }
    if (rank == 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: no merges: a BPE merges file has one \"LEFT RIGHT\" pair per line after its "
                            "\"#version\" line (GPT-2's has 50000)", label);
    return 0;
}

/* Adds an added token to LIST; TEXT (LEN bytes) is copied. */
static int add_special(special_list *list, const char *text, size_t len, int32_t id, bool lstrip, bool rstrip,
                       bool single_word, cc_error *err)
{
    special_token *grown = realloc(list->tokens, (list->n + 1) * sizeof *grown);
    if (!grown) return out_of_memory(err);
    list->tokens = grown;
    char *copy = malloc(len + 1);
    if (!copy) return out_of_memory(err);
    memcpy(copy, text, len);
    copy[len] = '\0';
    list->tokens[list->n++] = (special_token){copy, len, id, lstrip, rstrip, single_word, SIZE_MAX};
    return 0;
}

static cc_tokenizer *tokenizer_new(cc_error *err)
{
    cc_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) out_of_memory(err);
    else tok->unk = -1;
    return tok;
}

static json_t *parse_json(const char *text, size_t len, const char *label, cc_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) cc_fail_json(err, label, &jerr);
    return root;
}

static int from_vocab_and_merges(const char *vocab_json, size_t vocab_len, const char *merges_txt, size_t merges_len,
                                 const char *vocab_label, const char *merges_label, cc_tokenizer **out, cc_error *err)
{
    cc_tokenizer *tok = tokenizer_new(err);
    json_t *vocab = tok ? parse_json(vocab_json, vocab_len, vocab_label, err) : NULL;
    if (tok) tok->byte_level = true;
    int rc = vocab && tp_gpt2(&tok->pipe, err) == 0 && load_vocab(tok, vocab, vocab_label, err) == 0 &&
                     index_vocab(tok, vocab_label, err) == 0 &&
                     load_merges_txt(tok, merges_txt, merges_len, merges_label, err) == 0
                 ? 0 : -1;
    json_decref(vocab);
    int32_t eot = rc == 0 ? cc_tokenizer_token_id(tok, CC_GPT2_EOT_TEXT) : -1;
    if (eot >= 0) rc = add_special(&tok->raw_specials, CC_GPT2_EOT_TEXT, strlen(CC_GPT2_EOT_TEXT), eot, false, false, false,
                                  err);
    if (rc != 0) {
        cc_tokenizer_free(tok);
        return -1;
    }
    *out = tok;
    return 0;
}

int cc_tokenizer_from_buffers(const char *vocab_json, size_t vocab_len, const char *merges_txt, size_t merges_len,
                              cc_tokenizer **out, cc_error *err)
{
    CC_ARG_NOT_NULL(vocab_json, err, -1);
    CC_ARG_NOT_NULL(merges_txt, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    return from_vocab_and_merges(vocab_json, vocab_len, merges_txt, merges_len, "vocab.json", "merges.txt", out, err);
}

/* ---- tokenizer.json ---- */

/* model: a BPE model, with the options circuitc implements. */
static int read_model_options(cc_tokenizer *tok, json_t *model, const char *label, cc_error *err)
{
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model\" must be an object (a BPE model with vocab and merges)", label);
    if (type && strcmp(type, "BPE") != 0)
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: model type \"%s\" is not supported; circuitc reads BPE models (GPT-2, GPT-NeoX, "
                            "Llama)", label, type);
    if (!type && !json_object_get(model, "merges")) /* Hugging Face guesses the type when it is left out */
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.type\" must be \"BPE\" (a model with vocab and merges)", label);
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.dropout\" must be null: BPE dropout samples its merges, so no "
                            "encoding is reproducible", label);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, affixes[i]));
        if (v && *v)
            return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.%s\" is \"%s\"; circuitc reads BPE without it (null)", label,
                           affixes[i], v);
    }
    tok->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    tok->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    tok->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    return 0;
}

/* One added token's flag, Hugging Face's default when absent. */
static bool flag(json_t *a, const char *key, bool fallback)
{
    json_t *v = json_object_get(a, key);
    return v ? json_is_true(v) : fallback;
}

/* The ids Hugging Face gives the added tokens, checked against the file's: a token in
 * model.vocab keeps that id, any other gets the next one after the vocabulary (in file
 * order). Those others are entered into VOCAB, and marked added_only once it is loaded. */
static int assign_added_ids(json_t *added, json_t *vocab, const char *label, cc_error *err)
{
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return cc_fail_code(err, CC_E_FORMAT, "%s: field \"added_tokens\" must be an array", label);
    if (!json_is_object(vocab))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.vocab\" must be a JSON object mapping token text to id", label);
    json_int_t next = (json_int_t)json_object_size(vocab);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!content || !*content || !json_is_integer(id))
            return cc_fail_code(err, CC_E_FORMAT, "%s: added_tokens[%zu] needs a non-empty \"content\" and an integer \"id\"", label, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(added, k), "content")), content) == 0)
                return cc_fail_code(err, CC_E_FORMAT, "%s: added_tokens[%zu] (\"%s\") repeats added_tokens[%zu]", label, i, content, k);
        json_t *known = json_object_get(vocab, content);
        json_int_t want = known ? json_integer_value(known) : next++;
        if (json_integer_value(id) != want)
            return cc_fail_code(err, CC_E_FORMAT, "%s: added_tokens[%zu] (\"%s\") has id %lld, but Hugging Face gives it %lld (%s); fix "
                                "its \"id\"", label, i, content, (long long)json_integer_value(id), (long long)want,
                           known ? "its id in model.vocab" : "the next id after model.vocab");
        if (!known && json_object_set_new(vocab, content, json_integer(want)) != 0) return out_of_memory(err);
    }
    return 0;
}

/* Registers the added tokens for matching: normalized ones by their normalized content. */
static int load_added_tokens(cc_tokenizer *tok, json_t *added, const char *label, cc_error *err)
{
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        const char *content = json_string_value(json_object_get(a, "content"));
        int32_t id = (int32_t)json_integer_value(json_object_get(a, "id"));
        bool normalized = flag(a, "normalized", true);
        size_t len = strlen(content);
        char *text = normalized ? tp_normalize(&tok->pipe, content, len, &len) : NULL;
        if (normalized && !text) return out_of_memory(err);
        if (len == 0) {
            free(text);
            return cc_fail_code(err, CC_E_FORMAT, "%s: added_tokens[%zu] (\"%s\") is empty once normalized", label, i, content);
        }
        int rc = add_special(normalized ? &tok->norm_specials : &tok->raw_specials, text ? text : content, len, id,
                             flag(a, "lstrip", false), flag(a, "rstrip", false), flag(a, "single_word", false), err);
        free(text);
        if (rc != 0) return -1;
    }
    return 0;
}

/* Marks the vocabulary entries that only added_tokens gave (not in the file's model.vocab). */
static int mark_added_only(cc_tokenizer *tok, json_t *added, json_t *model_vocab_before, cc_error *err)
{
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        const char *content = json_string_value(json_object_get(a, "content"));
        if (json_object_get(model_vocab_before, content)) continue;
        if (!tok->added_only && !(tok->added_only = calloc((size_t)tok->vocab_size, sizeof *tok->added_only)))
            return out_of_memory(err);
        tok->added_only[json_integer_value(json_object_get(a, "id"))] = true;
    }
    return 0;
}

static int read_unk(cc_tokenizer *tok, json_t *model, const char *label, cc_error *err)
{
    json_t *unk = json_object_get(model, "unk_token");
    if (!unk || json_is_null(unk)) return 0;
    const char *text = json_string_value(unk);
    tok->unk = text ? lookup_model_text(tok, text, strlen(text)) : -1;
    if (tok->unk < 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.unk_token\" must be a token of model.vocab", label);
    return 0;
}

static int load_tokenizer_json_merges(cc_tokenizer *tok, json_t *merges, const char *label, cc_error *err)
{
    if (!json_is_array(merges))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.merges\" must be an array of merges", label);
    if (json_array_size(merges) == 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model.merges\" is empty: a BPE tokenizer needs its merges (GPT-2's has "
                            "50000)", label);
    if (merge_map_init(&tok->merges, json_array_size(merges)) != 0) return out_of_memory(err);
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        char where[600];
        snprintf(where, sizeof where, "%s model.merges[%zu]", label, i);
        const char *left = NULL, *right = NULL;
        size_t left_len = 0, right_len = 0;
        if (json_is_string(m)) { /* "LEFT RIGHT" */
            const char *s = json_string_value(m), *space = strchr(s, ' ');
            if (space && space != s && space[1] && !strchr(space + 1, ' ')) {
                left = s, left_len = (size_t)(space - s), right = space + 1, right_len = strlen(space + 1);
            }
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["LEFT", "RIGHT"] */
            left = json_string_value(json_array_get(m, 0)), left_len = strlen(left);
            right = json_string_value(json_array_get(m, 1)), right_len = strlen(right);
        }
        if (!left) return cc_fail_code(err, CC_E_FORMAT, "%s: expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]", where);
        if (add_merge(tok, left, left_len, right, right_len, (uint32_t)i, where, err) != 0) return -1;
    }
    return 0;
}

static int load_tokenizer_json(cc_tokenizer *tok, json_t *root, const char *label, cc_error *err)
{
    json_t *model = json_object_get(root, "model"), *added = json_object_get(root, "added_tokens");
    json_t *vocab = json_object_get(model, "vocab");
    if (tp_parse(root, label, &tok->pipe, err) != 0 || read_model_options(tok, model, label, err) != 0) return -1;
    tok->byte_level = tok->pipe.pre == TP_PRE_BYTE_LEVEL;
    json_t *model_vocab = json_is_object(vocab) ? json_copy(vocab) : NULL; /* before the added tokens join it */
    int rc = assign_added_ids(added, vocab, label, err) == 0 && load_vocab(tok, vocab, label, err) == 0 &&
                     mark_added_only(tok, added, model_vocab, err) == 0 && index_vocab(tok, label, err) == 0 &&
                     read_unk(tok, model, label, err) == 0 &&
                     load_tokenizer_json_merges(tok, json_object_get(model, "merges"), label, err) == 0 &&
                     load_added_tokens(tok, added, label, err) == 0
                 ? 0 : -1;
    json_decref(model_vocab);
    return rc;
}

static int from_tokenizer_json(const char *json, size_t len, const char *label, cc_tokenizer **out, cc_error *err)
{
    cc_tokenizer *tok = tokenizer_new(err);
    json_t *root = tok ? parse_json(json, len, label, err) : NULL;
    int rc = root ? load_tokenizer_json(tok, root, label, err) : -1;
    json_decref(root);
    if (rc != 0) {
        cc_tokenizer_free(tok);
        return -1;
    }
    *out = tok;
    return 0;
}

int cc_tokenizer_from_tokenizer_json(const char *json, size_t len, cc_tokenizer **out, cc_error *err)
{
    CC_ARG_NOT_NULL(json, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    return from_tokenizer_json(json, len, "tokenizer.json", out, err);
}

/* ---- loading from a folder ---- */

/* The whole of the regular file PATH (WHAT names it in messages), NUL-terminated. */
static char *read_whole_file(const char *path, const char *what, size_t *len, cc_error *err)
{
    FILE *f = cc_fopen_regular(path, what, err);
    if (!f) return NULL;
    char *buf = NULL;
    errno = 0;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) &&
        fread(buf, 1, (size_t)size, f) == (size_t)size) {
        *len = (size_t)size;
    } else {
        cc_fail_code(err, CC_E_IO, "%s: cannot read: %s", path, errno ? strerror(errno) : "short read");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Whether anything is at PATH: opening it is left to read_whole_file, which
 * refuses a FIFO or device instead of blocking on it. */
static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int cc_tokenizer_load(const char *dir, cc_tokenizer **out, cc_error *err)
{
    CC_ARG_NOT_NULL(dir, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    char vocab_path[4096], merges_path[4096], json_path[4096], sp_path[4096];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    snprintf(json_path, sizeof json_path, "%s/tokenizer.json", dir);
    snprintf(sp_path, sizeof sp_path, "%s/tokenizer.model", dir);
    size_t len = 0;
    /* tokenizer.json first, as Hugging Face's fast tokenizers read it: it alone holds the
     * normalizer, the added tokens and the decoder (GPT-2's folders hold both, alike) */
    if (path_exists(json_path)) {
        char *json = read_whole_file(json_path, "tokenizer file", &len, err);
        int rc = json ? from_tokenizer_json(json, len, json_path, out, err) : -1;
        free(json);
        return rc;
    }
    if (path_exists(vocab_path) || path_exists(merges_path)) {
        size_t merges_len = 0;
        char *vocab = read_whole_file(vocab_path, "tokenizer vocabulary", &len, err);
        char *merges = vocab ? read_whole_file(merges_path, "tokenizer merges file", &merges_len, err) : NULL;
        int rc = merges ? from_vocab_and_merges(vocab, len, merges, merges_len, vocab_path, merges_path, out, err) : -1;
        free(vocab);
        free(merges);
        return rc;
    }
    if (path_exists(sp_path))
        return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: a SentencePiece model alone is not read; circuitc reads the tokenizer.json that "
                            "Hugging Face makes from it (in Python: AutoTokenizer.from_pretrained(DIR)."
                            "save_pretrained(DIR) writes one)", sp_path);
    return cc_fail_code(err, CC_E_IO, "%s: no tokenizer here: expected tokenizer.json or vocab.json + merges.txt (GPT-2's are "
                        "installed as gpt2-tokenizer/ in circuitc's data folder; in the source tree, "
                        "scripts/fetch-gpt2-tokenizer fetches them into third_party/gpt2-tokenizer)", dir);
}

/* ---- lookups ---- */

int32_t cc_tokenizer_vocab_size(const cc_tokenizer *tok)
{
    CC_ARG_NOT_NULL(tok, NULL, -1);
    return tok->vocab_size;
}

int32_t cc_tokenizer_bos_id(const cc_tokenizer *tok)
{
    CC_ARG_NOT_NULL(tok, NULL, -1);
    int64_t bos = tok->pipe.template_bos;
    if (bos >= 0) return bos < tok->vocab_size && tok->text_offset[bos] != UINT32_MAX ? (int32_t)bos : -1;
    return lookup_text(tok, CC_GPT2_EOT_TEXT, strlen(CC_GPT2_EOT_TEXT));
}

int32_t cc_tokenizer_token_id(const cc_tokenizer *tok, const char *text)
{
    CC_ARG_NOT_NULL(tok, NULL, -1);
    CC_ARG_NOT_NULL(text, NULL, -1);
    return lookup_text(tok, text, strlen(text));
}

int cc_tokenizer_token_bytes(const cc_tokenizer *tok, int32_t id, const char **bytes, size_t *len, cc_error *err)
{
    CC_ARG_NOT_NULL(tok, err, -1);
    CC_ARG_NOT_NULL(bytes, err, -1);
    CC_ARG_NOT_NULL(len, err, -1);
    if (id < 0 || id >= tok->vocab_size || tok->text_offset[id] == UINT32_MAX)
        return cc_fail(err, "token id %d is not in the vocabulary (ids are 0..%d)", id, tok->vocab_size - 1);
    *bytes = tok->byte_arena + tok->byte_offset[id];
    *len = tok->byte_offset[id + 1] - tok->byte_offset[id];
    return 0;
}

/* ---- token id lists ---- */

void cc_token_ids_free(cc_token_ids *list)
{
    if (!list) return;
    free(list->ids);
    *list = (cc_token_ids){0};
}

static int token_ids_reserve(cc_token_ids *list, size_t n, cc_error *err)
{
    if (n <= list->cap) return 0;
    size_t cap = list->cap ? list->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *grown = realloc(list->ids, cap * sizeof *grown);
    if (!grown) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %zu token ids", n);
    list->ids = grown;
    list->cap = cap;
    return 0;
}

int cc_token_ids_push(cc_token_ids *list, int32_t id, cc_error *err)
{
    CC_ARG_NOT_NULL(list, err, -1);
    if (token_ids_reserve(list, list->n + 1, err) != 0) return -1;
    list->ids[list->n++] = id;
    return 0;
}

/* ---- BPE ---- */

static inline bool candidate_before(bpe_candidate a, bpe_candidate b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(bpe_candidate *heap, size_t *n, bpe_candidate c)
{
    size_t i = (*n)++;
    while (i > 0 && candidate_before(c, heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = c;
}

static bpe_candidate heap_pop(bpe_candidate *heap, size_t *n)
{
    bpe_candidate top = heap[0], last = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && candidate_before(heap[child + 1], heap[child])) child++;
        if (!candidate_before(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

static void push_pair(const cc_tokenizer *tok, bpe_candidate *heap, size_t *n_heap, int32_t pos)
{
    const bpe_symbol *s = tok->symbols;
    if (pos < 0 || s[pos].next < 0) return;
    const merge_slot *m = merge_get(&tok->merges, s[pos].id, s[s[pos].next].id);
    if (m) heap_push(heap, n_heap, (bpe_candidate){m->rank, pos});
}

/* Grows the BPE work space to N symbols. */
static int reserve_work(cc_tokenizer *tok, size_t n, cc_error *err)
{
    if (n <= tok->work_cap) return 0;
    size_t cap = n < 64 ? 64 : n;
    bpe_symbol *symbols = realloc(tok->symbols, cap * sizeof *symbols);
    if (symbols) tok->symbols = symbols;
    bpe_candidate *heap = realloc(tok->heap, 3 * cap * sizeof *heap); /* n - 1 initial pairs + at most 2 per merge */
    if (heap) tok->heap = heap;
    if (!symbols || !heap) return cc_fail_code(err, CC_E_NOMEM, "out of memory encoding a %zu-symbol word", n);
    tok->work_cap = cap;
    return 0;
}

/* The symbols BPE starts from for a word of a non-byte-level model: each character's token;
 * one "<0xNN>" token per byte of a character not in the vocabulary (byte_fallback); else
 * the unk token (consecutive ones fused with fuse_unk); else nothing (Hugging Face drops
 * the character). Returns the number of symbols (ids in tok->symbols[i].id). */
static size_t char_symbols(cc_tokenizer *tok, const uint8_t *word, size_t len)
{
    size_t n = 0, bad;
    bool last_unk = false;
    for (size_t pos = 0, k; pos < len; pos += k) {
        k = cc_utf8_sequence_length(word + pos, len - pos, &bad);
        int32_t id = lookup_model_text(tok, (const char *)word + pos, k);
        if (id >= 0) {
            tok->symbols[n++].id = id;
            last_unk = false;
            continue;
        }
        bool all_bytes = tok->byte_fallback;
        for (size_t b = 0; all_bytes && b < k; b++) all_bytes = tok->fallback_token[word[pos + b]] >= 0;
        if (all_bytes) {
            for (size_t b = 0; b < k; b++) tok->symbols[n++].id = tok->fallback_token[word[pos + b]];
            last_unk = false;
        } else if (tok->unk >= 0 && !(last_unk && tok->fuse_unk)) {
            tok->symbols[n++].id = tok->unk;
            last_unk = true;
        }
    }
    return n;
}

/* Merges one word by rank, lowest rank first and leftmost first among equal ranks (as
 * Hugging Face's BPE), appending the ids to OUT. A byte-level word is its bytes (each
 * byte's alphabet token); any other word is UTF-8 text. */
static int bpe_word(cc_tokenizer *tok, const uint8_t *word, size_t len, cc_token_ids *out, cc_error *err)
{
    if (reserve_work(tok, len, err) != 0) return -1;
    bpe_symbol *s = tok->symbols;
    size_t n = len;
    if (tok->byte_level)
        for (size_t i = 0; i < len; i++) s[i].id = tok->byte_token[word[i]];
    else n = char_symbols(tok, word, len);
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(tok, tok->heap, &n_heap, (int32_t)i);
    while (n_heap) {
        bpe_candidate c = heap_pop(tok->heap, &n_heap);
        bpe_symbol *left = &s[c.pos];
        if (left->id < 0 || left->next < 0) continue; /* merged away since it was queued */
        const merge_slot *m = merge_get(&tok->merges, left->id, s[left->next].id);
        if (!m || m->rank != c.rank) continue;         /* this pair changed since */
        bpe_symbol *right = &s[left->next];
        left->id = m->merged;
        left->next = right->next;
        if (right->next >= 0) s[right->next].prev = c.pos;
        right->id = -1;
        push_pair(tok, tok->heap, &n_heap, left->prev);
        push_pair(tok, tok->heap, &n_heap, c.pos);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next)
        if (cc_token_ids_push(out, s[i].id, err) != 0) return -1;
    return 0;
}

/* ignore_merges: a word that is itself a token of the model is that token (for a
 * byte-level model, the word's alphabet text). -1 when not. */
static int32_t whole_word_token(const cc_tokenizer *tok, const uint8_t *word, size_t len)
{
    if (!tok->byte_level) return lookup_model_text(tok, (const char *)word, len);
    if (len > CACHE_MAX_PIECE_BYTES) return -1; /* no token is this long */
    char text[2 * CACHE_MAX_PIECE_BYTES];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += tp_byte_level_char(word[i], text + n);
    return lookup_model_text(tok, text, n);
}

static void cache_clear(cc_tokenizer *tok)
{
    if (tok->cache.slots) memset(tok->cache.slots, 0, tok->cache.cap * sizeof *tok->cache.slots);
    tok->cache.n = 0;
    tok->cache_keys_len = 0;
    tok->cache_ids.n = 0;
}

/* Encodes one word through the cache. */
static int encode_word(cc_tokenizer *tok, const uint8_t *piece, size_t len, cc_token_ids *out, cc_error *err)
{
    int32_t whole = tok->ignore_merges ? whole_word_token(tok, piece, len) : -1;
    if (whole >= 0) return cc_token_ids_push(out, whole, err);
    if (len > CACHE_MAX_PIECE_BYTES) return bpe_word(tok, piece, len, out, err);
    const uint64_t *hit = str_map_get(&tok->cache, (const char *)piece, len);
    if (hit) {
        size_t at = (size_t)(*hit >> 32), count = (size_t)(*hit & 0xFFFFFFFFu);
        if (token_ids_reserve(out, out->n + count, err) != 0) return -1;
        memcpy(out->ids + out->n, tok->cache_ids.ids + at, count * sizeof *out->ids);
        out->n += count;
        return 0;
    }
    size_t first = out->n;
    if (bpe_word(tok, piece, len, out, err) != 0) return -1;
    if (!tok->cache_keys) { /* the key arena is allocated once, so stored keys never move */
        tok->cache_keys = malloc((size_t)CACHE_MAX_PIECES * CACHE_MAX_PIECE_BYTES);
        if (!tok->cache_keys) return 0; /* no cache: still correct, only slower */
    }
    if (tok->cache.n >= CACHE_MAX_PIECES) cache_clear(tok);
    size_t count = out->n - first, at = tok->cache_ids.n;
    if (token_ids_reserve(&tok->cache_ids, at + count, NULL) != 0 || str_map_reserve(&tok->cache, tok->cache.n + 1) != 0)
        return 0;
    memcpy(tok->cache_ids.ids + at, out->ids + first, count * sizeof *out->ids);
    tok->cache_ids.n += count;
    char *key = tok->cache_keys + tok->cache_keys_len;
    memcpy(key, piece, len);
    tok->cache_keys_len += len;
    str_map_put(&tok->cache, key, len, (uint64_t)at << 32 | count);
    return 0;
}

typedef struct {
    cc_tokenizer *tok;
    cc_token_ids *out;
} word_ctx;

/* A pre-tokenizer word: GPT-2's regex pieces for a byte-level model, else the word itself. */
static int encode_pre_word(void *p, const char *word, size_t len, cc_error *err)
{
    word_ctx *c = p;
    const uint8_t *s = (const uint8_t *)word;
    if (!c->tok->byte_level || !c->tok->pipe.use_regex) return encode_word(c->tok, s, len, c->out, err);
    for (size_t pos = 0; pos < len;) {
        size_t end = cc_pretokenize_next(s, len, pos);
        if (encode_word(c->tok, s + pos, end - pos, c->out, err) != 0) return -1;
        pos = end;
    }
    return 0;
}

/* The added token of LIST that occurs first at or after POS in S (the longest of those
 * starting there, as Hugging Face's leftmost-longest matching), or NULL. */
/* noinline: inlined into its caller, GCC 12 with -fsanitize=undefined wrongly warns
 * (-Wnonnull) that S may be NULL in memmem. */
__attribute__((noinline)) static const special_token *next_special(special_list *list, const char *s, size_t len,
                                                                   size_t pos)
{
    const special_token *best = NULL;
    for (size_t i = 0; i < list->n; i++) {
        special_token *sp = &list->tokens[i];
        if (sp->next_at == SIZE_MAX || sp->next_at < pos) {
            const char *hit = memmem(s + pos, len - pos, sp->text, sp->len);
            sp->next_at = hit ? (size_t)(hit - s) : len;
        }
        if (sp->next_at < len && (!best || sp->next_at < best->next_at ||
                                  (sp->next_at == best->next_at && sp->len > best->len)))
            best = sp;
    }
    return best;
}

/* The start of the whitespace run (Unicode White_Space) that ends at AT in S (lstrip). */
static size_t space_run_start(const uint8_t *s, size_t at)
{
    while (at > 0) {
        size_t prev = at - 1, n;
        while (prev > 0 && (s[prev] & 0xC0) == 0x80) prev--; /* back to the character's first byte */
        if (!cc_pretokenize_is_space(s, prev, &n)) break;
        at = prev;
    }
    return at;
}

/* The end of the whitespace run that starts at AT in S[0..LEN) (rstrip). */
static size_t space_run_end(const uint8_t *s, size_t len, size_t at)
{
    size_t n;
    while (at < len && cc_pretokenize_is_space(s, at, &n)) at += n;
    return at;
}

typedef int (*piece_fn)(cc_tokenizer *tok, const char *s, size_t start, size_t end, cc_token_ids *out, cc_error *err);

/* Cuts S[0..LEN) around the added tokens of LIST, as Hugging Face's AddedVocabulary does:
 * matches leftmost-longest, a single_word token only where no word character touches it,
 * lstrip/rstrip take the whitespace beside a token into it; each
 * token's id goes to OUT, the text between to PIECE. */
static int split_added(cc_tokenizer *tok, special_list *list, const char *s, size_t len, piece_fn piece,
                       cc_token_ids *out, cc_error *err)
{
    for (size_t i = 0; i < list->n; i++) list->tokens[i].next_at = SIZE_MAX;
    const uint8_t *u = (const uint8_t *)s;
    size_t done = 0; /* where the previous token ended */
    for (size_t pos = 0; pos < len;) {
        const special_token *sp = list->n ? next_special(list, s, len, pos) : NULL;
        if (!sp) break;
        size_t start = sp->next_at, stop = start + sp->len;
        pos = stop;
        if (sp->single_word && ((start > 0 && cc_word_char_before(u, start)) || (stop < len && cc_word_char_at(u, stop))))
            continue; /* inside a word: not this token, and the search goes on after it */
        if (sp->lstrip) {
            size_t run = space_run_start(u, start);
            start = run > done ? run : done;
        }
        if (sp->rstrip) stop = space_run_end(u, len, stop);
        if (done < start && piece(tok, s, done, start, out, err) != 0) return -1;
        /* a match inside what the previous token's rstrip took is empty here, and Hugging Face drops empty pieces */
        if (stop > start && cc_token_ids_push(out, sp->id, err) != 0) return -1;
        done = stop; /* the next match is searched after the token itself, not after what rstrip took */
    }
    return done < len ? piece(tok, s, done, len, out, err) : 0;
}

/* A normalized piece between added tokens: pre-tokenized, each word by BPE. */
static int encode_normalized_piece(cc_tokenizer *tok, const char *s, size_t start, size_t end, cc_token_ids *out,
                                   cc_error *err)
{
    word_ctx c = {tok, out};
    return tp_pre_tokenize(&tok->pipe, s + start, end - start, tok->at_text_start && start == 0, encode_pre_word, &c,
                           err);
}

/* A piece of the original text between non-normalized added tokens: normalized, then cut
 * around the normalized added tokens. */
static int encode_raw_piece(cc_tokenizer *tok, const char *s, size_t start, size_t end, cc_token_ids *out,
                            cc_error *err)
{
    tok->at_text_start = start == 0;
    if (!tok->pipe.n_norm)
        return split_added(tok, &tok->norm_specials, s + start, end - start, encode_normalized_piece, out, err);
    size_t len;
    char *normalized = tp_normalize(&tok->pipe, s + start, end - start, &len);
    if (!normalized) return cc_fail_code(err, CC_E_NOMEM, "out of memory normalizing the text");
    int rc = split_added(tok, &tok->norm_specials, normalized, len, encode_normalized_piece, out, err);
    free(normalized);
    return rc;
}

int cc_tokenizer_encode(cc_tokenizer *tok, const char *text, size_t len, cc_invalid_utf8 invalid, cc_token_ids *out,
                        cc_error *err)
{
    CC_ARG_NOT_NULL(tok, err, -1);
    if (len > 0) CC_ARG_NOT_NULL(text, err, -1);
    CC_ARG_ENUM(invalid, CC_INVALID_UTF8_REPLACE + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (!text) return 0; /* no text, no tokens */
    char *repaired = NULL;
    size_t bad = cc_utf8_invalid_at(text, len);
    if (bad < len) {
        if (invalid == CC_INVALID_UTF8_ERROR)
            return cc_fail(err, "the text is not valid UTF-8 (byte %zu is 0x%02X); fix its encoding, or have "
                                "invalid bytes replaced by U+FFFD (circuitc --replace-invalid)", bad, (uint8_t)text[bad]);
        repaired = cc_utf8_replace_invalid(text, len, &len);
        if (!repaired) return cc_fail_code(err, CC_E_NOMEM, "out of memory repairing invalid UTF-8");
        text = repaired;
    }
    int rc = split_added(tok, &tok->raw_specials, text, len, encode_raw_piece, out, err);
    free(repaired);
    return rc;
}

/* The ByteLevel decoder alone (GPT-2, GPT-NeoX), straight from the tokens' bytes: the
 * tokens' bytes concatenated, then invalid UTF-8 replaced by U+FFFD. */
static int decode_byte_level(const cc_tokenizer *tok, const int32_t *ids, size_t n, char **out, size_t *out_len,
                             cc_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += tok->byte_offset[ids[i] + 1] - tok->byte_offset[ids[i]];
    char *raw = malloc(total + 1);
    if (!raw) return cc_fail_code(err, CC_E_NOMEM, "out of memory decoding %zu tokens", n);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = tok->byte_offset[ids[i] + 1] - tok->byte_offset[ids[i]];
        memcpy(raw + at, tok->byte_arena + tok->byte_offset[ids[i]], len);
        at += len;
    }
    *out = cc_utf8_replace_invalid(raw, total, out_len);
    free(raw);
    return *out ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory decoding %zu tokens", n);
}

int cc_tokenizer_decode(const cc_tokenizer *tok, const int32_t *ids, size_t n, char **out, size_t *out_len,
                        cc_error *err)
{
    CC_ARG_NOT_NULL(tok, err, -1);
    if (n > 0) CC_ARG_NOT_NULL(ids, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(out_len, err, -1);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tok->vocab_size || tok->text_offset[ids[i]] == UINT32_MAX)
            return cc_fail(err, "token id %d is not in the vocabulary (ids are 0..%d)", ids[i], tok->vocab_size - 1);
    if (tok->pipe.n_dec == 1 && tok->pipe.dec[0].kind == TP_DEC_BYTE_LEVEL)
        return decode_byte_level(tok, ids, n, out, out_len, err);
    const char **texts = malloc((n ? n : 1) * sizeof *texts);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int rc = texts && lens ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory decoding %zu tokens", n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        texts[i] = tok->text_arena + tok->text_offset[ids[i]];
        lens[i] = strlen(texts[i]);
    }
    *out = rc == 0 ? tp_decode(&tok->pipe, texts, lens, n, out_len, err) : NULL;
    free(texts);
    free(lens);
    return *out ? 0 : -1;
}
