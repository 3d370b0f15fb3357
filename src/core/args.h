/* core/args.h — the argument checks at the top of every public function
 * (README.md, "Errors and arguments"), one line each:
 *
 *     CC_ARG_NOT_NULL(tokens, err, -1);             "cc_forward: argument tokens is NULL"
 *     CC_ARG_ENUM(opts->kernel, CC_KERNEL_REF + 1, err, -1);
 *                        "cc_forward: argument opts->kernel is 7, not in 0..1"
 *     CC_ARG_AT_LEAST(l, 1, err, -1);              "cc_fm_create: argument l is -1, less than 1"
 *
 * On a bad argument the check fills ERR (NULL for functions without an error
 * channel) and returns the value after it (any expression, commas included)
 * from the enclosing function; a void function without an error channel just
 * returns (`if (!res) return;`). The argument is named as the header spells
 * it, so the caller can find it. */
#ifndef CIRCUITC_CORE_ARGS_H
#define CIRCUITC_CORE_ARGS_H

#include "circuitc/error.h"

#define CC_ARG_NOT_NULL(arg, err, ...)                                               \
    do {                                                                             \
        if (!(arg)) {                                                                \
            cc_fail_code((err), CC_E_ARG, "%s: argument %s is NULL", __func__, #arg); \
            return __VA_ARGS__;                                                      \
        }                                                                            \
    } while (0)

/* ARG must be at least MIN (a size). */
#define CC_ARG_AT_LEAST(arg, min, err, ...)                                          \
    do {                                                                             \
        if ((arg) < (min)) {                                                         \
            cc_fail_code((err), CC_E_ARG, "%s: argument %s is %lld, less than %lld", \
                         __func__, #arg, (long long)(arg), (long long)(min));        \
            return __VA_ARGS__;                                                      \
        }                                                                            \
    } while (0)

/* ARG must be in [0, END): an enum value of the API (END its count). */
#define CC_ARG_ENUM(arg, end, err, ...)                                              \
    do {                                                                             \
        if ((unsigned long long)(arg) >= (unsigned long long)(end)) {                \
            cc_fail_code((err), CC_E_ARG, "%s: argument %s is %lld, not in 0..%lld", \
                         __func__, #arg, (long long)(arg), (long long)(end) - 1);    \
            return __VA_ARGS__;                                                      \
        }                                                                            \
    } while (0)

#endif
