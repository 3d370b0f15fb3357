/* eta.h — the time left of a progress phase, from a smoothed rate: the rate
 * is measured from the phase's first report on (the time before it is
 * set-up, not progress), over windows of at least ETA_WINDOW seconds, and
 * smoothed exponentially with time constant ETA_TAU, so a slow start does
 * not inflate the estimate for the rest of the run and a change of pace
 * shows within a few seconds. Pure arithmetic (no clock): tests/test_eta.c. */
#ifndef CIRCUITC_CLI_ETA_H
#define CIRCUITC_CLI_ETA_H

#include <stdbool.h>

#define ETA_WINDOW 0.2 /* seconds */
#define ETA_TAU 3.0    /* seconds */

typedef struct {
    bool started;      /* a first report was seen */
    double t0;         /* start of the current window */
    long done0;        /* done at t0 */
    double rate;       /* smoothed steps per second; 0: none yet */
    long done;         /* the last report */
} cli_eta;

/* A new phase: no rate yet. */
void cli_eta_reset(cli_eta *e);

/* Reports DONE steps at time T (seconds, any origin, non-decreasing). */
void cli_eta_update(cli_eta *e, double t, long done);

/* Seconds left until TOTAL steps, or -1 while there is no rate yet. */
double cli_eta_left(const cli_eta *e, long total);

#endif
