/* runtime.h — option parsing and output helpers shared by the runtime commands
 * (repeat, heads, pattern, patch, ablate). Private to src/cli/. */
#ifndef CIRCUITC_CLI_RUNTIME_H
#define CIRCUITC_CLI_RUNTIME_H

#include "circuitc/experiments.h"
#include "cli.h"

/* Which options a command takes (bit set). */
enum { RT_SEQ_LEN = 1, RT_BATCH = 2, RT_SEED = 4, RT_TOP = 8, RT_MODE = 16, RT_NAIVE = 32, RT_EXCLUDE = 64,
       RT_PLOT = 128 /* --plot FILE (plot_cli.h); checked by rt_parse */ };

typedef struct {
    cli_common common;
    int n;                 /* --seq-len: the repeated block length (default 50) */
    int batch;             /* --batch */
    unsigned long long seed; /* --seed (default 0) */
    int top;               /* --top K (0 = all) */
    cc_ablate_mode mode;   /* --mode zero|mean */
    bool naive;            /* --naive */
    bool exclude_bos, exclude_current; /* --exclude-bos, --exclude-current */
    bool help;
    char **args;           /* positional arguments */
    int n_args;
} rt_opts;

/* Parses ARGV for command CMD accepting the options in MASK (plus the common
 * ones). Returns -1 on success, else the exit status to return (usage error, or
 * 0 after printing HELP). */
int rt_parse(const char *cmd, int argc, char **argv, unsigned mask, const char *help, rt_opts *o);

/* Loads the model and draws O's repeated tokens [batch, 1+2n] into *TOKENS. */
int rt_setup(const rt_opts *o, int batch, cc_model **m, int **tokens, cc_error *err);

/* A JSON object with the keys every runtime command prints first:
 * command, model, processing, seed, seq_len, batch. */
json_t *rt_json_header(const char *cmd, const cc_model *m, const rt_opts *o, int batch);

/* [L, H] doubles as a JSON array of L arrays. */
json_t *rt_json_lh(const double *v, int L, int H);

/* The human header line: "model PATH (processed|unprocessed), seed S, seq_len n (T positions), batch B". */
void rt_print_header(const cc_model *m, const rt_opts *o, int batch);

#endif
