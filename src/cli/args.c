/* args.c — option handling and output helpers shared by the commands. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuitc/experiments.h"
#include "circuitc/process.h"
#include "circuitc/utf8.h"
#include "cli.h"
#include "progress.h"

static cli_run_state run;

const cli_run_state *cli_run(void) { return &run; }

void cli_run_begin(const char *command)
{
    run.command = command;
    clock_gettime(CLOCK_MONOTONIC, &run.start);
}

void cli_run_model(const char *path, const cc_config *cfg)
{
    free(run.model);
    run.model = path ? strdup(path) : NULL;
    run.has_cfg = cfg != NULL;
    if (cfg) run.cfg = *cfg;
}

void cli_run_processed(bool processed) { run.processed = processed; }

double cli_run_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - run.start.tv_sec) + 1e-9 * (double)(t.tv_nsec - run.start.tv_nsec);
}

int cli_require_utf8(const char *what, const char *path, cc_error *err)
{
    if (!path || cc_utf8_valid(path)) return 0;
    return cc_fail(err, "%s \"%s\" is not valid UTF-8, and --json output (UTF-8 by definition) names it; rename "
                        "it or link to it under a UTF-8 name (without --json the path is printed byte for byte)",
                   what, path);
}

json_t *cli_json_path(const char *path) { return path ? json_string_nocheck(path) : json_null(); }

double cli_num(double v, int decimals)
{
    if (decimals == CLI_NUM_G) return v == 0 ? 0.0 : v;
    char text[32];
    snprintf(text, sizeof text, "%.*f", decimals, v);
    return text[0] == '-' && text[1 + strspn(text + 1, "0.")] == '\0' ? 0.0 : v;
}

const char *cli_tokens_word(long long n) { return n == 1 ? "token" : "tokens"; }

int cli_open_model(const cli_common *common, cc_model **out, cc_error *err)
{
    char *default_path = NULL;
    if (!common->model && cc_default_model_path(&default_path, err) != 0)
        return cc_fail_prefix(err, "bundled model (or pass --model PATH)");
    const char *path = common->model ? common->model : default_path;
    int rc = -1;
    if (common->json &&
        (cli_require_utf8("model path", path, err) != 0 || cli_require_utf8("config path", common->config, err) != 0))
        goto out;
    if (cc_model_open(path, common->config, out, err) != 0) {
        if (!common->model && !getenv("CIRCUITC_MODEL"))
            cc_fail_prefix(err, "bundled model (pass --model PATH or set CIRCUITC_MODEL to use another)");
        goto out;
    }
    cc_model_set_allow_nonfinite(*out, common->allow_nonfinite);
    cli_run_model(cc_model_path(*out), cc_model_config(*out));
    rc = 0;
out:
    free(default_path);
    return rc;
}

/* Says on stderr where a non-finite weight let in by --allow-nonfinite is. */
static void warn_nonfinite(const cc_model *m)
{
    if (cc_model_nonfinite_note(m)[0])
        fprintf(stderr, "circuitc: warning: %s; loaded anyway (--allow-nonfinite): results computed from it may be NaN "
                        "or meaningless\n", cc_model_nonfinite_note(m));
}

void cli_parts_loaded(const cli_common *common, const cc_model *m)
{
    cli_run_processed(!common->no_processing);
    warn_nonfinite(m);
}

int cli_need_parts(const cli_common *common, cc_model *m, const cc_part *parts, int n, cc_error *err)
{
    if (cc_model_need(m, parts, n, !common->no_processing, err) != 0) return -1;
    cli_parts_loaded(common, m);
    return 0;
}

int cli_load_parts(const cli_common *common, const cc_part *parts, int n, cc_model **out, cc_error *err)
{
    cc_model *m = NULL;
    if (cli_open_model(common, &m, err) != 0) return -1;
    if (cli_need_parts(common, m, parts, n, err) != 0) {
        cc_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int cli_load_model(const cli_common *common, cc_model **out, cc_error *err)
{
    cc_model *m = NULL;
    if (cli_open_model(common, &m, err) != 0) return -1;
    /* loading reports per tensor, labelled with the command unless it set a label */
    cli_progress_default(run.command);
    cc_model_set_load_progress(m, cli_progress_update, NULL);
    if (cc_model_load_weights(m, err) != 0 || (!common->no_processing && cc_process_weights(m, err) != 0)) {
        cc_model_free(m);
        return -1;
    }
    cli_run_processed(cc_model_processed(m));
    warn_nonfinite(m);
    if (cc_model_allow_nonfinite(m)) /* a whole model is loaded for forward passes: their range checks are off too */
        fputs("circuitc: warning: --allow-nonfinite: activations and logits are not checked for NaN, Inf or logits "
              "beyond 2^24 either; results are shown as computed and may be meaningless\n", stderr);
    *out = m;
    return 0;
}

int cli_print_json(json_t *j)
{
    if (!j) { /* a json_pack that failed: jansson refuses invalid UTF-8 and NULL strings */
        return cli_report_error(CLI_FAIL, cli_run()->command,
                                "cannot encode the result as JSON (a text in it is not valid UTF-8)");
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    fputc('\n', stdout);
    return rc == 0 ? CLI_OK : CLI_FAIL; /* write errors are reported once, at exit (main.c) */
}

/* Whether S is a plain decimal numeral: digits only, no sign, no spaces. */
static bool is_decimal(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* S as an unsigned 64-bit number: false when it is not a plain decimal numeral or overflows. */
static bool decimal_u64(const char *s, unsigned long long *out)
{
    errno = 0;
    *out = is_decimal(s) ? strtoull(s, NULL, 10) : 0;
    return is_decimal(s) && !errno;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out)
{
    if (!decimal_u64(s, out)) {
        cli_usage_error(cmd, "%s takes a non-negative integer (digits only, at most %llu), got \"%s\"", opt,
                        ULLONG_MAX, s);
        return -1;
    }
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int min, int max, int *out)
{
    unsigned long long v;
    if (!decimal_u64(s, &v)) { /* the option's own range, not the 64-bit one */
        cli_usage_error(cmd, "%s takes an integer between %d and %d (digits only), got \"%s\"", opt, min, max, s);
        return -1;
    }
    if (v < (unsigned long long)min || v > (unsigned long long)max) {
        cli_usage_error(cmd, "%s must be between %d and %d, got %s", opt, min, max, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}
