/* circuitc/sha256.h — SHA-256 (FIPS 180-4), for model file checksums that can
 * be compared with the digests model hubs publish. */
#ifndef CIRCUITC_SHA256_H
#define CIRCUITC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t state[8];
    uint64_t length;       /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;
} cc_sha256;

void cc_sha256_init(cc_sha256 *s);
void cc_sha256_update(cc_sha256 *s, const void *data, size_t len);
void cc_sha256_final(cc_sha256 *s, uint8_t digest[32]);

/* Hex digest (65 bytes with the NUL) of the file at PATH. */
int cc_sha256_file(const char *path, char hex[65], cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
