/* cleanup.c — signal-time removal of temporary files (include/circuitc/cleanup.h).
 * The handler uses only async-signal-safe calls (pthread_self, pthread_kill,
 * kill, waitpid, unlink, rmdir, sigaction, raise) on a fixed table. */
#include "circuitc/cleanup.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_HANDLED = sizeof handled_signals / sizeof handled_signals[0] };

static char paths[CC_CLEANUP_SLOTS][PATH_MAX];
static volatile sig_atomic_t used[CC_CLEANUP_SLOTS];
static volatile pid_t child;
static pthread_t owner; /* the thread that installed the handlers */

static void remove_registered(void)
{
    /* files first, then the (now empty) directories: unlink fails with EISDIR on those */
    for (int i = 0; i < CC_CLEANUP_SLOTS; i++)
        if (used[i]) unlink(paths[i]);
    for (int i = 0; i < CC_CLEANUP_SLOTS; i++)
        if (used[i]) rmdir(paths[i]);
}

static void on_signal(int sig)
{
    int saved = errno;
    /* A signal sent to the process goes to any thread that does not block it:
     * while the owner blocks it (creating and registering a file), a BLAS or
     * worker thread would take it and clean up without that file. Passed to
     * the owner, it waits until the owner unblocks. */
    if (!pthread_equal(pthread_self(), owner)) {
        pthread_kill(owner, sig);
        errno = saved;
        return;
    }
    pid_t c = child;
    if (c > 0) {
        kill(c, SIGTERM); /* not SIGKILL: a circuitc child (report's steps) then cleans up its own files */
        kill(-c, SIGTERM); /* a child leading its own process group (gnuplot): its children too */
        while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {}
    }
    remove_registered();
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    errno = saved;
    raise(sig); /* delivered when the handler returns: the process dies of SIG */
}

void cc_cleanup_install(void)
{
    owner = pthread_self();
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < N_HANDLED; i++) sigaddset(&sa.sa_mask, handled_signals[i]);
    for (int i = 0; i < N_HANDLED; i++) {
        struct sigaction old;
        /* a signal ignored by the parent (nohup, background jobs) stays ignored */
        if (sigaction(handled_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(handled_signals[i], &sa, NULL);
    }
}

void cc_cleanup_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < N_HANDLED; i++) sigaddset(&set, handled_signals[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

void cc_cleanup_unblock(const sigset_t *old) { sigprocmask(SIG_SETMASK, old, NULL); }

/* The slot holding PATH, or -1. */
static int slot_of(const char *path)
{
    for (int i = 0; i < CC_CLEANUP_SLOTS; i++)
        if (used[i] && strcmp(paths[i], path) == 0) return i;
    return -1;
}

void cc_cleanup_add(const char *path)
{
    if (!path || strlen(path) >= PATH_MAX) return;
    sigset_t old;
    cc_cleanup_block(&old);
    for (int i = 0; slot_of(path) < 0 && i < CC_CLEANUP_SLOTS; i++)
        if (!used[i]) {
            strcpy(paths[i], path);
            used[i] = 1;
        }
    cc_cleanup_unblock(&old);
}

void cc_cleanup_forget(const char *path)
{
    if (!path) return;
    sigset_t old;
    cc_cleanup_block(&old);
    int i = slot_of(path);
    if (i >= 0) used[i] = 0;
    cc_cleanup_unblock(&old);
}

void cc_cleanup_set_child(pid_t pid) { child = pid; }
