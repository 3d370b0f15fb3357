/* harness.h — helpers shared by the libFuzzer harnesses (fuzz/README.md). */
#ifndef CIRCUITC_FUZZ_HARNESS_H
#define CIRCUITC_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"

/* The libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path (/proc/self/fd/N of a memfd) whose file holds exactly DATA, for
 * parsers that only read from a path. The file is reused by the next call. */
const char *fuzz_memfile(const uint8_t *data, size_t size);

/* DATA as a malloc'ed NUL-terminated string (an embedded NUL ends it early,
 * as it would a C string read from a file or argv). Never NULL. */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* Aborts with the message when COND is false: a broken invariant is a crash
 * that libFuzzer keeps as a crasher input. */
void fuzz_require(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The project's error convention: a refused input gets a message that names
 * the file (LABEL). */
void fuzz_require_error_names(const cc_error *err, const char *label);

#endif
