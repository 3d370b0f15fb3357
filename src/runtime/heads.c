/* heads.c — parsing and printing head names. */
#include "circuitc/heads.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether ITEM (LEN bytes) names a layer: "L<layer>" or "<layer>"; its number into *LAYER. */
static bool layer_item(const char *item, size_t len, int *layer)
{
    const char *p = item + (len > 0 && (*item == 'L' || *item == 'l'));
    return read_num(&p, layer) == 0 && p == item + len;
}

/* Room for COUNT more heads in *OUT (*N used of *CAP). */
static int append_heads(cc_head **out, int *n, int *cap, int count, cc_error *err)
{
    if (*n + count <= *cap) return 0;
    *cap = 2 * (*n + count);
    cc_head *grown = realloc(*out, (size_t)*cap * sizeof *grown);
    if (!grown) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    *out = grown;
    return 0;
}

int cc_head_list_parse(const char *spec, const cc_config *cfg, cc_head **out, int *n, cc_error *err)
{
    CC_ARG_NOT_NULL(spec, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(n, err, -1);
    *out = NULL, *n = 0;
    int cap = 0, rc = 0;
    const char *p = spec;
    do {
        size_t len = strcspn(p, ",");
        char item[32];
        int layer;
        if (len == 0 || len >= sizeof item) {
            rc = cc_fail(err, "bad head list \"%s\": write heads and layers separated by commas, e.g. L1H2,L2H0 "
                              "or L1 (every head of layer 1)", spec);
            break;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!layer_item(item, len, &layer)) {
            if ((rc = append_heads(out, n, &cap, 1, err)) != 0 || (rc = cc_head_parse(item, cfg, &(*out)[*n], err)) != 0)
                break;
            ++*n;
        } else if (cfg && layer >= cfg->n_layers) {
            rc = cc_fail(err, "layer \"%s\" is out of range: this model has layers 0..%d", item, cfg->n_layers - 1);
            break;
        } else if (cfg) { /* without CFG: the syntax only */
            if ((rc = append_heads(out, n, &cap, cfg->n_heads, err)) != 0) break;
            for (int h = 0; h < cfg->n_heads; h++) (*out)[(*n)++] = (cc_head){layer, h};
        }
        p += len;
    } while (*p++ == ',');
    if (rc != 0) free(*out), *out = NULL, *n = 0;
    return rc;
}
