/* circuitc/cleanup.h — temporary files and child processes to clean up when
 * the process is killed by SIGINT, SIGTERM or SIGHUP.
 *
 * Writers register each temporary path while it exists; the CLI installs the
 * handlers once (cc_cleanup_install). On one of those signals the handler
 * stops the registered child (SIGTERM, then waits for it), removes every
 * registered file, then every registered directory (which must be empty by
 * then), restores the default action and re-raises the signal, so the exit
 * status still says "killed by SIGINT/SIGTERM". Without cc_cleanup_install
 * the registry is inert: the library never installs signal handlers itself.
 *
 * Registration blocks those signals while it updates the table, so the handler
 * never sees a half-written entry. The handler runs on the thread that called
 * cc_cleanup_install: a signal another thread receives is passed on to that
 * one, so create and register files, block and unblock, on that thread. At most CC_CLEANUP_SLOTS paths at a time;
 * a path beyond that (or longer than PATH_MAX) is not registered and is left
 * behind by a signal, as before. */
#ifndef CIRCUITC_CLEANUP_H
#define CIRCUITC_CLEANUP_H

#include <signal.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CLEANUP_SLOTS 64

/* Installs the handlers for SIGINT, SIGTERM and SIGHUP, run on the calling thread. */
void cc_cleanup_install(void);

/* Registers PATH (a file, or a directory removed after the files) / forgets it. */
void cc_cleanup_add(const char *path);
void cc_cleanup_forget(const char *path);

/* The child to stop before cleaning up (SIGTERM to it and, when it leads its
 * own process group like gnuplot, to the group; then reaped); 0 for none. */
void cc_cleanup_set_child(pid_t pid);

#if defined(_POSIX_C_SOURCE) /* sigset_t is POSIX, not ISO C */
/* Blocks SIGINT, SIGTERM and SIGHUP (the old mask into *OLD) / restores *OLD.
 * A temporary file is created and registered between the two, or a child
 * spawned (with *OLD as its signal mask) and registered with
 * cc_cleanup_set_child: a signal arriving meanwhile is handled only once the
 * file or child is known, so it is still removed or stopped. */
void cc_cleanup_block(sigset_t *old);
void cc_cleanup_unblock(const sigset_t *old);
#endif

#ifdef __cplusplus
}
#endif

#endif
