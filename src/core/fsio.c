/* fsio.c — regular-file opening and the output-path rule (include/circuitc/fsio.h). */
#include "circuitc/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/cleanup.h"
#include "core/args.h"

static const char *file_type_name(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

int cc_open_regular(const char *path, const char *what, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(what, err, -1);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cc_fail_code(err, CC_E_IO, "cannot open %s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cc_fail_code(err, CC_E_IO, "cannot open %s %s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cc_fail_code(err, CC_E_IO, "%s: is %s, not a regular file; the %s must be a regular file", path,
                       file_type_name(st.st_mode), what);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return cc_fail_code(err, CC_E_IO, "cannot open %s %s: %s", what, path, strerror(e));
    }
    return fd;
}

FILE *cc_fopen_regular(const char *path, const char *what, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, NULL);
    CC_ARG_NOT_NULL(what, err, NULL);
    int fd = cc_open_regular(path, what, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        cc_fail_code(err, CC_E_IO, "cannot open %s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

/* The descriptor PATH names when it is one of this process's own
 * (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N), else -1. Such a path
 * is written through that descriptor: following the link to what it leads to
 * would replace a file the shell redirected into (`--out /dev/stdout > f`)
 * behind the shell's back. */
static int own_descriptor(const char *path)
{
    if (strcmp(path, "/dev/stdout") == 0) return STDOUT_FILENO;
    if (strcmp(path, "/dev/stderr") == 0) return STDERR_FILENO;
    const char *num = NULL;
    if (strncmp(path, "/dev/fd/", 8) == 0) num = path + 8;
    else if (strncmp(path, "/proc/self/fd/", 14) == 0) num = path + 14;
    if (!num || *num < '0' || *num > '9' || strlen(num) > 6 || strspn(num, "0123456789") != strlen(num)) return -1;
    int fd = atoi(num);
    return fcntl(fd, F_GETFL) >= 0 ? fd : -1;
}

/* How PATH is written under the output-path rule (fsio.h): *DIRECT for a
 * character device, FIFO or descriptor of this process, else *DEST gets the regular file to replace or
 * create (PATH, or where a link PATH leads; caller frees). */
static int out_target(const char *path, bool *direct, char **dest, cc_error *err)
{
    *direct = false;
    *dest = NULL;
    if (own_descriptor(path) >= 0) {
        *direct = true;
        return 0;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) return cc_fail_code(err, CC_E_IO, "cannot write %s: %s", path, strerror(errno));
        *dest = strdup(path); /* a new file */
        return *dest ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    bool link = S_ISLNK(st.st_mode);
    if (link && stat(path, &st) != 0)
        return cc_fail_code(err, CC_E_IO, "cannot write %s: it is a symbolic link that leads nowhere (%s); remove the link or "
                            "name another file", path, strerror(errno));
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        *direct = true;
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return cc_fail_code(err, CC_E_IO, "cannot write %s: it is %s%s; name a regular file (a character device or FIFO is "
                            "written directly)", path, link ? "a symbolic link to " : "", file_type_name(st.st_mode));
    *dest = link ? realpath(path, NULL) : strdup(path);
    return *dest ? 0 : cc_fail_code(err, CC_E_IO, "cannot write %s: %s", path, strerror(errno));
}

/* The directory part of PATH ("." when none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int cc_out_check(const char *path, bool *is_direct, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    bool direct;
    char *dest, *dir = NULL;
    if (out_target(path, &direct, &dest, err) != 0) return -1;
    if (is_direct) *is_direct = direct;
    int rc = 0;
    if (!direct) { /* the temporary file goes beside DEST */
        dir = dir_of(dest);
        struct stat st;
        if (!dir) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
        else if (stat(dir, &st) != 0) rc = cc_fail_code(err, CC_E_IO, "cannot write %s: directory %s: %s", path, dir, strerror(errno));
        else if (!S_ISDIR(st.st_mode)) rc = cc_fail_code(err, CC_E_IO, "cannot write %s: %s is not a directory", path, dir);
        else if (access(dir, W_OK | X_OK) != 0)
            rc = cc_fail_code(err, CC_E_IO, "cannot write %s: directory %s: %s", path, dir, strerror(errno));
    }
    free(dest), free(dir);
    return rc;
}

/* Opens the character device or FIFO PATH for writing as it is (no truncation,
 * no creation), or a copy of the descriptor it names (own_descriptor). */
static FILE *open_direct(const char *path, cc_error *err)
{
    int own = own_descriptor(path);
    int fd = own >= 0 ? fcntl(own, F_DUPFD_CLOEXEC, 3) : open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cc_fail_code(err, CC_E_IO, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (own < 0 && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) { /* replaced since out_target looked */
        close(fd);
        cc_fail_code(err, CC_E_IO, "cannot write %s: it changed while being opened", path);
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        cc_fail_code(err, CC_E_IO, "cannot write %s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

/* Creates the temporary file DEST.tmp-XXXXXX (mode 0666 & ~umask, registered for cleanup) into O. */
static int create_beside(cc_out *o, cc_error *err)
{
    if (asprintf(&o->tmp, "%s.tmp-XXXXXX", o->dest) < 0) {
        o->tmp = NULL;
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    sigset_t mask;
    cc_cleanup_block(&mask); /* a signal must not come between creating and registering it */
    int fd = mkostemp(o->tmp, O_CLOEXEC), e = errno;
    if (fd >= 0) cc_cleanup_add(o->tmp);
    cc_cleanup_unblock(&mask);
    if (fd < 0) {
        free(o->tmp);
        o->tmp = NULL;
        return cc_fail_code(err, CC_E_IO, "cannot write %s: %s", o->path, strerror(e));
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um); /* mkstemp makes 0600; the result is an ordinary output file */
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        return cc_fail_code(err, CC_E_IO, "cannot write %s: %s", o->path, strerror(e));
    }
    return 0;
}

int cc_out_open(const char *path, cc_out *o, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    *o = (cc_out){0};
    bool direct;
    if (!(o->path = strdup(path))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int rc = out_target(path, &direct, &o->dest, err);
    if (rc == 0 && direct && !(o->f = open_direct(path, err))) rc = -1;
    if (rc == 0 && !direct) rc = create_beside(o, err);
    if (rc != 0) cc_out_abandon(o);
    return rc;
}

/* Frees O's names (its stream already closed). */
static void out_release(cc_out *o)
{
    if (o->tmp) cc_cleanup_forget(o->tmp);
    free(o->tmp), free(o->dest), free(o->path);
    *o = (cc_out){0};
}

int cc_out_commit(cc_out *o, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(o->f, err, -1);
    int e = 0;
    if (fflush(o->f) != 0) e = errno;
    else if (ferror(o->f)) e = EIO; /* an earlier buffered write failed; its errno is gone */
    else if (o->tmp && fsync(fileno(o->f)) != 0) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno;
    if (!e && o->tmp && rename(o->tmp, o->dest) != 0) e = errno;
    if (e && o->tmp) unlink(o->tmp);
    int rc = e ? cc_fail_code(err, CC_E_IO, "cannot write %s: %s", o->path, strerror(e)) : 0;
    out_release(o);
    return rc;
}

void cc_out_abandon(cc_out *o)
{
    if (!o) return;
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    out_release(o);
}

int cc_copy_file(const char *from, const char *to, cc_error *err)
{
    CC_ARG_NOT_NULL(from, err, -1);
    CC_ARG_NOT_NULL(to, err, -1);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return cc_fail_code(err, CC_E_IO, "cannot read %s: %s", from, strerror(errno));
    cc_out o;
    int rc = cc_out_open(to, &o, err);
    char buf[65536];
    ssize_t k;
    while (rc == 0 && (k = read(in, buf, sizeof buf)) != 0) {
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = cc_fail_code(err, CC_E_IO, "cannot read %s: %s", from, strerror(errno));
        else if (fwrite(buf, 1, (size_t)k, o.f) != (size_t)k) rc = cc_fail_code(err, CC_E_IO, "cannot write %s: %s", to, strerror(errno));
    }
    close(in);
    if (rc == 0) return cc_out_commit(&o, err);
    cc_out_abandon(&o);
    return rc;
}
