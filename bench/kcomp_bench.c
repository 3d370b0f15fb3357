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
 * Then whole processes, what a user waits for: `circuitc kcomp L4H11 L5H5 --k 5`
 * (load, compile, both directions, spectrum, composition score) against
 * `kcomp_tl.py --model` (python, torch and TransformerLens start-up, load, the
 * same factors, top-5 counts of both directions from FactoredMatrix rows in
 * batches of 1000), wall time and peak RSS of each process, on the model and on
 * a planted copy of it (W_V[4,11] = W_Q[5,5] + sigma rms noise, W_O[4,11] and
 * W_K[5,5] identity blocks, so K = Q + sigma W_E noise: flat spectrum; both
 * sides without weight processing there, which would undo the plant). The
 * planted counts are checked against `--brute-force`. The kernel figures run on
 * the BLAS kernel circuitc chooses (or OPENBLAS_CORETYPE, when the environment
 * sets it); the core in use is printed.
 *
 * Usage: build/bench/kcomp_bench [--model DIR] [--python PY] [--sigma S] [--sigma-decay S] [--components C]
 *                                [--sigma-model S] [--skip-tl] [--skip-kernel] [--skip-whole]
 * (default model: a seeded gpt2-small synth in $TMPDIR, written if missing). */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "circuitc/circuit.h"
#include "circuitc/rng.h"
#include "circuitc/safetensors.h"
#include "circuitc/synth.h"
#include "circuitc/topk.h"

typedef struct {
    long top1;
    double seconds, cpu_seconds, extra_mib;
    long exact_evals, rows_full;
    int components;
    int method;
} run_result;

/* Runs the top-1 computation in a child process so its peak memory is its own. */
static int g_components; /* --components, 0 = automatic */

/* CPU seconds (user + system) of this process or of waited-for children: less
 * sensitive than wall time to how many other jobs share the machine. */
static double cpu_seconds(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static run_result measure(const cc_fm *fm, cc_topk_method method, cc_topk_screen screen)
{
    int fd[2];
    run_result r = {.top1 = -1};
    if (pipe(fd) != 0) return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        bench_reset_peak();
        long base = bench_status_kib("VmRSS");
        cc_topk_options o = {.k_max = 1, .method = method, .components = g_components, .screen = screen};
        cc_topk_result res;
        cc_error err;
        double t0 = bench_now(), c0 = cpu_seconds(RUSAGE_SELF);
        int rc = cc_topk_diagonal(fm, &o, &res, &err);
        run_result out = {.top1 = rc == 0 ? res.correct[0] : -1, .seconds = bench_now() - t0,
                          .cpu_seconds = cpu_seconds(RUSAGE_SELF) - c0,
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

/* Returns GFLOP per CPU-second (per core busy), which shared machines distort less than wall time. */
static double sgemm_gflops(int M, int N, int K, int threads, int reps)
{
    gemm_args g = {M, N, K, 1};
    gemm_loop(&g); /* warm-up */
    g.reps = reps;
    double t0 = cpu_seconds(RUSAGE_SELF);
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
    return 2.0 * M * N * K * reps * threads / (cpu_seconds(RUSAGE_SELF) - t0) / 1e9;
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

/* ---- whole processes ---------------------------------------------------------- */

typedef struct {
    double seconds, cpu_seconds, peak_mib;
    json_t *out; /* its stdout as JSON, or NULL */
} process_result;

/* Runs ARGV as a child process with stdout captured: wall time, peak RSS. */
static process_result run_process(char *const *argv)
{
    process_result r = {.seconds = NAN, .peak_mib = NAN};
    int fd[2];
    if (pipe(fd) != 0) return r;
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]), close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    /* Read everything the child prints (stopping early would break its pipe),
     * then parse the result: the last JSON object starting at a line's start. */
    FILE *f = fdopen(fd[0], "r");
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[1 << 16];
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            char *grown = realloc(text, cap = 2 * (len + n + 1));
            if (!grown) break;
            text = grown;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    if (f) fclose(f);
    if (text) {
        text[len] = '\0';
        char *start = text;
        for (char *p = text; (p = strstr(p, "\n{")); p++) start = p + 1;
        json_error_t jerr;
        r.out = json_loads(start, 0, &jerr);
        free(text);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) == pid) {
        r.seconds = bench_now() - t0;
        r.cpu_seconds = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        r.peak_mib = (double)ru.ru_maxrss / 1024.0;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s exited with status %d\n", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        json_decref(r.out);
        r.out = NULL;
    }
    return r;
}

/* Overwrites COUNT floats of tensor NAME, starting at element FIRST, in the copy FD of F's file. */
static int patch_floats(int fd, const cc_st_file *f, const char *name, size_t first, const float *x, size_t count)
{
    const cc_st_tensor *t = cc_st_find(f, name);
    if (!t || t->dtype != CC_DT_F32 || first + count > t->n_elements) {
        fprintf(stderr, "planted model: no float32 tensor %s of the needed size\n", name);
        return -1;
    }
    off_t at = (off_t)(8 + cc_st_header_len(f) + t->begin + first * sizeof(float)); /* F: one opened file */
    return pwrite(fd, x, count * sizeof(float), at) == (ssize_t)(count * sizeof(float)) ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    static char buf[1 << 20];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in) fclose(in);
    if (out && fclose(out) != 0) rc = -1;
    return rc;
}

/* A copy of MODEL in DST whose unprocessed kcomp L4H11 -> L5H5 circuit is planted:
 * W_V[4,11] = W_Q[5,5] + SIGMA rms(W_Q[5,5]) noise, W_O[4,11] = [I 0], W_K[5,5] = [I; 0]. */
static int write_planted_model(const char *model, const char *dst, double sigma)
{
    char src_w[4096], src_c[4096], dst_w[4096], dst_c[4096];
    if (strlen(model) > 2048 || strlen(dst) > 2048) return -1;
    snprintf(src_w, sizeof src_w, "%s/model.safetensors", model);
    snprintf(src_c, sizeof src_c, "%s/config.json", model);
    snprintf(dst_w, sizeof dst_w, "%s/model.safetensors", dst);
    snprintf(dst_c, sizeof dst_c, "%s/config.json", dst);
    cc_st_file *f;
    cc_error err;
    if (mkdir(dst, 0755) != 0 && errno != EEXIST) return -1;
    if (copy_file(src_w, dst_w) != 0 || copy_file(src_c, dst_c) != 0 || cc_st_open(src_w, &f, &err) != 0) return -1;
    const cc_st_tensor *attn5 = cc_st_find(f, "h.5.attn.c_attn.weight");
    int fd = open(dst_w, O_WRONLY);
    if (!attn5 || fd < 0) {
        fprintf(stderr, "planted model: %s has no h.5.attn.c_attn.weight\n", src_w);
        cc_st_close(f);
        return -1;
    }
    int d = (int)attn5->shape[0], d3 = (int)attn5->shape[1], dh = 64;
    float *c_attn5 = malloc((size_t)d * d3 * 4), *row = malloc((size_t)d * 4);
    int rc = cc_st_read_f32(f, attn5, c_attn5, &err);
    double ss = 0;
    for (int t = 0; t < d; t++)
        for (int c = 0; c < dh; c++) ss += (double)c_attn5[(size_t)t * d3 + 5 * dh + c] * c_attn5[(size_t)t * d3 + 5 * dh + c];
    double rms = sqrt(ss / ((double)d * dh));
    cc_rng rng;
    cc_rng_seed(&rng, 2027);
    float v[64], k[64];
    for (int t = 0; rc == 0 && t < d; t++) { /* c_attn columns: [Q heads | K heads | V heads], head h at h * dh */
        for (int c = 0; c < dh; c++) {
            v[c] = (float)(c_attn5[(size_t)t * d3 + 5 * dh + c] + sigma * rms * cc_rng_normal(&rng));
            k[c] = (float)(t == c);
        }
        rc = patch_floats(fd, f, "h.4.attn.c_attn.weight", (size_t)t * d3 + 2 * (size_t)d + 11 * dh, v, dh);
        if (rc == 0) rc = patch_floats(fd, f, "h.5.attn.c_attn.weight", (size_t)t * d3 + (size_t)d + 5 * dh, k, dh);
    }
    for (int r = 0; rc == 0 && r < dh; r++) { /* c_proj rows 11 dh .. 12 dh are W_O[4,11] */
        for (int c = 0; c < d; c++) row[c] = (float)(r == c);
        rc = patch_floats(fd, f, "h.4.attn.c_proj.weight", (size_t)(11 * dh + r) * d, row, d);
    }
    close(fd);
    cc_st_close(f);
    free(c_attn5), free(row);
    return rc;
}

static long count_at(const json_t *report, const char *dir, int k)
{
    return (long)json_integer_value(json_array_get(json_object_get(json_object_get(report, dir), "topk"), k - 1));
}

/* circuitc kcomp vs the TransformerLens script as whole processes on MODEL. */
static int whole_process(const char *label, const char *model, bool processing, bool brute_check, const char *python,
                         bool skip_tl)
{
    char *cc_argv[] = {"build/src/circuitc", "kcomp", "L4H11", "L5H5", "--model", (char *)model, "--k", "5", "--json",
                       processing ? NULL : "--no-processing", NULL, NULL};
    process_result c = run_process(cc_argv);
    if (!c.out) return 1;
    int bad = 0;
    printf("%-9s %-32s %8.2f s (cpu %6.2f s) %6.0f MiB  rows top-1 %ld top-5 %ld, cols top-1 %ld top-5 %ld "
           "(load %.2f s, top-k + spectrum %.2f s; near-ties rows %lld cols %lld)\n",
           label, "circuitc kcomp (process)", c.seconds, c.cpu_seconds, c.peak_mib, count_at(c.out, "rows", 1), count_at(c.out, "rows", 5),
           count_at(c.out, "cols", 1), count_at(c.out, "cols", 5),
           json_real_value(json_object_get(json_object_get(c.out, "phase_seconds"), "load")),
           json_real_value(json_object_get(json_object_get(c.out, "phase_seconds"), "topk_spectrum")),
           json_integer_value(json_object_get(json_object_get(json_object_get(c.out, "rows"), "near_ties"), "count")),
           json_integer_value(json_object_get(json_object_get(json_object_get(c.out, "cols"), "near_ties"), "count")));
    if (brute_check) {
        char *b_argv[] = {"build/src/circuitc", "kcomp", "L4H11", "L5H5", "--model", (char *)model, "--k", "5", "--json",
                          "--brute-force", processing ? NULL : "--no-processing", NULL};
        process_result b = run_process(b_argv);
        bool same = b.out != NULL;
        for (int k = 1; same && k <= 5; k++)
            same = count_at(b.out, "rows", k) == count_at(c.out, "rows", k) && count_at(b.out, "cols", k) == count_at(c.out, "cols", k);
        printf("%-9s %-32s %8.2f s (cpu %6.2f s) %6.0f MiB  counts %s\n", label, "circuitc kcomp --brute-force",
               b.seconds, b.cpu_seconds, b.peak_mib, same ? "identical for k = 1..5" : "DIFFER");
        bad |= !same;
        json_decref(b.out);
    }
    if (!skip_tl) {
        char *tl_argv[] = {(char *)python, "bench/kcomp_tl.py", "--model", (char *)model, "--k", "5",
                           processing ? NULL : "--no-processing", NULL};
        process_result t = run_process(tl_argv);
        if (!t.out) {
            fprintf(stderr, "TransformerLens side failed (is golden/.venv set up? golden/setup-venv)\n");
            json_decref(c.out);
            return 1;
        }
        printf("%-9s %-32s %8.2f s (cpu %6.2f s) %6.0f MiB  rows top-1 %ld top-5 %ld, cols top-1 %ld top-5 %ld "
               "(load %.2f s)\n",
               label, "TransformerLens script (process)", t.seconds, t.cpu_seconds, t.peak_mib, count_at(t.out, "rows", 1),
               count_at(t.out, "rows", 5), count_at(t.out, "cols", 1), count_at(t.out, "cols", 5),
               json_real_value(json_object_get(t.out, "load_seconds")));
        printf("%-9s whole-process speed-up %.1fx (cpu %.1fx), peak RSS %.2fx of TransformerLens'\n", label,
               t.seconds / c.seconds, t.cpu_seconds / c.cpu_seconds, c.peak_mib / t.peak_mib);
        /* TransformerLens' float32 counts may differ only on circuitc's near-tie rows */
        for (int k = 1; k <= 5; k++)
            for (int dir = 0; dir < 2; dir++) {
                const char *dn = dir ? "cols" : "rows";
                long diff = labs(count_at(t.out, dn, k) - count_at(c.out, dn, k));
                long near = (long)json_integer_value(json_array_get(
                    json_object_get(json_object_get(json_object_get(c.out, dn), "near_ties"), "at_k"), k - 1));
                if (diff > near) {
                    printf("ERROR: %s %s top-%d differs by %ld, more than its %ld near-ties\n", label, dn, k, diff, near);
                    bad = 1;
                }
            }
        json_decref(t.out);
    }
    json_decref(c.out);
    return bad;
}

static void print_blas(void)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    printf("BLAS: OpenBLAS core %s, %d threads (%s)\n", openblas_get_corename(), openblas_get_num_threads(),
           bench_kernel_origin());
#else
    printf("BLAS: not OpenBLAS (%s)\n", bench_kernel_origin());
#endif
}

/* Kernel-only figures: the top-k computation on compiled factors, in child processes. */
static int kernel_bench(const char *model, const char *python, double sigma, double sigma_decay, bool skip_tl,
                        const char *tmp)
{
    char factors[4096];
    cc_error err;
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
    run_result fast[NC], fast32[NC], brute[NC];
    for (int i = 0; i < NC; i++) {
        fast[i] = measure(&fms[i], CC_TOPK_FAST, CC_TOPK_SCREEN_AUTO);
        fast32[i] = measure(&fms[i], CC_TOPK_FAST, CC_TOPK_SCREEN_F32);
        brute[i] = measure(&fms[i], CC_TOPK_BRUTE, CC_TOPK_SCREEN_F32);
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
    printf("\n%-13s %-23s %9s %10s %8s %14s %s\n", "circuit", "implementation", "top-1", "seconds", "cpu s",
           "extra peak MiB", "notes");
    int bad = 0;
    for (int i = 0; i < NC; i++) {
        json_t *t = tl ? json_object_get(json_object_get(tl, "circuits"), names[i]) : NULL;
        double tls = t ? json_real_value(json_object_get(t, "seconds")) : NAN;
        printf("%-13s %-23s %9ld %10.3f %8.3f %14.1f %s %d components, %ld exact evaluations, %ld full rows\n",
               names[i], "circuitc fast", fast[i].top1, fast[i].seconds, fast[i].cpu_seconds, fast[i].extra_mib,
               fast[i].method == CC_TOPK_FAST ? "fast path," : "fell back to brute force,", fast[i].components,
               fast[i].exact_evals, fast[i].rows_full);
        printf("%-13s %-23s %9ld %10.3f %8.3f %14.1f %ld exact evaluations, %ld full rows\n", names[i],
               "circuitc fast, f32 only", fast32[i].top1, fast32[i].seconds, fast32[i].cpu_seconds, fast32[i].extra_mib,
               fast32[i].exact_evals, fast32[i].rows_full);
        printf("%-13s %-23s %9ld %10.3f %8.3f %14.1f %.1f GFLOP/s\n", names[i], "circuitc brute-force", brute[i].top1,
               brute[i].seconds, brute[i].cpu_seconds, brute[i].extra_mib, flops / brute[i].seconds / 1e9);
        if (t)
            printf("%-13s %-23s %9lld %10.3f %8s %14.1f speed-up: fast %.1fx, brute-force %.1fx\n", names[i],
                   "TransformerLens", (long long)json_integer_value(json_object_get(t, "top1")), tls, "",
                   json_real_value(json_object_get(t, "extra_peak_mib")), tls / fast[i].seconds,
                   tls / brute[i].seconds);
        printf("%-13s top-1 accuracy %.4f\n", names[i], (double)fast[i].top1 / V);
        bad |= fast[i].top1 != brute[i].top1 || fast32[i].top1 != brute[i].top1 || (t && json_integer_value(json_object_get(t, "top1")) != fast[i].top1);
    }
    printf("\nsgemm here, per CPU-second: %.1f GFLOP at the brute-force tile shape (128 x 1024 x %d, one per core),\n"
           "            %.1f GFLOP at TransformerLens' batch shape (1000 x %d x %d, OpenBLAS threads)\n"
           "per CPU-second against the tile-shape sgemm (a full product = 100%%):\n",
           g_tile, dh, g_batch, V, dh);
    for (int i = 0; i < NC; i++)
        printf("  %-13s brute force %.0f%%, fast %.0f%%, fast with the float32 screen only %.0f%%\n", names[i],
               100 * flops / brute[i].cpu_seconds / 1e9 / g_tile, 100 * flops / fast[i].cpu_seconds / 1e9 / g_tile,
               100 * flops / fast32[i].cpu_seconds / 1e9 / g_tile);
    if (bad) printf("\nERROR: top-1 counts differ between implementations\n");
    json_decref(tl);
    for (int i = 0; i < NC; i++) cc_fm_free(&fms[i]);
    return bad;
}


int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    const char *model = NULL, *python = "golden/.venv/bin/python";
    double sigma = 1.5, sigma_decay = 0.3;
    double sigma_model = 2.0;
    bool skip_tl = false, skip_kernel = false, skip_whole = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) python = argv[++i];
        else if (strcmp(argv[i], "--sigma") == 0 && i + 1 < argc) sigma = atof(argv[++i]);
        else if (strcmp(argv[i], "--sigma-decay") == 0 && i + 1 < argc) sigma_decay = atof(argv[++i]);
        else if (strcmp(argv[i], "--sigma-model") == 0 && i + 1 < argc) sigma_model = atof(argv[++i]);
        else if (strcmp(argv[i], "--skip-tl") == 0) skip_tl = true;
        else if (strcmp(argv[i], "--skip-kernel") == 0) skip_kernel = true;
        else if (strcmp(argv[i], "--skip-whole") == 0) skip_whole = true;
        else if (strcmp(argv[i], "--components") == 0 && i + 1 < argc) g_components = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model DIR] [--python PY] [--sigma S] [--sigma-decay S] [--components C] [--sigma-model S] [--skip-tl] [--skip-kernel] [--skip-whole]\n", argv[0]);
            return 2;
        }
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[2048];
    if (!model) {
        if (bench_default_model(dir, sizeof dir) != 0) return 1;
        model = dir;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines appear as they are measured */
    print_blas();
    int bad = skip_kernel ? 0 : kernel_bench(model, python, sigma, sigma_decay, skip_tl, tmp);
    if (!skip_whole) {
        char planted[2048];
        snprintf(planted, sizeof planted, "%s/circuitc-bench-planted", tmp);
        printf("\nwhole processes (wall time, peak RSS), kcomp L4H11 L5H5 --k 5; planted: sigma %.3g, no processing\n",
               sigma_model);
        bad |= whole_process("random", model, true, false, python, skip_tl);
        if (write_planted_model(model, planted, sigma_model) != 0) {
            fprintf(stderr, "could not write the planted model in %s\n", planted);
            return 1;
        }
        bad |= whole_process("planted", planted, false, true, python, skip_tl);
    }
    if (bad) printf("\nERROR: counts differ between implementations\n");
    return bad;
}
