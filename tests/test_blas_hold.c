/* test_blas_hold.c — OpenBLAS' thread count, one setting of the process, is
 * held at 1 while any call splits its own loops and comes back when the last
 * such call ends, however the holds of calls on different threads interleave
 * (src/core/parallel.h). */
#include <cblas.h>

#include "core/parallel.h"
#include "testutil.h"

START_TEST(overlapping_holds_restore_the_count_once_the_last_ends)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(2);
    int a = cc_blas_threads_hold(); /* call A starts */
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    int b = cc_blas_threads_hold(); /* call B starts on another thread */
    cc_blas_threads_restore(a);     /* A ends first: B still runs its own threads */
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    cc_blas_threads_restore(b);
    ck_assert_int_eq(openblas_get_num_threads(), 2);
#endif
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blas_hold");
    TCase *tc = tcase_create("hold");
    tcase_add_test(tc, overlapping_holds_restore_the_count_once_the_last_ends);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
