/* runtime.h — option parsing and output helpers shared by the runtime commands
 * (repeat, heads, pattern, patch, ablate; --seq-len also report and validate);
 * heads, ablate and pattern also run a prompt instead of the repeated tokens.
 * Private to src/cli/. */
#ifndef CIRCUITC_CLI_RUNTIME_H
#define CIRCUITC_CLI_RUNTIME_H

#include "circuitc/experiments.h"
#include "circuitc/runtime_report.h"
#include "cli.h"
#include "options.h"
#include "prompt_cli.h"

typedef struct {
    cli_common common;
    int n;                 /* --seq-len: the repeated block length */
    bool n_given;          /* --seq-len given: else lowered to what fits n_ctx */
    int batch;             /* --batch */
    unsigned long long seed; /* --seed */
    int top;               /* --top K */
    cc_ablate_mode mode;   /* --ablate mean|zero */
    bool naive;            /* --naive */
    bool exclude_bos, exclude_current; /* --exclude-bos, --exclude-current */
    char **args;           /* positional arguments */
    int n_args;
} rt_opts;

/* The runtime options of A, and the progress line of the forward passes. */
void rt_begin(const cli_args *a, rt_opts *o);

/* --seq-len *N against the model's n_ctx: when not GIVEN, lowered to the
 * longest repeated sequence that fits; when given too long, refused. */
int rt_fit_seq_len(const cc_config *cfg, bool given, int *n, cc_error *err);

/* Loads the model, fits O->n to it (rt_fit_seq_len) and refuses a batch whose
 * forward pass cannot fit in memory. */
int rt_prepare(rt_opts *o, int batch, cc_model **m, cc_error *err);

/* O's repeated-token input (seed, seq_len, batch) for the library's calls. */
cc_repeat_input rt_input(const rt_opts *o);

/* rt_prepare, then draws O's repeated tokens [batch, 1+2n] into *TOKENS;
 * lowers O->n to what fits n_ctx when --seq-len was not given. */
int rt_setup(rt_opts *o, int batch, cc_model **m, int **tokens, cc_error *err);

/* The human header line: "model PATH (processed|unprocessed), seed S, seq_len n (T positions), batch B". */
void rt_print_header(const cc_model *m, const rt_opts *o, int batch);

/* heads, ablate and pattern on a prompt (A gives one: prompt_given): A's
 * prompt options into P, refusing the repeated tokens' options (--seq-len,
 * --batch, --seed) beside them. Returns -1 to go on, else the exit status
 * (usage error printed). */
int rt_begin_prompt(const cli_args *a, prompt_opts *p);

/* The human header line on prompts: "model PATH (processed|unprocessed), B prompt(s) of T tokens". */
void rt_print_prompt_header(const cc_model *m, const cc_prompt_batch *b);

#endif
