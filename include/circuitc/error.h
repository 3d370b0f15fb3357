/* circuitc/error.h — the error convention shared by every module.
 *
 * A function that can fail returns 0 on success and -1 on failure, and on
 * failure fills a cc_error with one message that says what went wrong, where
 * (file, tensor, field) and what to do about it. The library never prints and
 * never exits; the CLI prints err.msg on stderr and exits non-zero.
 *
 * Every public function checks its arguments first: a NULL pointer (unless its
 * header says it may be NULL) or an out-of-range enum fails with
 * "FUNC: argument NAME is NULL" / "FUNC: argument NAME is V, not in 0..N".
 * ERR itself may always be NULL (the message is dropped). Every _free accepts
 * NULL. Functions without a cc_error return a sentinel for a bad argument
 * (README.md, "Errors and arguments"). */
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
