/* blas_cache.c — the self-check verdicts of BLAS kernels, remembered per CPU
 * model, library build and kernel under $XDG_CACHE_HOME/circuitc (docs/blas.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/blas_kernel.h"
#include "circuitc/fsio.h"
#include "core/args.h"

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* $XDG_CACHE_HOME/circuitc, or ~/.cache/circuitc (the XDG spec ignores relative values). */
static bool cache_dir(char *out, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(out, size, "%s/circuitc", xdg);
    else if (home && home[0] == '/') n = snprintf(out, size, "%s/.cache/circuitc", home);
    else return false;
    return n > 0 && (size_t)n < size;
}

bool cc_blas_cache_entry_for(const cc_cpu_features *cpu, const cc_blas_library *lib, const char *core,
                             cc_blas_cache_entry *e)
{
    CC_ARG_NOT_NULL(cpu, NULL, false);
    CC_ARG_NOT_NULL(lib, NULL, false);
    CC_ARG_NOT_NULL(core, NULL, false);
    CC_ARG_NOT_NULL(e, NULL, false);
    char dir[768];
    if (!cache_dir(dir, sizeof dir)) return false;
    snprintf(e->key, sizeof e->key, "cpu=%s|%s|family %u model %u stepping %u; blas=%s|%s; core=%s", cpu->vendor,
             cpu->brand, cpu->family, cpu->model, cpu->stepping, lib->config, lib->library, core);
    int n = snprintf(e->path, sizeof e->path, "%s/blas-%016llx.verdict", dir, (unsigned long long)fnv1a64(e->key));
    return n > 0 && (size_t)n < sizeof e->path;
}

cc_blas_verdict cc_blas_cache_read(const cc_blas_cache_entry *e)
{
    CC_ARG_NOT_NULL(e, NULL, CC_VERDICT_UNKNOWN);
    cc_error ignored; /* an unreadable cache entry only means "not yet checked" */
    FILE *f = cc_fopen_regular(e->path, "BLAS verdict cache entry", &ignored);
    if (!f) return CC_VERDICT_UNKNOWN;
    char key[sizeof e->key + 2] = "", verdict[16] = "";
    bool read = fgets(key, sizeof key, f) && fgets(verdict, sizeof verdict, f);
    fclose(f);
    key[strcspn(key, "\n")] = '\0';
    if (!read || strcmp(key, e->key) != 0) return CC_VERDICT_UNKNOWN;
    if (strncmp(verdict, "pass", 4) == 0) return CC_VERDICT_PASS;
    if (strncmp(verdict, "fail", 4) == 0) return CC_VERDICT_FAIL;
    return CC_VERDICT_UNKNOWN;
}

/* mkdir -p for the cache folder (private to the user: 0700 as XDG asks). */
static bool make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        bool ok = mkdir(path, 0700) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok) return false;
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST;
}

void cc_blas_cache_write(const cc_blas_cache_entry *e, cc_blas_verdict v, const char *detail)
{
    if (!e || v == CC_VERDICT_UNKNOWN) return;
    char dir[sizeof e->path], tmp[sizeof e->path + 16];
    snprintf(dir, sizeof dir, "%s", e->path);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    if (!make_dirs(dir)) return;
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", e->path);
    int fd = mkstemp(tmp);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return;
    }
    fprintf(f, "%s\n%s: %s\n", e->key, v == CC_VERDICT_PASS ? "pass" : "fail", detail ? detail : "");
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    /* rename() replaces atomically: readers see the old file or the whole new one. */
    if (!ok || rename(tmp, e->path) != 0) unlink(tmp);
}
