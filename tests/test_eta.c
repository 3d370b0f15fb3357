/* test_eta.c — the progress line's time left (src/cli/eta.h) on
 * deterministic report sequences: a slow start does not inflate it (the
 * cumulative average said 0:45 at 8% of a 14 s run), a change of pace shows
 * within seconds, and there is no estimate before a rate is measured. */
#include <check.h>
#include <math.h>

#include "eta.h"
#include "testutil.h"

/* A 100-step run: 3 s of set-up before step 1, then one step every 0.11 s (14 s in all). */
static double slow_start(long done) { return 3.0 + 0.11 * (double)(done - 1); }

START_TEST(a_slow_start_does_not_inflate_the_estimate)
{
    cli_eta e;
    cli_eta_reset(&e);
    ck_assert(cli_eta_left(&e, 100) < 0); /* nothing reported */
    for (long done = 1; done <= 8; done++) cli_eta_update(&e, slow_start(done), done);
    /* at 8%: the true time left is 92 x 0.11 = 10.1 s; the cumulative average said 44.6 s */
    double truth = 92 * 0.11, left = cli_eta_left(&e, 100);
    ck_assert_msg(fabs(left - truth) < 0.15 * truth, "ETA %.1f s at 8%%, truly %.1f s", left, truth);
    for (long done = 9; done <= 90; done++) {
        cli_eta_update(&e, slow_start(done), done);
        truth = (double)(100 - done) * 0.11, left = cli_eta_left(&e, 100);
        ck_assert_msg(fabs(left - truth) < 0.15 * truth + 0.5, "ETA %.1f s at %ld%%, truly %.1f s", left, done, truth);
    }
}
END_TEST

START_TEST(a_change_of_pace_shows_within_seconds)
{
    cli_eta e;
    cli_eta_reset(&e);
    double t = 0;
    long done = 0;
    for (; done < 50; done++, t += 0.1) cli_eta_update(&e, t, done); /* 10 steps a second */
    ck_assert(fabs(cli_eta_left(&e, 1000) - 95.0) < 5.0);
    for (int k = 0; k < 40; k++, done++, t += 0.25) cli_eta_update(&e, t, done); /* then 4 a second, for 10 s */
    double truth = (double)(1000 - done) / 4, left = cli_eta_left(&e, 1000);
    ck_assert_msg(fabs(left - truth) < 0.15 * truth, "ETA %.1f s after slowing down, truly %.1f s", left, truth);
    /* reports faster than the window: still one rate, not noise */
    cli_eta_reset(&e);
    for (done = 0; done < 1000; done++) cli_eta_update(&e, 1e-3 * (double)done, done);
    ck_assert(fabs(cli_eta_left(&e, 2000) - 1001 * 1e-3) < 2e-2);
}
END_TEST

START_TEST(no_estimate_before_a_rate)
{
    cli_eta e;
    cli_eta_reset(&e);
    cli_eta_update(&e, 5.0, 3); /* the first report only starts the clock */
    ck_assert(cli_eta_left(&e, 10) < 0);
    cli_eta_update(&e, 5.1, 4); /* shorter than a window */
    ck_assert(cli_eta_left(&e, 10) < 0);
    cli_eta_update(&e, 6.0, 6);
    ck_assert(fabs(cli_eta_left(&e, 10) - 4 * 1.0 / 3) < 1e-9);
    ck_assert(cli_eta_left(&e, 6) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eta");
    TCase *tc = tcase_create("eta");
    tcase_add_test(tc, a_slow_start_does_not_inflate_the_estimate);
    tcase_add_test(tc, a_change_of_pace_shows_within_seconds);
    tcase_add_test(tc, no_estimate_before_a_rate);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
