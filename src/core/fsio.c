/* fsio.c — regular-file opening and atomic file commits (include/circuitc/fsio.h). */
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
    if (fd < 0) return cc_fail(err, "cannot open %s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cc_fail(err, "cannot open %s %s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cc_fail(err, "%s: is %s, not a regular file; the %s must be a regular file", path,
                       file_type_name(st.st_mode), what);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return cc_fail(err, "cannot open %s %s: %s", what, path, strerror(e));
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
        cc_fail(err, "cannot open %s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

FILE *cc_create_beside(const char *path, char **tmp, cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, NULL);
    CC_ARG_NOT_NULL(tmp, err, NULL);
    *tmp = NULL;
    char *name = NULL;
    if (asprintf(&name, "%s.tmp-XXXXXX", path) < 0) {
        cc_fail(err, "out of memory");
        return NULL;
    }
    int fd = mkostemp(name, O_CLOEXEC);
    if (fd < 0) {
        cc_fail(err, "cannot write %s: %s", path, strerror(errno));
        free(name);
        return NULL;
    }
    cc_cleanup_add(name);
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um); /* mkstemp makes 0600; the result is an ordinary output file */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        cc_fail(err, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(name);
        cc_cleanup_forget(name);
        free(name);
        return NULL;
    }
    *tmp = name;
    return f;
}

int cc_commit_file(FILE *f, const char *tmp, const char *path, cc_error *err)
{
    CC_ARG_NOT_NULL(f, err, -1);
    CC_ARG_NOT_NULL(tmp, err, -1);
    CC_ARG_NOT_NULL(path, err, -1);
    int e = 0;
    if (fflush(f) != 0) e = errno;
    else if (ferror(f)) e = EIO; /* an earlier buffered write failed; its errno is gone */
    else if (fsync(fileno(f)) != 0) e = errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) unlink(tmp);
    cc_cleanup_forget(tmp);
    return e ? cc_fail(err, "cannot write %s: %s", path, strerror(e)) : 0;
}

void cc_abandon_file(FILE *f, const char *tmp)
{
    if (f) fclose(f);
    unlink(tmp);
    cc_cleanup_forget(tmp);
}
