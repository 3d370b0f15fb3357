/* test_parity_shapes.c — the forward pass against TransformerLens on the block
 * shapes beyond GPT-2: golden/out/shapes/<shape>.json (golden/gen_shapes.py)
 * holds a HookedTransformer's weights, built from a config with a fixed seed
 * and redrawn large, already in cc_weights' layout, and every activation of
 * one run_with_cache. The model is filled from them directly (no loader) and
 * run unprocessed by both kernels: every hook the shape has within 1e-5 of
 * its scale, the logits within 1e-4 (golden/tolerances.json's classes). The
 * hooks circuitc says the shape has are exactly the ones TransformerLens
 * recorded.
 *
 * Shapes: llama (RMSNorm, rotary, GQA, gated silu), pythia (partial rotary,
 * parallel, gelu), adjacent_rotary (GPT-J's pairing, another base),
 * gpt_neo (learned positions, unscaled, a local then a global layer),
 * toy_attn_only (shortformer, no MLP). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/forward.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define HOOK_TOL 1e-5
#define LOGITS_TOL 1e-4

/* TENSOR's data as floats (null: -inf, the masked scores); checks it has N elements. */
static float *floats(json_t *tensor, size_t n, const char *what)
{
    json_t *data = json_object_get(tensor, "data");
    ck_assert_msg(json_is_array(data) && json_array_size(data) == n, "%s: expected %zu values, got %zu", what, n,
                  json_array_size(data));
    float *out = malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(data, i);
        out[i] = json_is_null(v) ? -INFINITY : (float)json_number_value(v);
    }
    return out;
}

static int enum_of(json_t *cfg, const char *key, const char *const *names, int n)
{
    const char *s = json_string_value(json_object_get(cfg, key));
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    ck_abort_msg("circuitc_config.%s: unknown value %s", key, s ? s : "(none)");
    return -1;
}

static cc_config config_of(json_t *j)
{
    static const char *const families[] = {"gpt2", "gpt_neo", "gpt_neox", "llama", "transformer_lens"};
    static const char *const norms[] = {"ln", "rms"}, *const pos[] = {"learned", "shortformer", "rotary"};
    static const char *const acts[] = {"gelu_new", "gelu", "silu", "relu"};
    cc_config c = {0};
    c.family = (cc_family)enum_of(j, "family", families, 5);
    c.n_layers = (int)golden_number(j, "n_layers"), c.n_heads = (int)golden_number(j, "n_heads");
    c.d_model = (int)golden_number(j, "d_model"), c.d_head = (int)golden_number(j, "d_head");
    c.d_mlp = (int)golden_number(j, "d_mlp"), c.d_vocab = (int)golden_number(j, "d_vocab");
    c.n_ctx = (int)golden_number(j, "n_ctx"), c.ln_eps = golden_number(j, "ln_eps");
    c.n_kv_heads = (int)golden_number(j, "n_kv_heads");
    c.norm = (cc_norm_kind)enum_of(j, "norm", norms, 2), c.pos = (cc_pos_kind)enum_of(j, "pos", pos, 3);
    c.rotary_dim = (int)golden_number(j, "rotary_dim"), c.rotary_base = golden_number(j, "rotary_base");
    c.rotary_adjacent = json_is_true(json_object_get(j, "rotary_adjacent"));
    c.attn_unscaled = json_is_true(json_object_get(j, "attn_unscaled"));
    c.parallel = json_is_true(json_object_get(j, "parallel"));
    c.attn_only = json_is_true(json_object_get(j, "attn_only"));
    c.gated = json_is_true(json_object_get(j, "gated"));
    c.act = (cc_act_kind)enum_of(j, "act", acts, 4);
    c.window = (int)golden_number(j, "window");
    json_t *local = json_object_get(j, "local_layers");
    for (size_t i = 0; i < json_array_size(local); i++) {
        int l = (int)json_integer_value(json_array_get(local, i));
        c.local_layers[l / 64] |= (uint64_t)1 << (l % 64);
    }
    c.bos_token_id = c.d_vocab - 1;
    return c;
}

/* The model of golden J: its config and TransformerLens' weights, unprocessed. */
static cc_model *model_of(json_t *j)
{
    cc_model *m = calloc(1, sizeof *m);
    m->cfg = config_of(json_object_get(j, "circuitc_config"));
    const cc_config *c = &m->cfg;
    size_t L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    cc_weights *w = &m->w;
    struct {
        const char *name;
        float **dst;
        size_t n;
    } table[] = {
        {"W_E", &w->W_E, V * d},          {"W_pos", &w->W_pos, (size_t)c->n_ctx * d},
        {"ln1_w", &w->ln1_w, L * d},      {"ln1_b", &w->ln1_b, L * d},
        {"W_Q", &w->W_Q, L * H * d * dh}, {"W_K", &w->W_K, L * H * d * dh},
        {"W_V", &w->W_V, L * H * d * dh}, {"b_Q", &w->b_Q, L * H * dh},
        {"b_K", &w->b_K, L * H * dh},     {"b_V", &w->b_V, L * H * dh},
        {"W_O", &w->W_O, L * H * dh * d}, {"b_O", &w->b_O, L * d},
        {"ln2_w", &w->ln2_w, L * d},      {"ln2_b", &w->ln2_b, L * d},
        {"W_in", &w->W_in, L * d * M},    {"W_gate", &w->W_gate, L * d * M},
        {"b_in", &w->b_in, L * M},        {"W_out", &w->W_out, L * M * d},
        {"b_out", &w->b_out, L * d},      {"lnf_w", &w->lnf_w, d},
        {"lnf_b", &w->lnf_b, d},          {"W_U", &w->W_U, d * V},
        {"b_U", &w->b_U, V},
    };
    json_t *ws = json_object_get(j, "weights");
    size_t found = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        json_t *t = json_object_get(ws, table[i].name);
        if (t) *table[i].dst = floats(t, table[i].n, table[i].name), found++;
    }
    ck_assert_msg(found == json_object_size(ws), "the golden has weights this test does not know");
    m->loaded = true;
    return m;
}

static void model_free(cc_model *m)
{
    cc_weights *w = &m->w;
    float *arrays[] = {w->W_E, w->W_pos, w->ln1_w, w->ln1_b, w->W_Q, w->W_K, w->W_V, w->b_Q, w->b_K, w->b_V,
                       w->W_O, w->b_O, w->ln2_w, w->ln2_b, w->W_in, w->W_gate, w->b_in, w->W_out, w->b_out,
                       w->lnf_w, w->lnf_b, w->W_U, w->b_U};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(arrays[i]);
    free(m);
}

/* Largest |a - b| (ABSOLUTE) or that over max(1, largest |b|); equal
 * infinities count as 0, NaN fails. */
static double diff(const float *a, const float *b, size_t n, bool absolute)
{
    double mx = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && a[i] == b[i]) continue;
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return absolute ? mx : mx / scale;
}

static void check_golden(const char *shape)
{
    char rel[96];
    snprintf(rel, sizeof rel, "out/shapes/%s.json", shape);
    char *path = golden_path(rel);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    ck_assert_msg(j, "%s: %s (run golden/gen_shapes.py)", path, jerr.text);
    cc_model *m = model_of(j);
    const cc_config *c = &m->cfg;
    json_t *jt = json_object_get(j, "tokens"), *hooks = json_object_get(j, "hooks");
    int B = (int)json_array_size(jt), T = (int)json_array_size(json_array_get(jt, 0));
    int *tok = malloc((size_t)B * T * sizeof *tok);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) tok[b * T + t] = (int)json_integer_value(json_array_get(json_array_get(jt, b), t));
    /* the hooks TransformerLens recorded are the ones circuitc says the shape has */
    const char *name;
    json_t *value;
    json_object_foreach(hooks, name, value) {
        cc_hook_kind k;
        int l;
        cc_error err;
        ck_assert_msg(cc_hook_parse(name, NULL, &k, &l, &err) == 0, "%s: %s", shape, err.msg);
        ck_assert_msg(cc_hook_available(c, k), "%s: TransformerLens has %s, circuitc says the shape has not", shape,
                      name);
    }
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern};
        for (int k = 0; k < CC_HOOK_COUNT; k++)
            if (cc_hook_available(c, (cc_hook_kind)k)) cc_fwd_want(&o, (cc_hook_kind)k, -1);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s: %s", shape, err.msg);
        for (int k = 0; k < CC_HOOK_COUNT; k++)
            for (int l = 0; cc_hook_available(c, (cc_hook_kind)k) && l < (cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1);
                 l++) {
                char hook[96];
                cc_hook_name((cc_hook_kind)k, l, hook, sizeof hook);
                json_t *want = json_object_get(hooks, hook);
                ck_assert_msg(want, "%s: circuitc has %s, TransformerLens did not record it", shape, hook);
                size_t n = cc_hook_shape(c, (cc_hook_kind)k, B, T).numel;
                float *ref = floats(want, n, hook);
                bool logits = k == CC_HOOK_LOGITS;
                double d = diff(cc_fwd_act(&r, (cc_hook_kind)k, l), ref, n, logits);
                ck_assert_msg(d <= (logits ? LOGITS_TOL : HOOK_TOL), "%s (kernel %d): %s differs from TransformerLens "
                              "by %g%s", shape, kern, hook, d, logits ? "" : " of its scale");
                free(ref);
            }
        cc_fwd_result_free(&r);
    }
    /* the patterns are far from uniform (the weights were drawn large) */
    size_t np = cc_hook_shape(c, CC_HOOK_PATTERN, B, T).numel;
    float *P = floats(json_object_get(hooks, "blocks.1.attn.hook_pattern"), np, "pattern");
    float top = 0;
    for (size_t i = (size_t)T * T / 2; i < np; i++) top = fmaxf(top, P[i]);
    ck_assert_msg(top > 0.9f, "%s: the patterns are nearly uniform", shape);
    free(P), free(tok), free(path);
    model_free(m);
    json_decref(j);
}

START_TEST(llama) { check_golden("llama"); }
END_TEST
START_TEST(pythia) { check_golden("pythia"); }
END_TEST
START_TEST(adjacent_rotary) { check_golden("adjacent_rotary"); }
END_TEST
START_TEST(gpt_neo) { check_golden("gpt_neo"); }
END_TEST
START_TEST(toy_attn_only) { check_golden("toy_attn_only"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("parity shapes");
    TCase *tc = tcase_create("transformerlens");
    tcase_add_test(tc, llama);
    tcase_add_test(tc, pythia);
    tcase_add_test(tc, adjacent_rotary);
    tcase_add_test(tc, gpt_neo);
    tcase_add_test(tc, toy_attn_only);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
