/* load_floor.c — what loading a model costs on this machine at the least, for
 * any program that copies the weights into its own memory (circuitc and
 * TransformerLens both do), beside what circuitc's load takes:
 *
 *   load_floor [--model DIR] [--reps 3]
 *
 * (1) fresh memory: a new anonymous mapping the size of the loaded weights,
 *     written once (each page faulted in and zeroed by the kernel) and again
 *     (the memory's own bandwidth): the first pass is what writing the weights
 *     anywhere new costs; (2) the weights file read once (from the page
 *     cache: run it twice) into a reused buffer; (3) circuitc's cc_model_load_weights
 *     and cc_process_weights, their minor page faults, and the resident memory
 *     the weights took. The floor is (1)'s first pass plus (2): what no loader
 *     that copies can go under. Best of --reps each; timings are reported,
 *     never asserted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchutil.h"
#include "circuitc/model.h"
#include "circuitc/process.h"

static long minor_faults(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
}

/* Seconds to write BYTES of fresh anonymous memory once (*FIRST) and again (*SECOND). */
static int fresh_memory(size_t bytes, double *first, double *second)
{
    double t0 = bench_now();
    unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    memset(p, 1, bytes);
    double t1 = bench_now();
    memset(p, 2, bytes);
    double t2 = bench_now();
    *first = t1 - t0, *second = t2 - t1;
    munmap(p, bytes);
    return 0;
}

/* Seconds to read PATH once from the page cache (into one reused 8 MiB
 * buffer: the copy, without fresh memory); its size into *BYTES. */
static int read_file(const char *path, size_t *bytes, double *seconds)
{
    enum { BUF = 8 << 20 };
    int fd = open(path, O_RDONLY);
    char *buf = malloc(BUF);
    if (fd < 0 || !buf) {
        if (fd >= 0) close(fd);
        free(buf);
        return -1;
    }
    memset(buf, 0, BUF);
    double t0 = bench_now();
    size_t total = 0;
    ssize_t got;
    while ((got = read(fd, buf, BUF)) > 0) total += (size_t)got;
    *seconds = bench_now() - t0;
    *bytes = total;
    close(fd);
    free(buf);
    return got < 0 ? -1 : 0;
}

typedef struct {
    double load, process;
    long load_faults;
    long weights_kib; /* resident growth over load + process */
} circuitc_load;

static int load_with_circuitc(const char *dir, circuitc_load *out)
{
    cc_model *m = NULL;
    cc_error err;
    if (cc_model_open(dir, NULL, &m, &err) != 0) {
        fprintf(stderr, "load_floor: %s\n", err.msg);
        return -1;
    }
    long rss0 = bench_status_kib("VmRSS"), f0 = minor_faults();
    double t0 = bench_now();
    int rc = cc_model_load_weights(m, &err);
    double t1 = bench_now();
    long f1 = minor_faults();
    rc = rc ? rc : cc_process_weights(m, &err);
    double t2 = bench_now();
    if (rc != 0) fprintf(stderr, "load_floor: %s\n", err.msg);
    *out = (circuitc_load){t1 - t0, t2 - t1, f1 - f0, bench_status_kib("VmRSS") - rss0};
    cc_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    char dir[4096] = "";
    int reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) snprintf(dir, sizeof dir, "%s", argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0) reps = atoi(argv[i + 1]);
    }
    if (!dir[0] && bench_default_model(dir, sizeof dir) != 0) return 1;
    if (reps < 1) reps = 1;
    cc_model *m = NULL;
    cc_error err;
    if (cc_model_open(dir, NULL, &m, &err) != 0) {
        fprintf(stderr, "load_floor: %s\n", err.msg);
        return 1;
    }
    char weights[4096];
    snprintf(weights, sizeof weights, "%s", cc_model_weights_file(m));
    cc_model_free(m);

    circuitc_load best = {1e9, 1e9, 0, 0};
    for (int r = 0; r < reps; r++) {
        circuitc_load c;
        if (load_with_circuitc(dir, &c) != 0) return 1;
        if (c.load + c.process < best.load + best.process) best = c;
    }
    size_t weights_bytes = (size_t)best.weights_kib << 10, file_bytes = 0;
    double first = 1e9, second = 1e9, reading = 1e9;
    for (int r = 0; r < reps; r++) {
        double a, b, f;
        if (fresh_memory(weights_bytes, &a, &b) != 0 || read_file(weights, &file_bytes, &f) != 0) {
            fprintf(stderr, "load_floor: could not map %zu bytes or %s\n", weights_bytes, weights);
            return 1;
        }
        first = a < first ? a : first, second = b < second ? b : second, reading = f < reading ? f : reading;
    }
    const double MiB = 1 << 20;
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("model %s (best of %d; load average %.1f %.1f %.1f)\n", dir, reps, load[0], load[1], load[2]);
    printf("  fresh memory, %.0f MiB (the loaded weights' size): first write %.3f s (%.2f GB/s, faults and zeroing), "
           "second %.3f s (%.2f GB/s)\n",
           weights_bytes / MiB, first, weights_bytes / first / 1e9, second, weights_bytes / second / 1e9);
    printf("  weights file, %.0f MiB, read once from the page cache: %.3f s (%.2f GB/s)\n", file_bytes / MiB, reading,
           file_bytes / reading / 1e9);
    printf("  floor for a loader that copies: %.3f s\n", first + reading);
    printf("  circuitc: load %.3f s (%ld minor faults), process %.3f s; %.2fx the floor\n", best.load,
           best.load_faults, best.process, (best.load + best.process) / (first + reading));
    return 0;
}
