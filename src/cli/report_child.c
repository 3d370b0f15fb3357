/* report_child.c — runs one `report` step as a circuitc child with its stdout
 * and stderr read into memory through pipes (report.h). Nothing of the step's
 * own goes to disk until it has succeeded, so a full disk cannot swallow its
 * error message and a failed step leaves no file under its final name. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "circuitc/cleanup.h"
#include "report.h"

extern char **environ;

enum { ERR_KEEP = 16384 }; /* the end of stderr kept: the error message is its last line */

/* Appends K bytes of BUF to *TEXT (length *LEN); KEEP > 0 keeps only the last KEEP bytes. */
static int append(char **text, size_t *len, const char *buf, size_t k, size_t keep)
{
    char *t = realloc(*text, *len + k + 1);
    if (!t) return -1;
    memcpy(t + *len, buf, k);
    *len += k;
    if (keep && *len > keep) {
        memmove(t, t + *len - keep, keep);
        *len = keep;
    }
    t[*len] = '\0';
    *text = t;
    return 0;
}

/* Reads the pipes FDS[0] (stdout) and FDS[1] (stderr) until both are closed. */
static int drain(int fds[2], child_output *c)
{
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    char buf[65536];
    int rc = 0;
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            for (int i = 0; i < 2; i++)
                if (p[i].fd >= 0) close(p[i].fd);
            return -1;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t k = read(p[i].fd, buf, sizeof buf);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
            } else if (rc == 0) {
                rc = i == 0 ? append(&c->out, &c->out_len, buf, (size_t)k, 0)
                            : append(&c->err, &c->err_len, buf, (size_t)k, ERR_KEEP);
            }
        }
    }
    return rc;
}

int report_child_run(const char *self, char *const argv[], child_output *c, cc_error *err)
{
    *c = (child_output){0};
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        int e = errno;
        if (out[0] >= 0) close(out[0]), close(out[1]);
        return cc_fail(err, "cannot run %s: %s", self, strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t mask;
    cc_cleanup_block(&mask); /* a signal to report stops the step too, once it is known */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setsigmask(&attr, &mask);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, &attr, argv, environ);
    if (rc == 0) cc_cleanup_set_child(pid);
    cc_cleanup_unblock(&mask);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]), close(errp[1]);
    if (rc != 0) {
        close(out[0]), close(errp[0]);
        return cc_fail(err, "cannot run %s: %s", self, strerror(rc));
    }
    int fds[2] = {out[0], errp[0]};
    rc = drain(fds, c);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR) {}
    cc_cleanup_set_child(0);
    if (rc != 0) {
        child_output_free(c);
        return cc_fail(err, "cannot read the output of %s (out of memory, or poll failed)", self);
    }
    return 0;
}

void child_output_free(child_output *c)
{
    free(c->out), free(c->err);
    *c = (child_output){0};
}
