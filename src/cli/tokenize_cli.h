/* tokenize_cli.h — what the files of `circuitc tokenize` share: the command
 * (cmd_tokenize.c) and the tokenizer it opens (tokenize_setup.c). Private to
 * src/cli/. */
#ifndef CIRCUITC_CLI_TOKENIZE_H
#define CIRCUITC_CLI_TOKENIZE_H

#include "circuitc/tokenizer.h"
#include "options.h"

typedef struct {
    cc_tokenizer *tok;
    char dir[4096];      /* the folder it was loaded from */
    int32_t bos;         /* -1: none */
    int32_t model_vocab; /* 0: no model */
} tokenize_setup;

/* Opens TOKENIZER_DIR's tokenizer, else the model's (--model or
 * $CIRCUITC_MODEL), else GPT-2's from the data folder, into S; S->bos is the
 * model's bos_token_id, <|endoftext|> without a model, -1 with NO_BOS. */
int tokenize_open(const cli_common *common, const char *tokenizer_dir, bool no_bos, tokenize_setup *s, cc_error *err);

#endif
