/* cmd_tokenize.c — `circuitc tokenize`: text to GPT-2 token ids and back (the
 * tokenizer it opens: tokenize_setup.c). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/fsio.h"
#include "circuitc/prompts.h"
#include "prompt_cli.h"
#include "tokenize_cli.h"

/* One token's text as TransformerLens shows it: decoded alone (a character cut
 * between tokens becomes U+FFFD). */
static json_t *token_text(const cc_tokenizer *tok, int32_t id, cc_error *err)
{
    char *text;
    size_t len;
    if (cc_tokenizer_decode(tok, &id, 1, &text, &len, err) != 0) return NULL;
    json_t *j = json_stringn(text, len);
    free(text);
    return j;
}

/* Encodes one prompt into {"text", "ids", "tokens"}; LABEL names it in errors. */
static json_t *encode_prompt(const tokenize_setup *s, const char *text, size_t len, cc_invalid_utf8 invalid,
                             const char *label, cc_error *err)
{
    cc_token_ids ids = {0};
    if ((s->bos >= 0 && cc_token_ids_push(&ids, s->bos, err) != 0) ||
        cc_tokenizer_encode(s->tok, text, len, invalid, &ids, err) != 0) {
        cc_token_ids_free(&ids);
        cc_fail_prefix(err, "%s", label);
        return NULL;
    }
    json_t *j_ids = json_array(), *j_tokens = json_array();
    for (size_t i = 0; i < ids.n; i++) {
        json_t *t = token_text(s->tok, ids.ids[i], err);
        json_array_append_new(j_ids, json_integer(ids.ids[i]));
        json_array_append_new(j_tokens, t ? t : json_null());
    }
    cc_token_ids_free(&ids);
    /* "text": null when it is not valid UTF-8 (--replace-invalid) */
    return json_pack("{s:o?, s:o, s:o}", "text", json_stringn(text, len), "ids", j_ids, "tokens", j_tokens);
}

static void print_human(json_t *prompts, int32_t bos)
{
    size_t p;
    json_t *prompt;
    json_array_foreach(prompts, p, prompt) {
        json_t *ids = json_object_get(prompt, "ids"), *tokens = json_object_get(prompt, "tokens");
        if (json_array_size(prompts) > 1) printf("%sprompt %zu\n", p ? "\n" : "", p + 1);
        printf("%zu %s%s\n", json_array_size(ids), cli_tokens_word((long long)json_array_size(ids)),
               bos >= 0 ? " (BOS prepended)" : "");
        for (size_t i = 0; i < json_array_size(ids); i++) {
            printf("%5zu %6lld  ", i, (long long)json_integer_value(json_array_get(ids, i)));
            prompt_print_token(json_string_value(json_array_get(tokens, i)), 0);
            putchar('\n');
        }
    }
}

/* A --prompt-file line encoded into the prompts list (cc_prompt_file_lines). */
typedef struct {
    const tokenize_setup *s;
    cc_invalid_utf8 invalid;
    json_t *prompts;
} file_ctx;

static int encode_line(void *p, const char *line, size_t len, const char *label, cc_error *err)
{
    file_ctx *c = p;
    json_t *j = encode_prompt(c->s, line, len, c->invalid, label, err);
    return j ? json_array_append_new(c->prompts, j) : -1;
}

/* Reads FILE's lines as prompts into PROMPTS, as run/lens/dla read them. */
static int encode_file(const tokenize_setup *s, const char *path, cc_invalid_utf8 invalid, json_t *prompts,
                       cc_error *err)
{
    return cc_prompt_file_lines(path, "--prompt-file", "prompt file (--prompt-file)", encode_line,
                                &(file_ctx){s, invalid, prompts}, err);
}

/* Token ids separated by spaces or by one comma; an empty item (",1", "1,,2", "1,") is refused. */
static int parse_ids(const char *arg, const cc_tokenizer *tok, cc_token_ids *ids)
{
    const char *p = arg;
    bool id_since_comma = false; /* an id since the last comma (or the start) */
    while (*p) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == ',') {
            if (!id_since_comma)
                return cli_usage_error("tokenize", "--decode: empty item before the comma at character %zu: separate "
                                                   "token ids by one comma or by spaces, e.g. 15496,995",
                                       (size_t)(p - arg) + 1);
            id_since_comma = false;
            p++;
            continue;
        }
        char *end;
        errno = 0;
        long v = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
        if (v < 0 || errno || v >= cc_tokenizer_vocab_size(tok) || (*end && *end != ',' && *end != ' '))
            return cli_usage_error("tokenize", "--decode: \"%.*s\" is not a token id (integers 0..%d, separated by "
                                               "commas or spaces)", (int)strcspn(p, ", "), p,
                                   cc_tokenizer_vocab_size(tok) - 1);
        cc_token_ids_push(ids, (int32_t)v, NULL);
        id_since_comma = true;
        p = end;
    }
    if (ids->n == 0) return cli_usage_error("tokenize", "--decode needs at least one token id");
    if (!id_since_comma)
        return cli_usage_error("tokenize", "--decode: empty item after the last comma: separate token ids by one "
                                           "comma or by spaces, e.g. 15496,995");
    return CLI_OK;
}

static int run_decode(const tokenize_setup *s, const char *arg, bool json)
{
    cc_token_ids ids = {0};
    int rc = parse_ids(arg, s->tok, &ids);
    char *text = NULL;
    size_t len;
    cc_error err;
    if (rc == CLI_OK && cc_tokenizer_decode(s->tok, ids.ids, ids.n, &text, &len, &err) != 0) rc = cli_fail(&err);
    if (rc == CLI_OK && json) {
        json_t *j_ids = json_array();
        for (size_t i = 0; i < ids.n; i++) json_array_append_new(j_ids, json_integer(ids.ids[i]));
        rc = cli_print_result(json_pack("{s:o, s:s%}", "ids", j_ids, "text", text, len));
    } else if (rc == CLI_OK) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
    }
    free(text);
    cc_token_ids_free(&ids);
    return rc;
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    bool no_bos = a->v[O_NO_BOS].on;
    const char *tokenizer_dir = a->v[O_TOKENIZER].s, *prompt_file = a->v[O_PROMPT_FILE].s, *decode = a->v[O_DECODE].s;
    cc_invalid_utf8 invalid = a->v[O_REPLACE_INVALID].on ? CC_INVALID_UTF8_REPLACE : CC_INVALID_UTF8_ERROR;
    char **argv = a->pos;
    int n_inputs = (a->n_pos > 0) + (prompt_file != NULL) + (decode != NULL);
    if (n_inputs != 1)
        return cli_usage_error("tokenize", "give exactly one of TEXT, --prompt-file FILE or --decode IDS");
    tokenize_setup s = {.bos = -1};
    cc_error err;
    if (tokenize_open(&common, tokenizer_dir, no_bos || decode, &s, &err) != 0) return cli_fail(&err);
    int rc;
    if (decode) {
        rc = run_decode(&s, decode, common.json);
    } else {
        json_t *prompts = json_array();
        json_t *one = prompt_file ? NULL
                                  : encode_prompt(&s, argv[0], strlen(argv[0]), invalid, "TEXT", &err);
        if (prompt_file ? encode_file(&s, prompt_file, invalid, prompts, &err) != 0 : !one) {
            json_decref(prompts);
            cc_tokenizer_free(s.tok);
            return cli_fail(&err);
        }
        if (one) json_array_append_new(prompts, one);
        if (common.json) {
            rc = cli_print_result(json_pack("{s:s, s:o, s:o}", "tokenizer", s.dir, "bos",
                                          s.bos >= 0 ? json_integer(s.bos) : json_null(), "prompts", prompts));
        } else {
            print_human(prompts, s.bos);
            json_decref(prompts);
            rc = CLI_OK;
        }
    }
    cc_tokenizer_free(s.tok);
    return rc;
}

const cli_command cli_cmd_tokenize = {
    .name = "tokenize",
    .synopsis = "[TEXT]",
    .arg_noun = "text",
    .min_args = 0,
    .max_args = 1,
    .summary = "GPT-2 tokenizer: text to token ids and back (--decode)",
    .description =
        "Encodes TEXT (or each line of --prompt-file FILE) with GPT-2's byte-level BPE, exactly as\n"
        "Hugging Face's GPT2TokenizerFast, and prints every token's id and text; --decode IDS turns\n"
        "ids back into text. Give exactly one of TEXT, --prompt-file and --decode. BOS is prepended\n"
        "as TransformerLens does: the model's bos_token_id (--model), or <|endoftext|> for a\n"
        "tokenizer alone (docs/tokenizer.md).\n",
    .examples = "tokenize \"Hello world!\"\n"
                "tokenize --decode 15496,995 --json\n",
    .options = (const opt_id[]){O_TOKENIZER, O_PROMPT_FILE, O_DECODE, O_NO_BOS, O_REPLACE_INVALID, O_MODEL, O_CONFIG,
                                O_JSON, O_NONE},
    .run = run,
};
