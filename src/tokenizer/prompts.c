/* prompts.c — prompts (text, a file of prompts, token ids) to a padded token
 * batch, as TransformerLens' to_tokens builds it (circuitc/prompts.h). */
#include "circuitc/prompts.h"

#include "circuitc/datadir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "circuitc/fsio.h"
#include "core/args.h"
#include "model/model_internal.h"

/* One sequence before padding. */
typedef struct {
    cc_token_ids ids;
    char *text; /* NULL for token ids */
} prompt_row;

typedef struct {
    prompt_row *rows;
    int n, cap;
} prompt_rows;

static void rows_free(prompt_rows *r)
{
    for (int i = 0; i < r->n; i++) {
        cc_token_ids_free(&r->rows[i].ids);
        free(r->rows[i].text);
    }
    free(r->rows);
}

static prompt_row *rows_add(prompt_rows *r, cc_error *err)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        prompt_row *p = realloc(r->rows, (size_t)cap * sizeof *p);
        if (!p) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d prompts", cap), NULL;
        r->rows = p;
        r->cap = cap;
    }
    prompt_row *row = &r->rows[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

static bool is_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* The folder holding the model's config.json. Caller frees. */
static char *model_folder(const cc_model *m)
{
    const char *slash = strrchr(m->config_path, '/');
    return slash ? strndup(m->config_path, (size_t)(slash - m->config_path)) : strdup(".");
}

/* Loads the tokenizer: --tokenizer DIR, else the model's folder when it holds
 * one, else the fallback (GPT-2's files). A tokenizer larger than the model's
 * vocabulary does not belong to it: an error for text prompts and for a
 * tokenizer named or found beside the model; with token ids the fallback is
 * then simply not used (token texts are shown as #ID). */
static int load_tokenizer(const cc_prompt_source *src, const cc_model *m, cc_prompt_batch *b, cc_error *err)
{
    bool ids_only = src->tokens != NULL, fallback = false;
    char *dir = src->tokenizer_dir ? strdup(src->tokenizer_dir) : model_folder(m);
    if (!dir) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if (!src->tokenizer_dir && !is_file(dir, "tokenizer.json") &&
        !(is_file(dir, "vocab.json") && is_file(dir, "merges.txt"))) {
        free(dir);
        char *installed = NULL; /* GPT-2's files in circuitc's data folder, when they were fetched before the build */
        cc_error ignored;
        if (!src->fallback_dir && cc_data_find(NULL, "gpt2-tokenizer", &installed, &ignored) != 0) installed = NULL;
        const char *fallback_dir = src->fallback_dir ? src->fallback_dir : installed;
        if (!fallback_dir)
            return ids_only ? 0
                            : cc_fail(err, "no tokenizer beside the model and none installed with circuitc; pass "
                                           "--tokenizer DIR");
        dir = strdup(fallback_dir);
        free(installed);
        if (!dir) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
        fallback = true;
    }
    if (cc_tokenizer_load(dir, &b->tok, err) != 0) {
        free(dir);
        if (fallback && ids_only) return 0;
        return cc_fail_prefix(err, src->tokenizer_dir ? "--tokenizer" : fallback ? "GPT-2's tokenizer (run "
                                                                                   "scripts/fetch-gpt2-tokenizer or pass --tokenizer DIR)"
                                                                                 : "the model's tokenizer (pass --tokenizer DIR)");
    }
    int32_t v = cc_tokenizer_vocab_size(b->tok);
    if (v > m->cfg.d_vocab) {
        cc_tokenizer_free(b->tok);
        b->tok = NULL;
        if (fallback && ids_only) {
            free(dir);
            return 0;
        }
        cc_fail(err, "the tokenizer in %s has %d tokens but the model's vocab_size is %d: they do not belong "
                     "together; pass --tokenizer DIR with the model's own vocabulary%s",
                dir, v, m->cfg.d_vocab, ids_only ? "" : ", or token ids with --tokens");
        free(dir);
        return -1;
    }
    b->tokenizer_dir = dir;
    return 0;
}

/* Encodes one text prompt into a new row; LABEL names it in errors. */
static int add_text(cc_prompt_batch *b, prompt_rows *rows, const char *text, size_t len, const char *label,
                    cc_error *err)
{
    prompt_row *row = rows_add(rows, err);
    if (!row) return -1;
    row->text = strndup(text, len);
    if (!row->text) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if ((b->bos >= 0 && cc_token_ids_push(&row->ids, b->bos, err) != 0) ||
        cc_tokenizer_encode(b->tok, text, len, CC_INVALID_UTF8_ERROR, &row->ids, err) != 0)
        return cc_fail_prefix(err, "%s", label);
    if (row->ids.n == 0) return cc_fail(err, "%s is empty and --no-bos leaves no token to run", label);
    return 0;
}

/* Parses the ids of one sequence into a new row: separated by spaces or tabs,
 * or by one comma (spaces around it allowed); an empty item (",1", "1,,2",
 * "1,") is refused rather than skipped. */
static int add_ids(const cc_config *cfg, prompt_rows *rows, const char *s, size_t len, const char *label,
                   cc_error *err)
{
    prompt_row *row = rows_add(rows, err);
    if (!row) return -1;
    size_t i = 0;
    bool id_since_comma = false; /* an id since the last comma (or the start) */
    while (i < len) {
        if (s[i] == ' ' || s[i] == '\t') {
            i++;
            continue;
        }
        if (s[i] == ',') {
            if (!id_since_comma)
                return cc_fail(err, "%s: empty item before the comma at character %zu: separate token ids by one "
                                    "comma or by spaces, e.g. 1,2,3", label, i + 1);
            id_since_comma = false;
            i++;
            continue;
        }
        size_t start = i;
        long long v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && v < cfg->d_vocab) v = 10 * v + (s[i++] - '0');
        bool digits_end = i == len || s[i] == ',' || s[i] == ' ' || s[i] == '\t';
        if (i == start || !digits_end || v >= cfg->d_vocab) {
            size_t word = start;
            while (word < len && s[word] != ',' && s[word] != ' ' && s[word] != '\t') word++;
            return cc_fail(err, "%s: \"%.*s\" is not a token id of this model (integers 0..%d, separated by commas "
                                "or spaces)",
                           label, (int)(word - start > 40 ? 40 : word - start), s + start, cfg->d_vocab - 1);
        }
        if (cc_token_ids_push(&row->ids, (int32_t)v, err) != 0) return -1;
        id_since_comma = true;
    }
    if (row->ids.n == 0) return cc_fail(err, "%s has no token ids", label);
    if (!id_since_comma)
        return cc_fail(err, "%s: empty item after the last comma: separate token ids by one comma or by spaces, "
                            "e.g. 1,2,3", label);
    return 0;
}

int cc_prompt_file_lines(const char *path, const char *option, const char *what, cc_prompt_line_fn fn, void *ctx,
                         cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(option, err, -1);
    CC_ARG_NOT_NULL(what, err, -1);
    CC_ARG_NOT_NULL(fn, err, -1);
    FILE *f = cc_fopen_regular(path, what, err);
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        line_no++;
        if (n > 0 && line[n - 1] == '\n') n--;
        if (n > 0 && line[n - 1] == '\r') n--;
        char label[PATH_MAX + 64];
        snprintf(label, sizeof label, "%s %s line %zu", option, path, line_no);
        rc = fn(ctx, line, (size_t)n, label, err);
    }
    free(line);
    if (rc == 0 && ferror(f))
        rc = cc_fail_code(err, CC_E_IO, "%s %s: read error after line %zu: %s", option, path, line_no, strerror(errno));
    fclose(f);
    if (rc == 0 && line_no == 0) rc = cc_fail(err, "%s %s: the file is empty (one prompt per line)", option, path);
    return rc;
}

/* What the lines of a --prompt-file or --tokens @FILE become. */
typedef struct {
    cc_prompt_batch *b;
    const cc_config *cfg;
    prompt_rows *rows;
} line_ctx;

static int text_line(void *p, const char *line, size_t len, const char *label, cc_error *err)
{
    line_ctx *c = p;
    return add_text(c->b, c->rows, line, len, label, err);
}

static int ids_line(void *p, const char *line, size_t len, const char *label, cc_error *err)
{
    line_ctx *c = p;
    return add_ids(c->cfg, c->rows, line, len, label, err);
}

/* Pads ROWS on the right into B; refuses rows longer than n_ctx. */
static int pad_rows(const cc_prompt_source *src, const cc_config *cfg, prompt_rows *rows, cc_prompt_batch *b,
                    cc_error *err)
{
    size_t longest = 0;
    for (int i = 0; i < rows->n; i++) {
        size_t len = rows->rows[i].ids.n;
        if (len > (size_t)cfg->n_ctx) {
            const char *option = src->text ? "--prompt" : src->file ? "--prompt-file" : "--tokens";
            const char *file = src->file ? src->file : src->tokens && src->tokens[0] == '@' ? src->tokens + 1 : NULL;
            char label[PATH_MAX + 64];
            if (file) snprintf(label, sizeof label, "%s %s line %d", option, file, i + 1);
            else snprintf(label, sizeof label, "%s", option);
            return cc_fail(err, "%s: %zu tokens%s, more than the model's context (n_ctx = %d); shorten it", label, len,
                           b->bos >= 0 ? " with BOS" : "", cfg->n_ctx);
        }
        if (len > longest) longest = len;
    }
    size_t n_rows = (unsigned)rows->n;
    b->batch = rows->n;
    b->pos = (int)longest;
    b->tokens = malloc(n_rows * longest * sizeof *b->tokens);
    b->length = malloc(n_rows * sizeof *b->length);
    b->text = calloc(n_rows, sizeof *b->text);
    if (!b->tokens || !b->length || !b->text) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d prompts", b->batch);
    for (int i = 0; i < rows->n; i++) {
        prompt_row *row = &rows->rows[i];
        b->length[i] = (int)row->ids.n;
        for (size_t t = 0; t < longest; t++)
            b->tokens[(size_t)i * longest + t] = t < row->ids.n ? row->ids.ids[t] : b->pad;
        b->text[i] = row->text;
        row->text = NULL;
    }
    return 0;
}

int cc_prompt_batch_load(const cc_prompt_source *src, const cc_model *m, cc_prompt_batch *out, cc_error *err)
{
    CC_ARG_NOT_NULL(src, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    out->bos = out->pad = -1;
    int given = (src->text != NULL) + (src->file != NULL) + (src->tokens != NULL);
    if (given != 1) return cc_fail(err, "give exactly one of --prompt TEXT, --prompt-file FILE or --tokens IDS|@FILE");
    if (src->tokens && src->no_bos)
        return cc_fail(err, "--no-bos applies to text prompts; --tokens are run exactly as given (no BOS is added)");
    if (load_tokenizer(src, m, out, err) != 0) return -1;
    const cc_config *cfg = &m->cfg;
    if (!src->tokens && !src->no_bos) out->bos = cfg->bos_token_id;
    /* HookedTransformer pads with the tokenizer's eos token, "<|endoftext|>" for GPT-2. */
    out->pad = out->tok ? cc_tokenizer_token_id(out->tok, CC_GPT2_EOT_TEXT) : -1;
    if (out->pad < 0) out->pad = cfg->bos_token_id;
    prompt_rows rows = {0};
    int rc;
    if (src->text) rc = add_text(out, &rows, src->text, strlen(src->text), "--prompt", err);
    else if (src->file)
        rc = cc_prompt_file_lines(src->file, "--prompt-file", "prompt file (--prompt-file)", text_line,
                                  &(line_ctx){out, cfg, &rows}, err);
    else if (src->tokens[0] == '@')
        rc = cc_prompt_file_lines(src->tokens + 1, "--tokens", "token id file (--tokens @FILE)", ids_line,
                                  &(line_ctx){out, cfg, &rows}, err);
    else rc = add_ids(cfg, &rows, src->tokens, strlen(src->tokens), "--tokens", err);
    if (rc == 0) rc = pad_rows(src, cfg, &rows, out, err);
    rows_free(&rows);
    return rc;
}

void cc_prompt_batch_free(cc_prompt_batch *b)
{
    if (!b) return;
    for (int i = 0; b->text && i < b->batch; i++) free(b->text[i]);
    free(b->text);
    free(b->tokens);
    free(b->length);
    cc_tokenizer_free(b->tok);
    free(b->tokenizer_dir);
    memset(b, 0, sizeof *b);
}

char *cc_prompt_token_text(const cc_prompt_batch *b, int32_t id)
{
    CC_ARG_NOT_NULL(b, NULL, NULL);
    char *text = NULL;
    size_t len;
    if (b->tok && cc_tokenizer_decode(b->tok, &id, 1, &text, &len, NULL) == 0) return text;
    char buf[24];
    snprintf(buf, sizeof buf, "#%d", (int)id);
    return strdup(buf);
}

int cc_prompt_single_token(const cc_prompt_batch *b, const cc_config *cfg, const char *token, const char *what,
                           int32_t *id, cc_error *err)
{
    CC_ARG_NOT_NULL(b, err, -1);
    CC_ARG_NOT_NULL(cfg, err, -1);
    CC_ARG_NOT_NULL(token, err, -1);
    CC_ARG_NOT_NULL(what, err, -1);
    CC_ARG_NOT_NULL(id, err, -1);
    if (token[0] == '#' && token[1]) {
        char *end;
        errno = 0;
        long v = strtol(token + 1, &end, 10);
        if (*end || errno || token[1] == '-' || token[1] == '+' || token[1] == ' ' || v < 0 || v >= cfg->d_vocab)
            return cc_fail(err, "%s \"%s\": #ID must be a token id 0..%d", what, token, cfg->d_vocab - 1);
        *id = (int32_t)v;
        return 0;
    }
    if (!b->tok)
        return cc_fail(err, "%s \"%s\": there is no tokenizer for this model to read text with; give the token's id "
                            "as #ID",
                       what, token);
    cc_token_ids ids = {0};
    if (cc_tokenizer_encode(b->tok, token, strlen(token), CC_INVALID_UTF8_ERROR, &ids, err) != 0) {
        cc_token_ids_free(&ids);
        return cc_fail_prefix(err, "%s", what);
    }
    size_t n = ids.n;
    *id = n == 1 ? ids.ids[0] : -1;
    cc_token_ids_free(&ids);
    if (n != 1)
        return cc_fail(err, "%s \"%s\" is %zu tokens, not one (check the leading space: \" Mary\" and \"Mary\" "
                            "differ); `circuitc tokenize --no-bos TEXT` shows how it splits",
                       what, token, n);
    return 0;
}
