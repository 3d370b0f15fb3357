/* options.h — circuitc's one declarative option table and command table.
 *
 * Every option is declared once (options.c: name, short name, value kind,
 * default, help); every command declares which options it takes, its
 * positional arguments, a summary, a description and examples (in its own
 * cmd_*.c, listed in commands.c). Parsing (parse.c), --help and `circuitc help
 * CMD` (help.c), the man page and the shell completions (docgen.c) are all
 * generated from these two tables, so they cannot drift apart. To add an
 * option: an id here, an entry in options.c, its id in the commands' lists. */
#ifndef CIRCUITC_CLI_OPTIONS_H
#define CIRCUITC_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

typedef enum {
    O_NONE = 0, /* ends a command's option list */
    /* the model and the output, for every model-reading command */
    O_MODEL, O_CONFIG, O_NO_PROCESSING, O_ALLOW_NONFINITE, O_JSON, O_QUIET, O_PLOT,
    /* random draws and repeated tokens */
    O_SEED, O_SEQ_LEN, O_BATCH, O_BASELINE_SAMPLES, O_TOP,
    /* circuits */
    O_K, O_RANKS, O_NO_RANKS, O_EXACT, O_BRUTE_FORCE, O_COMPARE, O_COMPONENTS, O_SINGULAR, O_CIRCUIT, O_BIND,
    O_EXPLAIN, O_ORDER, O_MODE,
    /* runtime */
    O_ABLATE, O_NAIVE, O_EXCLUDE_BOS, O_EXCLUDE_CURRENT, O_GOLDEN,
    /* activation and path patching on a prompt pair */
    O_CLEAN, O_CORRUPT, O_CLEAN_TOKENS, O_CORRUPT_TOKENS, O_METRIC, O_ANSWER, O_WRONG, O_PER_HEAD, O_POSITIONS,
    O_TO, O_VERIFY,
    /* edge attribution patching */
    O_PAIRS, O_TASK, O_EAP_METRIC, O_IG_STEPS, O_TOP_N, O_GREEDY, O_SCORES_OUT, O_SCORES_ONLY,
    /* files the commands write or read */
    O_OUT, O_PREV, O_IND, O_PRESET, O_DTYPE, O_PREFIX, O_LM_HEAD, O_CHECKSUM,
    O_TOKENIZER, O_NO_BOS, O_PROMPT_FILE, O_DECODE, O_REPLACE_INVALID,
    /* a researcher's prompts (run, lens, dla, pattern) */
    O_PROMPT, O_TOKENS,
    /* atlas and discover */
    O_OUT_FILE, O_RESUME, O_MIN_ACC, O_NO_RUNTIME,
    /* activations out (cache) and interactive pages */
    O_HOOKS, O_CACHE_OUT, O_HTML, O_POSITION,
    O_HELP,
    O_COUNT
} opt_id;

typedef enum {
    KIND_FLAG,   /* no value */
    KIND_INT,    /* an integer in [min, max] */
    KIND_U64,    /* any 64-bit unsigned integer */
    KIND_TEXT,   /* a string (a path, a head, ...) */
    KIND_CHOICE, /* one of choices[] */
    KIND_LIST,   /* a string, repeatable: every value is kept */
} opt_kind;

typedef struct {
    const char *name;        /* long name, without "--" */
    char short_name;         /* 0: none */
    opt_kind kind;
    const char *metavar;     /* the value's name in help: N, PATH, FILE, DIR (FILE/PATH/DIR also
                                tell the completions to offer files or folders) */
    const char *def;         /* default, as written on the command line; NULL: none */
    long long min, max;      /* KIND_INT */
    const char *const *choices; /* KIND_CHOICE: NULL-terminated */
    const char *const *aliases; /* KIND_CHOICE: other spellings accepted, pairs {alias, its choice},
                                   NULL-terminated (NULL: none); the value is the choice's */
    const char *help;        /* one sentence or two; the default is appended from def */
} opt_spec;

/* The option table, indexed by opt_id. */
extern const opt_spec cli_options[O_COUNT];

/* The model options every model-reading command lists first. */
#define CLI_MODEL_OPTIONS O_MODEL, O_CONFIG, O_NO_PROCESSING, O_ALLOW_NONFINITE, O_JSON, O_QUIET

/* One parsed value (the table's default when the option was not given). */
typedef struct {
    bool given;
    bool on;                 /* KIND_FLAG */
    int i;                   /* KIND_INT */
    unsigned long long u;    /* KIND_U64 */
    const char *s;           /* KIND_TEXT, KIND_CHOICE: the text */
    int choice;              /* KIND_CHOICE: index into choices */
    const char **items;      /* KIND_LIST */
    int n_items;
} opt_value;

struct cli_command;

typedef struct {
    const struct cli_command *cmd;
    cli_common common;       /* --model, --config, --json, --no-processing, --allow-nonfinite, --plot */
    opt_value v[O_COUNT];
    char **pos;              /* positional arguments */
    int n_pos;
} cli_args;

typedef struct cli_command {
    const char *name;
    const char *synopsis;    /* positional arguments as in the usage line: "PREV IND", "HEAD...", "" */
    const char *arg_noun;    /* what a positional argument is, for count errors ("head") */
    int min_args, max_args;  /* max_args -1: any number */
    const char *summary;     /* one line for `circuitc --help` */
    const char *description; /* paragraphs, lines of at most 90 characters */
    const char *examples;    /* one command line per line, each runnable from the source tree */
    const opt_id *options;   /* O_NONE-terminated; --help is implied */
    int (*run)(const cli_args *a);
} cli_command;

/* The command table, in `circuitc --help` order (commands.c). */
extern const cli_command *const cli_commands[];
extern const int cli_n_commands;

/* The command named NAME, or NULL. */
const cli_command *cli_find_command(const char *name);

/* Whether command C takes option ID. */
bool cli_takes(const cli_command *c, opt_id id);

/* Parses ARGV (ARGV[0] is the command name) for C into A. Returns -1 when the
 * command should run, else the exit status to return (usage error printed, or
 * 0 after printing the help). */
int cli_parse(const cli_command *c, int argc, char **argv, cli_args *a);

/* Frees what cli_parse allocated (KIND_LIST values). */
void cli_args_free(cli_args *a);

/* Prints `circuitc --help` (the command list) to OUT. */
void cli_print_usage(FILE *out);
/* Prints the help of command C. */
void cli_print_help(const cli_command *c);

/* The generated documents: the man page (troff) and completion scripts. */
void cli_print_man(FILE *out);
int cli_print_completion(FILE *out, const char *shell);

/* An option's text forms: "--seed S" (with the metavar) into BUF. */
const char *cli_option_label(opt_id id, char *buf, size_t size);

#endif
