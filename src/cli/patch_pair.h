/* patch_pair.h — the clean/corrupted prompt pair and the metric of `patch` and
 * `path-patch` (--clean/--corrupt or --clean-tokens/--corrupt-tokens,
 * --metric, --answer, --wrong). Private to src/cli/. */
#ifndef CIRCUITC_CLI_PATCH_PAIR_H
#define CIRCUITC_CLI_PATCH_PAIR_H

#include "circuitc/prompt_pair.h"
#include "options.h"

/* True when A names a prompt pair (--clean or --clean-tokens given). */
bool patch_pair_given(const cli_args *a);

/* Reads A's prompt pair for model M and the metric (cc_prompt_pair_load); returns
 * CLI_OK, or the exit status after printing the error (usage: a missing or doubled
 * option). Free P with cc_prompt_pair_free, also after a failure. */
int patch_pair_load(const cli_args *a, const cc_model *m, cc_prompt_pair *p);

/* Token TOK's text for labels and JSON ("#ID" without a tokenizer). Caller frees. */
char *patch_pair_text(const cc_prompt_pair *p, int tok);

/* Prints the two prompts token by token and the metric line (text output),
 * then, when the two metrics are equal, that the normalised score is undefined
 * (the tables then show the patched metric, or "-" beside it). */
void patch_pair_print(const cc_prompt_pair *p, double clean, double corrupt);

/* Whether (x - a) / (clean - corrupt) is defined: the two metrics differ. */
bool patch_normalisable(double clean, double corrupt);

/* Prints " %+10.4f" of a normalised score V, or " %10s" "-" when it is undefined. */
void patch_print_normalised(double v);

#endif
