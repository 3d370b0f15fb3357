/* shape_models.c — small random models of any block shape, built in memory
 * (no loader), shared by the suites that run every block shape
 * (test_forward_shapes.c, test_backward.c). */
#include "shape_models.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/rng.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

cc_config tu_shape_config(void)
{
    cc_config c = {.n_layers = 2, .n_heads = 4, .d_model = 20, .d_head = 6, .d_mlp = 28, .d_vocab = 37,
                   .n_ctx = 16, .ln_eps = 1e-5, .bos_token_id = 36, .rotary_base = 10000};
    return c;
}

/* One block shape: its name and its change to tu_shape_config(). */
typedef struct {
    const char *name;
    void (*set)(cc_config *c);
} shape_case;

static void gpt2(cc_config *c) { (void)c; }
static void rms(cc_config *c) { c->norm = CC_NORM_RMS; }
static void rotary(cc_config *c) { c->pos = CC_POS_ROTARY, c->rotary_dim = 6; }
static void rotary_partial_adjacent(cc_config *c)
{
    c->pos = CC_POS_ROTARY, c->rotary_dim = 4, c->rotary_adjacent = true, c->rotary_base = 500;
}
static void shortformer(cc_config *c) { c->pos = CC_POS_SHORTFORMER; }
static void gqa(cc_config *c) { c->n_kv_heads = 2; }
static void unscaled(cc_config *c) { c->attn_unscaled = true; }
static void local(cc_config *c) { c->window = 3, c->local_layers[0] = 1; /* layer 0 local, layer 1 global */ }
static void parallel(cc_config *c) { c->parallel = true; }
static void attn_only(cc_config *c) { c->attn_only = true, c->d_mlp = 0; }
#define ACT(name, kind, is_gated) \
    static void name(cc_config *c) { c->act = kind, c->gated = is_gated; }
ACT(gelu_new, CC_ACT_GELU_NEW, false)
ACT(gelu, CC_ACT_GELU, false)
ACT(silu, CC_ACT_SILU, false)
ACT(relu, CC_ACT_RELU, false)
ACT(gated_gelu_new, CC_ACT_GELU_NEW, true)
ACT(gated_gelu, CC_ACT_GELU, true)
ACT(gated_silu, CC_ACT_SILU, true)
ACT(gated_relu, CC_ACT_RELU, true)
#undef ACT
static void llama(cc_config *c)
{
    c->family = CC_FAMILY_LLAMA, c->norm = CC_NORM_RMS, c->pos = CC_POS_ROTARY, c->rotary_dim = 6, c->n_kv_heads = 2;
    c->gated = true, c->act = CC_ACT_SILU;
}
static void pythia(cc_config *c)
{
    c->family = CC_FAMILY_GPT_NEOX, c->pos = CC_POS_ROTARY, c->rotary_dim = 4, c->parallel = true, c->act = CC_ACT_GELU;
}
static void gpt_neo(cc_config *c)
{
    c->family = CC_FAMILY_GPT_NEO, c->attn_unscaled = true, c->window = 4, c->local_layers[0] = 2; /* layer 1 local */
}
static void tl_toy(cc_config *c) { c->family = CC_FAMILY_TL, c->pos = CC_POS_SHORTFORMER, c->attn_only = true, c->d_mlp = 0; }

static const shape_case SHAPE_CASES[] = {
    {"gpt2", gpt2},
    {"rms", rms},
    {"rotary", rotary},
    {"rotary partial adjacent", rotary_partial_adjacent},
    {"shortformer", shortformer},
    {"gqa", gqa},
    {"unscaled", unscaled},
    {"local", local},
    {"parallel", parallel},
    {"attn-only", attn_only},
    {"gelu_new", gelu_new},
    {"gelu", gelu},
    {"silu", silu},
    {"relu", relu},
    {"gated gelu_new", gated_gelu_new},
    {"gated gelu", gated_gelu},
    {"gated silu", gated_silu},
    {"gated relu", gated_relu},
    {"llama", llama},
    {"pythia", pythia},
    {"gpt-neo", gpt_neo},
    {"tl toy", tl_toy},
};

int tu_n_shape_cases(void) { return (int)(sizeof SHAPE_CASES / sizeof SHAPE_CASES[0]); }

cc_config tu_shape_case(int i, const char **name)
{
    ck_assert_int_lt(i, tu_n_shape_cases());
    cc_config c = tu_shape_config();
    SHAPE_CASES[i].set(&c);
    *name = SHAPE_CASES[i].name;
    return c;
}

static float *normal_array(cc_rng *r, size_t n, double mean, double std)
{
    float *a = malloc(n * sizeof *a);
    ck_assert(a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(mean + std * cc_rng_normal(r));
    return a;
}

cc_model *tu_shape_model(const cc_config *c, bool with_norm_weights, uint64_t seed)
{
    cc_model *m = calloc(1, sizeof *m);
    ck_assert(m);
    m->cfg = *c;
    cc_rng r;
    cc_rng_seed(&r, seed);
    cc_weights *w = &m->w;
    size_t L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    bool ln = c->norm == CC_NORM_LN;
    w->W_E = normal_array(&r, V * d, 0, 1);
    if (c->pos != CC_POS_ROTARY) w->W_pos = normal_array(&r, (size_t)c->n_ctx * d, 0, 0.5);
    w->W_Q = normal_array(&r, L * H * d * dh, 0, 0.4), w->b_Q = normal_array(&r, L * H * dh, 0, 0.1);
    w->W_K = normal_array(&r, L * H * d * dh, 0, 0.4), w->b_K = normal_array(&r, L * H * dh, 0, 0.1);
    w->W_V = normal_array(&r, L * H * d * dh, 0, 0.4), w->b_V = normal_array(&r, L * H * dh, 0, 0.1);
    int group = c->n_heads / cc_config_kv_heads(c);
    for (size_t h = 0; h < L * H; h++) /* each query head takes its group's first head's key and value */
        if (h % group) {
            size_t src = h - h % group;
            memcpy(w->W_K + h * d * dh, w->W_K + src * d * dh, d * dh * sizeof(float));
            memcpy(w->W_V + h * d * dh, w->W_V + src * d * dh, d * dh * sizeof(float));
            memcpy(w->b_K + h * dh, w->b_K + src * dh, dh * sizeof(float));
            memcpy(w->b_V + h * dh, w->b_V + src * dh, dh * sizeof(float));
        }
    w->W_O = normal_array(&r, L * H * dh * d, 0, 0.4), w->b_O = normal_array(&r, L * d, 0, 0.1);
    if (!c->attn_only) {
        w->W_in = normal_array(&r, L * d * M, 0, 0.4), w->b_in = normal_array(&r, L * M, 0, 0.1);
        if (c->gated) w->W_gate = normal_array(&r, L * d * M, 0, 0.4);
        w->W_out = normal_array(&r, L * M * d, 0, 0.4), w->b_out = normal_array(&r, L * d, 0, 0.1);
    }
    w->W_U = normal_array(&r, d * V, 0, 0.4), w->b_U = normal_array(&r, V, 0, 0.1);
    if (with_norm_weights) {
        w->ln1_w = normal_array(&r, L * d, 1, 0.1), w->lnf_w = normal_array(&r, d, 1, 0.1);
        if (!c->attn_only) w->ln2_w = normal_array(&r, L * d, 1, 0.1);
        if (ln) {
            w->ln1_b = normal_array(&r, L * d, 0, 0.1), w->lnf_b = normal_array(&r, d, 0, 0.1);
            if (!c->attn_only) w->ln2_b = normal_array(&r, L * d, 0, 0.1);
        }
    }
    m->loaded = true;
    return m;
}

void tu_shape_model_free(cc_model *m)
{
    cc_weights *w = &m->w;
    float *arrays[] = {w->W_E, w->W_pos, w->ln1_w, w->ln1_b, w->W_Q, w->W_K, w->W_V, w->b_Q, w->b_K, w->b_V,
                       w->W_O, w->b_O, w->ln2_w, w->ln2_b, w->W_in, w->W_gate, w->b_in, w->W_out, w->b_out,
                       w->lnf_w, w->lnf_b, w->W_U, w->b_U};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(arrays[i]);
    free(m);
}

int *tu_shape_tokens(const cc_config *c, int n, uint64_t seed)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    int *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = (int)cc_rng_below(&r, (uint32_t)c->d_vocab);
    return t;
}
