/* fuzz_cli_numbers.c — the CLI's number parser (cli_parse_u64 in
 * src/cli/args.c, compiled into the harness). An accepted value must be the
 * number written (digits, after at most leading blanks and a '+'), and every
 * plain in-range decimal must be accepted with its value. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli.h"
#include "harness.h"

/* The strict reading of S as an unsigned decimal: false when S is not one or
 * overflows. LENIENT allows leading blanks and one '+'. */
static bool decimal_value(const char *s, bool lenient, unsigned long long *out)
{
    if (lenient) {
        while (isspace((unsigned char)*s)) s++;
        if (*s == '+') s++;
    }
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    unsigned long long got, want;
    if (cli_parse_u64("fuzz", "--number", s, &got) == 0)
        fuzz_require(decimal_value(s, true, &want) && got == want,
                     "\"%s\" accepted as %llu, which is not the number written", s, got);
    else
        fuzz_require(!decimal_value(s, false, &want), "the plain decimal \"%s\" is refused", s);
    free(s);
    return 0;
}
