/* test_parity_families.c — the family fixtures (golden/families.py) against
 * TransformerLens (golden/out/<fixture>/, golden/FORMAT.md): forward pass,
 * every hook of run_with_cache (processed and not), head scores and patterns,
 * K-composition / OV / QK top-k counts, composition scores and activation
 * patching, each under its class of golden/tolerances.json.
 *
 * One row of FIXTURES per fixture, one TCase per row: adding a family's
 * fixture is adding its row (docs/architectures.md). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/forward.h"
#include "golden.h"
#include "golden_checks.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

enum { G_FORWARD = 1, G_HOOKS = 2, G_HEAD_SCORES = 4, G_FACTORED = 8, G_ACT_PATCHING = 16, G_ALL = 31 };

typedef struct {
    const char *name;    /* golden/models/<name> and golden/out/<name> */
    const char *what;    /* what it exercises */
    unsigned goldens;    /* G_* files it has */
} fixture;

static const fixture FIXTURES[] = {
    {"gpt2-odd", "GPT-2: d_head 24, n_inner 200, untied lm_head", G_ALL},
    {"gpt-neo-tiny", "GPT-Neo: local/global layers (window 5), no attention scale, tied", G_ALL},
    {"pythia-tiny", "GPT-NeoX: rotary on 6 of 24 dims, parallel residual, F16", G_ALL},
    {"llama-tiny", "Llama: GQA 4/2, RMSNorm, SwiGLU, rotary, BF16 in 3 shards", G_ALL},
    {"attn-only-2l", "TransformerLens checkpoint: attention-only, shortformer positions", G_ALL},
};
#define N_FIXTURES (int)(sizeof FIXTURES / sizeof FIXTURES[0])

static cc_model *fixture_model(const fixture *f, bool process)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", f->name);
    char *dir = golden_path(rel);
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, process, &m, &err) == 0, "%s: %s", f->name, err.msg);
    free(dir);
    return m;
}

/* ---- hooks.json ----------------------------------------------------------- */

typedef struct {
    double worst;        /* largest |diff| / allowed over the compared hooks */
    char worst_at[160];
    int compared;
    char missing[2048];  /* TransformerLens hooks circuitc has no name for */
} hook_stats;

/* ACT (circuitc, shape S) against golden tensor entry G of hook NAME: the shape,
 * then every value within the "hooks" class relative to the golden's largest
 * finite |x|; a null golden value (a masked score, -inf) must be -inf. */
static void compare_hook(const float *act, cc_act_shape s, json_t *g, const char *name, golden_tol tol,
                         hook_stats *st)
{
    json_t *shape = json_object_get(g, "shape"), *data = json_object_get(g, "data");
    ck_assert_msg(json_array_size(shape) == (size_t)s.ndim, "%s: golden has %zu dimensions, circuitc %d", name,
                  json_array_size(shape), s.ndim);
    for (int i = 0; i < s.ndim; i++)
        ck_assert_msg(json_integer_value(json_array_get(shape, (size_t)i)) == s.dim[i],
                      "%s: dimension %d is %lld in the golden, %d in circuitc", name, i,
                      json_integer_value(json_array_get(shape, (size_t)i)), s.dim[i]);
    ck_assert_uint_eq(json_array_size(data), s.numel);
    double scale = fmax(fabs(golden_number(g, "min")), fabs(golden_number(g, "max")));
    double allowed = golden_allowed(tol, scale);
    for (size_t i = 0; i < s.numel; i++) {
        json_t *v = json_array_get(data, i);
        if (json_is_null(v)) {
            ck_assert_msg(isinf(act[i]) && act[i] < 0, "%s[%zu]: circuitc %.9g where TransformerLens masks (-inf)", name,
                          i, act[i]);
            continue;
        }
        double want = json_number_value(v), d = fabs(act[i] - want);
        ck_assert_msg(d <= allowed, "%s[%zu]: circuitc %.9g, TransformerLens %.9g (|diff| %.3g > %.3g = %g x max |x| %.6g)",
                      name, i, act[i], want, d, allowed, tol.rel, scale);
        if (allowed > 0 && d / allowed > st->worst) {
            st->worst = d / allowed;
            snprintf(st->worst_at, sizeof st->worst_at, "%s[%zu]", name, i);
        }
    }
    st->compared++;
}

static void check_hooks(const fixture *f, bool process)
{
    cc_model *m = fixture_model(f, process);
    json_t *g = golden_load(f->name, process ? "hooks.json" : "raw/hooks.json");
    golden_tensor t = golden_get_tensor(g, "tokens");
    ck_assert(t.ndim == 2);
    int B = (int)t.shape[0], T = (int)t.shape[1];
    int *tok = malloc(t.n * sizeof *tok);
    for (size_t i = 0; i < t.n; i++) tok[i] = (int)t.data[i];
    golden_tensor_free(&t);
    golden_tol tol = golden_tolerance("hooks", "tensor_max"), logits = golden_tolerance("logits", "value");
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern};
        for (int k = 0; k < CC_HOOK_COUNT; k++)
            if (cc_hook_available(&m->cfg, (cc_hook_kind)k)) cc_fwd_want(&o, (cc_hook_kind)k, -1);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s: %s", f->name, err.msg);
        hook_stats st = {0};
        size_t i;
        json_t *nv;
        json_array_foreach(json_object_get(g, "names"), i, nv) {
            const char *name = json_string_value(nv);
            json_t *e = json_object_get(json_object_get(g, "hooks"), name);
            ck_assert_msg(e != NULL, "%s: hook %s is listed but has no golden tensor", f->name, name);
            cc_hook_kind k;
            int layer;
            if (cc_hook_parse(name, &m->cfg, &k, &layer, &err) != 0) {
                size_t len = strlen(st.missing);
                snprintf(st.missing + len, sizeof st.missing - len, "%s%s", len ? ", " : "", name);
                continue;
            }
            const float *act = cc_fwd_act(&r, k, layer < 0 ? 0 : layer);
            ck_assert_msg(act != NULL, "%s: circuitc did not produce %s", f->name, name);
            compare_hook(act, cc_hook_shape(&m->cfg, k, B, T), e, name, tol, &st);
        }
        ck_assert_int_gt(st.compared, 0);
        golden_tensor lg = golden_get_tensor(g, "logits");
        const float *L = cc_fwd_act(&r, CC_HOOK_LOGITS, 0);
        ck_assert(lg.n == (size_t)B * T * m->cfg.d_vocab);
        for (size_t j = 0; j < lg.n; j++) golden_check_near(L[j], lg.data[j], logits, "logits", (long)j);
        golden_tensor_free(&lg);
        if (kern == 0)
            fprintf(stderr, "%s %s: %d TransformerLens hooks compared, worst %.3g of the tolerance (%s); not in circuitc: %s\n",
                    f->name, process ? "processed" : "raw", st.compared, st.worst, st.worst_at,
                    st.missing[0] ? st.missing : "none");
        cc_fwd_result_free(&r);
    }
    free(tok);
    json_decref(g);
    cc_model_free(m);
}

/* ---- the tests: _i is the FIXTURES row (tcase_add_loop_test) ---------------- */

START_TEST(forward_matches_transformerlens)
{
    const fixture *f = &FIXTURES[_i];
    for (int process = 1; process >= 0; process--) {
        cc_model *m = fixture_model(f, process);
        golden_check_forward(m, f->name, process ? "forward.json" : "raw/forward.json");
        cc_model_free(m);
    }
}
END_TEST

START_TEST(every_hook_matches_transformerlens)
{
    check_hooks(&FIXTURES[_i], true);
}
END_TEST

START_TEST(every_hook_without_processing_matches_transformerlens)
{
    check_hooks(&FIXTURES[_i], false);
}
END_TEST

START_TEST(head_scores_match_transformerlens)
{
    cc_model *m = fixture_model(&FIXTURES[_i], true);
    golden_check_head_scores(m, FIXTURES[_i].name);
    cc_model_free(m);
}
END_TEST

START_TEST(factored_circuits_match_transformerlens)
{
    cc_model *m = fixture_model(&FIXTURES[_i], true);
    json_t *g = golden_load(FIXTURES[_i].name, "factored.json");
    golden_check_kcomp(m, g, SIZE_MAX);
    golden_check_ov_qk(m, g);
    golden_check_composition_scores(m, g, FIXTURES[_i].name);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

START_TEST(act_patching_matches_transformerlens)
{
    cc_model *m = fixture_model(&FIXTURES[_i], true);
    golden_check_act_patching(m, FIXTURES[_i].name, true);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_families");
    for (int i = 0; i < N_FIXTURES; i++) {
        const fixture *f = &FIXTURES[i];
        TCase *tc = tcase_create(f->name);
        tcase_set_timeout(tc, 600);
        if (f->goldens & G_FORWARD) tcase_add_loop_test(tc, forward_matches_transformerlens, i, i + 1);
        if (f->goldens & G_HOOKS) {
            tcase_add_loop_test(tc, every_hook_matches_transformerlens, i, i + 1);
            tcase_add_loop_test(tc, every_hook_without_processing_matches_transformerlens, i, i + 1);
        }
        if (f->goldens & G_HEAD_SCORES) tcase_add_loop_test(tc, head_scores_match_transformerlens, i, i + 1);
        if (f->goldens & G_FACTORED) tcase_add_loop_test(tc, factored_circuits_match_transformerlens, i, i + 1);
        if (f->goldens & G_ACT_PATCHING) tcase_add_loop_test(tc, act_patching_matches_transformerlens, i, i + 1);
        suite_add_tcase(s, tc);
    }
    return tu_run_suite(s);
}
