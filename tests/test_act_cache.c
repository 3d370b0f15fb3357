/* test_act_cache.c — activations out (circuitc/act_cache.h): hook names in
 * every TransformerLens form, hook selection by name and glob, and the
 * .safetensors / .npz files holding exactly the forward pass's activations
 * under TransformerLens' names and shapes. Loading them in Python with numpy
 * and comparing with `run --json` is tests/cache_numpy.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/act_cache.h"
#include "circuitc/safetensors.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const int TOKENS[8] = {511, 17, 301, 99, 4, 17, 301, 99};

START_TEST(hook_names_in_every_form)
{
    static const struct {
        const char *name;
        cc_hook_kind kind;
        int layer;
    } ok[] = {
        {"blocks.3.attn.hook_pattern", CC_HOOK_PATTERN, 3}, {"attn.hook_pattern", CC_HOOK_PATTERN, -1},
        {"hook_pattern", CC_HOOK_PATTERN, -1},              {"pattern", CC_HOOK_PATTERN, -1},
        {"blocks.0.hook_resid_pre", CC_HOOK_RESID_PRE, 0},  {"hook_resid_pre", CC_HOOK_RESID_PRE, -1},
        {"resid_pre", CC_HOOK_RESID_PRE, -1},               {"blocks.2.resid_post", CC_HOOK_RESID_POST, 2},
        {"hook_embed", CC_HOOK_EMBED, -1},                  {"pos_embed", CC_HOOK_POS_EMBED, -1},
        {"pre", CC_HOOK_MLP_PRE, -1},                       {"blocks.1.mlp.hook_post", CC_HOOK_MLP_POST, 1},
        {"ln_final.hook_normalized", CC_HOOK_LN_FINAL, -1}, {"logits", CC_HOOK_LOGITS, -1},
        {"z", CC_HOOK_Z, -1},                               {"attn_scores", CC_HOOK_ATTN_SCORES, -1},
    };
    cc_error err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cc_hook_kind k = CC_HOOK_COUNT;
        int layer = 99;
        ck_assert_msg(cc_hook_parse_any(ok[i].name, &k, &layer, &err) == 0, "%s: %s", ok[i].name, err.msg);
        ck_assert_msg(k == ok[i].kind && layer == ok[i].layer, "%s: kind %d layer %d", ok[i].name, k, layer);
    }
    const char *bad[] = {"blocks.1.hook_embed", "hook_bogus", "blocks.x.hook_q", "blocks.1.", "attn.hook_resid_pre", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cc_hook_kind k;
        int layer;
        ck_assert_msg(cc_hook_parse_any(bad[i], &k, &layer, &err) == -1, "%s accepted", bad[i]);
        tu_assert_contains(err.msg, "hook");
    }
}
END_TEST

START_TEST(selection_by_name_and_glob)
{
    cc_model *m = golden_fixture(true);
    const cc_config *c = &m->cfg;
    uint64_t sel[CC_HOOK_COUNT];
    cc_error err;
    ck_assert_msg(cc_hook_select(c, "blocks.*.attn.hook_pattern,blocks.1.hook_resid_pre", sel, &err) == 0, "%s",
                  err.msg);
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        ck_assert_msg(sel[k] == (k == CC_HOOK_PATTERN ? 7u : k == CC_HOOK_RESID_PRE ? 2u : 0u), "hook %d: %llx", k,
                      (unsigned long long)sel[k]);
    ck_assert_int_eq(cc_hook_select_count(c, sel), 4);
    ck_assert_uint_eq(cc_hook_select_bytes(c, sel, 2, 8), (size_t)(3 * 2 * 4 * 8 * 8 + 2 * 8 * 128) * 4);

    ck_assert_int_eq(cc_hook_select(c, "resid_pre,logits", sel, &err), 0);
    ck_assert_uint_eq(sel[CC_HOOK_RESID_PRE], 7);
    ck_assert_uint_eq(sel[CC_HOOK_LOGITS], 1);
    ck_assert_int_eq(cc_hook_select_count(c, sel), 4);

    int available = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_available(c, (cc_hook_kind)k)) available += cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1;
    ck_assert_int_eq(cc_hook_select(c, "*", sel, &err), 0);
    ck_assert_int_eq(cc_hook_select_count(c, sel), available);
    ck_assert_uint_eq(sel[CC_HOOK_ROT_Q], 0); /* a glob picks only the hooks the model has */

    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"blocks.9.hook_q", "layer 9 is out of range"},
        {"blocks.*.hook_nothing", "matches none of this model's hooks"},
        {"hook_rot_q", "has no rot_q"},
        {"resid_pre,bogus", "unknown hook \"bogus\""},
        {",", "no hooks chosen"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(cc_hook_select(c, bad[i].spec, sel, &err) == -1, "%s accepted", bad[i].spec);
        tu_assert_contains(err.msg, bad[i].says);
    }
    cc_model_free(m);
}
END_TEST

/* A pass over TOKENS caching SPEC's hooks. */
static void cached_pass(const cc_model *m, const char *spec, uint64_t *sel, cc_fwd_result *res)
{
    cc_error err;
    ck_assert_msg(cc_hook_select(&m->cfg, spec, sel, &err) == 0, "%s", err.msg);
    cc_fwd_opts fo = {.kernel = CC_KERNEL_FAST};
    memcpy(fo.cache, sel, sizeof fo.cache);
    ck_assert_msg(cc_forward(m, TOKENS, 1, 8, &fo, res, &err) == 0, "%s", err.msg);
}

START_TEST(safetensors_file_holds_the_activations)
{
    cc_model *m = golden_fixture(true);
    uint64_t sel[CC_HOOK_COUNT];
    cc_fwd_result res = {0};
    cached_pass(m, "*", sel, &res);
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    cc_error err;
    ck_assert_msg(cc_cache_write(path, &m->cfg, &res, sel, &err) == 0, "%s", err.msg);
    cc_st_file *f = NULL;
    ck_assert_msg(cc_st_open(path, &f, &err) == 0, "%s", err.msg);
    int seen = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < CC_FWD_MAX_LAYERS; l++) {
            if (!(sel[k] >> l & 1)) continue;
            char name[96];
            cc_hook_name((cc_hook_kind)k, l, name, sizeof name);
            const cc_st_tensor *t = cc_st_find(f, name);
            ck_assert_msg(t != NULL, "%s missing", name);
            cc_act_shape s = cc_hook_shape(&m->cfg, (cc_hook_kind)k, 1, 8);
            ck_assert_int_eq(t->ndim, s.ndim);
            for (int d = 0; d < s.ndim; d++) ck_assert_int_eq((int)t->shape[d], s.dim[d]);
            float *got = malloc(s.numel * sizeof *got);
            ck_assert_int_eq(cc_st_read_f32(f, t, got, &err), 0);
            ck_assert_msg(memcmp(got, cc_fwd_act(&res, (cc_hook_kind)k, l), s.numel * sizeof *got) == 0,
                          "%s differs", name);
            free(got);
            seen++;
        }
    ck_assert_int_eq(seen, cc_hook_select_count(&m->cfg, sel));
    cc_st_close(f);
    cc_fwd_result_free(&res);
    tu_rmtree(dir);
    free(dir);
    cc_model_free(m);
}
END_TEST

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

START_TEST(npz_file_holds_the_activations)
{
    cc_model *m = golden_fixture(true);
    uint64_t sel[CC_HOOK_COUNT];
    cc_fwd_result res = {0};
    cached_pass(m, "blocks.1.attn.hook_pattern", sel, &res);
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/c.npz", dir);
    cc_error err;
    ck_assert_msg(cc_cache_write(path, &m->cfg, &res, sel, &err) == 0, "%s", err.msg);
    size_t len;
    uint8_t *z = tu_read_file(path, &len);
    /* one stored member, blocks.1.attn.hook_pattern.npy: a 64-byte-aligned .npy header, then the floats */
    const char *name = "blocks.1.attn.hook_pattern.npy";
    ck_assert_uint_eq(le32(z), 0x04034b50u);
    ck_assert_int_eq(z[8] | z[9] << 8, 0); /* stored */
    ck_assert_int_eq(z[26] | z[27] << 8, (int)strlen(name));
    ck_assert(memcmp(z + 30, name, strlen(name)) == 0);
    const uint8_t *npy = z + 30 + strlen(name);
    ck_assert(memcmp(npy, "\x93NUMPY\x01\x00", 8) == 0);
    size_t header = 10 + (size_t)(npy[8] | npy[9] << 8);
    ck_assert_uint_eq(header % 64, 0);
    tu_assert_contains((const char *)npy + 10, "'shape': (1, 4, 8, 8)");
    ck_assert_uint_eq(le32(z + 18), header + 4 * 8 * 8 * 4); /* compressed size */
    ck_assert(memcmp(npy + header, cc_fwd_act(&res, CC_HOOK_PATTERN, 1), 4 * 8 * 8 * 4) == 0);
    ck_assert_uint_eq(le32(z + len - 22), 0x06054b50u); /* end of central directory: one entry */
    ck_assert_int_eq(z[len - 22 + 10], 1);
    free(z);
    cc_fwd_result_free(&res);
    tu_rmtree(dir);
    free(dir);
    cc_model_free(m);
}
END_TEST

START_TEST(failures_leave_no_file)
{
    cc_model *m = golden_fixture(true);
    uint64_t sel[CC_HOOK_COUNT];
    cc_fwd_result res = {0};
    cached_pass(m, "logits", sel, &res);
    char *dir = tu_tmpdir(), path[512];
    cc_error err;
    snprintf(path, sizeof path, "%s/c.bin", dir);
    ck_assert_int_eq(cc_cache_write(path, &m->cfg, &res, sel, &err), -1);
    tu_assert_contains(err.msg, "FILE.safetensors or FILE.npz");
    ck_assert_int_eq(access(path, F_OK), -1);
    sel[CC_HOOK_RESID_PRE] = 1; /* chosen but not cached */
    snprintf(path, sizeof path, "%s/c.npz", dir);
    ck_assert_int_eq(cc_cache_write(path, &m->cfg, &res, sel, &err), -1);
    tu_assert_contains(err.msg, "blocks.0.hook_resid_pre was chosen but not cached");
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/missing/c.safetensors", dir);
    sel[CC_HOOK_RESID_PRE] = 0;
    ck_assert_int_eq(cc_cache_write(path, &m->cfg, &res, sel, &err), -1);
    tu_assert_contains(err.msg, "missing/c.safetensors");
    cc_fwd_result_free(&res);
    tu_rmtree(dir);
    free(dir);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("act_cache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hook_names_in_every_form);
    tcase_add_test(tc, selection_by_name_and_glob);
    tcase_add_test(tc, safetensors_file_holds_the_activations);
    tcase_add_test(tc, npz_file_holds_the_activations);
    tcase_add_test(tc, failures_leave_no_file);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
