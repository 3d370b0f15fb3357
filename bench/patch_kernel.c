/* patch_kernel.c — the kernel half of bench/patch_bench.py: activation patching
 * of one hook over every layer x position (cc_act_patch, the model loaded once),
 * timed over --reps runs (wall and process CPU seconds), printed as JSON.
 *
 *   patch_kernel --model DIR --clean IDS --corrupt IDS --answer ID --wrong ID
 *                [--hook resid_pre] [--reps 3] [--naive]
 *
 * IDS: comma-separated token ids (BOS included), as `circuitc patch --json` prints them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
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

int main(int argc, char **argv)
{
    bench_take_circuitc_kernel(argv);
    const char *model = NULL, *clean_s = NULL, *corrupt_s = NULL, *hook_s = "resid_pre";
    int answer = -1, wrong = -1, reps = 3;
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
        else {
            fprintf(stderr, "patch_kernel: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!model || !clean_s || !corrupt_s || answer < 0 || wrong < 0 || reps < 1) {
        fprintf(stderr, "usage: patch_kernel --model DIR --clean IDS --corrupt IDS --answer ID --wrong ID "
                        "[--hook H] [--reps R] [--naive]\n");
        return 2;
    }
    cc_error err;
    cc_model *m = NULL;
    cc_hook_kind hook;
    int *clean, *corrupt, T = parse_ids(clean_s, &clean);
    if (parse_ids(corrupt_s, &corrupt) != T) {
        fprintf(stderr, "patch_kernel: the prompts differ in length\n");
        return 2;
    }
    if (cc_patch_hook_parse(hook_s, &hook, &err) != 0 || cc_model_load(model, NULL, true, &m, &err) != 0) {
        fprintf(stderr, "patch_kernel: %s\n", err.msg);
        return 1;
    }
    cc_patch_opts o = {.hook = hook, .naive = naive, .kernel = CC_KERNEL_FAST,
                       .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = answer, .wrong = wrong}};
    json_t *secs = json_array(), *cpu = json_array(), *values = json_array();
    cc_patch_result r = {0};
    for (int i = 0; i < reps; i++) {
        cc_patch_result_free(&r);
        double t0 = bench_now(), c0 = cpu_now();
        if (cc_act_patch(m, clean, corrupt, T, &o, &r, &err) != 0) {
            fprintf(stderr, "patch_kernel: %s\n", err.msg);
            return 1;
        }
        json_array_append_new(secs, json_real(bench_now() - t0));
        json_array_append_new(cpu, json_real(cpu_now() - c0));
    }
    for (int l = 0; l < r.n_layers; l++) {
        json_t *row = json_array();
        for (int p = 0; p < r.n_pos; p++) json_array_append_new(row, json_real(r.value[(size_t)l * r.n_pos + p]));
        json_array_append_new(values, row);
    }
    json_t *j = json_pack("{s:o,s:o,s:o,s:f,s:f,s:I,s:i}", "seconds", secs, "cpu_seconds", cpu, "value", values, "clean", r.clean, "corrupt",
                          r.corrupt, "skipped", (json_int_t)r.skipped, "patches", r.n_layers * r.n_pos);
    json_dumpf(j, stdout, JSON_COMPACT);
    printf("\n");
    json_decref(j);
    cc_patch_result_free(&r);
    cc_model_free(m);
    free(clean), free(corrupt);
    return 0;
}
