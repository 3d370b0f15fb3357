/* test_parity_gradients.c — the backward pass against TransformerLens'
 * backward hooks: golden/out/<fixture>/gradients.{json,safetensors}
 * (golden/gen_gradients.py) hold, for the bundled fixture and every family
 * fixture (processed), the gradient of each metric (logit difference, loss,
 * KL to a clean run's distribution) at every hook TransformerLens fires and at
 * the logits, TransformerLens run in float64 on the float32 weights. Every
 * gradient within golden/tolerances.json's "gradients" class (1e-5 of the
 * tensor's scale, its largest |x|) on the reference kernel, "gradients_fast"
 * on the fast one (its float32 activations, the class says why); the metric
 * within the logits class; the golden's hooks are exactly the ones circuitc
 * says the model has. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/backward.h"
#include "circuitc/safetensors.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *const FIXTURES[] = {"induction-3l4h", "gpt2-odd", "gpt-neo-tiny", "pythia-tiny", "llama-tiny",
                                       "attn-only-2l"};
#define N_FIXTURES (int)(sizeof FIXTURES / sizeof FIXTURES[0])

typedef struct {
    cc_model *m;
    json_t *j;
    cc_st_file *st;
    int B, T;
    int *tokens, *position, *answer, *wrong;
    float *clean;
} fixture;

static int *int_list(json_t *a, size_t n, const char *what)
{
    ck_assert_msg(json_array_size(a) == n, "%s: expected %zu values", what, n);
    int *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++) out[i] = (int)json_integer_value(json_array_get(a, i));
    return out;
}

/* The golden tensor NAME as float32 (checking its element count is N); caller frees. */
static float *st_floats(const cc_st_file *st, const char *name, size_t n)
{
    const cc_st_tensor *t = cc_st_find(st, name);
    ck_assert_msg(t, "gradients.safetensors has no %s", name);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) numel *= (size_t)t->shape[i];
    ck_assert_msg(numel == n, "%s: %zu values in the golden, %zu in circuitc", name, numel, n);
    float *out = malloc(n * sizeof *out);
    cc_error err;
    ck_assert_msg(cc_st_read_f32(st, t, out, &err) == 0, "%s", err.msg);
    return out;
}

static fixture fixture_open(const char *name)
{
    fixture f = {0};
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    char *dir = golden_path(rel);
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &f.m, &err) == 0, "%s: %s", name, err.msg);
    free(dir);
    f.j = golden_load(name, "gradients.json");
    snprintf(rel, sizeof rel, "out/%s/gradients.safetensors", name);
    char *path = golden_path(rel);
    ck_assert_msg(cc_st_open(path, &f.st, &err) == 0, "%s", err.msg);
    free(path);
    golden_tensor tok = golden_get_tensor(f.j, "tokens");
    f.B = (int)tok.shape[0], f.T = (int)tok.shape[1];
    f.tokens = malloc(tok.n * sizeof *f.tokens);
    for (size_t i = 0; i < tok.n; i++) f.tokens[i] = (int)tok.data[i];
    golden_tensor_free(&tok);
    f.position = int_list(json_object_get(f.j, "positions"), (size_t)f.B, "positions");
    f.answer = int_list(json_object_get(f.j, "answer"), (size_t)f.B, "answer");
    f.wrong = int_list(json_object_get(f.j, "wrong"), (size_t)f.B, "wrong");
    f.clean = st_floats(f.st, "kl/clean_logprobs", (size_t)f.B * f.m->cfg.d_vocab);
    return f;
}

static void fixture_close(fixture *f)
{
    free(f->tokens), free(f->position), free(f->answer), free(f->wrong), free(f->clean);
    cc_st_close(f->st);
    json_decref(f->j);
    cc_model_free(f->m);
}

/* Every golden gradient of METRIC against circuitc's on KERNEL; returns the
 * worst |diff| / allowed. */
static double compare_metric(const char *name, fixture *f, cc_grad_metric_kind kind, cc_kernel kernel)
{
    const cc_config *c = &f->m->cfg;
    const char *mname = cc_grad_metric_name(kind);
    cc_grad_metric mt = {.kind = kind, .position = f->position, .answer = f->answer, .wrong = f->wrong,
                         .clean_logprobs = f->clean};
    cc_grad_opts o = {.kernel = kernel};
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_available(c, (cc_hook_kind)k)) cc_grad_want(&o, (cc_hook_kind)k, -1);
    cc_grad_result g;
    cc_error err;
    ck_assert_msg(cc_backward(f->m, f->tokens, f->B, f->T, &mt, &o, &g, &err) == 0, "%s: %s", name, err.msg);
    golden_tol logits_tol = golden_tolerance("logits", "value");
    golden_tol tol = golden_tolerance(kernel == CC_KERNEL_REF ? "gradients" : "gradients_fast", "tensor_max");
    double want = golden_number(json_object_get(f->j, "metrics"), mname);
    ck_assert_msg(fabs(g.metric - want) <= golden_allowed(logits_tol, fabs(want)), "%s %s: metric %.9g, golden %.9g",
                  name, mname, g.metric, want);
    double worst = 0;
    int compared = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        if (!cc_hook_available(c, (cc_hook_kind)k)) continue;
        for (int l = 0; l < (cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1); l++) {
            char hook[96], key[128];
            snprintf(key, sizeof key, "%s/%s", mname, cc_hook_name((cc_hook_kind)k, l, hook, sizeof hook));
            size_t n = cc_hook_shape(c, (cc_hook_kind)k, f->B, f->T).numel;
            float *gold = st_floats(f->st, key, n);
            const float *got = cc_grad_of(&g, (cc_hook_kind)k, l);
            double scale = 0, diff = 0;
            for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(gold[i]));
            for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)got[i] - gold[i]));
            double allowed = golden_allowed(tol, scale);
            ck_assert_msg(diff <= allowed, "%s (kernel %d): %s: |circuitc - TransformerLens| = %g > %g (scale %g)",
                          name, (int)kernel, key, diff, allowed, scale);
            if (allowed > 0) worst = fmax(worst, diff / allowed);
            compared++;
            free(gold);
        }
    }
    /* the golden holds these and nothing else: clean_logprobs, and per metric every hook plus the logits */
    ck_assert_int_eq(json_array_size(json_object_get(f->j, "tensors")), 1 + CC_GRAD_METRIC_COUNT * (size_t)compared);
    cc_grad_result_free(&g);
    return worst;
}

START_TEST(gradients_match_transformerlens)
{
    const char *name = FIXTURES[_i];
    fixture f = fixture_open(name);
    for (int kind = 0; kind < CC_GRAD_METRIC_COUNT; kind++)
        for (int kernel = 0; kernel < 2; kernel++) {
            double w = compare_metric(name, &f, (cc_grad_metric_kind)kind, (cc_kernel)kernel);
            fprintf(stderr, "%s %s kernel %d: worst %.3g of the tolerance\n", name,
                    cc_grad_metric_name((cc_grad_metric_kind)kind), kernel, w);
        }
    fixture_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_gradients");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, gradients_match_transformerlens, 0, N_FIXTURES);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
