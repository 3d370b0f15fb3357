/* circuitc/error.h — the error convention shared by every module.
 *
 * A function that can fail returns 0 on success and -1 on failure, and on
 * failure fills a cc_error with one message that says what went wrong, where
 * (file, tensor, field) and what to do about it. The library never prints and
 * never exits; the CLI prints err.msg on stderr and exits non-zero. */
#ifndef CIRCUITC_ERROR_H
#define CIRCUITC_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char msg[1024];
} cc_error;

/* Formats the message into err (if err is not NULL) and returns -1, so that
 * failure paths read `return cc_fail(err, "...", ...);`. */
int cc_fail(cc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an already filled message (adds context on the way up). */
int cc_fail_prefix(cc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
