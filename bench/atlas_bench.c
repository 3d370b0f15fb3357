/* atlas_bench.c — the atlas' cost model, measured (docs/scale-out.md): the
 * set-up (screen factors W_E W_V per earlier head), then a sample of work
 * units spread over the later layers, on one thread: CPU seconds per unit's
 * shared factor, per bounded pair and per exact pair, and how many pairs the
 * bound settles.
 *
 *   atlas_bench [MODEL] [--units N] [--later HEAD] [--min-acc A]
 *
 * MODEL defaults to the seeded GPT-2-small-shaped model (written to $TMPDIR
 * on first use). --later HEAD runs every unit of that later head instead
 * (e.g. the planted pair's, bench/plant_kcomp.py). Run it on an idle machine for figures; they are reported,
 * never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "circuitc/atlas.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int next_sample(void *ctx)
{
    int *cursor = ctx; /* cursor[0]: next index into the sampled units cursor[2..], cursor[1]: how many */
    return cursor[0] < cursor[1] ? cursor[2 + cursor[0]++] : -1;
}

typedef struct {
    long exact, bounded;
} tally;

static tally g_tally;

static int count(void *ctx, const cc_atlas_entry *e, int n, cc_error *err)
{
    (void)ctx, (void)err;
    for (int k = 0; k < n; k++) e[k].exact ? g_tally.exact++ : g_tally.bounded++;
    return 0;
}

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    char dir[4096];
    const char *model = NULL;
    int n_sample = 24;
    double min_acc = 0.01;
    const char *later_spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--units") == 0 && i + 1 < argc) n_sample = atoi(argv[++i]);
        else if (strcmp(argv[i], "--later") == 0 && i + 1 < argc) later_spec = argv[++i];
        else if (strcmp(argv[i], "--min-acc") == 0 && i + 1 < argc) min_acc = atof(argv[++i]);
        else model = argv[i];
    }
    if (!model) {
        if (bench_default_model(dir, sizeof dir) != 0) return 1;
        model = dir;
    }
    cc_error err;
    cc_model *m = NULL;
    cc_circuit *c = NULL;
    cc_part parts[CC_ATLAS_MAX_PARTS];
    int n_parts = 0;
    if (cc_model_open(model, NULL, &m, &err) != 0 || cc_circuit_open("kcomp", &c, &err) != 0 ||
        cc_atlas_parts(c, m, parts, &n_parts, &err) != 0 || cc_model_need(m, parts, n_parts, true, &err) != 0) {
        fprintf(stderr, "atlas_bench: %s\n", err.msg);
        return 1;
    }
    double c0 = cpu_now(), w0 = bench_now();
    cc_atlas *a;
    if (cc_atlas_new(m, c, &(cc_atlas_options){.min_acc = min_acc}, &a, &err) != 0) {
        fprintf(stderr, "atlas_bench: %s\n", err.msg);
        return 1;
    }
    double setup_cpu = cpu_now() - c0, setup_wall = bench_now() - w0;
    int units = cc_atlas_n_units(a);
    if (n_sample > units) n_sample = units;
    int *cursor = malloc((size_t)(units + 2) * sizeof *cursor);
    cursor[0] = 0, cursor[1] = 0;
    long pairs = 0;
    cc_head later = {-1, -1};
    if (later_spec && cc_head_parse(later_spec, cc_model_config(m), &later, &err) != 0) {
        fprintf(stderr, "atlas_bench: %s\n", err.msg);
        return 1;
    }
    for (int k = 0; k < (later_spec ? units : n_sample); k++) {
        int u = later_spec ? k : (int)((long)k * units / n_sample); /* spread over every later layer */
        long first;
        int cnt;
        cc_atlas_unit(a, u, &first, &cnt);
        cc_head e, l;
        cc_atlas_pair(a, first, &e, &l);
        if (later_spec && (l.layer != later.layer || l.head != later.head)) continue;
        cursor[2 + cursor[1]++] = u;
        pairs += cnt;
    }
    n_sample = cursor[1];
    c0 = cpu_now(), w0 = bench_now();
    if (cc_atlas_run(a, 1, next_sample, count, cursor, &err) != 0) {
        fprintf(stderr, "atlas_bench: %s\n", err.msg);
        return 1;
    }
    double run_cpu = cpu_now() - c0, run_wall = bench_now() - w0;
    printf("model %s: vocab %d, d_model %d, %ld pairs in %d units\n", model, cc_model_config(m)->d_vocab, cc_model_config(m)->d_model,
           cc_atlas_n_pairs(a), units);
    printf("set-up (screen factors of %d earlier heads, all cores): %.2f s CPU, %.2f s wall\n",
           (cc_model_config(m)->n_layers - 1) * cc_model_config(m)->n_heads, setup_cpu, setup_wall);
    printf("sample: %d units, %ld pairs (%ld bounded, %ld exact) on one thread: %.2f s CPU, %.2f s wall\n", n_sample,
           pairs, g_tally.bounded, g_tally.exact, run_cpu, run_wall);
    printf("per pair: %.1f ms CPU (mixed); bound settled %.1f%% of the sample\n", 1e3 * run_cpu / (double)pairs,
           100.0 * (double)g_tally.bounded / (double)pairs);
    free(cursor);
    cc_atlas_free(a);
    cc_circuit_free(c);
    cc_model_free(m);
    return 0;
}
