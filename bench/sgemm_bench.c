/* sgemm_bench.c — GFLOP/s of the linked BLAS's sgemm at [3030,768]x[768,3072]
 * (a forward pass's MLP projection of 30 x 101 tokens) on whatever kernel the
 * library loaded; prints that kernel. Run once per OPENBLAS_CORETYPE to
 * compare kernels (docs/blas.md). Besides wall-clock rates it prints GFLOP
 * per CPU-second of the process (all threads), which a busy shared machine
 * distorts far less. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchutil.h"
#include "circuitc/blas_kernel.h"

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    const int m = 3030, k = 768, n = 3072;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
    if (!a || !b || !c || reps < 1) {
        fprintf(stderr, "sgemm_bench: usage: sgemm_bench [REPETITIONS >= 1] (or out of memory)\n");
        return 1;
    }
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)(i % 13) / 13.0f - 0.5f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (float)(i % 7) / 7.0f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n); /* warm up */
    double best = 1e30, total = 0;
    struct timespec cpu0, cpu1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        double t = bench_now() - t0;
        total += t;
        best = t < best ? t : best;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    double cpu = (double)(cpu1.tv_sec - cpu0.tv_sec) + 1e-9 * (double)(cpu1.tv_nsec - cpu0.tv_nsec);
    cc_blas_library lib;
    cc_blas_library_query(&lib);
    double flop = 2.0 * m * n * k;
    printf("core %-12s threads %d  sgemm [%d,%d]x[%d,%d]: wall best %.1f GFLOP/s, mean %.1f GFLOP/s; "
           "%.1f GFLOP per CPU-second (%d runs)\n",
           lib.core[0] ? lib.core : "(not OpenBLAS)", lib.threads, m, k, k, n, flop / best * 1e-9,
           flop * reps / total * 1e-9, flop * reps / cpu * 1e-9, reps);
    free(a), free(b), free(c);
    return 0;
}
