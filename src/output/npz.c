/* npz.c — numpy .npz writer (output/npz.h): each array as an .npy file
 * (format 1.0: magic, header dict padded to 64 bytes, little-endian float32 or
 * float64 data) inside a stored zip archive (local headers, central directory, end
 * record; CRC-32 of each member). */
#include "output/npz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/fsio.h"

#define NPY_HEADER_MAX 256
#define ZIP_LIMIT 0xFFFFFFFFull /* sizes and offsets of a zip without zip64 */

static uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* The .npy header of A into BUF (a multiple of 64 bytes, ending in '\n'); its length. */
static size_t npy_header(const cci_npz_array *a, char *buf)
{
    char shape[160] = "";
    size_t n = 0;
    for (int i = 0; i < a->ndim; i++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%d,%s", a->dim[i], i + 1 < a->ndim ? " " : "");
    if (a->ndim > 1) shape[n - 1] = '\0'; /* numpy writes (2, 3) but (2,) */
    char dict[200];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f%d', 'fortran_order': False, 'shape': (%s), }", a->f64 ? 8 : 4,
                       shape);
    size_t total = (10 + (size_t)len + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xFF), buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', total - 10 - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}

static size_t data_bytes(const cci_npz_array *a)
{
    size_t n = a->f64 ? sizeof(double) : sizeof(float);
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->dim[i];
    return n;
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF), put16(p + 2, v >> 16); }

/* A zip header: local (signature 0x04034b50, 30 bytes) or central (0x02014b50,
 * 46 bytes, with OFFSET of the local one); stored, dated 1980-01-01. */
static size_t zip_header(uint8_t *h, bool central, uint32_t crc, uint32_t size, size_t name_len, uint32_t offset)
{
    memset(h, 0, 46);
    put32(h, central ? 0x02014b50u : 0x04034b50u);
    uint8_t *p = h + 4;
    if (central) put16(p, 20), p += 2;   /* version made by */
    put16(p, 20);                        /* version needed: 2.0 */
    put16(p + 8, 0x21);                  /* date 1980-01-01 (time 0) */
    put32(p + 10, crc), put32(p + 14, size), put32(p + 18, size);
    put16(p + 22, (unsigned)name_len);
    if (central) put32(h + 42, offset);
    return central ? 46 : 30;
}

int cci_npz_write(const char *path, const cci_npz_array *arrays, size_t n, cc_error *err)
{
    unsigned long long total = 22;
    for (size_t i = 0; i < n; i++)
        total += 30 + 46 + 2 * (strlen(arrays[i].name) + 4) + NPY_HEADER_MAX + data_bytes(&arrays[i]);
    if (total > ZIP_LIMIT || n > 0xFFFF)
        return cc_fail(err, "%s: %zu arrays of %.1f GiB do not fit a .npz (4 GiB, 65535 arrays): write a "
                            ".safetensors file, or choose fewer hooks",
                       path, n, (double)total / (1 << 30));
    uint32_t *crc = malloc(3 * (n ? n : 1) * sizeof *crc), *size = crc + n, *offset = size + n;
    if (!crc) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    cc_out o;
    if (cc_out_open(path, &o, err) != 0) return free(crc), -1;
    uint32_t at = 0;
    bool ok = true;
    uint8_t h[46];
    for (size_t i = 0; ok && i < n; i++) {
        char npy[NPY_HEADER_MAX], name[300];
        size_t hl = npy_header(&arrays[i], npy), dl = data_bytes(&arrays[i]);
        int nl = snprintf(name, sizeof name, "%s.npy", arrays[i].name);
        crc[i] = crc32_update(crc32_update(0, npy, hl), arrays[i].data, dl);
        size[i] = (uint32_t)(hl + dl), offset[i] = at;
        size_t zl = zip_header(h, false, crc[i], size[i], (size_t)nl, 0);
        ok = fwrite(h, 1, zl, o.f) == zl && fwrite(name, 1, (size_t)nl, o.f) == (size_t)nl &&
             fwrite(npy, 1, hl, o.f) == hl && fwrite(arrays[i].data, 1, dl, o.f) == dl;
        at += (uint32_t)(zl + (size_t)nl) + size[i];
    }
    uint32_t dir = at;
    for (size_t i = 0; ok && i < n; i++) {
        char name[300];
        int nl = snprintf(name, sizeof name, "%s.npy", arrays[i].name);
        size_t zl = zip_header(h, true, crc[i], size[i], (size_t)nl, offset[i]);
        ok = fwrite(h, 1, zl, o.f) == zl && fwrite(name, 1, (size_t)nl, o.f) == (size_t)nl;
        at += (uint32_t)(zl + (size_t)nl);
    }
    uint8_t end[22] = {0};
    put32(end, 0x06054b50u);
    put16(end + 8, (unsigned)n), put16(end + 10, (unsigned)n);
    put32(end + 12, at - dir), put32(end + 16, dir);
    ok = ok && fwrite(end, 1, sizeof end, o.f) == sizeof end;
    free(crc);
    if (!ok) {
        int e = errno;
        cc_out_abandon(&o);
        return cc_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    return cc_out_commit(&o, err);
}
