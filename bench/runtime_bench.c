/* runtime_bench.c — the runtime on a GPT-2-small-shaped model, circuitc against
 * TransformerLens on the same machine, model and tokens, in one run:
 *   (a) one forward pass of [30, 101] repeated tokens (cc_repeat_tokens, seed 0)
 *       caching every layer's hook_pattern, with the correct-token log-probs:
 *       wall time, peak RSS beyond the loaded model, and the pass's effective
 *       GFLOP/s against OpenBLAS sgemm running the pass's own GEMM sequence
 *       (same shapes, same order) alone;
 *   (b) the full mlp_out patching sweep (12 layers x 51 positions, seq_len 50,
 *       sequence 0 of the batch): wall time, peak memory, and all 612 deltas
 *       compared with TransformerLens' one run_with_hooks per (layer, position).
 * Each circuitc measurement runs in a forked child so that its peak memory
 * (/proc/self/clear_refs + VmHWM) is its own; the TransformerLens side is
 * bench/runtime_tl.py, run through popen with golden/.venv's python (torch
 * threads = 2), the tokens passed in a file. Timings are reported, never
 * asserted; the exit status is 1 when the deltas differ by 1e-4 or more.
 *
 * Usage (from the source root):
 *   build/bench/runtime_bench [--model DIR] [--python PY] [--reps R] [--skip-tl]
 *                             [--tl-patch-subset K] [--naive]
 *   build/bench/runtime_bench --blas-info   (prints {"core", "threads"} of the linked
 *                             OpenBLAS under this environment as JSON; for runtime_whole.py)
 * (default model: a seeded gpt2-small synth in $TMPDIR, written if missing;
 * --tl-patch-subset K: TransformerLens runs only the first K positions of each
 * layer and its full-sweep time is extrapolated, labelled as such.) */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "circuitc/synth.h"

/* ------------------------------------------------------------ measurements in a child */

typedef struct {
    const cc_model *m;
    const int *tok;
    int B, n;
} job;

typedef struct {
    int ok;
    double seconds, extra_mib;
    double first_mean, second_mean; /* forward */
    double clean_loss;              /* patching */
    double delta[64 * 1024];        /* patching: [L, n+1] */
} child_out;

static void child_forward(const job *j, child_out *o)
{
    int T = 1 + 2 * j->n;
    cc_fwd_opts opts = {.kernel = CC_KERNEL_FAST, .logprobs = true};
    cc_fwd_want(&opts, CC_HOOK_PATTERN, -1);
    cc_fwd_result r;
    cc_error err;
    double t0 = bench_now();
    int rc = cc_forward(j->m, j->tok, j->B, T, &opts, &r, &err);
    cc_repeat_stats s = {0};
    if (rc == 0) rc = cc_repeat_stats_from(&r, j->tok, j->n, &s, &err);
    o->seconds = bench_now() - t0;
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    o->ok = rc == 0, o->first_mean = s.first_mean, o->second_mean = s.second_mean;
    cc_repeat_stats_free(&s);
    cc_fwd_result_free(&r);
}

static void child_patch(const job *j, child_out *o, bool naive)
{
    cc_patch_sweep s;
    cc_error err;
    double t0 = bench_now();
    int rc = cc_patch_mlp_sweep(j->m, j->tok, j->n, naive, CC_KERNEL_FAST, 0, NULL, NULL, &s, &err);
    o->seconds = bench_now() - t0;
    o->ok = rc == 0;
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    o->clean_loss = s.clean_loss;
    memcpy(o->delta, s.delta, (size_t)s.n_layers * (s.n + 1) * sizeof(double));
    cc_patch_sweep_free(&s);
}

/* Runs WHAT (0 forward, 1 causal sweep, 2 naive sweep) in a child; its peak RSS
 * beyond its RSS at the start is the measurement's own. */
static int measure(const job *j, int what, child_out *o)
{
    int fd[2];
    memset(o, 0, sizeof *o);
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        child_out *c = calloc(1, sizeof *c);
        if (!c) _exit(1);
        bench_reset_peak();
        long base = bench_status_kib("VmRSS");
        if (what == 0) child_forward(j, c);
        else child_patch(j, c, what == 2);
        c->extra_mib = (double)(bench_status_kib("VmHWM") - base) / 1024.0;
        const char *p = (const char *)c;
        for (size_t left = sizeof *c; left > 0;) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0) _exit(1);
            p += w, left -= (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    char *p = (char *)o;
    size_t got = 0;
    while (got < sizeof *o) {
        ssize_t r = read(fd[0], p + got, sizeof *o - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return got == sizeof *o && o->ok ? 0 : -1;
}

/* ------------------------------------------------------------ the pass's GEMMs alone */

static void gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, bool transB, float *C,
                 int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f,
                C, ldc);
}

/* Runs the GEMMs of one fast-kernel forward pass of [B, T] (same shapes, same
 * order: Q, K, V, scores, z, O, MLP in, MLP out per layer; the unembedding in
 * the fused path's tiles: row blocks of at most 1024, 2^20-logit tiles) on
 * dummy data and returns the seconds; *FLOPS gets the pass's GEMM work. */
static double gemm_sequence(const cc_config *c, int B, int T, double *flops)
{
    int R = B * T, d = c->d_model, M = c->d_mlp, V = c->d_vocab, H = c->n_heads, dh = c->d_head, HD = H * dh;
    int blocks = (R + 1023) / 1024, rows = (R + blocks - 1) / blocks, cols = (1 << 20) / rows;
    size_t big = (size_t)R * M > (size_t)1 << 20 ? (size_t)R * M : (size_t)1 << 20;
    float *x = calloc((size_t)R * M, 4), *w = calloc((size_t)d * (V > M ? V : M), 4), *y = calloc(big, 4);
    float *q = calloc((size_t)R * HD, 4), *S = calloc((size_t)T * T, 4);
    for (size_t i = 0; i < (size_t)R * M; i++) x[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)d * (V > M ? V : M); i++) w[i] = (float)(i % 5) * 0.01f;
    double t0 = bench_now();
    for (int l = 0; l < c->n_layers; l++) {
        for (int t = 0; t < 3; t++) gemm(R, HD, d, x, d, w, HD, false, q, HD);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const float *qb = q + (size_t)b * T * HD + h * dh;
                gemm(T, T, dh, qb, HD, qb, HD, true, S, T);
                gemm(T, dh, T, S, T, qb, HD, false, y, HD);
            }
        gemm(R, d, HD, q, HD, w, d, false, y, d);
        gemm(R, M, d, x, d, w, M, false, y, M);
        gemm(R, d, M, x, M, w, d, false, y, d);
    }
    for (int b = 0; b < blocks; b++)
        for (int c0 = 0; c0 < V; c0 += cols) {
            int nr = R * (b + 1) / blocks - R * b / blocks, nc = V - c0 < cols ? V - c0 : cols;
            gemm(nr, nc, d, x, d, w + c0, V, false, y, nc);
        }
    double dt = bench_now() - t0;
    double f = c->n_layers * (2.0 * R * d * HD * 4 + 4.0 * B * H * (double)T * T * dh + 4.0 * R * d * M) + 2.0 * R * d * V;
    *flops = f;
    free(x), free(w), free(y), free(q), free(S);
    return dt;
}

/* ------------------------------------------------------------ reporting */

/* The OpenBLAS kernel in use (see bench_take_circuitc_kernel). */
static const char *blas_core(void)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    return openblas_get_corename();
#else
    return "unknown (not OpenBLAS)";
#endif
}

static int blas_threads(void)
{
#ifdef CC_HAVE_OPENBLAS_THREADS
    return openblas_get_num_threads();
#else
    return 0;
#endif
}

static double vmin(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static int json_doubles(json_t *a, double *out, int cap)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (n < cap) out[n++] = json_number_value(v);
    return n;
}

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    const char *model = NULL, *python = "golden/.venv/bin/python";
    int reps = 3, subset = 0;
    bool skip_tl = false, naive = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) python = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tl-patch-subset") == 0 && i + 1 < argc) subset = atoi(argv[++i]);
        else if (strcmp(argv[i], "--skip-tl") == 0) skip_tl = true;
        else if (strcmp(argv[i], "--naive") == 0) naive = true;
        else if (strcmp(argv[i], "--blas-info") == 0) {
            printf("{\"core\": \"%s\", \"threads\": %d}\n", blas_core(), blas_threads());
            return 0;
        } else {
            fprintf(stderr,
                    "usage: %s [--model DIR] [--python PY] [--reps R] [--skip-tl] [--tl-patch-subset K] [--naive]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 20) reps = 3;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[2048], path[4096];
    cc_error err;
    if (!model) {
        if (bench_default_model(dir, sizeof dir) != 0) return 1;
        model = dir;
    }
    cc_model *m;
    long rss0 = bench_status_kib("VmRSS");
    double t0 = bench_now();
    if (cc_model_load(model, NULL, true, &m, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double load_s = bench_now() - t0;
    double loaded_mib = (double)(bench_status_kib("VmRSS") - rss0) / 1024.0;
    const cc_config *c = cc_model_config(m);
    int B = 30, n = 50, T = 1 + 2 * n, L = c->n_layers, NP = n + 1;
    if (L * NP > 64 * 1024) return 1;
    int *tok = malloc((size_t)B * T * sizeof *tok);
    if (!tok || cc_repeat_tokens(c, 0, B, n, tok, &err) != 0) return 1;
    /* the weights as held in memory: TransformerLens layout, W_U [d, V] its own
     * array even when tied to W_E (TransformerLens holds it separately too) */
    double weights_mib =
        ((double)cc_config_n_params(c) + (cc_model_tied_unembedding(m) ? (double)c->d_model * c->d_vocab : 0.0)) * 4 / (1 << 20);
    double cache_mib = (double)L * B * c->n_heads * T * T * 4 / (1 << 20) + (double)B * T * 12 / (1 << 20);
    printf("circuitc runtime benchmark: model %s (L %d, H %d, d %d, V %d), %d cores online\n", model, L, c->n_heads,
           c->d_model, c->d_vocab, (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("OpenBLAS core %s (%s), OpenBLAS threads %d; circuitc passes hold OpenBLAS to one thread "
           "and run their own threads, one per core online\n",
           blas_core(), bench_kernel_origin(), blas_threads());
    printf("load + process %.2f s, RSS after loading %.0f MiB (weights %.0f MiB as float32 arrays)\n", load_s, loaded_mib,
           weights_mib);

    /* (a) forward, interleaved with the bare GEMM sequence so both see similar load */
    job j = {m, tok, B, n};
    double fw_s[20], fw_mib[20], gm_s[20], gflop = 0;
    child_out *o = malloc(sizeof *o);
    if (!o) return 1;
    gemm_sequence(c, B, T, &gflop); /* warm-up */
    double first = 0, second = 0;
    for (int r = 0; r < reps; r++) {
        if (measure(&j, 0, o) != 0) return 1;
        fw_s[r] = o->seconds, fw_mib[r] = o->extra_mib, first = o->first_mean, second = o->second_mean;
        gm_s[r] = gemm_sequence(c, B, T, &gflop);
    }
    /* (b) the patching sweep on sequence 0 */
    job j1 = {m, tok, 1, n};
    double *cdelta = malloc((size_t)L * NP * sizeof *cdelta), pt_s, pt_mib, clean_loss;
    if (measure(&j1, 1, o) != 0) return 1;
    pt_s = o->seconds, pt_mib = o->extra_mib, clean_loss = o->clean_loss;
    memcpy(cdelta, o->delta, (size_t)L * NP * sizeof *cdelta);
    double nv_s = NAN, nv_diff = NAN;
    if (naive) {
        if (measure(&j1, 2, o) != 0) return 1;
        nv_s = o->seconds, nv_diff = 0;
        for (int i = 0; i < L * NP; i++) nv_diff = fmax(nv_diff, fabs(o->delta[i] - cdelta[i]));
    }

    /* TransformerLens */
    json_t *tl = NULL;
    if (!skip_tl) {
        snprintf(path, sizeof path, "%s/circuitc-bench-tokens-%d.txt", tmp, (int)getpid());
        FILE *f = fopen(path, "w");
        if (!f) return 1;
        fprintf(f, "%d %d %d\n", B, T, n);
        for (int i = 0; i < B * T; i++) fprintf(f, "%d%c", tok[i], (i + 1) % T ? ' ' : '\n');
        fclose(f);
        char cmd[8192], sub[64] = "";
        if (subset > 0) snprintf(sub, sizeof sub, " --patch-subset %d", subset);
        snprintf(cmd, sizeof cmd, "%s bench/runtime_tl.py %s %s --reps %d%s", python, model, path, reps, sub);
        fprintf(stderr, "running TransformerLens: %s\n", cmd);
        FILE *p = popen(cmd, "r");
        json_error_t jerr;
        tl = p ? json_loadf(p, 0, &jerr) : NULL;
        if (p) pclose(p);
        unlink(path);
        if (!tl) fprintf(stderr, "TransformerLens side failed (is golden/.venv set up? golden/setup-venv)\n");
    }

    double sg = gflop / vmin(gm_s, reps) * 1e-9, sg_lo = gflop / vmax(gm_s, reps) * 1e-9;
    double cf = gflop / vmin(fw_s, reps) * 1e-9, cf_lo = gflop / vmax(fw_s, reps) * 1e-9;
    printf("\n(a) forward [%d, %d], every layer's hook_pattern cached + correct-token log-probs (%d runs each)\n", B, T,
           reps);
    printf("%-18s %18s %22s %s\n", "implementation", "seconds min-max", "extra peak MiB max", "notes");
    printf("%-18s %8.3f - %7.3f %22.0f GEMM work %.0f GFLOP: %.0f-%.0f GFLOP/s effective; log-prob means %.4f / %.4f\n",
           "circuitc", vmin(fw_s, reps), vmax(fw_s, reps), vmax(fw_mib, reps), gflop * 1e-9, cf_lo, cf, first,
           second);
    printf("%-18s %8.3f - %7.3f %22s the pass's GEMM sequence alone (OpenBLAS %s): %.0f-%.0f GFLOP/s\n", "sgemm alone",
           vmin(gm_s, reps), vmax(gm_s, reps), "-", blas_core(), sg_lo, sg);
    double ratio[20];
    for (int r = 0; r < reps; r++) ratio[r] = gm_s[r] / fw_s[r];
    printf("    circuitc's whole pass runs at %.0f%% of the sgemm rate (best vs best), %.0f-%.0f%% run by run\n",
           100 * cf / sg, 100 * vmin(ratio, reps), 100 * vmax(ratio, reps));
    printf("    budget (weights + requested caches) x 1.25 = (%.0f + %.0f) x 1.25 = %.0f MiB; circuitc peak = loaded %.0f + "
           "extra %.0f MiB\n",
           weights_mib, cache_mib, (weights_mib + cache_mib) * 1.25, loaded_mib, vmax(fw_mib, reps));
    json_t *tf = tl ? json_object_get(tl, "forward") : NULL;
    if (tf) {
        double ts[20], tm[20];
        int k = json_doubles(json_object_get(tf, "seconds"), ts, 20);
        json_doubles(json_object_get(tf, "extra_peak_mib"), tm, 20);
        printf("%-18s %8.3f - %7.3f %22.0f run_with_cache(names_filter=hook_pattern) + log_softmax/gather; "
               "log-prob means %.4f / %.4f; torch.mm %.0f GFLOP/s at [%d,%d]x[%d,%d]\n",
               "TransformerLens", vmin(ts, k), vmax(ts, k), vmax(tm, k),
               json_number_value(json_object_get(tf, "first_half_mean_logprob")),
               json_number_value(json_object_get(tf, "second_half_mean_logprob")),
               json_number_value(json_object_get(tl, "torch_mm_gflops_mlp_shape")), B * T, c->d_model, c->d_model,
               c->d_mlp);
        printf("    TransformerLens: torch %s, %lld threads\n", json_string_value(json_object_get(tl, "torch")),
               (long long)json_integer_value(json_object_get(tl, "threads")));
        printf("    speed-up circuitc vs TransformerLens: %.2fx (best vs best), %.2f-%.2fx (range); peak extra memory "
               "%.0f vs %.0f MiB\n",
               vmin(ts, k) / vmin(fw_s, reps), vmin(ts, k) / vmax(fw_s, reps), vmax(ts, k) / vmin(fw_s, reps),
               vmax(fw_mib, reps), vmax(tm, k));
    }

    printf("\n(b) mlp_out patching sweep, %d layers x %d positions (n = %d), sequence 0\n", L, NP, n);
    printf("%-18s %10s %16s %s\n", "implementation", "seconds", "extra peak MiB", "notes");
    printf("%-18s %10.2f %16.0f causal resumption; clean loss %.6f\n", "circuitc", pt_s, pt_mib, clean_loss);
    if (naive)
        printf("%-18s %10.2f %16s one full rerun per patch; max |delta - causal delta| %.3g\n", "circuitc --naive",
               nv_s, "-", nv_diff);
    int bad = 0;
    json_t *tp = tl ? json_object_get(tl, "patch") : NULL;
    if (tp) {
        double secs = json_number_value(json_object_get(tp, "seconds"));
        int runs = (int)json_integer_value(json_object_get(tp, "runs")), full = (int)json_integer_value(json_object_get(tp, "full_runs"));
        json_t *dl = json_object_get(tp, "delta");
        json_t *pos = json_object_get(tp, "positions");
        double mx = 0;
        int compared = 0;
        for (int l = 0; l < L; l++)
            for (size_t k = 0; k < json_array_size(pos); k++) {
                int p = (int)json_integer_value(json_array_get(pos, k));
                double d = json_number_value(json_array_get(json_array_get(dl, (size_t)l), k));
                mx = fmax(mx, fabs(d - cdelta[l * NP + (p - n)]));
                compared++;
            }
        bad = !(mx < 1e-4);
        double est = runs < full ? secs * full / runs : secs;
        printf("%-18s %10.2f %16.0f one run_with_hooks per (layer, position)%s; clean loss %.6f\n", "TransformerLens",
               est, json_number_value(json_object_get(tp, "extra_peak_mib")),
               runs < full ? " -- EXTRAPOLATED from a subset (below)" : "",
               json_number_value(json_object_get(tp, "clean_loss")));
        if (runs < full)
            printf("    TransformerLens ran %d of %d patches (the first %d positions of every layer) in %.2f s; the "
                   "full-sweep figure above is that time x %d/%d\n",
                   runs, full, (int)json_array_size(pos), secs, full, runs);
        printf("    speed-up circuitc vs TransformerLens: %.1fx%s; %d deltas compared, max |difference| %.3g (%s 1e-4)\n",
               est / pt_s, runs < full ? " (extrapolated)" : "", compared, mx, bad ? "NOT within" : "within");
    }
    if (bad) printf("\nERROR: patching deltas differ from TransformerLens by 1e-4 or more\n");
    json_decref(tl);
    free(o), free(cdelta), free(tok);
    cc_model_free(m);
    return bad;
}
