/* prompt_cli.h — what the commands that run a researcher's own prompts (run,
 * lens, dla, pattern) share: their options read from the option table
 * (--prompt, --prompt-file, --tokens, --tokenizer, --no-bos, plus --top,
 * --answer and --wrong where a command takes them), the model and token batch,
 * token printing and their charts (their JSON: circuitc/prompt_json.h).
 * Private to src/cli/. */
#ifndef CIRCUITC_CLI_PROMPT_H
#define CIRCUITC_CLI_PROMPT_H


#include "circuitc/dla.h"
#include "circuitc/predictions.h"
#include "circuitc/prompts.h"
#include "cli.h"
#include "options.h"

/* The prompt options every prompt command lists (options.h). */
#define CLI_PROMPT_OPTIONS O_PROMPT, O_PROMPT_FILE, O_TOKENS, O_TOKENIZER, O_NO_BOS

typedef struct {
    cli_common common;
    cc_prompt_source src;
    int top;                 /* --top K */
    const char *answer;      /* --answer TOKEN */
    const char *wrong;       /* --wrong TOKEN */
    char **args;             /* positional arguments */
    int n_args;
} prompt_opts;

/* Reads A's options into O and checks that exactly one of --prompt,
 * --prompt-file and --tokens is given (and --answer when NEED_ANSWER).
 * Returns -1 to go on, else the exit status (usage error printed). */
int prompt_begin(const cli_args *a, bool need_answer, prompt_opts *o);

/* Whether A gives a prompt (--prompt, --prompt-file or --tokens). */
bool prompt_given(const cli_args *a);

/* Loads the model and builds the token batch; MAX_BATCH > 0 refuses more prompts. */
int prompt_setup(const prompt_opts *o, int max_batch, cc_model **m, cc_prompt_batch *b, cc_error *err);

/* The texts of N token IDS (cc_prompt_token_text), for chart labels; free with
 * prompt_texts_free. NULL when out of memory. */
char **prompt_token_texts(const cc_prompt_batch *b, const int32_t *ids, size_t n);
void prompt_texts_free(char **texts, size_t n);

/* The --plot charts of the prompt commands; each returns CLI_OK or CLI_FAIL (printed). */
int prompt_plot_lens(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_logit_lens *r);
int prompt_plot_dla(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_dla *d);
int prompt_plot_pattern(const char *out, const cc_model *m, const cc_prompt_batch *b, const char *head,
                        const float *pattern);

/* pattern on a prompt (cmd_pattern_prompt.c): cmd_pattern hands over when a
 * prompt is given (prompt_given). */
int cmd_pattern_prompt(const cli_args *a);

/* Prints TEXT with control characters escaped, in quotes, padded to WIDTH columns (a
 * character of UTF-8 taking one). */
void prompt_print_token(const char *text, int width);

#endif
