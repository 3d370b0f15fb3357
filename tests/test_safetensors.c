/* test_safetensors.c — the safetensors reader's validation rules (docs/model-format.md,
 * "safetensors validation"), dtype conversion, the writer, and a mutation fuzz of the parser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/safetensors.h"
#include "testutil.h"

/* Parses HEADER + LEN_DATA bytes and expects failure with NEEDLE in the message. */
static void expect_reject(const char *header, size_t len_data, const char *needle)
{
    size_t len;
    uint8_t *img = tu_st_image(header, len_data, &len);
    cc_st_file *f = NULL;
    cc_error err = {0};
    int rc = cc_st_parse(img, len, "bad.safetensors", &f, &err);
    ck_assert_msg(rc == -1 && f == NULL, "accepted a bad header: %s", header);
    tu_assert_contains(err.msg, "bad.safetensors");
    tu_assert_contains(err.msg, needle);
    free(img);
}

static cc_st_file *expect_accept(const char *header, size_t len_data, uint8_t **img_out)
{
    size_t len;
    uint8_t *img = tu_st_image(header, len_data, &len);
    cc_st_file *f = NULL;
    cc_error err = {0};
    ck_assert_msg(cc_st_parse(img, len, "good.safetensors", &f, &err) == 0, "rejected: %s", err.msg);
    *img_out = img;
    return f;
}

START_TEST(accepts_valid_file_out_of_name_order)
{
    uint8_t *img;
    /* b's data comes first: offsets, not names, define the layout */
    cc_st_file *f = expect_accept("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                                  "\"b\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                                  "\"__metadata__\":{\"format\":\"pt\"}}",
                                  16, &img);
    ck_assert_uint_eq(cc_st_n_tensors(f), 2);
    const cc_st_tensor *a = cc_st_find(f, "a"), *b = cc_st_find(f, "b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(a->n_elements, 2);
    ck_assert_uint_eq(b->shape[1], 2);
    ck_assert_ptr_eq(a->data, img + 8 + cc_st_header_len(f) + 8);
    ck_assert_str_eq(cc_st_meta_get(f, "format"), "pt");
    ck_assert_ptr_null(cc_st_find(f, "c"));
    /* the opaque file's accessors: tensors in file-offset order, then nothing */
    ck_assert_ptr_eq(cc_st_tensor_at(f, 0), b);
    ck_assert_ptr_eq(cc_st_tensor_at(f, 1), a);
    ck_assert_ptr_null(cc_st_tensor_at(f, 2));
    ck_assert_uint_eq(cc_st_n_meta(f), 1);
    ck_assert_str_eq(cc_st_meta_at(f, 0)->key, "format");
    ck_assert_str_eq(cc_st_meta_at(f, 0)->value, "pt");
    ck_assert_ptr_null(cc_st_meta_at(f, 1));
    cc_st_close(f);
    free(img);
}
END_TEST

START_TEST(accepts_whitespace_and_empty)
{
    uint8_t *img;
    cc_st_file *f = expect_accept("  {\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}   ", 3, &img);
    ck_assert_uint_eq(cc_st_n_tensors(f), 1);
    cc_st_close(f);
    free(img);
    f = expect_accept("{}", 0, &img);
    ck_assert_uint_eq(cc_st_n_tensors(f), 0);
    cc_st_close(f);
    free(img);
    /* a zero-element tensor occupies no bytes */
    f = expect_accept("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]}}", 0, &img);
    ck_assert_uint_eq(cc_st_find(f, "z")->n_elements, 0);
    cc_st_close(f);
    free(img);
}
END_TEST

START_TEST(rejects_short_file)
{
    cc_st_file *f = NULL;
    cc_error err;
    uint8_t buf[5] = {1, 0, 0, 0, 0};
    ck_assert_int_eq(cc_st_parse(buf, sizeof buf, "short.safetensors", &f, &err), -1);
    tu_assert_contains(err.msg, "8-byte header length");
}
END_TEST

START_TEST(rejects_huge_header_length)
{
    uint8_t buf[16] = {0};
    uint64_t n = 100000001ull;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    cc_st_file *f = NULL;
    cc_error err;
    ck_assert_int_eq(cc_st_parse(buf, sizeof buf, "huge.safetensors", &f, &err), -1);
    tu_assert_contains(err.msg, "exceeds the 100000000-byte limit");
    /* all ones: must not overflow 8 + N */
    memset(buf, 0xff, 8);
    ck_assert_int_eq(cc_st_parse(buf, sizeof buf, "huge.safetensors", &f, &err), -1);
}
END_TEST

START_TEST(rejects_header_past_end)
{
    uint8_t buf[20] = {0};
    buf[0] = 13; /* header claims 13 bytes, 12 present */
    memcpy(buf + 8, "{}          ", 12);
    cc_st_file *f = NULL;
    cc_error err;
    ck_assert_int_eq(cc_st_parse(buf, sizeof buf, "trunc.safetensors", &f, &err), -1);
    tu_assert_contains(err.msg, "runs past the end");
}
END_TEST

START_TEST(rejects_bad_json_and_utf8)
{
    expect_reject("{\"a\":", 0, "not valid JSON");
    expect_reject("{\"a\":{}} trailing", 0, "not valid JSON");
    expect_reject("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "not valid JSON");
    expect_reject("[1,2,3]", 0, "must be a JSON object");
}
END_TEST

START_TEST(rejects_duplicate_keys)
{
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                  2, "duplicate");
}
END_TEST

START_TEST(rejects_bad_metadata)
{
    expect_reject("{\"__metadata__\":{\"k\":1}}", 0, "is not a string");
    expect_reject("{\"__metadata__\":[\"k\"]}", 0, "must be an object of strings");
}
END_TEST

START_TEST(rejects_bad_entries)
{
    expect_reject("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\"");
    expect_reject("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"shape\"");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before");
    expect_reject("{\"a\":7}", 0, "must be an object");
}
END_TEST

START_TEST(rejects_size_mismatch)
{
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12");
}
END_TEST

START_TEST(rejects_overflowing_shapes)
{
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,4]}}", 4,
                  "overflows");
    expect_reject("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
                  "overflows");
}
END_TEST

START_TEST(rejects_gaps_overlaps_and_bad_ends)
{
    /* does not start at 0 */
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "contiguous");
    /* gap */
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
                  5, "contiguous");
    /* overlap */
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
                  3, "contiguous");
    /* trailing bytes, and truncated data */
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 3, "trailing bytes");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 2, "truncated");
}
END_TEST

START_TEST(f16_conversion_is_exact)
{
    /* every finite half round-trips through float exactly */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = cc_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        ck_assert_msg(cc_f32_to_f16(f) == h, "half 0x%04x -> %g -> 0x%04x", h, (double)f, cc_f32_to_f16(f));
    }
    ck_assert(cc_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(cc_f16_to_f32(0xc000) == -2.0f);
    ck_assert(cc_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(isinf(cc_f16_to_f32(0x7c00)));
    ck_assert(cc_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(cc_bf16_to_f32(0xc040) == -3.0f);
    /* rounding to nearest even at the half-way point */
    ck_assert_uint_eq(cc_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(cc_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
}
END_TEST

START_TEST(reads_unaligned_data)
{
    /* header of odd length: tensor data starts at an odd address */
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    ck_assert(strlen(hdr) % 4 != 0);
    size_t len;
    uint8_t *img = tu_st_image(hdr, 12, &len);
    float vals[3] = {1.5f, -2.25f, 1e-30f};
    memcpy(img + len - 12, vals, 12);
    cc_st_file *f;
    cc_error err;
    ck_assert_int_eq(cc_st_parse(img, len, "u", &f, &err), 0);
    float out[3];
    ck_assert_int_eq(cc_st_read_f32(f, cc_st_find(f, "a"), out, &err), 0);
    ck_assert(memcmp(out, vals, sizeof vals) == 0);
    cc_st_close(f);
    free(img);
}
END_TEST

START_TEST(rejects_non_float_reads)
{
    uint8_t *img;
    cc_st_file *f = expect_accept("{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, &img);
    float out[1];
    cc_error err;
    ck_assert_int_eq(cc_st_read_f32(f, cc_st_find(f, "i"), out, &err), -1);
    tu_assert_contains(err.msg, "dtype I64");
    cc_st_close(f);
    free(img);
}
END_TEST

START_TEST(writer_round_trip_and_atomicity)
{
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    cc_st_entry e[2] = {{.name = "w", .dtype = CC_DT_F32, .ndim = 2, .shape = {2, 3}},
                        {.name = "b", .dtype = CC_DT_F16, .ndim = 1, .shape = {3}}};
    cc_st_meta meta = {.key = "source", .value = "test"};
    cc_st_writer *w;
    cc_error err;
    ck_assert_int_eq(cc_st_writer_open(path, e, 2, &meta, 1, &w, &err), 0);
    float wv[6] = {1, 2, 3, 4, 5, -6.5f};
    uint16_t bv[3] = {cc_f32_to_f16(0.5f), cc_f32_to_f16(-1.0f), cc_f32_to_f16(1024.0f)};
    ck_assert_int_eq(cc_st_writer_put(w, wv, sizeof wv, &err), 0);
    ck_assert_int_eq(cc_st_writer_put(w, bv, sizeof bv, &err), 0);
    ck_assert_int_eq(cc_st_writer_finish(w, &err), 0);

    cc_st_file *f;
    ck_assert_int_eq(cc_st_open(path, &f, &err), 0);
    ck_assert_uint_eq((8 + cc_st_header_len(f)) % 8, 0); /* data section starts 8-aligned */
    float got[6];
    ck_assert_int_eq(cc_st_read_f32(f, cc_st_find(f, "w"), got, &err), 0);
    ck_assert(memcmp(got, wv, sizeof wv) == 0);
    ck_assert_int_eq(cc_st_read_f32(f, cc_st_find(f, "b"), got, &err), 0);
    ck_assert(got[0] == 0.5f && got[1] == -1.0f && got[2] == 1024.0f);
    ck_assert_str_eq(cc_st_meta_get(f, "source"), "test");
    cc_st_close(f);

    /* a writer given too few bytes leaves no file behind */
    char path2[4096];
    snprintf(path2, sizeof path2, "%s/short.safetensors", dir);
    ck_assert_int_eq(cc_st_writer_open(path2, e, 2, NULL, 0, &w, &err), 0);
    ck_assert_int_eq(cc_st_writer_put(w, wv, sizeof wv, &err), 0);
    ck_assert_int_eq(cc_st_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "header declares");
    FILE *fp = fopen(path2, "rb");
    ck_assert_ptr_null(fp);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(open_errors_name_the_file)
{
    cc_st_file *f;
    cc_error err;
    ck_assert_int_eq(cc_st_open("/nonexistent/x.safetensors", &f, &err), -1);
    tu_assert_contains(err.msg, "/nonexistent/x.safetensors");
    char *dir = tu_tmpdir();
    ck_assert_int_eq(cc_st_open(dir, &f, &err), -1);
    tu_assert_contains(err.msg, "not a regular file");
    char path[4096];
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    tu_write_file(path, "", 0);
    ck_assert_int_eq(cc_st_open(path, &f, &err), -1);
    tu_assert_contains(err.msg, "empty.safetensors");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Mutation fuzz: flip, overwrite and truncate bytes of a valid image; the parser
 * must either accept (and then every tensor must lie inside the buffer) or
 * reject with a message — never crash (the sanitizer build checks memory). */
START_TEST(fuzz_parser_mutations)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[2,6],\"data_offsets\":[0,48]},"
                      "\"wte.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[48,64]}}";
    size_t len;
    uint8_t *base = tu_st_image(hdr, 64, &len);
    uint8_t *buf = malloc(len);
    uint64_t state = 0x1234567;
    int accepted = 0;
    for (int iter = 0; iter < 30000; iter++) {
        memcpy(buf, base, len);
        size_t cut = len;
        int nmut = 1 + (int)(state % 4);
        for (int k = 0; k < nmut; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(state >> 33) % len;
            switch ((state >> 20) % 4) {
            case 0: buf[pos] ^= (uint8_t)(1u << ((state >> 8) % 8)); break;
            case 1: buf[pos] = "0123456789{}[],:\"-e. "[(state >> 9) % 21]; break;
            case 2: cut = pos; break;
            default: buf[pos] = (uint8_t)(state >> 40); break;
            }
        }
        cc_st_file *f = NULL;
        cc_error err = {0};
        if (cc_st_parse(buf, cut, "fuzz", &f, &err) == 0) {
            accepted++;
            for (size_t i = 0; i < cc_st_n_tensors(f); i++) {
                const cc_st_tensor *t = cc_st_tensor_at(f, i);
                ck_assert(t->data >= buf && t->data + (t->end - t->begin) <= buf + cut);
                if (t->dtype == CC_DT_F32 || t->dtype == CC_DT_F16 || t->dtype == CC_DT_BF16) {
                    float *tmp = malloc(t->n_elements * sizeof(float) + 1);
                    ck_assert_int_eq(cc_st_read_f32(f, t, tmp, &err), 0);
                    free(tmp);
                }
            }
            cc_st_close(f);
        } else {
            ck_assert(f == NULL && strlen(err.msg) > 0);
        }
    }
    ck_assert_int_gt(accepted, 0); /* some mutations (in data bytes) keep the file valid */
    free(buf);
    free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, accepts_valid_file_out_of_name_order);
    tcase_add_test(tc, accepts_whitespace_and_empty);
    tcase_add_test(tc, rejects_short_file);
    tcase_add_test(tc, rejects_huge_header_length);
    tcase_add_test(tc, rejects_header_past_end);
    tcase_add_test(tc, rejects_bad_json_and_utf8);
    tcase_add_test(tc, rejects_duplicate_keys);
    tcase_add_test(tc, rejects_bad_metadata);
    tcase_add_test(tc, rejects_bad_entries);
    tcase_add_test(tc, rejects_size_mismatch);
    tcase_add_test(tc, rejects_overflowing_shapes);
    tcase_add_test(tc, rejects_gaps_overlaps_and_bad_ends);
    tcase_add_test(tc, f16_conversion_is_exact);
    tcase_add_test(tc, reads_unaligned_data);
    tcase_add_test(tc, rejects_non_float_reads);
    tcase_add_test(tc, writer_round_trip_and_atomicity);
    tcase_add_test(tc, open_errors_name_the_file);
    tcase_add_test(tc, fuzz_parser_mutations);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
