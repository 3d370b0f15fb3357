/* safetensors.c — validating mmap reader and streaming writer for safetensors. */
#include "circuitc/safetensors.h"

#include "circuitc/fsio.h"
#include "core/args.h"
#include "core/json_scan.h"
#include "model/safetensors_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian; this reader assumes a little-endian host");

static const struct {
    const char *name;
    size_t size;
} dtype_info[CC_DT_COUNT] = {
    [CC_DT_BOOL] = {"BOOL", 1}, [CC_DT_U8] = {"U8", 1}, [CC_DT_I8] = {"I8", 1},
    [CC_DT_F8_E5M2] = {"F8_E5M2", 1}, [CC_DT_F8_E4M3] = {"F8_E4M3", 1},
    [CC_DT_I16] = {"I16", 2}, [CC_DT_U16] = {"U16", 2}, [CC_DT_F16] = {"F16", 2},
    [CC_DT_BF16] = {"BF16", 2}, [CC_DT_I32] = {"I32", 4}, [CC_DT_U32] = {"U32", 4},
    [CC_DT_F32] = {"F32", 4}, [CC_DT_F64] = {"F64", 8}, [CC_DT_I64] = {"I64", 8},
    [CC_DT_U64] = {"U64", 8},
};

const char *cc_dtype_name(cc_dtype dt) { return dt < CC_DT_COUNT ? dtype_info[dt].name : "?"; }
size_t cc_dtype_size(cc_dtype dt) { return dt < CC_DT_COUNT ? dtype_info[dt].size : 0; }

static int dtype_from_name(const char *s, cc_dtype *out)
{
    for (int i = 0; i < CC_DT_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (cc_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- reader ------------------------------------------------------------- */

static void free_contents(cc_st_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->path);
}

void cc_st_close(cc_st_file *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    if (f->fd >= 0) close(f->fd);
    free_contents(f);
    free(f);
}

static int cmp_by_begin(const void *a, const void *b)
{
    const cc_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds f->by_name: the tensor indices ordered by name, for cc_st_find. */
static int index_names(cc_st_file *f, cc_error *err)
{
    size_t n = f->n_tensors;
    /* sort (name, index) pairs so the comparison reads one pointer */
    struct named { const char *name; size_t index; } *pairs = malloc((n ? n : 1) * sizeof *pairs);
    f->by_name = malloc((n ? n : 1) * sizeof *f->by_name);
    if (!pairs || !f->by_name) {
        free(pairs);
        return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", f->path);
    }
    for (size_t i = 0; i < n; i++) pairs[i] = (struct named){f->tensors[i].name, i};
    qsort(pairs, n, sizeof *pairs, cmp_names);
    for (size_t i = 0; i < n; i++) f->by_name[i] = pairs[i].index;
    free(pairs);
    return 0;
}

/* The header text being read (validated by js_validate) and the file it names. */
typedef struct {
    const char *s;
    size_t n;
} header;

/* Offset of the value of the member after the key at I (validated text), and of the member after it. */
static size_t member_value(const header *h, size_t i)
{
    i = js_skip_value(h->s, h->n, i);            /* the key */
    return js_skip_ws(h->s, h->n, i) + 1;        /* past ':' */
}

/* Offset after the value at I and its trailing ',' if any; *MORE says whether a member follows. */
static size_t next_member(const header *h, size_t i, int *more)
{
    i = js_skip_ws(h->s, h->n, js_skip_value(h->s, h->n, i));
    *more = h->s[i] == ',';
    return js_skip_ws(h->s, h->n, i + 1);
}

/* Offset of the first member of the object at I, or of its end when it is empty (*MORE = 0). */
static size_t first_member(const header *h, size_t i, int *more)
{
    i = js_skip_ws(h->s, h->n, js_skip_ws(h->s, h->n, i) + 1);
    *more = h->s[i] != '}';
    return i;
}

static char value_kind(const header *h, size_t i) { return h->s[js_skip_ws(h->s, h->n, i)]; }

static int parse_metadata(cc_st_file *f, const header *h, size_t at, cc_error *err)
{
    if (value_kind(h, at) != '{')
        return cc_fail_code(err, CC_E_FORMAT, "%s: header field \"__metadata__\" must be an object of strings "
                            "(string -> string map); re-save the file with a valid metadata map", f->path);
    size_t n = 0;
    int more;
    for (size_t i = first_member(h, at, &more); more; i = next_member(h, member_value(h, i), &more)) n++;
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory reading metadata", f->path);
    for (size_t i = first_member(h, at, &more); more; i = next_member(h, member_value(h, i), &more)) {
        cc_st_meta *m = &f->meta[f->n_meta++];
        js_string(h->s, h->n, i, &m->key);
        if (!m->key) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory reading metadata", f->path);
        size_t v = js_skip_ws(h->s, h->n, member_value(h, i));
        if (h->s[v] != '"')
            return cc_fail_code(err, CC_E_FORMAT, "%s: header field \"__metadata__\".\"%s\" is not a string; "
                                "safetensors metadata values must be strings", f->path, m->key);
        js_string(h->s, h->n, v, &m->value);
        if (!m->value) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory reading metadata", f->path);
    }
    return 0;
}

/* Reads [a, b, ...] of non-negative integers at I into OUT (at most MAX); *COUNT gets the
 * element count (even beyond MAX); -1 when an element is not a non-negative integer (*BAD = its index). */
static int read_uint_array(const header *h, size_t i, uint64_t *out, int max, size_t *count, int *bad)
{
    int more;
    *count = 0;
    i = js_skip_ws(h->s, h->n, i) + 1;
    i = js_skip_ws(h->s, h->n, i);
    more = h->s[i] != ']';
    int rc = 0;
    while (more) {
        uint64_t v;
        int ok;
        size_t end = js_uint(h->s, h->n, i, &v, &ok);
        if (!ok && rc == 0) rc = -1, *bad = (int)*count;
        if (ok && *count < (size_t)max) out[*count] = v;
        (*count)++;
        i = js_skip_ws(h->s, h->n, end);
        more = h->s[i] == ',';
        i = js_skip_ws(h->s, h->n, i + 1);
    }
    return rc;
}

static int parse_tensor_entry(cc_st_file *f, const char *name, const header *h, size_t at, cc_st_tensor *t,
                              cc_error *err)
{
    const char *p = f->path;
    if (value_kind(h, at) != '{')
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": header entry must be an object with dtype, shape "
                            "and data_offsets", p, name);
    size_t dtype_at = 0, shape_at = 0, offs_at = 0; /* 0: absent */
    int more;
    for (size_t i = first_member(h, at, &more); more; i = next_member(h, member_value(h, i), &more)) {
        char *key;
        js_string(h->s, h->n, i, &key);
        if (!key) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", p);
        size_t v = js_skip_ws(h->s, h->n, member_value(h, i));
        if (strcmp(key, "dtype") == 0) dtype_at = v;
        else if (strcmp(key, "shape") == 0) shape_at = v;
        else if (strcmp(key, "data_offsets") == 0) offs_at = v;
        free(key);
    }
    if (!dtype_at || h->s[dtype_at] != '"')
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": missing or non-string field \"dtype\"", p, name);
    char *dtype;
    js_string(h->s, h->n, dtype_at, &dtype);
    if (!dtype) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", p);
    int unknown = dtype_from_name(dtype, &t->dtype) != 0;
    if (unknown) {
        cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\" (known: BOOL, U8, I8, F8_E5M2, "
                     "F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                p, name, dtype);
        free(dtype);
        return -1;
    }
    free(dtype);
    if (!shape_at || h->s[shape_at] != '[')
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": missing or non-array field \"shape\"", p, name);
    size_t ndim;
    int bad = 0;
    int shape_rc = read_uint_array(h, shape_at, t->shape, CC_ST_MAX_DIMS, &ndim, &bad);
    if (ndim > CC_ST_MAX_DIMS)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": shape has %zu dimensions; circuitc accepts at most %d",
                       p, name, ndim, CC_ST_MAX_DIMS);
    if (shape_rc != 0)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", p, name, bad);
    t->ndim = (int)ndim;
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        /* Overflow guard: the element count must fit in 64 bits. */
        if (t->shape[d] != 0 && count > UINT64_MAX / t->shape[d])
            return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": shape's element count overflows 64 bits", p, name);
        count *= t->shape[d];
    }
    t->n_elements = count;
    uint64_t offs[2];
    size_t n_offs = 0;
    if (!offs_at || h->s[offs_at] != '[' || read_uint_array(h, offs_at, offs, 2, &n_offs, &bad) != 0 || n_offs != 2)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] with "
                            "non-negative integers", p, name);
    t->begin = offs[0], t->end = offs[1];
    if (t->end < t->begin)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                       p, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    /* Overflow guard: byte size = elements x dtype size. */
    size_t esize = cc_dtype_size(t->dtype);
    if (count > UINT64_MAX / esize)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": byte size overflows 64 bits", p, name);
    if (t->end - t->begin != count * esize)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\": data_offsets span %llu bytes but shape x %s size "
                            "needs %llu; the header does not match the data",
                       p, name, (unsigned long long)(t->end - t->begin), cc_dtype_name(t->dtype),
                       (unsigned long long)(count * esize));
    return 0;
}

/* Checks that the tensors, sorted by begin, tile [0, data_len) exactly. */
static int check_layout(cc_st_file *f, uint64_t data_len, cc_error *err)
{
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const cc_st_tensor *t = &f->tensors[i];
        if (t->begin != pos)
            return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\" starts at data offset %llu but %s ends at %llu; "
                                "tensor data must be contiguous with no gaps or overlaps",
                           f->path, t->name, (unsigned long long)t->begin,
                           i ? "the previous tensor" : "the data section (start)",
                           (unsigned long long)pos);
        pos = t->end;
    }
    if (pos != data_len)
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensors cover %llu bytes of data but the file holds %llu after the "
                            "header; the file is truncated or has trailing bytes",
                       f->path, (unsigned long long)pos, (unsigned long long)data_len);
    return 0;
}

static int parse_into(cc_st_file *f, const uint8_t *buf, uint64_t len, cc_error *err)
{
    const char *p = f->path;
    if (len < 8)
        return cc_fail_code(err, CC_E_FORMAT, "%s: file is %llu bytes; a safetensors file starts with an 8-byte "
                            "header length", p, (unsigned long long)len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > CC_ST_MAX_HEADER)
        return cc_fail_code(err, CC_E_FORMAT, "%s: header length %llu exceeds the %llu-byte limit; this is not a "
                            "safetensors file or it is corrupt", p, (unsigned long long)n, CC_ST_MAX_HEADER);
    if (n > len - 8)
        return cc_fail_code(err, CC_E_FORMAT, "%s: header length %llu runs past the end of the %llu-byte file; the "
                            "file is truncated", p, (unsigned long long)n, (unsigned long long)len);
    f->header_len = n;
    f->file_size = len;

    /* The header is checked in place (json_scan.h): the format forbids duplicate
     * keys, and invalid UTF-8 and \u0000 are refused as jansson would. */
    header h = {(const char *)buf + 8, (size_t)n};
    char why[160];
    size_t members = 0, at = 0;
    int vrc = js_validate(h.s, h.n, &members, why, sizeof why, &at);
    if (vrc == -2) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory reading the header", p);
    if (vrc != 0) return cc_fail_code(err, CC_E_FORMAT, "%s: header is not valid JSON (%s at byte %zu of the header)", p, why, at);
    if (value_kind(&h, 0) != '{')
        return cc_fail_code(err, CC_E_FORMAT, "%s: header must be a JSON object mapping tensor names to entries", p);
    f->tensors = calloc(members ? members : 1, sizeof *f->tensors);
    if (!f->tensors) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", p);
    int more;
    for (size_t i = first_member(&h, 0, &more); more; i = next_member(&h, member_value(&h, i), &more)) {
        char *key;
        js_string(h.s, h.n, i, &key);
        if (!key) return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", p);
        int rc;
        if (strcmp(key, "__metadata__") == 0) {
            rc = parse_metadata(f, &h, member_value(&h, i), err);
            free(key);
        } else {
            cc_st_tensor *t = &f->tensors[f->n_tensors];
            rc = parse_tensor_entry(f, key, &h, member_value(&h, i), t, err);
            if (rc == 0) t->name = key, f->n_tensors++;
            else free(key);
        }
        if (rc != 0) return -1;
    }
    if (check_layout(f, len - 8 - n, err) != 0 || index_names(f, err) != 0) return -1;
    for (size_t i = 0; i < f->n_tensors; i++) f->tensors[i].data = buf + 8 + n + f->tensors[i].begin;
    return 0;
}

int cc_st_parse(const uint8_t *buf, size_t len, const char *label, cc_st_file **out, cc_error *err)
{
    CC_ARG_NOT_NULL(buf, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    cc_st_file *f = calloc(1, sizeof *f);
    if (f) f->fd = -1;
    if (!f || !(f->path = strdup(label ? label : "<buffer>"))) {
        free(f);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    if (parse_into(f, buf, len, err) != 0) {
        cc_st_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int cc_st_open(const char *path, cc_st_file **out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    int fd = cc_open_regular(path, "weights file (a .safetensors file, or pass a model folder)", err);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cc_fail_code(err, CC_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    cc_st_file *f = calloc(1, sizeof *f);
    if (f) f->fd = -1;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size >= 8) {
        f->map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            close(fd);
            cc_st_close(f);
            return cc_fail_code(err, CC_E_IO, "%s: cannot map file: %s", path, strerror(errno));
        }
        f->map_size = (size_t)size;
        f->fd = fd;
    } else {
        close(fd);
    }
    static const uint8_t empty[1];
    if (parse_into(f, f->map ? f->map : empty, size, err) != 0) {
        cc_st_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int cc_st_join(cc_st_file *const *parts, size_t n, const char *label, cc_st_file **out, cc_error *err)
{
    CC_ARG_NOT_NULL(parts, err, -1);
    CC_ARG_NOT_NULL(label, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    cc_st_file *v = calloc(1, sizeof *v);
    if (v) v->fd = -1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += parts[i]->n_tensors;
    if (!v || !(v->path = strdup(label)) || !(v->tensors = calloc(total ? total : 1, sizeof *v->tensors))) {
        if (v) free_contents(v);
        free(v);
        return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", label);
    }
    v->joined = 1; /* only when every part is a mapped file: pages of a parsed buffer are the caller's */
    for (size_t i = 0; i < n; i++) {
        v->joined &= parts[i]->map != NULL;
        v->file_size += parts[i]->file_size;
        v->header_len += parts[i]->header_len + (i ? 8 : 0); /* each part's length prefix but the first */
        for (size_t k = 0; k < parts[i]->n_tensors; k++) {
            cc_st_tensor *t = &v->tensors[v->n_tensors];
            *t = parts[i]->tensors[k];
            if (!(t->name = strdup(parts[i]->tensors[k].name))) {
                cc_st_close(v);
                return cc_fail_code(err, CC_E_NOMEM, "%s: out of memory", label);
            }
            v->n_tensors++;
        }
    }
    if (index_names(v, err) != 0) {
        cc_st_close(v);
        return -1;
    }
    for (size_t i = 1; i < v->n_tensors; i++)
        if (strcmp(v->tensors[v->by_name[i - 1]].name, v->tensors[v->by_name[i]].name) == 0) {
            cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\" is in two shards", label, v->tensors[v->by_name[i]].name);
            cc_st_close(v);
            return -1;
        }
    *out = v;
    return 0;
}

const cc_st_tensor *cc_st_find(const cc_st_file *f, const char *name)
{
    CC_ARG_NOT_NULL(f, NULL, NULL);
    CC_ARG_NOT_NULL(name, NULL, NULL);
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cc_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *cc_st_meta_get(const cc_st_file *f, const char *key)
{
    CC_ARG_NOT_NULL(f, NULL, NULL);
    CC_ARG_NOT_NULL(key, NULL, NULL);
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

size_t cc_st_n_tensors(const cc_st_file *f)
{
    CC_ARG_NOT_NULL(f, NULL, 0);
    return f->n_tensors;
}

const cc_st_tensor *cc_st_tensor_at(const cc_st_file *f, size_t i)
{
    CC_ARG_NOT_NULL(f, NULL, NULL);
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

size_t cc_st_n_meta(const cc_st_file *f)
{
    CC_ARG_NOT_NULL(f, NULL, 0);
    return f->n_meta;
}

const cc_st_meta *cc_st_meta_at(const cc_st_file *f, size_t i)
{
    CC_ARG_NOT_NULL(f, NULL, NULL);
    return i < f->n_meta ? &f->meta[i] : NULL;
}

uint64_t cc_st_header_len(const cc_st_file *f)
{
    CC_ARG_NOT_NULL(f, NULL, 0);
    return f->header_len;
}

/* ---- conversion --------------------------------------------------------- */

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float cc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

float cc_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t cc_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* may carry into exp: correct */
    return (uint16_t)(sign | half);
}

int cc_st_read_f32(const cc_st_file *f, const cc_st_tensor *t, float *dst, cc_error *err)
{
    CC_ARG_NOT_NULL(f, err, -1);
    CC_ARG_NOT_NULL(t, err, -1);
    CC_ARG_NOT_NULL(dst, err, -1);
    const uint8_t *src = t->data;
    uint64_t n = t->n_elements;
    switch (t->dtype) {
    case CC_DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        return 0;
    case CC_DT_F16:
    case CC_DT_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = t->dtype == CC_DT_F16 ? cc_f16_to_f32(h) : cc_bf16_to_f32(h);
        }
        return 0;
    case CC_DT_F64:
        for (uint64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return cc_fail_code(err, CC_E_FORMAT, "%s: tensor \"%s\" has dtype %s; circuitc reads F32, F16, BF16 and F64 weights",
                       f->path, t->name, cc_dtype_name(t->dtype));
    }
}

/* ---- writer ------------------------------------------------------------- */

struct cc_st_writer {
    char *path;
    cc_out out; /* the output-path rule (circuitc/fsio.h): a temporary file beside PATH */
    uint64_t expected, written;
};

void cc_st_writer_abort(cc_st_writer *w)
{
    if (!w) return;
    cc_out_abandon(&w->out);
    free(w->path);
    free(w);
}

static json_t *build_header(const cc_st_entry *e, size_t n, const cc_st_meta *meta, size_t n_meta,
                            uint64_t *total, cc_error *err)
{
    json_t *root = json_object();
    if (n_meta) {
        json_t *m = json_object();
        for (size_t i = 0; i < n_meta; i++) json_object_set_new(m, meta[i].key, json_string(meta[i].value));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = cc_dtype_size(e[i].dtype);
        json_t *shape = json_array();
        for (int d = 0; d < e[i].ndim; d++) {
            json_array_append_new(shape, json_integer((json_int_t)e[i].shape[d]));
            bytes *= e[i].shape[d];
        }
        json_t *ent = json_pack("{s:s, s:o, s:[I,I]}", "dtype", cc_dtype_name(e[i].dtype), "shape", shape,
                                "data_offsets", (json_int_t)off, (json_int_t)(off + bytes));
        if (!ent || json_object_get(root, e[i].name)) {
            json_decref(ent);
            json_decref(root);
            cc_fail_code(err, CC_E_INTERNAL, "safetensors writer: duplicate or invalid tensor name \"%s\"", e[i].name);
            return NULL;
        }
        json_object_set_new(root, e[i].name, ent);
        off += bytes;
    }
    *total = off;
    return root;
}

int cc_st_writer_open(const char *path, const cc_st_entry *entries, size_t n,
                      const cc_st_meta *metadata, size_t n_meta, cc_st_writer **out, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(entries, err, -1);
    for (size_t i = 0; i < n; i++) CC_ARG_ENUM(entries[i].dtype, CC_DT_COUNT, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    uint64_t total = 0;
    json_t *root = build_header(entries, n, metadata, n_meta, &total, err);
    if (!root) return -1;
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return cc_fail_code(err, CC_E_INTERNAL, "safetensors writer: cannot encode header");
    size_t len = strlen(text);
    size_t padded = (len + 7) & ~(size_t)7; /* pad with spaces so the data starts 8-aligned */

    cc_st_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        free(text);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    w->expected = total;
    if (cc_out_open(path, &w->out, err) != 0) {
        free(text);
        cc_st_writer_abort(w);
        return -1;
    }
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    FILE *fp = w->out.f;
    int ok = fwrite(lenbuf, 1, 8, fp) == 8 && fwrite(text, 1, len, fp) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    free(text);
    if (!ok) {
        int e = errno;
        cc_st_writer_abort(w);
        return cc_fail_code(err, CC_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    *out = w;
    return 0;
}

int cc_st_writer_put(cc_st_writer *w, const void *data, size_t nbytes, cc_error *err)
{
    CC_ARG_NOT_NULL(w, err, -1);
    CC_ARG_NOT_NULL(data, err, -1);
    if (w->written + nbytes > w->expected)
        return cc_fail_code(err, CC_E_INTERNAL, "%s: safetensors writer got more bytes than the header declares", w->path);
    if (fwrite(data, 1, nbytes, w->out.f) != nbytes)
        return cc_fail_code(err, CC_E_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->written += nbytes;
    return 0;
}

int cc_st_writer_finish(cc_st_writer *w, cc_error *err)
{
    CC_ARG_NOT_NULL(w, err, -1);
    int rc = 0;
    if (w->written != w->expected)
        rc = cc_fail_code(err, CC_E_INTERNAL, "%s: safetensors writer got %llu bytes, header declares %llu", w->path,
                     (unsigned long long)w->written, (unsigned long long)w->expected);
    if (rc == 0) rc = cc_out_commit(&w->out, err);
    cc_st_writer_abort(w); /* after a commit: frees W only */
    return rc;
}
