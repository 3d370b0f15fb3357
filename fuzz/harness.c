/* harness.c — helpers shared by the libFuzzer harnesses. */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    abort();
}

const char *fuzz_memfile(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        if (fd < 0) die("memfd_create");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) die("ftruncate");
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) die("pwrite");
        done += (size_t)n;
    }
    return path;
}

char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) die("malloc");
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fuzz_require(int cond, const char *fmt, ...)
{
    if (cond) return;
    va_list ap;
    fputs("fuzz invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_require_error_names(const cc_error *err, const char *label)
{
    fuzz_require(strstr(err->msg, label) != NULL, "the error \"%s\" does not name the file %s", err->msg, label);
}
