/* fuzz_safetensors.c — the safetensors reader (cc_st_parse: header length,
 * JSON header, tensor entries, layout) on arbitrary bytes. An accepted file
 * must keep every promise safetensors.h makes about it, and each float
 * tensor must convert without reading outside the buffer. */
#include <stdlib.h>
#include <string.h>

#include "circuitc/safetensors.h"
#include "harness.h"

#define LABEL "fuzz.safetensors"

static void check_tensor(const cc_st_file *f, const uint8_t *data_section, uint64_t data_len, size_t i)
{
    const cc_st_tensor *t = cc_st_tensor_at(f, i);
    uint64_t expected_begin = i == 0 ? 0 : cc_st_tensor_at(f, i - 1)->end;
    fuzz_require(t->begin == expected_begin && t->begin <= t->end && t->end <= data_len,
                 "tensor %s: offsets [%llu, %llu) are not contiguous inside the %llu data bytes", t->name,
                 (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_len);
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    fuzz_require(t->ndim >= 0 && t->ndim <= CC_ST_MAX_DIMS && n == t->n_elements &&
                     t->end - t->begin == n * cc_dtype_size(t->dtype),
                 "tensor %s: %llu bytes do not hold its shape x dtype", t->name,
                 (unsigned long long)(t->end - t->begin));
    fuzz_require(t->data == data_section + t->begin, "tensor %s: data does not point at its offset", t->name);
    fuzz_require(cc_st_find(f, t->name) == t, "tensor %s: cc_st_find returns another entry", t->name);
    if (t->dtype == CC_DT_F32 || t->dtype == CC_DT_F16 || t->dtype == CC_DT_BF16 || t->dtype == CC_DT_F64) {
        float *dst = malloc((size_t)t->n_elements * sizeof *dst + 1);
        cc_error err;
        fuzz_require(dst && cc_st_read_f32(f, t, dst, &err) == 0, "tensor %s: float conversion failed", t->name);
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_st_file *f;
    cc_error err;
    if (cc_st_parse(data, size, LABEL, &f, &err) != 0) {
        fuzz_require_error_names(&err, LABEL);
        return 0;
    }
    fuzz_require(size >= 8 && cc_st_header_len(f) <= size - 8, "header length %llu exceeds the %zu-byte file",
                 (unsigned long long)cc_st_header_len(f), size);
    uint64_t data_len = size - 8 - cc_st_header_len(f);
    size_t n = cc_st_n_tensors(f);
    for (size_t i = 0; i < n; i++) check_tensor(f, data + 8 + cc_st_header_len(f), data_len, i);
    fuzz_require(n == 0 ? data_len == 0 : cc_st_tensor_at(f, n - 1)->end == data_len,
                 "the tensors do not cover the data section up to the end of the file");
    for (size_t i = 0; i < cc_st_n_meta(f); i++) {
        const cc_st_meta *e = cc_st_meta_at(f, i);
        fuzz_require(cc_st_meta_get(f, e->key) == e->value, "metadata %s: lookup returns another value", e->key);
    }
    cc_st_close(f);
    return 0;
}
