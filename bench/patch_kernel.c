/* patch_kernel.c — the kernel half of bench/patch_bench.py and
 * bench/attribute_bench.py: activation patching of one hook over every layer x
 * position (cc_act_patch), attribution patching of it (--attribute:
 * cc_attr_patch), or the repeated-token mlp_out sweep estimated with its top K
 * patched exactly (--sweep N: cc_attr_mlp_sweep), the model loaded once, timed
 * over --reps runs (wall and process CPU seconds), printed as JSON with the
 * load's own time.
 *
 *   patch_kernel --model DIR --clean IDS --corrupt IDS --answer ID --wrong ID
 *                [--hook resid_pre] [--reps 3] [--naive | --attribute]
 *   patch_kernel --model DIR --sweep N [--seed 0] [--verify 20] [--reps 3]
 *
 * IDS: comma-separated token ids (BOS included), as `circuitc patch --json` prints them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "circuitc/attribution.h"
#include "circuitc/experiments.h"
#include "circuitc/patching.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_ids(const char *s, int **out)
{
    int n = 0, cap = 16;
    *out = malloc((size_t)cap * sizeof **out);
    for (char *end; *s; s = *end ? end + 1 : end) {
        if (n == cap) *out = realloc(*out, (size_t)(cap *= 2) * sizeof **out);
        (*out)[n++] = (int)strtol(s, &end, 10);
    }
    return n;
}

/* V [L, P] as nested JSON rows [L][P]. */
static json_t *grid(const double *v, int L, int P)
{
    json_t *rows = json_array();
    for (int l = 0; l < L; l++) {
        json_t *row = json_array();
        for (int p = 0; p < P; p++) json_array_append_new(row, json_real(v[(size_t)l * P + p]));
        json_array_append_new(rows, row);
    }
    return rows;
}

typedef struct {
    const cc_model *m;
    const int *clean, *corrupt, *tokens;
    int T, n, verify;
    cc_patch_opts o;
    enum { EXACT, ATTRIBUTE, SWEEP } what;
    cc_patch_result exact;
    cc_attr_result attr;
    cc_attr_sweep sweep;
} job;

static int run_job(job *j, cc_error *err)
{
    cc_patch_result_free(&j->exact), cc_attr_result_free(&j->attr), cc_attr_sweep_free(&j->sweep);
    if (j->what == EXACT) return cc_act_patch(j->m, j->clean, j->corrupt, j->T, &j->o, &j->exact, err);
    if (j->what == ATTRIBUTE) return cc_attr_patch(j->m, j->clean, j->corrupt, j->T, &j->o, &j->attr, err);
    return cc_attr_mlp_sweep(j->m, j->tokens, j->n, j->verify, CC_KERNEL_FAST, 0, &j->sweep, err);
}

static json_t *job_json(const job *j)
{
    if (j->what == SWEEP) {
        const cc_attr_sweep *s = &j->sweep;
        json_t *top = json_array();
        for (int i = 0; i < s->n_top; i++)
            json_array_append_new(top, json_pack("{s:i,s:i,s:f,s:f}", "layer", s->top[i] / (s->n + 1), "position",
                                                 s->n + s->top[i] % (s->n + 1), "estimate", s->estimate[s->top[i]],
                                                 "exact", s->top_exact[i]));
        return json_pack("{s:f,s:o,s:o}", "clean_loss", s->clean_loss, "estimate",
                         grid(s->estimate, s->n_layers, s->n + 1), "top", top);
    }
    const cc_patch_result *r = j->what == EXACT ? &j->exact : &j->attr.est;
    json_t *out = json_pack("{s:o,s:f,s:f,s:I,s:i}", "value", grid(r->value, r->n_layers, r->n_pos), "clean", r->clean,
                            "corrupt", r->corrupt, "skipped", (json_int_t)r->skipped, "patches", r->n_layers * r->n_pos);
    if (j->what == ATTRIBUTE)
        json_object_set_new(out, "attribution", grid(j->attr.attribution, r->n_layers, r->n_pos));
    return out;
}

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    const char *model = NULL, *clean_s = NULL, *corrupt_s = NULL, *hook_s = "resid_pre";
    int answer = -1, wrong = -1, reps = 3;
    job j = {.verify = 20};
    unsigned long long seed = 0;
    bool naive = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(argv[i], "--model") == 0) model = v, i++;
        else if (strcmp(argv[i], "--clean") == 0) clean_s = v, i++;
        else if (strcmp(argv[i], "--corrupt") == 0) corrupt_s = v, i++;
        else if (strcmp(argv[i], "--answer") == 0) answer = atoi(v), i++;
        else if (strcmp(argv[i], "--wrong") == 0) wrong = atoi(v), i++;
        else if (strcmp(argv[i], "--hook") == 0) hook_s = v, i++;
        else if (strcmp(argv[i], "--reps") == 0) reps = atoi(v), i++;
        else if (strcmp(argv[i], "--naive") == 0) naive = true;
        else if (strcmp(argv[i], "--attribute") == 0) j.what = ATTRIBUTE;
        else if (strcmp(argv[i], "--sweep") == 0) j.what = SWEEP, j.n = atoi(v), i++;
        else if (strcmp(argv[i], "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (strcmp(argv[i], "--verify") == 0) j.verify = atoi(v), i++;
        else {
            fprintf(stderr, "patch_kernel: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    bool pair = j.what != SWEEP;
    if (!model || reps < 1 || (pair && (!clean_s || !corrupt_s || answer < 0 || wrong < 0)) || (!pair && j.n < 1)) {
        fprintf(stderr, "usage: patch_kernel --model DIR --clean IDS --corrupt IDS --answer ID --wrong ID "
                        "[--hook H] [--reps R] [--naive | --attribute]\n"
                        "       patch_kernel --model DIR --sweep N [--seed S] [--verify K] [--reps R]\n");
        return 2;
    }
    cc_error err;
    cc_model *m = NULL;
    cc_hook_kind hook;
    int *clean = NULL, *corrupt = NULL, *tokens = NULL, T = pair ? parse_ids(clean_s, &clean) : 0;
    if (pair && parse_ids(corrupt_s, &corrupt) != T) {
        fprintf(stderr, "patch_kernel: the prompts differ in length\n");
        return 2;
    }
    double l0 = bench_now(), lc0 = cpu_now();
    if (cc_patch_hook_parse(hook_s, &hook, &err) != 0 || cc_model_load(model, NULL, true, &m, &err) != 0 ||
        (!pair && (!(tokens = malloc((size_t)(1 + 2 * j.n) * sizeof *tokens)) ||
                   cc_repeat_tokens(cc_model_config(m), seed, 1, j.n, tokens, &err) != 0))) {
        fprintf(stderr, "patch_kernel: %s\n", err.msg);
        return 1;
    }
    double load = bench_now() - l0, load_cpu = cpu_now() - lc0;
    j.m = m, j.clean = clean, j.corrupt = corrupt, j.tokens = tokens, j.T = T;
    j.o = (cc_patch_opts){.hook = hook, .naive = naive, .kernel = CC_KERNEL_FAST,
                          .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = answer, .wrong = wrong}};
    json_t *secs = json_array(), *cpu = json_array();
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now(), c0 = cpu_now();
        if (run_job(&j, &err) != 0) {
            fprintf(stderr, "patch_kernel: %s\n", err.msg);
            return 1;
        }
        json_array_append_new(secs, json_real(bench_now() - t0));
        json_array_append_new(cpu, json_real(cpu_now() - c0));
    }
    json_t *out = job_json(&j);
    json_object_set_new(out, "seconds", secs);
    json_object_set_new(out, "cpu_seconds", cpu);
    json_object_set_new(out, "load_seconds", json_real(load));
    json_object_set_new(out, "load_cpu_seconds", json_real(load_cpu));
    json_dumpf(out, stdout, JSON_COMPACT);
    printf("\n");
    json_decref(out);
    cc_patch_result_free(&j.exact), cc_attr_result_free(&j.attr), cc_attr_sweep_free(&j.sweep);
    cc_model_free(m);
    free(clean), free(corrupt), free(tokens);
    return 0;
}
