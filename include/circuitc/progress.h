/* circuitc/progress.h — how long-running library functions report progress.
 * The library only calls back; the CLI draws (src/cli/progress.c). */
#ifndef CIRCUITC_PROGRESS_H
#define CIRCUITC_PROGRESS_H

#ifdef __cplusplus
extern "C" {
#endif

/* DONE of TOTAL units finished (DONE grows within one phase; a smaller DONE
 * than before starts a new phase). Called from one thread at a time, though
 * not always the caller's thread.
 *
 * Returns 0 to go on, non-zero to cancel: the call then stops at its next
 * check (within one of its reported units), frees what it made, and fails with
 * code CC_E_CANCELLED ("...: cancelled by the progress callback"). Once a
 * callback has asked to stop, it is not called again by that call. */
typedef int (*cc_progress_fn)(void *ctx, long done, long total);

#ifdef __cplusplus
}
#endif

#endif
