/* prompt_cli.h — the prompt options of the commands that run a researcher's
 * own prompts (run, lens, dla, pattern): --prompt, --prompt-file, --tokens,
 * --tokenizer, --no-bos, plus --top, --answer and --wrong where a command takes
 * them. Private to src/cli/. Parsing is this one function until the commands
 * move to the declarative option table. */
#ifndef CIRCUITC_CLI_PROMPT_H
#define CIRCUITC_CLI_PROMPT_H

#include <jansson.h>
#include <time.h>

#include "circuitc/dla.h"
#include "circuitc/predictions.h"
#include "circuitc/prompts.h"
#include "cli.h"

/* Which of the command-specific options a command takes (bit set). */
enum { PR_TOP = 1, PR_ANSWER = 2, PR_PLOT = 4, PR_HEAD = 8 /* one positional HEAD; else none */ };

#define PROMPT_CLI_HELP                                                                                     \
    "  --prompt TEXT      the prompt (BOS is prepended as TransformerLens' to_tokens does)\n"              \
    "  --prompt-file FILE one prompt per line\n"                                                          \
    "  --tokens IDS|@FILE token ids (comma- or space-separated; @FILE: one sequence per line), run\n"       \
    "                     exactly as given (no BOS added)\n"                                                \
    "  --tokenizer DIR    vocab.json + merges.txt or tokenizer.json; default: the model's folder if it\n"     \
    "                     has them, else GPT-2's tokenizer (scripts/fetch-gpt2-tokenizer)\n"                  \
    "  --no-bos           do not prepend BOS to text prompts\n"

typedef struct {
    cli_common common;
    cc_prompt_source src;
    int top;                 /* --top K */
    const char *answer;      /* --answer TOKEN */
    const char *wrong;       /* --wrong TOKEN */
    bool help;
    char **args;             /* positional arguments */
    int n_args;
    struct timespec start;   /* for the JSON envelope's seconds */
} prompt_opts;

/* Parses ARGV for CMD (options in MASK plus the prompt and common ones).
 * Returns -1 on success, else the exit status (usage error, or 0 after HELP). */
int prompt_parse(const char *cmd, int argc, char **argv, unsigned mask, const char *help, prompt_opts *o);

/* Loads the model and builds the token batch; MAX_BATCH > 0 refuses more prompts. */
int prompt_setup(const prompt_opts *o, int max_batch, cc_model **m, cc_prompt_batch *b, cc_error *err);

/* The start of every --json result: the envelope (command, version, model,
 * processing, seconds so far), then "tokenizer" (the folder read, or null). */
json_t *prompt_json_start(const char *cmd, const cc_model *m, const prompt_opts *o, const cc_prompt_batch *b);

/* Row ROW's prompt as keys on J: "text" (null for ids), "ids", "tokens" (texts). */
void prompt_json_tokens(json_t *j, const cc_prompt_batch *b, int row);

/* The texts of N token IDS (cc_prompt_token_text), for chart labels; free with
 * prompt_texts_free. NULL when out of memory. */
char **prompt_token_texts(const cc_prompt_batch *b, const int32_t *ids, size_t n);
void prompt_texts_free(char **texts, size_t n);

/* The --plot charts of the prompt commands; each returns CLI_OK or CLI_FAIL (printed). */
int prompt_plot_lens(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_logit_lens *r);
int prompt_plot_dla(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_dla *d);
int prompt_plot_pattern(const char *out, const cc_model *m, const cc_prompt_batch *b, const char *head,
                        const float *pattern);

/* pattern on a prompt (cmd_pattern_prompt.c): cmd_pattern hands over when
 * ARGV has --prompt, --prompt-file or --tokens. */
bool cli_pattern_has_prompt(int argc, char **argv);
int cmd_pattern_prompt(int argc, char **argv);

/* Prints TEXT with control characters escaped, in quotes, padded to WIDTH columns (bytes). */
void prompt_print_token(const char *text, int width);

#endif
