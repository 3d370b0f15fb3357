/* circuitc/safetensors.h — a validating reader and a streaming writer for the
 * safetensors format (https://huggingface.co/docs/safetensors).
 *
 * The reader mmaps the file and enforces every rule of the reference reader
 * (docs/model-format.md, "safetensors validation") before any tensor is handed out: header length cap,
 * JSON with no duplicate keys, a string->string __metadata__, complete tensor
 * entries, contiguous data offsets from 0 to the end of the file, and byte
 * sizes equal to shape x dtype size with overflow-checked arithmetic. Opening
 * touches only the header pages; tensor data is read on demand. */
#ifndef CIRCUITC_SAFETENSORS_H
#define CIRCUITC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_ST_MAX_HEADER 100000000ull /* the reference reader's header cap */
#define CC_ST_MAX_DIMS 8

typedef enum {
    CC_DT_BOOL, CC_DT_U8, CC_DT_I8, CC_DT_F8_E5M2, CC_DT_F8_E4M3,
    CC_DT_I16, CC_DT_U16, CC_DT_F16, CC_DT_BF16,
    CC_DT_I32, CC_DT_U32, CC_DT_F32,
    CC_DT_F64, CC_DT_I64, CC_DT_U64,
    CC_DT_COUNT
} cc_dtype;

typedef struct {
    char *name;
    cc_dtype dtype;
    int ndim;
    uint64_t shape[CC_ST_MAX_DIMS];
    uint64_t n_elements;
    uint64_t begin, end;       /* byte offsets relative to the data section */
    const uint8_t *data;       /* points into the mapping; may be unaligned */
} cc_st_tensor;

typedef struct {
    char *key;
    char *value;
} cc_st_meta;

/* An open safetensors file: opaque (its mapping and name index are the
 * library's); its tensors and metadata are read through the functions below. */
typedef struct cc_st_file cc_st_file;

/* Maps and validates PATH. On success *out owns the mapping; free it with cc_st_close. */
int cc_st_open(const char *path, cc_st_file **out, cc_error *err);

/* Validates an in-memory safetensors image of LEN bytes (LABEL names it in
 * messages; may be NULL: "<buffer>"). The result points into BUF, which must outlive it. */
int cc_st_parse(const uint8_t *buf, size_t len, const char *label, cc_st_file **out, cc_error *err);

/* A view of N opened files PARTS (the shards of one checkpoint) as one: their
 * tensors under one name index (a name in two parts is refused), file_size
 * and header_len summed so the data bytes add up, map NULL. The parts must
 * outlive the view; cc_st_close frees the view only. LABEL names it. */
int cc_st_join(cc_st_file *const *parts, size_t n, const char *label, cc_st_file **out, cc_error *err);

void cc_st_close(cc_st_file *f);

/* The tensor called NAME, or NULL (O(log n_tensors)). */
const cc_st_tensor *cc_st_find(const cc_st_file *f, const char *name);

/* The metadata value for KEY, or NULL. */
const char *cc_st_meta_get(const cc_st_file *f, const char *key);

/* How many tensors F holds (0 for a NULL F), and the I-th in file-offset
 * order (NULL for a NULL F or I out of range). */
size_t cc_st_n_tensors(const cc_st_file *f);
const cc_st_tensor *cc_st_tensor_at(const cc_st_file *f, size_t i);

/* How many __metadata__ entries F holds (0 for a NULL F), and the I-th in
 * the header's order (NULL for a NULL F or I out of range). */
size_t cc_st_n_meta(const cc_st_file *f);
const cc_st_meta *cc_st_meta_at(const cc_st_file *f, size_t i);

/* The header's length in bytes (0 for a NULL F): a file's data section, where
 * the tensors' begin and end offsets count from, starts at byte 8 + this. For a
 * joined view (cc_st_join), the parts' sum. */
uint64_t cc_st_header_len(const cc_st_file *f);

const char *cc_dtype_name(cc_dtype dt);
size_t cc_dtype_size(cc_dtype dt);

/* Converts tensor T (F32, F16, BF16 or F64) to float32 into DST, which holds
 * t->n_elements floats. Copies through memcpy, so the mapping need not be aligned. */
int cc_st_read_f32(const cc_st_file *f, const cc_st_tensor *t, float *dst, cc_error *err);

/* IEEE half and bfloat16 to float, exact (subnormals, infinities, NaN kept). */
float cc_f16_to_f32(uint16_t h);
float cc_bf16_to_f32(uint16_t h);
uint16_t cc_f32_to_f16(float f); /* round to nearest even, for writing test files */

/* ---- writer ------------------------------------------------------------- */

typedef struct {
    const char *name;
    cc_dtype dtype;
    int ndim;
    uint64_t shape[CC_ST_MAX_DIMS];
} cc_st_entry;

typedef struct cc_st_writer cc_st_writer;

/* Starts writing PATH under the output-path rule (circuitc/fsio.h): the header
 * for ENTRIES (data laid out in the given order) goes to a temporary file
 * beside PATH. Then call cc_st_writer_put with exactly each tensor's bytes in
 * order, and cc_st_writer_finish, which renames the temporary file to PATH;
 * cc_st_writer_abort removes it. METADATA is an optional list of N_META
 * key/value pairs. */
int cc_st_writer_open(const char *path, const cc_st_entry *entries, size_t n,
                      const cc_st_meta *metadata, size_t n_meta,
                      cc_st_writer **out, cc_error *err);
int cc_st_writer_put(cc_st_writer *w, const void *data, size_t nbytes, cc_error *err);
int cc_st_writer_finish(cc_st_writer *w, cc_error *err);
void cc_st_writer_abort(cc_st_writer *w);

#ifdef __cplusplus
}
#endif

#endif
