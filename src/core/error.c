/* error.c — formatting of cc_error messages and the names of their codes. */
#include "circuitc/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void format_into(cc_error *err, cc_errcode code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int cc_fail(cc_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        format_into(err, CC_E_VALUE, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cc_fail_code(cc_error *err, cc_errcode code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        format_into(err, code, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cc_fail_prefix(cc_error *err, const char *fmt, ...)
{
    if (err) {
        char prefix[512], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        /* Truncation is acceptable here: the message stays NUL-terminated. */
        size_t n = strlen(prefix);
        if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
        memcpy(err->msg, prefix, n);
        memcpy(err->msg + n, ": ", 2);
        size_t room = sizeof err->msg - n - 3;
        size_t m = strnlen(old, room);
        memcpy(err->msg + n + 2, old, m);
        err->msg[n + 2 + m] = '\0';
    }
    return -1;
}

const char *cc_error_code_name(cc_errcode code)
{
    static const char *const names[CC_E_COUNT] = {
        [CC_OK] = "ok",           [CC_E_ARG] = "arg",           [CC_E_VALUE] = "value",
        [CC_E_IO] = "io",         [CC_E_FORMAT] = "format",     [CC_E_NOMEM] = "nomem",
        [CC_E_NONFINITE] = "nonfinite", [CC_E_UNSUPPORTED] = "unsupported",
        [CC_E_CANCELLED] = "cancelled", [CC_E_INTERNAL] = "internal",
    };
    return (unsigned)code < CC_E_COUNT ? names[code] : "?";
}
