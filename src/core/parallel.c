/* parallel.c — contiguous-range loops on a few threads (parallel.h). */
#include "parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

typedef struct {
    cc_par_fn fn;
    void *ctx;
    size_t lo, hi;
    int call_threads; /* the starting thread's call count, which nested loops keep */
} par_job;

/* The thread count of the public call running on this thread (0: none). */
static _Thread_local int t_call_threads;

static void *par_main(void *p)
{
    par_job *j = p;
    t_call_threads = j->call_threads;
    j->fn(j->ctx, j->lo, j->hi);
    return NULL;
}

static int g_threads = 1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void count_threads(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    g_threads = c < 1 ? 1 : c > CC_PAR_MAX ? CC_PAR_MAX : (int)c;
}

int cc_par_threads(void)
{
    if (t_call_threads > 0) return t_call_threads;
    pthread_once(&g_once, count_threads);
    return g_threads;
}

int cc_par_call_threads(void) { return t_call_threads; }

void cc_par_for(size_t n, size_t grain, cc_par_fn fn, void *ctx)
{
    int t = cc_par_threads();
    if (grain < 1) grain = 1;
    if ((size_t)t > n / grain) t = (int)(n / grain);
    if (t <= 1) {
        if (n) fn(ctx, 0, n);
        return;
    }
    par_job job[CC_PAR_MAX];
    pthread_t tid[CC_PAR_MAX];
    bool started[CC_PAR_MAX] = {false};
    for (int i = 0; i < t; i++) job[i] = (par_job){fn, ctx, n * i / t, n * (i + 1) / t, t_call_threads};
    for (int i = 1; i < t; i++) started[i] = pthread_create(&tid[i], NULL, par_main, &job[i]) == 0;
    fn(ctx, job[0].lo, job[0].hi);
    for (int i = 1; i < t; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else fn(ctx, job[i].lo, job[i].hi); /* could not start a thread: do it here */
    }
}

/* OpenBLAS' thread count is one setting of the whole process: calls running
 * at once share one hold, and the count from before the first is restored
 * when the last ends (two calls saving and restoring it each could leave it
 * at 1 for good). */
static pthread_mutex_t g_hold_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_holders, g_saved_blas_threads;

int cc_blas_threads_hold(void)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    pthread_mutex_lock(&g_hold_lock);
    if (g_holders++ == 0) {
        g_saved_blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&g_hold_lock);
    return 1;
#else
    return 0;
#endif
}

void cc_blas_threads_restore(int held)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    if (!held) return;
    pthread_mutex_lock(&g_hold_lock);
    if (--g_holders == 0) openblas_set_num_threads(g_saved_blas_threads);
    pthread_mutex_unlock(&g_hold_lock);
#else
    (void)held;
#endif
}

cc_par_call cc_par_call_begin(int threads)
{
    cc_par_call c = {t_call_threads, 0};
    if (threads <= 0) return c;
    t_call_threads = threads < CC_PAR_MAX ? threads : CC_PAR_MAX;
    if (threads == 1) c.held = cc_blas_threads_hold();
    return c;
}

void cc_par_call_end(const cc_par_call *c)
{
    cc_blas_threads_restore(c->held);
    t_call_threads = c->outer;
}
