/* test_call_threads.c — a call's own thread count (docs/library.md, "Threads
 * per call"): given 1, a call starts no thread and holds OpenBLAS to one
 * thread for its length; given the default's count, its result is
 * bit-identical to the default's. (Given 1, a forward pass's GEMMs are not
 * split, and results differ from a split run's in the last bits: relative
 * 1.6e-10 on heads' scores here, as between machines with 1 and 2 cores.)
 * Threads are counted by interposing pthread_create (the library's, linked
 * into this program, and OpenBLAS' resolve to the one here); OpenBLAS' count
 * is read from inside the call, in its progress callback or, for every call of
 * the table below, at each of its float GEMMs (cblas_sgemm interposed too). */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/attribution.h"
#include "circuitc/comp_scores.h"
#include "circuitc/dla.h"
#include "circuitc/eap.h"
#include "circuitc/predictions.h"
#include "circuitc/prompt_pair.h"
#include "circuitc/runtime_report.h"
#include "core/parallel.h"
#include "golden.h"
#include "testutil.h"
#include "thread_counter.h"

/* OpenBLAS' most threads seen from inside the call. */
static atomic_int blas_threads_seen;

static void see_blas_threads(void)
{
    int n = openblas_get_num_threads(), seen = atomic_load(&blas_threads_seen);
    while (n > seen && !atomic_compare_exchange_weak(&blas_threads_seen, &seen, n)) {
    }
}

static int watch_blas(void *ctx, long done, long total)
{
    (void)ctx, (void)done, (void)total;
    see_blas_threads();
    return 0;
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                 const blasint lda, const float *b, const blasint ldb, const float beta, float *c, const blasint ldc)
{
    static void (*real)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE, const blasint,
                        const blasint, const blasint, const float, const float *, const blasint, const float *,
                        const blasint, const float, float *, const blasint);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    see_blas_threads();
    real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The results as JSON, equal to the last bit. */
static void same(const char *a, const char *b)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i]) i++;
    ck_assert_msg(a[i] == b[i], "results differ at byte %zu: ...%.60s... vs ...%.60s...", i, a + (i > 20 ? i - 20 : 0),
                  b + (i > 20 ? i - 20 : 0));
}

static char *dumped(json_t *j)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* comp-scores' baseline splits its samples across threads (cc_par_for). The
 * model is opened afresh: the call loads the parts it needs. */
static char *comp_scores(int threads, int *started)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(tu_fixture_model(), NULL, &m, &err) == 0, "%s", err.msg);
    cc_comp_scores_options o;
    cc_comp_scores_defaults(&o);
    o.top = 5, o.baseline_samples = 64, o.seed = 4, o.threads = threads;
    o.progress = watch_blas;
    cc_comp_scores r;
    atomic_store(&blas_threads_seen, 0);
    atomic_store(&threads_started, 0);
    ck_assert_msg(cc_comp_scores_run(m, &o, &r, &err) == 0, "%s", err.msg);
    *started = atomic_load(&threads_started);
    json_t *j = cc_comp_scores_json(&r);
    json_object_del(j, "phase_seconds"); /* wall times */
    char *s = dumped(j);
    cc_comp_scores_free(&r);
    cc_model_free(m);
    return s;
}

START_TEST(comp_scores_on_one_thread)
{
    int started_default, started_one, started_all; /* started_all: as the default, give or take a lazily started thread */
    char *by_default = comp_scores(0, &started_default);
    if (cc_par_threads() > 1) ck_assert_int_gt(started_default, 0); /* else the test below proves nothing */
    char *on_one = comp_scores(1, &started_one);
    ck_assert_int_eq(started_one, 0);
    ck_assert_int_eq(atomic_load(&blas_threads_seen), 1);
    char *on_all = comp_scores(cc_par_threads(), &started_all);
    same(on_all, by_default);
    free(by_default), free(on_one), free(on_all);
}
END_TEST

/* heads: forward passes, with their own split of GEMMs and attention. */
static char *heads(cc_model *m, int threads, int *started)
{
    cc_heads_options o = {.input = {.seed = 0, .seq_len = 50, .batch = 10}, .top = 5, .progress = watch_blas,
                          .threads = threads};
    cc_heads_report r;
    cc_error err;
    atomic_store(&blas_threads_seen, 0);
    atomic_store(&threads_started, 0);
    ck_assert_msg(cc_heads_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    *started = atomic_load(&threads_started);
    char *s = dumped(cc_heads_report_json(&r));
    cc_heads_report_free(&r);
    return s;
}

START_TEST(heads_on_one_thread)
{
    cc_model *m = golden_fixture(true);
    int started_default, started_one, started_all; /* started_all: as the default, give or take a lazily started thread */
    char *by_default = heads(m, 0, &started_default);
    char *on_one = heads(m, 1, &started_one);
    ck_assert_int_eq(started_one, 0);
    ck_assert_int_eq(atomic_load(&blas_threads_seen), 1);
    char *on_all = heads(m, cc_par_threads(), &started_all);
    same(on_all, by_default);
    free(by_default), free(on_one), free(on_all);
}
END_TEST

/* 0 inside a call keeps the outer call's count; the count ends with the call. */
START_TEST(nested_calls_keep_the_outer_count)
{
    int cores = cc_par_threads();
    {
        CC_PAR_CALL(1);
        ck_assert_int_eq(cc_par_threads(), 1);
        {
            CC_PAR_CALL(0);
            ck_assert_int_eq(cc_par_threads(), 1);
        }
        ck_assert_int_eq(openblas_get_num_threads(), 1);
    }
    ck_assert_int_eq(cc_par_threads(), cores);
    ck_assert_int_eq(cc_par_call_threads(), 0);
}
END_TEST

/* ---- the building blocks' counts (a `threads` argument, or the field of
 * cc_path_patch_options and cc_eap_faith_options): each call run on the same
 * inputs by default, on 1 thread and on the default's count. */

/* What the calls read: the fixture, repeated tokens [batch, T = 1 + 2n], their
 * row 0 as a one-prompt batch and as a prompt pair's clean prompt (row 1 the
 * corrupted one), and EAP pairs. */
typedef struct {
    cc_model *m;
    int batch, n, T;
    int *tok;                /* [batch, T] */
    cc_prompt_batch prompt;  /* row 0 */
    cc_prompt_pair pair;     /* row 0 against row 1, logit difference of two tokens */
    cc_eap_graph graph;
    cc_eap_pairs eap;
    double *edge_scores;     /* [graph.n_edges]: cc_eap_scores' on eap, for the faithfulness curve */
} inputs;

/* A call's results, as bytes compared to the last bit. */
typedef struct {
    unsigned char *p;
    size_t n;
} bytes;

static void keep(bytes *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    ck_assert_ptr_nonnull(b->p);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

#define KEEP(b, p, count) keep((b), (p), (size_t)(count) * sizeof *(p))

typedef int (*call_fn)(const inputs *in, int threads, bytes *out, cc_error *err);

static int repeat_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_repeat_stats s;
    int rc = cc_repeat_run(in->m, in->tok, in->batch, in->n, CC_KERNEL_FAST, threads, NULL, NULL, &s, err);
    if (rc == 0) KEEP(out, s.logprob, in->batch * 2 * in->n), KEEP(out, &s.loss, 1);
    cc_repeat_stats_free(&s);
    return rc;
}

static void keep_scores(bytes *out, const cc_head_scores *s, size_t LH)
{
    for (int k = 0; k < CC_SCORE_COUNT; k++)
        if (s->diag[k]) KEEP(out, s->diag[k], LH);
    for (int k = 0; k < CC_DETECT_COUNT; k++)
        for (int v = 0; v < 4; v++) KEEP(out, s->detect[k][v], LH);
}

static int head_scores_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_head_scores s;
    int rc = cc_head_scores_run(in->m, in->tok, in->batch, in->n, CC_KERNEL_FAST, threads, NULL, NULL, &s, err);
    if (rc == 0) keep_scores(out, &s, (size_t)s.n_layers * s.n_heads);
    cc_head_scores_free(&s);
    return rc;
}

static int head_scores_tokens_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_head_scores s;
    int rc = cc_head_scores_tokens_run(in->m, in->tok, in->batch, in->T, CC_KERNEL_FAST, threads, NULL, NULL, &s, err);
    if (rc == 0) keep_scores(out, &s, (size_t)s.n_layers * s.n_heads);
    cc_head_scores_free(&s);
    return rc;
}

static int patch_mlp_sweep(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_patch_sweep s;
    int rc = cc_patch_mlp_sweep(in->m, in->tok, in->n, false, CC_KERNEL_FAST, threads, NULL, NULL, &s, err);
    if (rc == 0) KEEP(out, s.patched_loss, s.n_layers * (s.n + 1));
    cc_patch_sweep_free(&s);
    return rc;
}

static const cc_head PREV_HEAD = {0, 0};

static int ablate_heads(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_ablation a;
    int rc = cc_ablate_heads(in->m, in->tok, in->batch, in->n, &PREV_HEAD, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST, threads,
                             NULL, NULL, &a, err);
    if (rc == 0)
        KEEP(out, a.ablated.logprob, in->batch * 2 * in->n), KEEP(out, a.ablated_induction, a.n_layers * a.n_heads);
    cc_ablation_free(&a);
    return rc;
}

static int ablate_heads_tokens(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_token_ablation a;
    int rc = cc_ablate_heads_tokens(in->m, in->tok, in->batch, in->T, &PREV_HEAD, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST,
                                    threads, NULL, NULL, &a, err);
    if (rc == 0)
        KEEP(out, a.ablated.logprob, in->batch * (in->T - 1)), KEEP(out, a.ablated_induction, a.n_layers * a.n_heads);
    cc_token_ablation_free(&a);
    return rc;
}

static const cc_head SENDERS[] = {{0, 0}, {0, 1}, {1, 2}}, RECEIVER = {2, 0};

static int path_patch(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_path_result r;
    const cc_prompt_pair *p = &in->pair;
    int rc = cc_path_patch(in->m, p->clean.tokens, p->corrupt.tokens, p->T, SENDERS, 3, &RECEIVER, 1, CC_HOOK_Q,
                           &p->metric, CC_KERNEL_FAST, threads, NULL, NULL, &r, err);
    if (rc == 0) KEEP(out, r.value, r.n_senders);
    cc_path_result_free(&r);
    return rc;
}

static int path_patch_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_path_patch_options o = {.senders = SENDERS, .n_senders = 3, .receivers = &RECEIVER, .n_receivers = 1,
                               .to = CC_HOOK_K, .threads = threads};
    cc_path_patch_report r;
    int rc = cc_path_patch_run(in->m, &in->pair, &o, &r, err);
    if (rc == 0) KEEP(out, r.result.value, r.result.n_senders);
    cc_path_patch_report_free(&r);
    return rc;
}

static int prompt_pattern_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_prompt_pattern r;
    int rc = cc_prompt_pattern_run(in->m, &in->prompt, (cc_head){1, 3}, threads, &r, err);
    if (rc == 0) KEEP(out, r.pattern, r.positions * r.positions);
    cc_prompt_pattern_free(&r);
    return rc;
}

static int prompt_patterns_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_prompt_patterns r;
    int rc = cc_prompt_patterns_run(in->m, &in->prompt, SENDERS, 3, threads, &r, err);
    if (rc == 0) KEEP(out, r.pattern, r.n_heads * r.positions * r.positions);
    cc_prompt_patterns_free(&r);
    return rc;
}

static int dla_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_dla d;
    int rc = cc_dla_run(in->m, in->tok, in->T, in->tok[in->n], in->tok[1], CC_KERNEL_FAST, threads, &d, err);
    if (rc == 0) KEEP(out, d.head, d.n_layers * d.n_heads), KEEP(out, d.mlp_out, d.n_layers), KEEP(out, &d.logit, 1);
    cc_dla_free(&d);
    return rc;
}

static int next_tokens_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_next_tokens r;
    int *length = malloc((size_t)in->batch * sizeof *length);
    for (int b = 0; b < in->batch; b++) length[b] = in->T;
    int rc = cc_next_tokens_run(in->m, in->tok, length, in->batch, in->T, 5, CC_KERNEL_FAST, threads, &r, err);
    if (rc == 0) KEEP(out, r.logprob, in->batch * in->T), KEEP(out, r.top_prob, in->batch * in->T * 5);
    cc_next_tokens_free(&r);
    free(length);
    return rc;
}

static int logit_lens_run(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_logit_lens r;
    int rc = cc_logit_lens_run(in->m, in->tok, in->T, 5, CC_KERNEL_FAST, threads, &r, err);
    if (rc == 0) KEEP(out, r.prob, r.n_rows * in->T), KEEP(out, r.top_prob, r.n_rows * in->T * 5);
    cc_logit_lens_free(&r);
    return rc;
}

static int attr_mlp_sweep(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_attr_sweep s;
    int rc = cc_attr_mlp_sweep(in->m, in->tok, in->n, 4, CC_KERNEL_FAST, threads, &s, err);
    if (rc == 0) KEEP(out, s.estimate, s.n_layers * (s.n + 1)), KEEP(out, s.top_exact, s.n_top);
    cc_attr_sweep_free(&s);
    return rc;
}

static int eap_scores(const inputs *in, int threads, bytes *out, cc_error *err)
{
    double *scores = malloc((size_t)in->graph.n_edges * sizeof *scores);
    int rc = cc_eap_scores(in->m, &in->graph, &in->eap, CC_PAIR_LOGIT_DIFF, 2, CC_KERNEL_FAST, threads, scores, err);
    if (rc == 0) KEEP(out, scores, in->graph.n_edges);
    free(scores);
    return rc;
}

static int eap_evaluate(const inputs *in, int threads, bytes *out, cc_error *err)
{
    unsigned char *half = malloc((size_t)in->graph.n_edges);
    for (long e = 0; e < in->graph.n_edges; e++) half[e] = e % 2;
    double v[3];
    int rc = cc_eap_evaluate(in->m, &in->graph, &in->eap, (const unsigned char *const *)&half, 1, CC_PAIR_KL,
                             CC_KERNEL_FAST, threads, &v[0], &v[1], &v[2], err);
    if (rc == 0) KEEP(out, v, 3);
    free(half);
    return rc;
}

static int eap_sender_deltas(const inputs *in, int threads, bytes *out, cc_error *err)
{
    int T = in->eap.offset[1];
    size_t n = (size_t)in->graph.n_senders * T * cc_model_config(in->m)->d_model;
    float *delta = malloc(n * sizeof *delta);
    int rc = cc_eap_sender_deltas(in->m, &in->graph, in->eap.clean, in->eap.corrupt, T, CC_KERNEL_FAST, threads, delta,
                                  err);
    if (rc == 0) KEEP(out, delta, n);
    free(delta);
    return rc;
}

static int eap_faithfulness(const inputs *in, int threads, bytes *out, cc_error *err)
{
    cc_eap_faith_options o = {.metric = CC_PAIR_LOGIT_DIFF, .sizes = (const long[]){4, 16, 64}, .n_sizes = 3,
                              .threads = threads};
    cc_eap_curve c;
    int rc = cc_eap_faithfulness(in->m, &in->graph, &in->eap, in->edge_scores, &o, &c, err);
    if (rc == 0) KEEP(out, c.metric, c.n_points);
    cc_eap_curve_free(&c);
    return rc;
}

static const struct {
    const char *name;
    call_fn run;
} CALLS[] = {
    {"cc_repeat_run", repeat_run},
    {"cc_head_scores_run", head_scores_run},
    {"cc_head_scores_tokens_run", head_scores_tokens_run},
    {"cc_patch_mlp_sweep", patch_mlp_sweep},
    {"cc_ablate_heads", ablate_heads},
    {"cc_ablate_heads_tokens", ablate_heads_tokens},
    {"cc_path_patch", path_patch},
    {"cc_path_patch_run", path_patch_run},
    {"cc_prompt_pattern_run", prompt_pattern_run},
    {"cc_prompt_patterns_run", prompt_patterns_run},
    {"cc_dla_run", dla_run},
    {"cc_next_tokens_run", next_tokens_run},
    {"cc_logit_lens_run", logit_lens_run},
    {"cc_attr_mlp_sweep", attr_mlp_sweep},
    {"cc_eap_scores", eap_scores},
    {"cc_eap_evaluate", eap_evaluate},
    {"cc_eap_sender_deltas", eap_sender_deltas},
    {"cc_eap_faithfulness", eap_faithfulness},
};
#define N_CALLS (int)(sizeof CALLS / sizeof *CALLS)

static inputs g_in;

static void inputs_make(void)
{
    cc_error err;
    inputs *in = &g_in;
    in->m = golden_fixture(true);
    in->batch = 4, in->n = 30, in->T = 1 + 2 * in->n;
    in->tok = malloc((size_t)in->batch * in->T * sizeof *in->tok);
    ck_assert_msg(cc_repeat_tokens(cc_model_config(in->m), 5, in->batch, in->n, in->tok, &err) == 0, "%s", err.msg);
    char *ids[2];
    for (int r = 0; r < 2; r++) { /* rows 0 and 1 as text ids */
        ids[r] = malloc((size_t)in->T * 8);
        for (int t = 0, at = 0; t < in->T; t++)
            at += sprintf(ids[r] + at, "%s%d", t ? "," : "", in->tok[r * in->T + t]);
    }
    ck_assert_msg(cc_prompt_batch_load(&(cc_prompt_source){.tokens = ids[0]}, in->m, &in->prompt, &err) == 0, "%s",
                  err.msg);
    char answer[16], wrong[16];
    snprintf(answer, sizeof answer, "#%d", in->tok[in->n]), snprintf(wrong, sizeof wrong, "#%d", in->tok[1]);
    cc_prompt_pair_source src = {.clean_tokens = ids[0], .corrupt_tokens = ids[1], .metric = CC_METRIC_LOGIT_DIFF,
                                 .answer = answer, .wrong = wrong};
    ck_assert_msg(cc_prompt_pair_load(&src, in->m, &in->pair, &err) == 0, "%s", err.msg);
    free(ids[0]), free(ids[1]);
    ck_assert_msg(cc_eap_graph_build(cc_model_config(in->m), &in->graph, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_eap_pairs_repeat(in->m, 4, 8, 2, &in->eap, &err) == 0, "%s", err.msg);
    in->edge_scores = malloc((size_t)in->graph.n_edges * sizeof *in->edge_scores);
    ck_assert_msg(cc_eap_scores(in->m, &in->graph, &in->eap, CC_PAIR_LOGIT_DIFF, 0, CC_KERNEL_FAST, 0, in->edge_scores,
                                &err) == 0,
                  "%s", err.msg);
}

static void inputs_free(void)
{
    cc_eap_pairs_free(&g_in.eap);
    cc_eap_graph_free(&g_in.graph);
    cc_prompt_pair_free(&g_in.pair);
    cc_prompt_batch_free(&g_in.prompt);
    free(g_in.tok), free(g_in.edge_scores);
    cc_model_free(g_in.m);
    g_in = (inputs){0};
}

/* Runs call I with THREADS: its results, the threads it started and OpenBLAS' most threads inside it. */
static bytes run_call(int i, int threads, int *started, int *blas)
{
    bytes b = {0};
    cc_error err;
    atomic_store(&blas_threads_seen, 0);
    atomic_store(&threads_started, 0);
    ck_assert_msg(CALLS[i].run(&g_in, threads, &b, &err) == 0, "%s (threads %d): %s", CALLS[i].name, threads, err.msg);
    *started = atomic_load(&threads_started);
    *blas = atomic_load(&blas_threads_seen);
    ck_assert_msg(b.n > 0, "%s: no results kept", CALLS[i].name);
    return b;
}

/* Given 1, a call starts no thread and OpenBLAS runs on one thread while it
 * runs; given the default's count, its results are the default's to the last bit. */
START_TEST(every_call_keeps_its_count)
{
    int i = _i, cores = cc_par_threads(), started, blas, started_one, blas_one;
    bytes by_default = run_call(i, 0, &started, &blas);
    if (cores > 1) /* else the check of the threads started proves nothing (OpenBLAS is held to one thread by
                      default too, while the library's loops split a forward pass) */
        ck_assert_msg(started > 0, "%s: by default no thread started: the test needs larger inputs", CALLS[i].name);
    bytes on_one = run_call(i, 1, &started_one, &blas_one);
    ck_assert_msg(started_one == 0, "%s: given 1 thread, the call started %d", CALLS[i].name, started_one);
    ck_assert_msg(blas_one == 1, "%s: given 1 thread, OpenBLAS ran on %d", CALLS[i].name, blas_one);
    ck_assert_uint_eq(on_one.n, by_default.n);
    bytes on_all = run_call(i, cores, &started, &blas);
    ck_assert_uint_eq(on_all.n, by_default.n);
    size_t k = 0;
    while (k < by_default.n && on_all.p[k] == by_default.p[k]) k++;
    ck_assert_msg(k == by_default.n, "%s: given %d threads (the default's count), results differ at byte %zu",
                  CALLS[i].name, cores, k);
    free(by_default.p), free(on_one.p), free(on_all.p);
}
END_TEST

int main(void)
{
#ifdef __SANITIZE_ADDRESS__
    /* AddressSanitizer interposes pthread_create itself: counting threads this way aborts */
    puts("skipped under AddressSanitizer (it interposes pthread_create too); the normal build runs this suite");
    return 77;
#endif
    Suite *s = suite_create("call_threads");
    TCase *tc = tcase_create("one_thread");
    tcase_add_test(tc, comp_scores_on_one_thread);
    tcase_add_test(tc, heads_on_one_thread);
    tcase_add_test(tc, nested_calls_keep_the_outer_count);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    TCase *calls = tcase_create("every_call");
    tcase_add_unchecked_fixture(calls, inputs_make, inputs_free);
    tcase_add_loop_test(calls, every_call_keeps_its_count, 0, N_CALLS);
    tcase_set_timeout(calls, 120);
    suite_add_tcase(s, calls);
    return tu_run_suite(s);
}
