/* test_call_threads.c — a call's own thread count (docs/library.md, "Threads
 * per call"): given 1, a call starts no thread and holds OpenBLAS to one
 * thread for its length; given the default's count, its result is
 * bit-identical to the default's. (Given 1, a forward pass's GEMMs are not
 * split, and results differ from a split run's in the last bits: relative
 * 1.6e-10 on heads' scores here, as between machines with 1 and 2 cores.)
 * Threads are counted by interposing pthread_create (the library's, linked
 * into this program, and OpenBLAS' resolve to the one here); OpenBLAS' count
 * is read from inside the call, in its progress callback. */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/comp_scores.h"
#include "circuitc/runtime_report.h"
#include "core/parallel.h"
#include "golden.h"
#include "testutil.h"

static atomic_int threads_started;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    atomic_fetch_add(&threads_started, 1);
    return real(t, attr, fn, arg);
}

/* OpenBLAS' most threads seen from inside the call. */
static int blas_threads_seen;

static int watch_blas(void *ctx, long done, long total)
{
    (void)ctx, (void)done, (void)total;
    int n = openblas_get_num_threads();
    if (n > blas_threads_seen) blas_threads_seen = n;
    return 0;
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
    blas_threads_seen = 0;
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
    ck_assert_int_eq(blas_threads_seen, 1);
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
    blas_threads_seen = 0;
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
    ck_assert_int_eq(blas_threads_seen, 1);
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
    return tu_run_suite(s);
}
