/* circuitc/progress.h — how long-running library functions report progress.
 * The library only calls back; the CLI draws (src/cli/progress.c). */
#ifndef CIRCUITC_PROGRESS_H
#define CIRCUITC_PROGRESS_H

#ifdef __cplusplus
extern "C" {
#endif

/* DONE of TOTAL units finished (DONE grows within one phase; a smaller DONE
 * than before starts a new phase). Called from one thread at a time. */
typedef void (*cc_progress_fn)(void *ctx, long done, long total);

#ifdef __cplusplus
}
#endif

#endif
