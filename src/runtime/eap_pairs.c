/* eap_pairs.c — the prompt pairs edge attribution patching runs on
 * (circuitc/eap.h): checks, and the repeated-token generator. */
#include "circuitc/eap.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "circuitc/experiments.h"
#include "circuitc/prompts.h"
#include "circuitc/rng.h"
#include "core/args.h"
#include "model/model_internal.h"

void cc_eap_pairs_free(cc_eap_pairs *p)
{
    if (!p) return;
    free(p->offset);
    free(p->clean);
    free(p->corrupt);
    free(p->answer);
    free(p->wrong);
    memset(p, 0, sizeof *p);
}

/* Allocates P for N pairs of TOTAL tokens in all. */
static int pairs_alloc(cc_eap_pairs *p, int n, size_t total, cc_error *err)
{
    memset(p, 0, sizeof *p);
    p->n_pairs = n;
    p->offset = calloc((size_t)n + 1, sizeof *p->offset);
    p->clean = malloc((total ? total : 1) * sizeof *p->clean);
    p->corrupt = malloc((total ? total : 1) * sizeof *p->corrupt);
    p->answer = malloc((size_t)n * sizeof *p->answer);
    p->wrong = malloc((size_t)n * sizeof *p->wrong);
    if (p->offset && p->clean && p->corrupt && p->answer && p->wrong) return 0;
    cc_eap_pairs_free(p);
    return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d prompt pairs", n);
}

static int check_id(int id, int V, int pair, const char *field, cc_error *err)
{
    if (id >= 0 && id < V) return 0;
    return cc_fail(err, "pair %d: %s token id %d is out of range: the model's vocabulary is 0..%d", pair, field, id,
                   V - 1);
}

int cc_eap_pairs_check(const cc_eap_pairs *p, const cc_model *m, cc_error *err)
{
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    if (p->n_pairs < 1 || !p->offset) return cc_fail(err, "no prompt pairs: give at least one");
    int V = m->cfg.d_vocab;
    for (int i = 0; i < p->n_pairs; i++) {
        int T = p->offset[i + 1] - p->offset[i];
        if (T < 1 || T > m->cfg.n_ctx)
            return cc_fail(err, "pair %d: its prompts are %d tokens long; the model takes 1..%d", i, T, m->cfg.n_ctx);
        for (int t = p->offset[i]; t < p->offset[i + 1]; t++)
            if (check_id(p->clean[t], V, i, "clean", err) || check_id(p->corrupt[t], V, i, "corrupt", err))
                return -1;
        if (check_id(p->answer[i], V, i, "answer", err) || check_id(p->wrong[i], V, i, "wrong", err)) return -1;
    }
    return 0;
}

/* A random token of [0, V) other than AVOID. */
static int token_other_than(cc_rng *rng, int V, int avoid)
{
    int t;
    do t = (int)cc_rng_below(rng, (uint32_t)V);
    while (t == avoid);
    return t;
}

int cc_eap_pairs_repeat(const cc_model *m, int n, int k, uint64_t seed, cc_eap_pairs *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_AT_LEAST(n, 1, err, -1);
    CC_ARG_AT_LEAST(k, 2, err, -1);
    memset(out, 0, sizeof *out);
    if (m->cfg.d_vocab < 2) return cc_fail(err, "repeated-token pairs need a vocabulary of at least 2 tokens");
    int T = 2 * k, row = 1 + 2 * k;
    int *rep = malloc((size_t)n * row * sizeof *rep);
    if (!rep) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d repeated-token prompts", n);
    if (cc_repeat_tokens(&m->cfg, seed, n, k, rep, err) != 0 || pairs_alloc(out, n, (size_t)n * T, err) != 0) {
        free(rep);
        return -1;
    }
    cc_rng rng;
    cc_rng_seed(&rng, seed ^ 0x65617020706169ULL); /* "eap pai": a stream apart from the repeated tokens' */
    for (int i = 0; i < n; i++) {
        const int *r = rep + (size_t)i * row; /* [BOS, r_1..r_k, r_1..r_k] */
        int *clean = out->clean + (size_t)i * T, *corrupt = out->corrupt + (size_t)i * T;
        memcpy(clean, r, (size_t)T * sizeof *clean);
        memcpy(corrupt, r, (size_t)(1 + k) * sizeof *corrupt);
        for (int t = 1 + k; t < T; t++) corrupt[t] = token_other_than(&rng, m->cfg.d_vocab, clean[t]);
        out->answer[i] = r[k];
        out->wrong[i] = token_other_than(&rng, m->cfg.d_vocab, r[k]);
        out->offset[i + 1] = out->offset[i] + T;
    }
    free(rep);
    return 0;
}

/* ------------------------------------------------------------------ JSON Lines */

/* The pairs read so far: every clean token, every corrupted one, the pairs' lengths, answers and wrong tokens. */
typedef struct {
    const cc_model *m;
    cc_tokenizer *tok;
    cc_token_ids clean, corrupt, len, answer, wrong;
} pair_reader;

/* Appends FIELD of line LABEL (text, encoded after BOS, or a list of ids) to OUT. */
static int read_prompt(pair_reader *rd, json_t *obj, const char *field, const char *label, cc_token_ids *out,
                       cc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (json_is_string(v)) {
        if (!rd->tok)
            return cc_fail(err, "%s: \"%s\" is text, but no tokenizer fits this model: give token ids ([1, 2, 3])",
                           label, field);
        if (cc_token_ids_push(out, rd->m->cfg.bos_token_id, err) != 0) return -1;
        return cc_tokenizer_encode(rd->tok, json_string_value(v), json_string_length(v), CC_INVALID_UTF8_REPLACE, out,
                                   err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cc_fail(err, "%s: \"%s\" must be the prompt's text or a non-empty list of token ids", label, field);
    size_t i;
    json_t *id;
    json_array_foreach(v, i, id)
    {
        if (!json_is_integer(id))
            return cc_fail(err, "%s: \"%s\" item %zu is not a token id (an integer)", label, field, i);
        if (cc_token_ids_push(out, (int32_t)json_integer_value(id), err) != 0) return -1;
    }
    return 0;
}

/* Appends FIELD of line LABEL (one token: text or an id) to OUT. */
static int read_token(pair_reader *rd, json_t *obj, const char *field, const char *label, cc_token_ids *out,
                      cc_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (json_is_integer(v)) return cc_token_ids_push(out, (int32_t)json_integer_value(v), err);
    if (!json_is_string(v))
        return cc_fail(err, "%s: \"%s\" must be a token (text that encodes to one token, or its id)", label, field);
    if (!rd->tok)
        return cc_fail(err, "%s: \"%s\" is text, but no tokenizer fits this model: give its token id", label, field);
    cc_token_ids ids = {0};
    int rc = cc_tokenizer_encode(rd->tok, json_string_value(v), json_string_length(v), CC_INVALID_UTF8_REPLACE, &ids,
                                 err);
    if (rc == 0 && ids.n != 1)
        rc = cc_fail(err, "%s: \"%s\" is \"%s\", which encodes to %zu tokens; it must be exactly one (mind the leading "
                          "space: \" Mary\")",
                     label, field, json_string_value(v), ids.n);
    if (rc == 0) rc = cc_token_ids_push(out, ids.ids[0], err);
    cc_token_ids_free(&ids);
    return rc;
}

/* IDS [FROM, n) of FIELD on line LABEL: in the vocabulary, and a prompt no longer than the context. */
static int check_read(const pair_reader *rd, const cc_token_ids *ids, size_t from, const char *field,
                      const char *label, cc_error *err)
{
    const cc_config *c = &rd->m->cfg;
    for (size_t i = from; i < ids->n; i++)
        if (ids->ids[i] < 0 || ids->ids[i] >= c->d_vocab)
            return cc_fail(err, "%s: \"%s\" holds token id %d, outside the model's vocabulary 0..%d", label, field,
                           (int)ids->ids[i], c->d_vocab - 1);
    if (ids->n - from > (size_t)c->n_ctx)
        return cc_fail(err, "%s: \"%s\" is %zu tokens long; the model's context is %d", label, field, ids->n - from,
                       c->n_ctx);
    return 0;
}

static int pair_line(void *ctx, const char *line, size_t len, const char *label, cc_error *err)
{
    pair_reader *rd = ctx;
    size_t blank = 0;
    while (blank < len && (line[blank] == ' ' || line[blank] == '\t')) blank++;
    if (blank == len) return 0;
    json_error_t je;
    json_t *obj = json_loadb(line, len, 0, &je);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return obj ? cc_fail(err, "%s: expected a JSON object {\"clean\", \"corrupt\", \"answer\", \"wrong\"}", label)
                   : cc_fail(err, "%s: not JSON: %s (column %d)", label, je.text, je.column);
    }
    size_t c0 = rd->clean.n, x0 = rd->corrupt.n, a0 = rd->answer.n, w0 = rd->wrong.n;
    int rc = read_prompt(rd, obj, "clean", label, &rd->clean, err);
    if (rc == 0) rc = read_prompt(rd, obj, "corrupt", label, &rd->corrupt, err);
    if (rc == 0) rc = check_read(rd, &rd->clean, c0, "clean", label, err);
    if (rc == 0) rc = check_read(rd, &rd->corrupt, x0, "corrupt", label, err);
    if (rc == 0 && rd->clean.n - c0 != rd->corrupt.n - x0)
        rc = cc_fail(err, "%s: the clean prompt is %zu tokens and the corrupted one %zu; a pair's prompts must be the "
                          "same length (pad or reword one of them)",
                     label, rd->clean.n - c0, rd->corrupt.n - x0);
    if (rc == 0) rc = read_token(rd, obj, "answer", label, &rd->answer, err);
    if (rc == 0) rc = read_token(rd, obj, "wrong", label, &rd->wrong, err);
    if (rc == 0) rc = check_read(rd, &rd->answer, a0, "answer", label, err);
    if (rc == 0) rc = check_read(rd, &rd->wrong, w0, "wrong", label, err);
    if (rc == 0) rc = cc_token_ids_push(&rd->len, (int32_t)(rd->clean.n - c0), err);
    json_decref(obj);
    return rc;
}

static void reader_free(pair_reader *rd)
{
    cc_token_ids_free(&rd->clean);
    cc_token_ids_free(&rd->corrupt);
    cc_token_ids_free(&rd->len);
    cc_token_ids_free(&rd->answer);
    cc_token_ids_free(&rd->wrong);
}

int cc_eap_pairs_load(const char *path, const cc_model *m, cc_tokenizer *tok, cc_eap_pairs *out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    pair_reader rd = {.m = m, .tok = tok};
    int rc = cc_prompt_file_lines(path, "--pairs", "prompt pair file (--pairs)", pair_line, &rd, err);
    if (rc == 0 && rd.len.n == 0) rc = cc_fail(err, "--pairs %s: no pair in the file (only blank lines)", path);
    if (rc == 0) rc = pairs_alloc(out, (int)rd.len.n, rd.clean.n, err);
    if (rc == 0) { /* every line was checked as it was read */
        for (size_t i = 0; i < rd.clean.n; i++) out->clean[i] = rd.clean.ids[i], out->corrupt[i] = rd.corrupt.ids[i];
        for (int i = 0; i < out->n_pairs; i++) {
            out->offset[i + 1] = out->offset[i] + rd.len.ids[i];
            out->answer[i] = rd.answer.ids[i];
            out->wrong[i] = rd.wrong.ids[i];
        }
    }
    reader_free(&rd);
    if (rc != 0) cc_eap_pairs_free(out);
    return rc;
}
