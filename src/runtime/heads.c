/* heads.c — parsing and printing head names. */
#include "circuitc/heads.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/args.h"

/* Reads a decimal number of at most 6 digits at *p, advancing p. */
static int read_num(const char **p, int *out)
{
    const char *s = *p;
    int n = 0, digits = 0;
    while (isdigit((unsigned char)*s) && digits < 7) n = n * 10 + (*s++ - '0'), digits++;
    if (digits == 0 || digits > 6) return -1;
    *out = n;
    *p = s;
    return 0;
}

int cc_head_parse(const char *spec, const cc_config *cfg, cc_head *out, cc_error *err)
{
    CC_ARG_NOT_NULL(spec, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    const char *p = spec;
    cc_head h;
    int ok;
    if (*p == 'L' || *p == 'l') {
        p++;
        ok = read_num(&p, &h.layer) == 0 && (*p == 'H' || *p == 'h');
        if (ok) {
            p++;
            ok = read_num(&p, &h.head) == 0 && *p == '\0';
        }
    } else {
        ok = read_num(&p, &h.layer) == 0 && *p == '.';
        if (ok) {
            p++;
            ok = read_num(&p, &h.head) == 0 && *p == '\0';
        }
    }
    if (!ok)
        return cc_fail(err, "bad head \"%s\": write a head as L<layer>H<head> (e.g. L4H11) or <layer>.<head> "
                            "(e.g. 4.11), 0-based", spec);
    if (cfg && (h.layer >= cfg->n_layers || h.head >= cfg->n_heads))
        return cc_fail(err, "head \"%s\" is out of range: this model has layers 0..%d and heads 0..%d per layer",
                       spec, cfg->n_layers - 1, cfg->n_heads - 1);
    *out = h;
    return 0;
}

const char *cc_head_name(cc_head h, char *buf, unsigned long size)
{
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    snprintf(buf, size, "L%dH%d", h.layer, h.head);
    return buf;
}
