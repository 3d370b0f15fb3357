/* core/clock.h — elapsed wall time for the seconds the results report
 * (internal). */
#ifndef CIRCUITC_CORE_CLOCK_H
#define CIRCUITC_CORE_CLOCK_H

#include <time.h>

/* Seconds of CLOCK_MONOTONIC since T0 (taken with clock_gettime). */
static inline double cci_seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

#endif
