/* datadir.c — finding circuitc's data directory at run time (include/circuitc/datadir.h). */
#include "circuitc/datadir.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/args.h"

/* Where the data is installed, from meson's libdir, bindir, datadir and
 * prefix options (meson.build): relative to the folder of libcircuitc.so, or
 * of a program linked with libcircuitc.a; absolute when a folder is outside
 * the prefix; and the installed prefix's own, for when neither is found. */
#ifndef CC_DATA_FROM_BINDIR
#define CC_DATA_FROM_BINDIR "../share/circuitc"
#endif
#ifndef CC_DATA_FROM_LIBDIR
#define CC_DATA_FROM_LIBDIR "../share/circuitc"
#endif
#ifndef CC_DATA_INSTALLED
#define CC_DATA_INSTALLED "/usr/local/share/circuitc"
#endif

#define DATA_HINT "set CIRCUITC_DATA to the folder holding circuits/, plots/ and models/ (installed as <datadir>/circuitc)"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int oom(cc_error *err) { return cc_fail_code(err, CC_E_NOMEM, "out of memory"); }

/* The data folder beside the file this code was loaded from: libcircuitc.so
 * (CC_DATA_FROM_LIBDIR from its folder), else the program it is linked into
 * (CC_DATA_FROM_BINDIR from the executable's folder). Not the calling
 * program's folder when the library is shared: a Python process or any
 * program of one's own is not installed beside circuitc's data. */
static int data_beside_code(char **out, cc_error *err)
{
    char file[PATH_MAX];
    const char *rel = CC_DATA_FROM_BINDIR;
    Dl_info info;
    if (dladdr((void *)cc_data_dir, &info) && info.dli_fname && strstr(info.dli_fname, "libcircuitc.so") &&
        realpath(info.dli_fname, file)) {
        rel = CC_DATA_FROM_LIBDIR;
    } else {
        ssize_t n = readlink("/proc/self/exe", file, sizeof file - 1);
        if (n <= 0)
            return cc_fail_code(err, CC_E_IO, "cannot find circuitc's data: /proc/self/exe: %s; " DATA_HINT,
                                strerror(errno));
        file[n] = '\0';
    }
    if (rel[0] == '/') return (*out = strdup(rel)) ? 0 : oom(err);
    *strrchr(file, '/') = '\0'; /* both are absolute paths */
    if (asprintf(out, "%s/%s", file, rel) < 0) {
        *out = NULL;
        return oom(err);
    }
    return 0;
}

int cc_data_dir(char **out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    const char *env = getenv("CIRCUITC_DATA");
    if (env && *env) {
        if (!is_dir(env))
            return cc_fail_code(err, CC_E_IO, "CIRCUITC_DATA=%s is not a directory; point it at the folder holding circuits/, "
                                "plots/ and models/ (installed as <datadir>/circuitc), or unset it",
                           env);
        return (*out = strdup(env)) ? 0 : oom(err);
    }
    char *dir = NULL;
    if (data_beside_code(&dir, err) != 0) return -1;
    char *resolved = realpath(dir, NULL);
    if (!resolved || !is_dir(resolved)) {
        free(resolved);
        if (!is_dir(CC_DATA_INSTALLED) || !(resolved = realpath(CC_DATA_INSTALLED, NULL))) {
            int rc = cc_fail_code(err, CC_E_IO, "circuitc's data folder not found at %s nor at %s; " DATA_HINT, dir,
                                  CC_DATA_INSTALLED);
            free(dir);
            return rc;
        }
    }
    free(dir);
    *out = resolved;
    return 0;
}

int cc_data_find(const char *env_var, const char *name, char **out, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = NULL;
    const char *env = env_var ? getenv(env_var) : NULL;
    if (env && *env) return (*out = strdup(env)) ? 0 : oom(err);
    char *dir = NULL;
    if (cc_data_dir(&dir, err) != 0) return -1;
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        free(dir);
        return oom(err);
    }
    if (access(path, F_OK) != 0) {
        int e = errno;
        const char *data_env = getenv("CIRCUITC_DATA");
        cc_fail_code(err, CC_E_IO, "%s: %s; circuitc's data folder %s (%s) has no %s: %s%s%s", path, strerror(e), dir,
                data_env && *data_env ? "CIRCUITC_DATA" : "found beside libcircuitc", name,
                data_env && *data_env ? "check CIRCUITC_DATA" : "reinstall circuitc, or " DATA_HINT,
                env_var ? ", or set " : "", env_var ? env_var : "");
        free(dir), free(path);
        return -1;
    }
    free(dir);
    *out = path;
    return 0;
}
