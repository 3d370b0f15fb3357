/* test_model.c — the GPT-2 loader: layout conversion (checked element by
 * element against the generator), F16/BF16, prefixes, lm_head, and every class
 * of bad model (missing, misshapen, unexpected tensors; bad configs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/model.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_config tiny(void)
{
    cc_config c;
    cc_error err;
    ck_assert_int_eq(cc_synth_preset("tiny", &c, &err), 0);
    return c;
}

static char *make_model(const cc_synth_options *o, uint64_t seed)
{
    char *dir = tu_tmpdir();
    cc_config c = tiny();
    cc_error err;
    ck_assert_msg(cc_synth_write(&c, seed, o, dir, &err) == 0, "%s", err.msg);
    return dir;
}

/* Checks every converted weight against the generator's value for the source element. */
static void check_layout(const cc_model *m, uint64_t seed, float (*round)(float))
{
    const cc_config *c = &m->cfg;
    const cc_weights *w = &m->w;
    int d = c->d_model, dh = c->d_head, H = c->n_heads, M = c->d_mlp;
    char nm[64];
#define G(name, k) round(cc_synth_value(seed, name, (uint64_t)(k)))
    for (int v = 0; v < c->d_vocab; v++)
        for (int i = 0; i < d; i++) {
            ck_assert(w->W_E[v * d + i] == G("wte.weight", v * d + i));
            ck_assert(w->W_U[i * c->d_vocab + v] == G("wte.weight", v * d + i)); /* tied, transposed */
        }
    for (int p = 0; p < c->n_ctx * d; p++) ck_assert(w->W_pos[p] == G("wpe.weight", p));
    for (int l = 0; l < c->n_layers; l++) {
        snprintf(nm, sizeof nm, "h.%d.attn.c_attn.weight", l);
        for (int h = 0; h < H; h++)
            for (int k = 0; k < d; k++)
                for (int j = 0; j < dh; j++) {
                    size_t idx = (((size_t)l * H + h) * d + k) * dh + j;
                    ck_assert(w->W_Q[idx] == G(nm, k * 3 * d + h * dh + j));
                    ck_assert(w->W_K[idx] == G(nm, k * 3 * d + d + h * dh + j));
                    ck_assert(w->W_V[idx] == G(nm, k * 3 * d + 2 * d + h * dh + j));
                }
        snprintf(nm, sizeof nm, "h.%d.attn.c_attn.bias", l);
        for (int h = 0; h < H; h++)
            for (int j = 0; j < dh; j++) {
                ck_assert(w->b_Q[(l * H + h) * dh + j] == G(nm, h * dh + j));
                ck_assert(w->b_K[(l * H + h) * dh + j] == G(nm, d + h * dh + j));
                ck_assert(w->b_V[(l * H + h) * dh + j] == G(nm, 2 * d + h * dh + j));
            }
        snprintf(nm, sizeof nm, "h.%d.attn.c_proj.weight", l);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < dh; i++)
                for (int j = 0; j < d; j++)
                    ck_assert(w->W_O[(((size_t)l * H + h) * dh + i) * d + j] == G(nm, (h * dh + i) * d + j));
        snprintf(nm, sizeof nm, "h.%d.mlp.c_fc.weight", l);
        for (int k = 0; k < d * M; k++) ck_assert(w->W_in[(size_t)l * d * M + k] == G(nm, k));
        snprintf(nm, sizeof nm, "h.%d.mlp.c_proj.weight", l);
        for (int k = 0; k < d * M; k++) ck_assert(w->W_out[(size_t)l * d * M + k] == G(nm, k));
        snprintf(nm, sizeof nm, "h.%d.ln_1.weight", l);
        for (int k = 0; k < d; k++) ck_assert(w->ln1_w[l * d + k] == G(nm, k));
        snprintf(nm, sizeof nm, "h.%d.ln_2.bias", l);
        for (int k = 0; k < d; k++) ck_assert(w->ln2_b[l * d + k] == G(nm, k));
        snprintf(nm, sizeof nm, "h.%d.mlp.c_proj.bias", l);
        for (int k = 0; k < d; k++) ck_assert(w->b_out[l * d + k] == G(nm, k));
    }
    for (int k = 0; k < c->d_vocab; k++) ck_assert(w->b_U[k] == 0.0f);
#undef G
}

static float identity(float x) { return x; }
static float via_f16(float x) { return cc_f16_to_f32(cc_f32_to_f16(x)); }

START_TEST(loads_f32_in_transformerlens_layout)
{
    char *dir = make_model(NULL, 7);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->cfg.d_head, 8);
    ck_assert(!m->processed && !m->has_lm_head);
    ck_assert_str_eq(m->prefix, "");
    check_layout(m, 7, identity);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(loads_f16_and_prefixed_names)
{
    cc_synth_options o = {.dtype = CC_DT_F16, .prefix = true};
    char *dir = make_model(&o, 3);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(m->prefix, "transformer.");
    ck_assert_int_eq(m->dtype, CC_DT_F16);
    check_layout(m, 3, via_f16);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(loads_bf16)
{
    cc_synth_options o = {.dtype = CC_DT_BF16};
    char *dir = make_model(&o, 5);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
    float want = cc_synth_value(5, "wte.weight", 17), got = m->w.W_E[17];
    ck_assert_msg(fabsf(got - want) <= fabsf(want) * 0x1p-8f, "%g vs %g", (double)got, (double)want);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(untied_lm_head_becomes_W_U)
{
    cc_synth_options o = {.dtype = CC_DT_F32, .lm_head = true};
    char *dir = make_model(&o, 9);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
    ck_assert(m->has_lm_head);
    int d = m->cfg.d_model, V = m->cfg.d_vocab;
    for (int v = 0; v < V; v++)
        for (int i = 0; i < d; i++)
            ck_assert(m->w.W_U[i * V + v] == cc_synth_value(9, "lm_head.weight", (uint64_t)(v * d + i)));
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bare_safetensors_with_config_flag)
{
    char *dir = make_model(NULL, 1);
    char st[4096], cfg[4096], moved[4096];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(moved, sizeof moved, "%s/other.json", dir);
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_open(st, NULL, &m, &err) == 0, "%s", err.msg); /* config.json beside it */
    cc_model_free(m);
    ck_assert_int_eq(rename(cfg, moved), 0);
    ck_assert_int_eq(cc_model_open(st, NULL, &m, &err), -1);
    tu_assert_contains(err.msg, "config.json");
    tu_assert_contains(err.msg, "--config");
    ck_assert_msg(cc_model_open(st, moved, &m, &err) == 0, "%s", err.msg);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Writes DIR/model.safetensors holding the tiny model's tensors, with tensor
 * DROP left out, tensor RESHAPE given a wrong shape, and EXTRA added. */
static void write_variant(const char *dir, const char *drop, const char *reshape, const char *extra)
{
    cc_config c = tiny();
    cc_error err;
    ck_assert_int_eq(cc_synth_write(&c, 0, NULL, dir, &err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cc_st_file *f;
    ck_assert_int_eq(cc_st_open(path, &f, &err), 0);
    cc_st_entry *e = calloc(cc_st_n_tensors(f) + 1, sizeof *e);
    const uint8_t **src = calloc(cc_st_n_tensors(f) + 1, sizeof *src);
    size_t *bytes = calloc(cc_st_n_tensors(f) + 1, sizeof *bytes);
    size_t n = 0;
    for (size_t i = 0; i < cc_st_n_tensors(f); i++) {
        const cc_st_tensor *t = cc_st_tensor_at(f, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        e[n] = (cc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim};
        memcpy(e[n].shape, t->shape, sizeof t->shape);
        bytes[n] = t->end - t->begin;
        if (reshape && strcmp(t->name, reshape) == 0) { /* same bytes, transposed shape */
            uint64_t s = e[n].shape[0];
            e[n].shape[0] = e[n].shape[1] ? e[n].shape[1] : 1;
            e[n].shape[1] = s;
            e[n].ndim = 2;
        }
        src[n++] = t->data;
    }
    uint8_t zeros[4] = {0};
    if (extra) {
        e[n] = (cc_st_entry){.name = extra, .dtype = CC_DT_F32, .ndim = 1, .shape = {1}};
        src[n] = zeros;
        bytes[n++] = 4;
    }
    char out[4096];
    snprintf(out, sizeof out, "%s/variant.safetensors", dir);
    cc_st_writer *w;
    ck_assert_int_eq(cc_st_writer_open(out, e, n, NULL, 0, &w, &err), 0);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(cc_st_writer_put(w, src[i], bytes[i], &err), 0);
    ck_assert_int_eq(cc_st_writer_finish(w, &err), 0);
    cc_st_close(f);
    ck_assert_int_eq(rename(out, path), 0);
    free(e);
    free(src);
    free(bytes);
}

static void expect_open_error(const char *drop, const char *reshape, const char *extra, const char *n1,
                              const char *n2)
{
    char *dir = tu_tmpdir();
    write_variant(dir, drop, reshape, extra);
    cc_model *m = NULL;
    cc_error err;
    ck_assert_int_eq(cc_model_open(dir, NULL, &m, &err), -1);
    ck_assert_ptr_null(m);
    tu_assert_contains(err.msg, "model.safetensors");
    tu_assert_contains(err.msg, n1);
    if (n2) tu_assert_contains(err.msg, n2);
    tu_rmtree(dir);
    free(dir);
}

START_TEST(missing_tensor_is_named)
{
    expect_open_error("h.1.mlp.c_fc.bias", NULL, NULL, "missing tensor \"h.1.mlp.c_fc.bias\"", NULL);
}
END_TEST

START_TEST(misshapen_tensor_is_named)
{
    expect_open_error(NULL, "h.0.attn.c_attn.weight", NULL, "\"h.0.attn.c_attn.weight\" has shape [48, 16]",
                      "implies [16, 48]");
}
END_TEST

START_TEST(unexpected_tensor_is_named)
{
    expect_open_error(NULL, NULL, "h.7.attn.c_attn.weight", "unexpected tensor \"h.7.attn.c_attn.weight\"", NULL);
}
END_TEST

START_TEST(mask_buffers_are_ignored)
{
    char *dir = tu_tmpdir();
    write_variant(dir, NULL, NULL, "h.0.attn.bias");
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, false, &m, &err) == 0, "%s", err.msg);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Writes a config.json with TEXT into a tiny model folder and expects NEEDLE. */
static void expect_config_error(const char *text, const char *needle)
{
    char *dir = make_model(NULL, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    tu_write_file(path, text, strlen(text));
    cc_model *m = NULL;
    cc_error err;
    ck_assert_int_eq(cc_model_open(dir, NULL, &m, &err), -1);
    tu_assert_contains(err.msg, "config.json");
    tu_assert_contains(err.msg, needle);
    tu_rmtree(dir);
    free(dir);
}

START_TEST(bad_configs_are_named)
{
    expect_config_error("{\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32}", "\"n_layer\"");
    expect_config_error("{\"n_layer\":2,\"n_head\":3,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32}",
                        "not divisible");
    expect_config_error("{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32,"
                        "\"activation_function\":\"relu\"}",
                        "gelu_new");
    expect_config_error("{\"n_layer\":\"2\",\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32}",
                        "must be a non-negative integer");
    expect_config_error("{\"n_layer\":2,", "not valid JSON (");
    expect_config_error("{\"n_layer\":2,", "line 1 column 13)");
    /* a config checked without a name is named "<config>", not "(null)" */
    cc_config unnamed = {.n_layers = 2, .n_heads = 3, .d_model = 16, .d_mlp = 64, .d_vocab = 64, .n_ctx = 32};
    cc_error err;
    ck_assert_int_eq(cc_config_validate(&unnamed, NULL, &err), -1);
    tu_assert_contains(err.msg, "<config>: n_embd (16) is not divisible by n_head (3)");
    /* LayerNorm divides by sqrt(var + eps): both ends of (0, 1) are refused */
    expect_config_error("{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32,"
                        "\"layer_norm_epsilon\":0}",
                        "epsilon must be in (0, 1), got 0");
    expect_config_error("{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32,"
                        "\"layer_norm_epsilon\":1}",
                        "epsilon must be in (0, 1), got 1");
    /* dimensions the file cannot hold are refused before anything is sized from them */
    expect_config_error("{\"n_layer\":1000,\"n_head\":2,\"n_embd\":16,\"vocab_size\":64,\"n_positions\":32,"
                        "\"n_inner\":64}",
                        "needs 12004 tensors");
    expect_config_error("{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,\"vocab_size\":1000000,\"n_positions\":32,"
                        "\"n_inner\":64}",
                        "at least 32014208 bytes of weights, but the file holds 28 tensors and 32512 bytes");
    /* a consistent config for a different size: the shapes disagree */
    expect_config_error("{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,\"vocab_size\":65,\"n_positions\":32,"
                        "\"n_inner\":64}",
                        "\"wte.weight\" has shape [64, 16]");
}
END_TEST

/* Mutation fuzz of config.json: every mutant either loads into a config that
 * passes cc_config_validate or is refused with a message naming the file. */
START_TEST(fuzz_config_json)
{
    const char *base = "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 16, \"vocab_size\": 64, "
                       "\"n_positions\": 32, \"n_inner\": null, \"layer_norm_epsilon\": 1e-05, "
                       "\"activation_function\": \"gelu_new\", \"bos_token_id\": 63}";
    char *dir = tu_tmpdir(), path[4096], buf[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len = strlen(base);
    uint64_t state = 42;
    int accepted = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, base, len + 1);
        size_t cut = len;
        for (int k = 0; k < 1 + (int)(state % 3); k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(state >> 33) % len;
            switch ((state >> 20) % 3) {
            case 0: buf[pos] = "0123456789-.e{}[]\":, n"[(state >> 9) % 22]; break;
            case 1: cut = pos; break;
            default: buf[pos] = (char)(state >> 40); break;
            }
        }
        tu_write_file(path, buf, cut);
        cc_config c;
        cc_error err = {0};
        if (cc_config_load(path, &c, &err) == 0) {
            accepted++;
            ck_assert_int_eq(cc_config_validate(&c, "fuzz", &err), 0);
            ck_assert_int_eq(c.d_head * c.n_heads, c.d_model);
        } else {
            tu_assert_contains(err.msg, "config.json");
        }
    }
    ck_assert_int_gt(accepted, 0);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(missing_model_path)
{
    cc_model *m;
    cc_error err;
    ck_assert_int_eq(cc_model_open("/nonexistent/model", NULL, &m, &err), -1);
    tu_assert_contains(err.msg, "/nonexistent/model");
    tu_assert_contains(err.msg, "--model");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loads_f32_in_transformerlens_layout);
    tcase_add_test(tc, loads_f16_and_prefixed_names);
    tcase_add_test(tc, loads_bf16);
    tcase_add_test(tc, untied_lm_head_becomes_W_U);
    tcase_add_test(tc, bare_safetensors_with_config_flag);
    tcase_add_test(tc, missing_tensor_is_named);
    tcase_add_test(tc, misshapen_tensor_is_named);
    tcase_add_test(tc, unexpected_tensor_is_named);
    tcase_add_test(tc, mask_buffers_are_ignored);
    tcase_add_test(tc, bad_configs_are_named);
    tcase_add_test(tc, missing_model_path);
    tcase_add_test(tc, fuzz_config_json);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
