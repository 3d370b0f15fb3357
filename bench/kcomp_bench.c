/* kcomp_bench.c — K-composition top-1 accuracy on GPT-2-small-shaped circuits
 * (V = 50257, d_head = 64), circuitc against TransformerLens on the same
 * machine in one run:
 *   (a) random: the kcomp L4H11 -> L5H5 circuit of the seeded random model;
 *   (b) planted: Q from (a), K = Q + sigma * noise, sigma chosen so that top-1
 *       lies between 0.2 and 0.9 (the fast path must prove many rows). Q's
 *       spectrum is flat, which defeats the tail bounds: the worst case;
 *   (c) planted-decay: the same with column c of Q and of the noise scaled by
 *       exp(-c/16), a decaying spectrum the fast path can exploit.
 * For each: wall time and peak memory beyond the two factors of circuitc's fast
 * and brute-force paths and of TransformerLens' batched row-argmax (FactoredMatrix
 * rows in batches of 1000, as the usual exercise does); the ratios; the brute
 * force's GFLOP/s against OpenBLAS sgemm measured here at its tile shape and at
 * TransformerLens' batch shape. Counts must agree across all three.
 *
 * Usage: build/bench/kcomp_bench [--model DIR] [--python PY] [--sigma S] [--sigma-decay S] [--components C]
 *                                [--skip-tl]
 * (default model: a seeded gpt2-small synth in $TMPDIR, written if missing). */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "circuitc/circuit.h"
#include "circuitc/rng.h"
#include "circuitc/synth.h"
#include "circuitc/topk.h"

typedef struct {
    long top1;
    double seconds, extra_mib;
    long exact_evals, rows_full;
    int components;
    int method;
} run_result;

/* Runs the top-1 computation in a child process so its peak memory is its own. */
static int g_components; /* --components, 0 = automatic */

static run_result measure(const cc_fm *fm, cc_topk_method method)
{
    int fd[2];
    run_result r = {.top1 = -1};
    if (pipe(fd) != 0) return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        bench_reset_peak();
        long base = bench_status_kib("VmRSS");
        cc_topk_options o = {.k_max = 1, .method = method, .components = g_components};
        cc_topk_result res;
        cc_error err;
        double t0 = bench_now();
        int rc = cc_topk_diagonal(fm, &o, &res, &err);
        run_result out = {.top1 = rc == 0 ? res.correct[0] : -1, .seconds = bench_now() - t0,
                          .extra_mib = (double)(bench_status_kib("VmHWM") - base) / 1024.0,
                          .exact_evals = res.exact_evaluations, .rows_full = res.rows_scanned_fully,
                          .components = res.components, .method = res.method};
        if (rc != 0) fprintf(stderr, "%s\n", err.msg);
        if (write(fd[1], &out, sizeof out) != (ssize_t)sizeof out) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) r.top1 = -1;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return r;
}

/* sgemm GFLOP/s: T threads each running single-threaded M x N x K products
 * (the brute-force path's configuration), or OpenBLAS' own threads when T = 0. */
typedef struct {
    int M, N, K, reps;
} gemm_args;

static void *gemm_loop(void *p)
{
    gemm_args *g = p;
    float *A = calloc((size_t)g->M * g->K, 4), *B = calloc((size_t)g->K * g->N, 4), *C = malloc((size_t)g->M * g->N * 4);
    for (size_t i = 0; i < (size_t)g->M * g->K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)g->K * g->N; i++) B[i] = (float)(i % 5) * 0.1f;
    for (int r = 0; r < g->reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->M, g->N, g->K, 1, A, g->K, B, g->N, 0, C, g->N);
    free(A), free(B), free(C);
    return NULL;
}

static double sgemm_gflops(int M, int N, int K, int threads, int reps)
{
    gemm_args g = {M, N, K, 1};
    gemm_loop(&g); /* warm-up */
    g.reps = reps;
    double t0 = bench_now();
    if (threads == 0) {
        gemm_loop(&g);
        threads = 1;
    } else {
#ifdef CC_HAVE_OPENBLAS_THREADS
        int saved = openblas_get_num_threads();
        openblas_set_num_threads(1);
#endif
        pthread_t tid[16];
        for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, gemm_loop, &g);
        for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
#ifdef CC_HAVE_OPENBLAS_THREADS
        openblas_set_num_threads(saved);
#endif
    }
    return 2.0 * M * N * K * reps * threads / (bench_now() - t0) / 1e9;
}

static int write_factors(const char *path, const char *const *names, const cc_fm *fms, int n)
{
    cc_st_entry e[8];
    char keys[8][64];
    float *bufs[8];
    for (int i = 0; i < n; i++) {
        int V = fms[i].l, m = fms[i].m;
        snprintf(keys[2 * i], 64, "%s.Q", names[i]);
        snprintf(keys[2 * i + 1], 64, "%s.K", names[i]);
        e[2 * i] = (cc_st_entry){.name = keys[2 * i], .dtype = CC_DT_F32, .ndim = 2, .shape = {(uint64_t)V, (uint64_t)m}};
        e[2 * i + 1] = e[2 * i];
        e[2 * i + 1].name = keys[2 * i + 1];
        bufs[2 * i] = fms[i].A;
        bufs[2 * i + 1] = malloc((size_t)V * m * 4); /* K = B^T */
        for (int c = 0; c < m; c++)
            for (int j = 0; j < V; j++) bufs[2 * i + 1][(size_t)j * m + c] = fms[i].B[(size_t)c * V + j];
    }
    cc_st_writer *w;
    cc_error err;
    int rc = cc_st_writer_open(path, e, (size_t)(2 * n), NULL, 0, &w, &err);
    for (int i = 0; rc == 0 && i < 2 * n; i++)
        rc = cc_st_writer_put(w, bufs[i], (size_t)fms[i / 2].l * fms[i / 2].m * 4, &err);
    if (rc == 0) rc = cc_st_writer_finish(w, &err);
    else if (w) cc_st_writer_abort(w);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    for (int i = 0; i < n; i++) free(bufs[2 * i + 1]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *python = "golden/.venv/bin/python";
    double sigma = 1.5, sigma_decay = 0.3;
    bool skip_tl = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) python = argv[++i];
        else if (strcmp(argv[i], "--sigma") == 0 && i + 1 < argc) sigma = atof(argv[++i]);
        else if (strcmp(argv[i], "--sigma-decay") == 0 && i + 1 < argc) sigma_decay = atof(argv[++i]);
        else if (strcmp(argv[i], "--skip-tl") == 0) skip_tl = true;
        else if (strcmp(argv[i], "--components") == 0 && i + 1 < argc) g_components = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model DIR] [--python PY] [--sigma S] [--sigma-decay S] [--components C] [--skip-tl]\n", argv[0]);
            return 2;
        }
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[2048], factors[4096];
    cc_error err;
    if (!model) {
        if (bench_default_model(dir, sizeof dir) != 0) return 1;
        model = dir;
    }
    cc_model *m;
    cc_circuit *circ;
    if (cc_model_load(model, NULL, true, &m, &err) != 0 || cc_circuit_open("kcomp", &circ, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const char *pnames[2] = {"prev", "ind"};
    cc_head heads[2] = {{4, 11}, {5, 5}};
    cc_fm fms[3];
    if (cc_circuit_compile(circ, m, pnames, heads, 2, &fms[0], NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    cc_circuit_free(circ);
    cc_model_free(m);
    /* planted: K = Q + sigma * rms(Q) * N(0, 1) */
    int V = fms[0].l, dh = fms[0].m;
    double ss = 0;
    for (size_t i = 0; i < (size_t)V * dh; i++) ss += (double)fms[0].A[i] * fms[0].A[i];
    double rms = sqrt(ss / ((double)V * dh));
    float *Q = malloc((size_t)V * dh * 4), *KT = malloc((size_t)dh * V * 4);
    memcpy(Q, fms[0].A, (size_t)V * dh * 4);
    cc_rng rng;
    cc_rng_seed(&rng, 2026);
    for (int j = 0; j < V; j++)
        for (int c = 0; c < dh; c++)
            KT[(size_t)c * V + j] = (float)(Q[(size_t)j * dh + c] + sigma * rms * cc_rng_normal(&rng));
    cc_fm_wrap(Q, KT, V, dh, V, &fms[1]);
    /* planted-decay: column c of Q and of the noise scaled by exp(-c/16) */
    float *Qd = malloc((size_t)V * dh * 4), *KTd = malloc((size_t)dh * V * 4);
    for (int j = 0; j < V; j++)
        for (int c = 0; c < dh; c++) {
            double w = exp(-c / 16.0);
            Qd[(size_t)j * dh + c] = (float)(fms[0].A[(size_t)j * dh + c] * w);
            KTd[(size_t)c * V + j] = (float)(Qd[(size_t)j * dh + c] + sigma_decay * rms * w * cc_rng_normal(&rng));
        }
    cc_fm_wrap(Qd, KTd, V, dh, V, &fms[2]);

    enum { NC = 3 };
    const char *names[NC] = {"random", "planted", "planted-decay"};
    printf("circuitc kcomp benchmark: V = %d, d_head = %d, model %s, planted sigma %.3g, planted-decay sigma %.3g\n",
           V, dh, model, sigma, sigma_decay);
    run_result fast[NC], brute[NC];
    for (int i = 0; i < NC; i++) {
        fast[i] = measure(&fms[i], CC_TOPK_FAST);
        brute[i] = measure(&fms[i], CC_TOPK_BRUTE);
    }
    double flops = 2.0 * V * (double)V * dh;
    double g_tile = sgemm_gflops(128, 1024, dh, (int)sysconf(_SC_NPROCESSORS_ONLN), 4000);
    double g_batch = sgemm_gflops(1000, V, dh, 0, 10);

    json_t *tl = NULL;
    if (!skip_tl) {
        snprintf(factors, sizeof factors, "%s/circuitc-bench-factors.safetensors", tmp);
        if (write_factors(factors, names, fms, NC) != 0) return 1;
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s bench/kcomp_tl.py %s random planted planted-decay", python, factors);
        FILE *p = popen(cmd, "r");
        json_error_t jerr;
        tl = p ? json_loadf(p, 0, &jerr) : NULL;
        if (p) pclose(p);
        unlink(factors);
        if (!tl) fprintf(stderr, "TransformerLens side failed (is golden/.venv set up? golden/setup-venv)\n");
    }
    printf("\n%-13s %-22s %9s %10s %14s %s\n", "circuit", "implementation", "top-1", "seconds", "extra peak MiB",
           "notes");
    int bad = 0;
    for (int i = 0; i < NC; i++) {
        json_t *t = tl ? json_object_get(json_object_get(tl, "circuits"), names[i]) : NULL;
        double tls = t ? json_real_value(json_object_get(t, "seconds")) : NAN;
        printf("%-13s %-22s %9ld %10.3f %14.1f %s %d components, %ld exact evaluations, %ld full rows\n", names[i],
               "circuitc fast", fast[i].top1, fast[i].seconds, fast[i].extra_mib,
               fast[i].method == CC_TOPK_FAST ? "fast path," : "fell back to brute force,", fast[i].components,
               fast[i].exact_evals, fast[i].rows_full);
        printf("%-13s %-22s %9ld %10.3f %14.1f %.1f GFLOP/s\n", names[i], "circuitc brute-force", brute[i].top1,
               brute[i].seconds, brute[i].extra_mib, flops / brute[i].seconds / 1e9);
        if (t)
            printf("%-13s %-22s %9lld %10.3f %14.1f speed-up: fast %.1fx, brute-force %.1fx\n", names[i],
                   "TransformerLens", (long long)json_integer_value(json_object_get(t, "top1")), tls,
                   json_real_value(json_object_get(t, "extra_peak_mib")), tls / fast[i].seconds,
                   tls / brute[i].seconds);
        printf("%-13s top-1 accuracy %.4f\n", names[i], (double)fast[i].top1 / V);
        bad |= fast[i].top1 != brute[i].top1 || (t && json_integer_value(json_object_get(t, "top1")) != fast[i].top1);
    }
    printf("\nsgemm here: %.1f GFLOP/s at the brute-force tile shape (128 x 1024 x %d, one per core),\n"
           "            %.1f GFLOP/s at TransformerLens' batch shape (1000 x %d x %d, OpenBLAS threads)\n"
           "brute force: random %.0f%% / planted %.0f%% of the tile-shape sgemm rate\n",
           g_tile, dh, g_batch, V, dh, 100 * flops / brute[0].seconds / 1e9 / g_tile,
           100 * flops / brute[1].seconds / 1e9 / g_tile);
    if (bad) printf("\nERROR: top-1 counts differ between implementations\n");
    json_decref(tl);
    for (int i = 0; i < NC; i++) cc_fm_free(&fms[i]);
    return bad;
}
