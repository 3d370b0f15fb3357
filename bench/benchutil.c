/* benchutil.c — helpers shared by the benchmarks (benchutil.h). */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <jansson.h>

#include "circuitc/synth.h"

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

long bench_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

void bench_reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

int bench_default_model(char *dir, unsigned long size)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(dir, size, "%s/circuitc-bench-gpt2-small-seed0", tmp);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat st;
    if (stat(path, &st) == 0) return 0;
    cc_config c;
    cc_error err;
    fprintf(stderr, "writing the seeded gpt2-small model to %s\n", dir);
    if (cc_synth_preset("gpt2-small", &c, &err) != 0 || cc_synth_write(&c, 0, NULL, dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

#define TAKEN_VAR "CIRCUITC_BENCH_KERNEL_TAKEN"

static char g_origin[160] = "the library's own choice (circuitc's kernel choice not consulted)";

const char *bench_kernel_origin(void) { return g_origin; }

void bench_take_circuitc_kernel(char **argv)
{
    const char *taken = getenv(TAKEN_VAR);
    if (taken) { /* the re-executed process: OpenBLAS has read the variable */
        snprintf(g_origin, sizeof g_origin, "circuitc's choice (%s)", taken);
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv(TAKEN_VAR);
        return;
    }
    if (getenv("OPENBLAS_CORETYPE")) {
        snprintf(g_origin, sizeof g_origin, "OPENBLAS_CORETYPE set by the caller");
        return;
    }
    FILE *p = popen("build/src/circuitc info --json 2>/dev/null", "r");
    json_t *root = p ? json_loadf(p, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (p) pclose(p);
    json_t *blas = json_object_get(root, "blas");
    const char *core = json_string_value(json_object_get(blas, "core"));
    const char *by = json_string_value(json_object_get(blas, "chosen_by"));
    if (core && by) {
        snprintf(g_origin, sizeof g_origin, "circuitc's choice (%s)", by);
#ifdef CC_HAVE_OPENBLAS_CORENAME
        if (strcmp(core, openblas_get_corename()) != 0) {
            setenv("OPENBLAS_CORETYPE", core, 1);
            setenv(TAKEN_VAR, by, 1);
            fflush(NULL);
            execv("/proc/self/exe", argv);
            fprintf(stderr, "bench: could not re-execute on the %s kernel; staying on the library's\n", core);
            unsetenv("OPENBLAS_CORETYPE");
            unsetenv(TAKEN_VAR);
            snprintf(g_origin, sizeof g_origin, "the library's own choice (re-execution for circuitc's %s failed)",
                     core);
        }
#endif
    } else {
        fprintf(stderr, "bench: `build/src/circuitc info --json` gave no kernel (run from the source root after "
                        "building); staying on the library's own choice\n");
    }
    json_decref(root);
}
