/* args.c — option handling and output helpers shared by the commands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/process.h"
#include "cli.h"

int cli_common_option(int c, cli_common *common, bool *want_help)
{
    switch (c) {
    case OPT_MODEL: common->model = optarg; return 1;
    case OPT_CONFIG: common->config = optarg; return 1;
    case OPT_JSON: common->json = true; return 1;
    case OPT_NO_PROCESSING: common->no_processing = true; return 1;
    case OPT_ALLOW_NONFINITE: common->allow_nonfinite = true; return 1;
    case OPT_HELP: *want_help = true; return 1;
    case OPT_PLOT: common->plot = optarg; return 1;
    default: return 0;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "circuitc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'circuitc %s --help'.\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const cc_error *err)
{
    fprintf(stderr, "circuitc: error: %s\n", err->msg);
    return CLI_FAIL;
}

int cli_open_model(const cli_common *common, cc_model **out, cc_error *err)
{
    const char *path = common->model ? common->model : cc_default_model_path();
    if (cc_model_open(path, common->config, out, err) != 0) {
        if (!common->model && !getenv("CIRCUITC_MODEL"))
            cc_fail_prefix(err, "bundled model (pass --model PATH or set CIRCUITC_MODEL to use another)");
        return -1;
    }
    (*out)->allow_nonfinite = common->allow_nonfinite;
    return 0;
}

/* Says on stderr where a non-finite weight let in by --allow-nonfinite is. */
static void warn_nonfinite(const cc_model *m)
{
    if (m->nonfinite_note.msg[0])
        fprintf(stderr, "circuitc: warning: %s; loaded anyway (--allow-nonfinite): results computed from it may be NaN "
                        "or meaningless\n", m->nonfinite_note.msg);
}

int cli_need_parts(const cli_common *common, cc_model *m, const cc_part *parts, int n, cc_error *err)
{
    if (cc_model_need(m, parts, n, !common->no_processing, err) != 0) return -1;
    warn_nonfinite(m);
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
    if (cc_model_load_weights(m, err) != 0 || (!common->no_processing && cc_process_weights(m, err) != 0)) {
        cc_model_free(m);
        return -1;
    }
    warn_nonfinite(m);
    *out = m;
    return 0;
}

int cli_print_json(json_t *j)
{
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    fputc('\n', stdout);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') {
        cli_usage_error(cmd, "%s takes a non-negative integer, got \"%s\"", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}
