/* circuitc/error.h — the error convention shared by every module.
 *
 * A function that can fail returns 0 on success and -1 on failure, and on
 * failure fills a cc_error with one message that says what went wrong, where
 * (file, tensor, field) and what to do about it, and a code that says which
 * class of failure it is (cc_errcode: what a program or a binding branches
 * on; the message is for people). The library never prints and never exits;
 * the CLI prints err.msg on stderr and exits non-zero.
 *
 * Every public function checks its arguments first: a NULL pointer (unless its
 * header says it may be NULL) or an out-of-range enum fails with
 * "FUNC: argument NAME is NULL" / "FUNC: argument NAME is V, not in 0..N"
 * (code CC_E_ARG).
 * ERR itself may always be NULL (the message is dropped). Every _free accepts
 * NULL. Functions without a cc_error return a sentinel for a bad argument
 * (README.md, "Errors and arguments"). */
#ifndef CIRCUITC_ERROR_H
#define CIRCUITC_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The class of a failure. New codes are only ever added at the end. */
typedef enum {
    CC_OK = 0,         /* no failure (a cc_error never carries it after a failure) */
    CC_E_ARG,          /* a bad argument: a NULL pointer, an enum out of range, a call out of
                          order (a model not loaded yet): a bug in the calling program */
    CC_E_VALUE,        /* a value that is not valid here: a head outside the model, a token id
                          outside the vocabulary, an option the analysis cannot take */
    CC_E_IO,           /* a file or folder cannot be found, opened, read or written; a helper
                          program (gnuplot) failed */
    CC_E_FORMAT,       /* a file's content is not what it must be: model weights or config,
                          tokenizer, circuit file, JSON */
    CC_E_NOMEM,        /* out of memory */
    CC_E_NONFINITE,    /* NaN or infinity in the weights or the activations */
    CC_E_UNSUPPORTED,  /* the model or the file needs something circuitc does not implement */
    CC_E_CANCELLED,    /* the progress callback asked to stop */
    CC_E_INTERNAL,     /* a broken invariant: a bug in circuitc */
    CC_E_COUNT         /* the number of codes (not a code) */
} cc_errcode;

typedef struct {
    char msg[1024];
    cc_errcode code;   /* set with msg (CC_OK in a zeroed cc_error) */
} cc_error;

/* Formats the message into err (if err is not NULL), sets its code to
 * CC_E_VALUE and returns -1, so that failure paths read
 * `return cc_fail(err, "...", ...);`. Failures of another class use
 * cc_fail_code. */
int cc_fail(cc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As cc_fail, with the code given. */
int cc_fail_code(cc_error *err, cc_errcode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an already filled message (adds context on the way
 * up); the code is kept. */
int cc_fail_prefix(cc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code's name in lower case ("ok", "arg", "value", "io", "format", "nomem",
 * "nonfinite", "unsupported", "cancelled", "internal"); "?" for a value outside
 * the enum. */
const char *cc_error_code_name(cc_errcode code);

#ifdef __cplusplus
}
#endif

#endif
