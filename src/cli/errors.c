/* errors.c — how circuitc reports an error on stderr: "circuitc: error: ..."
 * (exit 1) or "circuitc CMD: ..." with a pointer to the help (usage error,
 * exit 2), or, when the command line asks for --json, one JSON line
 * {"error": {"command", "code", "message"}} (docs/json.md, "Errors"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/utf8.h"
#include "cli.h"
#include "progress.h"

static bool as_json;

void cli_errors_as_json(bool on) { as_json = on; }

/* The error as one JSON line; MESSAGE's invalid UTF-8 (a path's bytes) replaced by U+FFFD. */
static void print_json_error(int status, const char *cmd, const char *message)
{
    size_t len;
    char *text = cc_utf8_replace_invalid(message, strlen(message), &len);
    json_t *j = json_pack("{s:{s:s?, s:s, s:s%}}", "error", "command", cmd, "code",
                          status == CLI_USAGE ? "usage" : "error", "message", text ? text : "out of memory",
                          text ? len : strlen("out of memory"));
    char *line = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    fprintf(stderr, "%s\n", line ? line : "{\"error\": {\"code\": \"error\", \"message\": \"out of memory\"}}");
    free(line);
    json_decref(j);
    free(text);
}

int cli_report_error(int status, const char *cmd, const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    cli_progress_clear();
    if (as_json) print_json_error(status, cmd, message);
    else if (status == CLI_USAGE && cmd) fprintf(stderr, "circuitc %s: %s\nTry 'circuitc %s --help'.\n", cmd, message, cmd);
    else if (status == CLI_USAGE) fprintf(stderr, "circuitc: %s\nTry 'circuitc --help'.\n", message);
    else fprintf(stderr, "circuitc: error: %s\n", message);
    return status;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return cli_report_error(CLI_USAGE, cmd, "%s", message);
}

int cli_fail(const cc_error *err) { return cli_report_error(CLI_FAIL, cli_run()->command, "%s", err->msg); }
