/* cli.h — shared pieces of the circuitc command-line tool (a thin layer over
 * the library: parse arguments, call, print). */
#ifndef CIRCUITC_CLI_H
#define CIRCUITC_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "circuitc/error.h"
#include "circuitc/model.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Options every model-reading command takes. */
typedef struct {
    const char *model;       /* --model PATH, else $CIRCUITC_MODEL, else the bundled model */
    const char *config;      /* --config FILE */
    bool json;               /* --json */
    bool no_processing;      /* --no-processing */
    bool allow_nonfinite;    /* --allow-nonfinite */
    const char *plot;        /* --plot FILE.png|svg (src/cli/plot_cli.h) */
    const char *html;        /* --html FILE.html (src/cli/html_cli.h) */
} cli_common;

/* Every error goes through these (errors.c): on stderr, as text, or as one
 * JSON line {"error": {"command", "code", "message"}} once
 * cli_errors_as_json(true) (the command line has --json). */
void cli_errors_as_json(bool on);
/* Prints the error of command CMD (NULL: circuitc itself) that exits with
 * STATUS (CLI_FAIL, or CLI_USAGE: a usage error) and returns STATUS. */
int cli_report_error(int status, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "circuitc <cmd>: <message>" for a usage error and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the library error and returns CLI_FAIL. */
int cli_fail(const cc_error *err);

/* Opens the model named by COMMON (weights not loaded; --allow-nonfinite applied). */
int cli_open_model(const cli_common *common, cc_model **out, cc_error *err);

/* Opens, loads and processes (unless --no-processing) the model named by COMMON. */
int cli_load_model(const cli_common *common, cc_model **out, cc_error *err);

/* Loads into M (opened by cli_open_model) only the N PARTS a weight-only
 * command reads, processed unless --no-processing; warns on stderr where a
 * weight let in by --allow-nonfinite is. */
int cli_need_parts(const cli_common *common, cc_model *m, const cc_part *parts, int n, cc_error *err);

/* What cli_need_parts does after loading, for parts a library call loaded
 * into M: records the processing for the envelope, warns about non-finite
 * weights. */
void cli_parts_loaded(const cli_common *common, const cc_model *m);

/* cli_open_model and cli_need_parts in one. */
int cli_load_parts(const cli_common *common, const cc_part *parts, int n, cc_model **out, cc_error *err);

/* Prints J as indented JSON on stdout and frees it. */
int cli_print_json(json_t *j);

/* Holds back what the command prints on stdout (in memory) until
 * cli_stdout_release(STATUS), which writes it out when STATUS is CLI_OK and
 * drops it otherwise; returns STATUS, or CLI_FAIL (printed) when holding ran
 * out of memory. main() holds the output of a command given --plot, so a
 * chart that fails leaves stdout empty (stdout_hold.c). */
int cli_stdout_hold(void);
int cli_stdout_release(int status);

/* What the JSON envelope says, recorded as the command runs (args.c): main
 * names the command and starts the clock, opening a model records its path,
 * loading it the processing applied. */
typedef struct {
    const char *command;
    char *model;          /* NULL: the command read no model */
    bool processed;       /* TransformerLens' default processing applied (for info: to be applied) */
    cc_config cfg;        /* the model's, once opened (its processing steps depend on the block) */
    bool has_cfg;
    struct timespec start;
} cli_run_state;
const cli_run_state *cli_run(void);
void cli_run_begin(const char *command);
void cli_run_model(const char *path, const cc_config *cfg);
void cli_run_processed(bool processed);
/* Seconds since cli_run_begin: the command's wall time. */
double cli_run_seconds(void);
/* The envelope (envelope.c). The processing steps applied, as a JSON list (empty when PROCESSED is false). */
json_t *cli_processing_steps(bool processed);
/* Prints BODY (freed) inside the envelope: command, version, model, processing,
 * seconds, then BODY's keys (those the envelope has are the envelope's). */
int cli_print_result(json_t *body);

/* The option-value parsers: plain decimal digits only (no sign, no spaces, no
 * suffix), range-checked; each returns -1 after printing a usage error. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out);
/* An integer in [MIN, MAX] (MIN >= 0). */
int cli_parse_int(const char *cmd, const char *opt, const char *s, int min, int max, int *out);

/* Fails (naming WHAT) when PATH is not valid UTF-8: --json output cannot name
 * it. A NULL PATH passes. */
int cli_require_utf8(const char *what, const char *path, cc_error *err);

/* PATH as a JSON string for the commands' result objects, which also feed the
 * human output: its bytes are kept even when they are not UTF-8 (jansson would
 * refuse them). --json refuses such paths up front (cli_require_utf8), so
 * what is printed as JSON is always valid. */
json_t *cli_json_path(const char *path);

/* V to print with %.<DECIMALS>f (or %g: DECIMALS CLI_NUM_G): 0 where it would
 * print as a negative zero ("-0.0000" reads as a sign where there is none),
 * else V. Every number of the text output that can be negative goes through
 * it. */
enum { CLI_NUM_G = -1 };
double cli_num(double v, int decimals);

/* "token" or "tokens" for N ("%d %s", n, cli_tokens_word(n)): "1 token", "2 tokens". */
const char *cli_tokens_word(long long n);


#endif
