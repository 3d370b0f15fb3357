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

/* Writes "L<layer>H<head>" into BUF (at least 16 bytes). */
const char *cc_head_name(cc_head h, char *buf, unsigned long size);

#ifdef __cplusplus
}
#endif

#endif
