/* safetensors_internal.h — the definition of cc_st_file (opaque in
 * circuitc/safetensors.h), for the library's own files: the mapping, the name
 * index and the bookkeeping of joined views behind the accessors. */
#ifndef CIRCUITC_SAFETENSORS_INTERNAL_H
#define CIRCUITC_SAFETENSORS_INTERNAL_H

#include "circuitc/safetensors.h"

struct cc_st_file {
    char *path;                /* for messages */
    uint8_t *map;              /* whole file, read-only; NULL for a parsed buffer */
    size_t map_size;
    int fd;                    /* the mapped file, kept open for reading float32 rows directly; -1 if none */
    uint64_t file_size;
    uint64_t header_len;
    cc_st_tensor *tensors;     /* in file-offset order */
    size_t n_tensors;
    size_t *by_name;           /* indices into tensors, sorted by name (cc_st_find's binary search) */
    cc_st_meta *meta;
    size_t n_meta;
    int joined;                /* a view of mapped files (cc_st_join of cc_st_open'ed parts): data mapped, map NULL */
};

#endif
