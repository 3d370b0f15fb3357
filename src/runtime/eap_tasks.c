/* eap_tasks.c — the built-in text tasks of edge attribution patching
 * (circuitc/eap.h): IOI-style and greater-than prompt pairs on a tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/eap.h"
#include "circuitc/rng.h"
#include "core/args.h"
#include "model/model_internal.h"

static const char *const NAMES[] = {" Mary",  " John",  " Alice", " Bob",   " Tom",    " James", " Sarah", " David",
                                    " Paul",  " Kate",  " Mark",  " Anne",  " Peter",  " Jane",  " Mike",  " Lisa",
                                    " Steve", " Laura", " Chris", " Emma",  " Daniel", " Amy",   " Adam",  " Rachel"};
static const char *const PLACES[] = {"store", "park", "school", "station", "office", "garden", "restaurant", "market"};
static const char *const THINGS[] = {"drink", "book", "ring", "bone", "kiss", "letter", "snack", "basketball"};
static const char *const TEMPLATES[] = {
    "When%s and%s went to the %s,%s gave a %s to",
    "Then,%s and%s had a long day at the %s, and%s gave a %s to",
    "After%s and%s arrived at the %s,%s handed a %s to",
};
static const char *const NOUNS[] = {"war", "expedition", "drought", "project", "strike", "dynasty", "reign", "siege"};

#define COUNT(a) ((int)(sizeof a / sizeof *a))

/* One pair's token lists while it is built. */
typedef struct {
    cc_token_ids clean, corrupt;
    int answer, wrong;
} pair_text;

/* TEXT encoded on TOK after BOS into OUT (emptied first). */
static int encode(cc_tokenizer *tok, int bos, const char *text, cc_token_ids *out, cc_error *err)
{
    out->n = 0;
    if (cc_token_ids_push(out, bos, err) != 0) return -1;
    return cc_tokenizer_encode(tok, text, strlen(text), CC_INVALID_UTF8_REPLACE, out, err);
}

/* The id of TEXT when it is one token on TOK, else -1. */
static int single_token(cc_tokenizer *tok, const char *text, cc_error *err)
{
    cc_token_ids ids = {0};
    int id = -1;
    if (cc_tokenizer_encode(tok, text, strlen(text), CC_INVALID_UTF8_REPLACE, &ids, err) == 0 && ids.n == 1)
        id = ids.ids[0];
    cc_token_ids_free(&ids);
    return id;
}

/* Appends pair X to the arrays growing in OUT (N so far). */
static int append(cc_eap_pairs *out, int n, const pair_text *x, const cc_model *m, cc_error *err)
{
    size_t T = x->clean.n, at = n ? (size_t)out->offset[n] : 0;
    if ((int)T > m->cfg.n_ctx) return cc_fail(err, "a generated prompt is %zu tokens, beyond n_ctx %d", T, m->cfg.n_ctx);
    int *off = realloc(out->offset, (size_t)(n + 2) * sizeof *off);
    if (off) out->offset = off;
    int *c = realloc(out->clean, (at + T) * sizeof *c);
    if (c) out->clean = c;
    int *k = realloc(out->corrupt, (at + T) * sizeof *k);
    if (k) out->corrupt = k;
    int *a = realloc(out->answer, (size_t)(n + 1) * sizeof *a);
    if (a) out->answer = a;
    int *w = realloc(out->wrong, (size_t)(n + 1) * sizeof *w);
    if (w) out->wrong = w;
    if (!off || !c || !k || !a || !w) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d prompt pairs", n + 1);
    if (n == 0) out->offset[0] = 0;
    for (size_t t = 0; t < T; t++) out->clean[at + t] = x->clean.ids[t], out->corrupt[at + t] = x->corrupt.ids[t];
    out->offset[n + 1] = (int)(at + T);
    out->answer[n] = x->answer;
    out->wrong[n] = x->wrong;
    out->n_pairs = n + 1;
    return 0;
}

/* K distinct indices of [0, N) into PICK. */
static void distinct(cc_rng *rng, int n, int k, int *pick)
{
    for (int i = 0; i < k; i++) {
        bool again;
        do {
            pick[i] = (int)cc_rng_below(rng, (uint32_t)n);
            again = false;
            for (int j = 0; j < i; j++) again |= pick[j] == pick[i];
        } while (again);
    }
}

/* OUT emptied; TOK's ids fit the model's vocabulary. */
static int check_task(const cc_model *m, const cc_tokenizer *tok, cc_eap_pairs *out, cc_error *err)
{
    memset(out, 0, sizeof *out);
    if (cc_tokenizer_vocab_size(tok) > m->cfg.d_vocab)
        return cc_fail(err, "the tokenizer has %d tokens, the model's vocabulary %d: give the model's own tokenizer",
                       (int)cc_tokenizer_vocab_size(tok), m->cfg.d_vocab);
    return 0;
}

int cc_eap_pairs_ioi(const cc_model *m, cc_tokenizer *tok, int n, uint64_t seed, cc_eap_pairs *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tok, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_AT_LEAST(n, 1, err, -1);
    if (check_task(m, tok, out, err) != 0) return -1;
    const char *names[COUNT(NAMES)];
    int ids[COUNT(NAMES)], n_names = 0;
    for (int i = 0; i < COUNT(NAMES); i++) /* the names that are one token on this tokenizer */
        if ((ids[n_names] = single_token(tok, NAMES[i], err)) >= 0) names[n_names++] = NAMES[i];
    if (n_names < 5)
        return cc_fail(err, "IOI pairs need 5 names of one token each; this tokenizer has %d of circuitc's list",
                       n_names);
    cc_rng rng;
    cc_rng_seed(&rng, seed ^ 0x696f69ULL); /* "ioi" */
    pair_text x = {0};
    char text[512];
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int pick[5], tpl = (int)cc_rng_below(&rng, COUNT(TEMPLATES));
        const char *place = PLACES[cc_rng_below(&rng, COUNT(PLACES))], *thing = THINGS[cc_rng_below(&rng, COUNT(THINGS))];
        distinct(&rng, n_names, 5, pick); /* A, B; then C, D, E for the corrupted slots */
        snprintf(text, sizeof text, TEMPLATES[tpl], names[pick[0]], names[pick[1]], place, names[pick[1]], thing);
        rc = encode(tok, m->cfg.bos_token_id, text, &x.clean, err);
        snprintf(text, sizeof text, TEMPLATES[tpl], names[pick[2]], names[pick[3]], place, names[pick[4]], thing);
        if (rc == 0) rc = encode(tok, m->cfg.bos_token_id, text, &x.corrupt, err);
        x.answer = ids[pick[0]];
        x.wrong = ids[pick[1]];
        if (rc == 0 && x.clean.n != x.corrupt.n) /* one-token names cannot change the length; a merge across them can */
            rc = cc_fail(err, "IOI pair %d: the prompts tokenize to %zu and %zu tokens", i, x.clean.n, x.corrupt.n);
        if (rc == 0) rc = append(out, i, &x, m, err);
    }
    cc_token_ids_free(&x.clean);
    cc_token_ids_free(&x.corrupt);
    if (rc != 0) cc_eap_pairs_free(out);
    return rc;
}

int cc_eap_pairs_greater_than(const cc_model *m, cc_tokenizer *tok, int n, uint64_t seed, cc_eap_pairs *out,
                              cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tok, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_AT_LEAST(n, 1, err, -1);
    if (check_task(m, tok, out, err) != 0) return -1;
    cc_rng rng;
    cc_rng_seed(&rng, seed ^ 0x67742dULL); /* "gt-" */
    pair_text x = {0};
    char text[256], yy[12];
    int rc = 0, made = 0;
    for (int tries = 0; made < n && rc == 0; tries++) {
        if (tries > 100 * n) {
            rc = cc_fail(err, "greater-than pairs: too few years tokenize as \"17\" + two digits on this tokenizer");
            break;
        }
        int year = 2 + (int)cc_rng_below(&rng, 97); /* 02..98 */
        const char *noun = NOUNS[cc_rng_below(&rng, COUNT(NOUNS))];
        snprintf(text, sizeof text, "The %s lasted from the year 17%02d to the year 17", noun, year);
        rc = encode(tok, m->cfg.bos_token_id, text, &x.clean, err);
        snprintf(text, sizeof text, "The %s lasted from the year 1701 to the year 17", noun);
        if (rc == 0) rc = encode(tok, m->cfg.bos_token_id, text, &x.corrupt, err);
        snprintf(yy, sizeof yy, "%02d", year + 1);
        x.answer = single_token(tok, yy, err);
        snprintf(yy, sizeof yy, "%02d", year - 1);
        x.wrong = single_token(tok, yy, err);
        if (rc != 0 || x.clean.n != x.corrupt.n || x.answer < 0 || x.wrong < 0) continue;
        rc = append(out, made++, &x, m, err);
    }
    cc_token_ids_free(&x.clean);
    cc_token_ids_free(&x.corrupt);
    if (rc != 0) cc_eap_pairs_free(out);
    return rc;
}
