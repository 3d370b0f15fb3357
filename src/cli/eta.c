/* eta.c — time left from a smoothed rate (eta.h). */
#include "eta.h"

#include <math.h>

void cli_eta_reset(cli_eta *e) { *e = (cli_eta){0}; }

void cli_eta_update(cli_eta *e, double t, long done)
{
    e->done = done;
    if (!e->started) {
        e->started = true, e->t0 = t, e->done0 = done;
        return;
    }
    double dt = t - e->t0;
    if (dt < ETA_WINDOW || done <= e->done0) return;
    double r = (double)(done - e->done0) / dt;
    /* the weight of a window grows with its length: a longer window says more */
    e->rate = e->rate > 0 ? e->rate + (1.0 - exp(-dt / ETA_TAU)) * (r - e->rate) : r;
    e->t0 = t, e->done0 = done;
}

double cli_eta_left(const cli_eta *e, long total)
{
    if (e->rate <= 0) return -1;
    return total > e->done ? (double)(total - e->done) / e->rate : 0;
}
