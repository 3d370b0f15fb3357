/* circuitc/heads.h — attention-head names: "L4H11" or "4.11", 0-based as in
 * TransformerLens. */
#ifndef CIRCUITC_HEADS_H
#define CIRCUITC_HEADS_H

#include "circuitc/config.h"
#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int layer;
    int head;
} cc_head;

/* Parses SPEC and checks it against CFG's limits (CFG may be NULL to parse only). */
int cc_head_parse(const char *spec, const cc_config *cfg, cc_head *out, cc_error *err);

/* Parses SPEC, heads (cc_head_parse) and layers ("L1" or "1": every head of
 * layer 1) separated by commas, into *OUT (caller frees; *N heads, in the
 * order given). CFG may be NULL to check the syntax only (a layer then gives
 * no head). */
int cc_head_list_parse(const char *spec, const cc_config *cfg, cc_head **out, int *n, cc_error *err);

/* Writes "L<layer>H<head>" into BUF (at least 16 bytes). */
const char *cc_head_name(cc_head h, char *buf, unsigned long size);

#ifdef __cplusplus
}
#endif

#endif
