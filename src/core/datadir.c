/* datadir.c — finding circuitc's data directory at run time (include/circuitc/datadir.h). */
#include "circuitc/datadir.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/args.h"

/* The data directory relative to the executable's directory, from meson's
 * bindir and datadir options (meson.build); absolute when either is outside
 * the prefix. */
#ifndef CC_DATA_FROM_BINDIR
#define CC_DATA_FROM_BINDIR "../share/circuitc"
#endif

#define DATA_HINT "set CIRCUITC_DATA to the folder holding circuits/, plots/ and models/ (installed as <datadir>/circuitc)"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int oom(cc_error *err) { return cc_fail_code(err, CC_E_NOMEM, "out of memory"); }

/* Where the data is installed: CC_DATA_FROM_BINDIR from the executable's
 * folder, or as it is when absolute. */
static int installed_data_dir(char **out, cc_error *err)
{
    if (CC_DATA_FROM_BINDIR[0] == '/') return (*out = strdup(CC_DATA_FROM_BINDIR)) ? 0 : oom(err);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return cc_fail_code(err, CC_E_IO, "cannot find circuitc's data: /proc/self/exe: %s; " DATA_HINT, strerror(errno));
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0'; /* the link is an absolute path */
    if (asprintf(out, "%s/%s", exe, CC_DATA_FROM_BINDIR) < 0) {
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
    if (installed_data_dir(&dir, err) != 0) return -1;
    char *resolved = realpath(dir, NULL);
    if (!resolved || !is_dir(resolved)) {
        int rc = cc_fail_code(err, CC_E_IO, "circuitc's data folder %s not found; " DATA_HINT, dir);
        free(dir), free(resolved);
        return rc;
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
                data_env && *data_env ? "CIRCUITC_DATA" : "found beside the executable", name,
                data_env && *data_env ? "check CIRCUITC_DATA" : "reinstall circuitc, or " DATA_HINT,
                env_var ? ", or set " : "", env_var ? env_var : "");
        free(dir), free(path);
        return -1;
    }
    free(dir);
    *out = path;
    return 0;
}
