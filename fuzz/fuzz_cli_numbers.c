/* fuzz_cli_numbers.c — the CLI's number parsers (cli_parse_u64 and
 * cli_parse_int in src/cli/args.c, compiled into the harness). The input up to
 * its first NUL is the option value; the 8 bytes after that NUL, when present,
 * give cli_parse_int one more range besides the fixed ones. Both parsers take
 * plain decimal digits only: a value must be accepted exactly when it is one
 * (and, for cli_parse_int, within the range), with the value written. */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness.h"

/* S read as a plain unsigned decimal (digits only): false when it is not one or overflows. */
static bool decimal_value(const char *s, unsigned long long *out)
{
    if (!isdigit((unsigned char)*s)) return false;
    unsigned long long v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10) return false;
        v = v * 10 + digit;
    }
    *out = v;
    return *s == '\0';
}

static void check_int(const char *s, int min, int max)
{
    unsigned long long want;
    bool in_range = decimal_value(s, &want) && want >= (unsigned long long)min && want <= (unsigned long long)max;
    int got;
    if (cli_parse_int("fuzz", "--number", s, min, max, &got) == 0)
        fuzz_require(in_range && (unsigned long long)got == want, "\"%s\" accepted as %d in [%d, %d]", s, got, min,
                     max);
    else
        fuzz_require(!in_range, "\"%s\" refused though in [%d, %d]", s, min, max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    unsigned long long got, want;
    if (cli_parse_u64("fuzz", "--number", s, &got) == 0)
        fuzz_require(decimal_value(s, &want) && got == want, "\"%s\" accepted as %llu, which is not the number written",
                     s, got);
    else
        fuzz_require(!decimal_value(s, &want), "the plain decimal \"%s\" is refused", s);
    check_int(s, 0, INT_MAX);
    check_int(s, 1, 100);
    check_int(s, 7, 7);
    size_t value_len = strlen(s);
    if (size >= value_len + 1 + 8) {
        uint32_t a, b;
        memcpy(&a, data + value_len + 1, 4);
        memcpy(&b, data + value_len + 5, 4);
        int lo = (int)(a & INT_MAX), hi = (int)(b & INT_MAX);
        check_int(s, lo < hi ? lo : hi, lo < hi ? hi : lo);
    }
    free(s);
    return 0;
}
