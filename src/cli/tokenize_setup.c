/* tokenize_setup.c — the tokenizer `circuitc tokenize` uses and its BOS: the
 * --tokenizer folder, the model's folder, or GPT-2's in the data folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/datadir.h"
#include "circuitc/prompts.h"
#include "tokenize_cli.h"

int tokenize_open(const cli_common *common, const char *tokenizer_dir, bool no_bos, tokenize_setup *s, cc_error *err)
{
    const char *model_path = common->model ? common->model : getenv("CIRCUITC_MODEL");
    cc_model *m = NULL;
    if (tokenizer_dir) {
        snprintf(s->dir, sizeof s->dir, "%s", tokenizer_dir);
    } else if (!model_path) { /* GPT-2's, in the data folder when it was fetched before the build */
        char *gpt2 = NULL;
        if (cc_data_find(NULL, "gpt2-tokenizer", &gpt2, err) != 0)
            return cc_fail_prefix(err, "GPT-2's tokenizer (pass --tokenizer DIR)");
        snprintf(s->dir, sizeof s->dir, "%s", gpt2);
        free(gpt2);
    }
    if (model_path) {
        if (cli_open_model(common, &m, err) != 0) return -1;
        if (!tokenizer_dir) { /* the folder of the model's config.json */
            snprintf(s->dir, sizeof s->dir, "%s", cc_model_config_file(m));
            char *slash = strrchr(s->dir, '/');
            if (slash) *slash = '\0';
            else snprintf(s->dir, sizeof s->dir, ".");
        }
        s->model_vocab = cc_model_config(m)->d_vocab;
        s->bos = cc_model_config(m)->bos_token_id;
        cc_model_free(m);
    }
    if (cc_tokenizer_load(s->dir, &s->tok, err) != 0) {
        if (!tokenizer_dir && model_path) cc_fail_prefix(err, "the model's tokenizer (pass --tokenizer DIR)");
        return -1;
    }
    if (s->model_vocab && cc_tokenizer_vocab_size(s->tok) > s->model_vocab) {
        cc_fail(err, "the tokenizer has %d tokens but the model's vocab_size is %d: they do not belong together",
                cc_tokenizer_vocab_size(s->tok), s->model_vocab);
        goto fail;
    }
    if (!s->model_vocab) s->bos = cc_tokenizer_bos_id(s->tok);
    if (no_bos) s->bos = -1;
    else if (s->bos < 0) {
        cc_fail(err, "the tokenizer has no BOS token (no \"BOS $A\" template, no %s); pass --model or --no-bos",
                CC_GPT2_EOT_TEXT);
        goto fail;
    }
    return 0;
fail:
    cc_tokenizer_free(s->tok);
    s->tok = NULL;
    return -1;
}
