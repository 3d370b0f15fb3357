/* weights_profile.c — where the time of the weight-only discovery goes
 * (`discover --no-runtime`, `atlas`), phase by phase, on one loaded model:
 *
 *   weights_profile [MODEL] [--top N] [--units U] [--skip-atlas]
 *
 * discover: the K-composition scores, their random baseline, the positional
 * evidence of every earlier head, and the exact top-1 of the --top pairs
 * (default 20) split into compiling the float64 factors and the two top-k
 * scans; the compile is timed both ways, the full compile per pair
 * (cc_circuit_compile: float32 and float64 factors, as before the prefix cache)
 * and cc_circuit_compile_exact with one cc_chain_cache, so their ratio is
 * taken in one run, and so are the scans: two cc_topk_diagonal calls (rows,
 * columns) and one call sharing their set-up (cci_topk_diagonal_both). atlas: the screen factors (set-up), one later head's
 * factor, and the bound of every pair of U units (default 12) on one thread.
 * Then the float32 GEMM rate on the bound's shapes, one thread, for the bound
 * on what the atlas can cost (bench/README.md). MODEL defaults to the seeded
 * GPT-2-small-shaped model. Every phase: wall and CPU seconds (user + system,
 * all threads), with the load average when the run began. Reported, never
 * asserted. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/topk_internal.h"
#include "benchutil.h"
#include "circuitc/atlas.h"
#include "circuitc/composition.h"
#include "circuitc/discover.h"
#include "circuitc/topk.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    double wall, cpu;
} stamp;

static stamp stamp_now(void) { return (stamp){bench_now(), cpu_now()}; }

static void report(const char *phase, stamp t0, const char *note)
{
    stamp t = stamp_now();
    printf("  %-44s %8.2f s wall %8.2f s CPU  %s\n", phase, t.wall - t0.wall, t.cpu - t0.cpu, note ? note : "");
}

static void die(const char *what, const cc_error *err)
{
    fprintf(stderr, "weights_profile: %s: %s\n", what, err->msg);
    exit(1);
}

/* The exact top-1 of the TOP best pre-ranked pairs, compiled both ways. */
static void profile_exact(const cc_model *m, const cc_circuit *c, const cc_discover_result *r, int top)
{
    const char *names[2] = {cc_circuit_param(c, 0), cc_circuit_param(c, 1)};
    double compile_full[2] = {0, 0}, compile_cached[2] = {0, 0}, scans[2] = {0, 0}, scans_both[2] = {0, 0};
    cc_chain_cache *cache = cc_chain_cache_new();
    cc_error err;
    for (int k = 0; k < top && k < r->n_pairs; k++) {
        cc_head heads[2] = {r->pairs[k].earlier, r->pairs[k].later};
        cc_fm fm;
        stamp t0 = stamp_now();
        if (cc_circuit_compile(c, m, names, heads, 2, &fm, NULL, &err) != 0) die("compile", &err);
        cc_fm_free(&fm);
        stamp t1 = stamp_now();
        if (cc_circuit_compile_exact(c, m, names, heads, 2, cache, &fm, &err) != 0) die("compile", &err);
        stamp t2 = stamp_now();
        cc_topk_options o = {.k_max = 1, .method = CC_TOPK_FAST};
        cc_topk_result res;
        if (cc_topk_diagonal(&fm, &o, &res, &err) != 0) die("top-k", &err);
        o.columns = true;
        if (cc_topk_diagonal(&fm, &o, &res, &err) != 0) die("top-k", &err);
        stamp t3 = stamp_now();
        cc_topk_result cols;
        if (cci_topk_diagonal_both(&fm, &o, &res, &cols, &err) != 0) die("top-k", &err);
        stamp t4 = stamp_now();
        scans_both[0] += t4.wall - t3.wall, scans_both[1] += t4.cpu - t3.cpu;
        cc_fm_free(&fm);
        compile_full[0] += t1.wall - t0.wall, compile_full[1] += t1.cpu - t0.cpu;
        compile_cached[0] += t2.wall - t1.wall, compile_cached[1] += t2.cpu - t1.cpu;
        scans[0] += t3.wall - t2.wall, scans[1] += t3.cpu - t2.cpu;
    }
    cc_chain_cache_free(cache);
    printf("  %-44s %8.2f s wall %8.2f s CPU  (not in discover now)\n", "  compile in full, every pair", compile_full[0],
           compile_full[1]);
    printf("  %-44s %8.2f s wall %8.2f s CPU  (%.1fx less CPU)\n", "  compile float64 only, prefix cache",
           compile_cached[0], compile_cached[1], compile_full[1] / compile_cached[1]);
    printf("  %-44s %8.2f s wall %8.2f s CPU  (not in discover now)\n", "  top-1 scans, rows then columns", scans[0],
           scans[1]);
    printf("  %-44s %8.2f s wall %8.2f s CPU  (%.1fx less CPU)\n", "  the same in one call, set-up shared",
           scans_both[0], scans_both[1], scans[1] / scans_both[1]);
}

static void profile_discover(const cc_model *m, const cc_circuit *c, int top)
{
    const cc_config *g = &m->cfg;
    int n = g->n_layers * g->n_heads;
    cc_error err;
    printf("discover --no-runtime --top %d (%d pairs)\n", top, n * (n - g->n_heads) / 2);
    double *comp = malloc((size_t)n * n * sizeof *comp), mean, sd;
    stamp t0 = stamp_now();
    if (cc_composition_scores(m, CC_COMP_K, comp, &err) != 0) die("comp-scores", &err);
    report("K-composition scores, all pairs", t0, NULL);
    t0 = stamp_now();
    if (cc_composition_baseline(g->d_model, g->d_head, 200, 0, NULL, &mean, &sd, &err) != 0) die("baseline", &err);
    report("random baseline, 200 samples", t0, NULL);
    t0 = stamp_now();
    int T = g->n_ctx < 101 ? g->n_ctx : 101;
    for (int h = 0; h < n - g->n_heads; h++) {
        double frac;
        if (cc_prev_positional(m, (cc_head){h / g->n_heads, h % g->n_heads}, T, &frac, &err) != 0)
            die("positional", &err);
    }
    report("positional evidence, every earlier head", t0, NULL);
    free(comp);
    cc_discover_result r; /* the pre-ranking alone: which pairs the exact top-1 measures */
    if (cc_discover(m, &(cc_discover_options){.circuit = c, .top = 0, .baseline_samples = 200}, &r, &err) != 0)
        die("discover", &err);
    printf("  exact top-1 of the %d best pre-ranked pairs:\n", top);
    profile_exact(m, c, &r, top);
    cc_discover_free(&r);
    t0 = stamp_now();
    if (cc_discover(m, &(cc_discover_options){.circuit = c, .top = top, .baseline_samples = 200}, &r, &err) != 0)
        die("discover", &err);
    report("cc_discover, the whole (model loaded)", t0, NULL);
    cc_discover_free(&r);
}

typedef struct {
    int next, n;
    int *units;
    long pairs, exact;
} sample;

static int next_unit(void *ctx)
{
    sample *s = ctx;
    return s->next < s->n ? s->units[s->next++] : -1;
}

static int tally(void *ctx, const cc_atlas_entry *e, int n, cc_error *err)
{
    sample *s = ctx;
    (void)err;
    for (int k = 0; k < n; k++) s->pairs++, s->exact += e[k].exact;
    return 0;
}

static void profile_atlas(const cc_model *m, const cc_circuit *c, int n_units)
{
    cc_error err;
    printf("atlas (min_acc 0.01)\n");
    stamp t0 = stamp_now();
    cc_atlas *a;
    if (cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = 0.01}, &a, &err) != 0) die("atlas", &err);
    report("set-up: screen factors W_E W_V, earlier heads", t0, "(all cores)");
    long rows[2], cols[2];
    bool pruned;
    cc_head later = {m->cfg.n_layers - 1, 0}, earlier = {0, 0};
    t0 = stamp_now();
    if (cc_atlas_bound(a, earlier, later, rows, cols, &pruned, &err) != 0) die("bound", &err);
    report("one later head's factor + one pair's bound", t0, "(one thread)");
    int units = cc_atlas_n_units(a);
    if (n_units > units) n_units = units;
    sample s = {0, n_units, malloc((size_t)n_units * sizeof(int)), 0, 0};
    for (int k = 0; k < n_units; k++) s.units[k] = (int)((long)k * units / n_units); /* spread over the layers */
    t0 = stamp_now();
    if (cc_atlas_run(a, 1, next_unit, tally, &s, &err) != 0) die("atlas", &err);
    stamp t1 = stamp_now();
    char note[160];
    snprintf(note, sizeof note, "(%ld pairs, %ld exact: %.1f ms CPU a pair; all %ld pairs: %.0f s CPU)", s.pairs,
             s.exact, 1e3 * (t1.cpu - t0.cpu) / (double)s.pairs, cc_atlas_n_pairs(a),
             (t1.cpu - t0.cpu) / (double)s.pairs * (double)cc_atlas_n_pairs(a));
    report("sample of units, one thread", t0, note);
    free(s.units);
    cc_atlas_free(a);
}

/* GFLOP per CPU second of one-thread sgemm [M, K] x [K, N]^T, K = d_head. */
static double sgemm_rate(int M, int N, int K, int reps)
{
    float *A = calloc((size_t)M * K, sizeof *A), *B = calloc((size_t)N * K, sizeof *B), *C = malloc((size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 7) - 3;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)(i % 5) - 2;
    double c0 = cpu_now();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    double rate = 2.0 * M * N * K * reps / (cpu_now() - c0) * 1e-9;
    free(A), free(B), free(C);
    return rate;
}

static void profile_rates(const cc_model *m)
{
    int dh = m->cfg.d_head;
    long V = m->cfg.d_vocab;
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    printf("float32 GEMM rate, one thread (GFLOP per CPU second)\n");
    printf("  K = E N, [%ld, %d] x [%d, %d]: %.1f\n", V, dh, dh, dh, sgemm_rate((int)V, dh, dh, 10));
    for (int nb = 64; nb <= 1024; nb *= 2)
        printf("  bound scan, [1024, %d] x [%d, %d]: %.1f\n", dh, dh, nb, sgemm_rate(1024, nb, dh, 40960 / nb));
    openblas_set_num_threads(saved);
}

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    char dir[4096];
    const char *model = NULL;
    int top = 20, units = 12;
    bool atlas = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) top = atoi(argv[++i]);
        else if (strcmp(argv[i], "--units") == 0 && i + 1 < argc) units = atoi(argv[++i]);
        else if (strcmp(argv[i], "--skip-atlas") == 0) atlas = false;
        else model = argv[i];
    }
    if (!model) {
        if (bench_default_model(dir, sizeof dir) != 0) return 1;
        model = dir;
    }
    double load[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(f);
    }
    printf("model %s; OpenBLAS %s (%s), %d threads; load average %.2f %.2f %.2f\n", model, openblas_get_corename(),
           bench_kernel_origin(), openblas_get_num_threads(), load[0], load[1], load[2]);
    cc_error err;
    cc_model *m = NULL;
    cc_circuit *c = NULL;
    cc_part parts[8];
    int n_parts = cc_discover_parts(parts);
    stamp t0 = stamp_now();
    if (cc_model_open(model, NULL, &m, &err) != 0 || cc_model_need(m, parts, n_parts, true, &err) != 0 ||
        cc_circuit_open("kcomp", &c, &err) != 0)
        die(model, &err);
    report("load W_E, W_pos and every head's Q, K, V, O", t0, NULL);
    profile_discover(m, c, top);
    if (atlas) profile_atlas(m, c, units);
    profile_rates(m);
    cc_circuit_free(c);
    cc_model_free(m);
    return 0;
}
