/* tokenizer_bench.c — encoding speed of the GPT-2 tokenizer against Hugging
 * Face's Rust `tokenizers` (GPT2TokenizerFast's backend) on one core, on the
 * same few MB of text; the ids of the whole-text encode are compared.
 *
 * The text: the source tree's README, docs, C sources and tokenizer corpus
 * (prose, code, many scripts and emoji) concatenated and repeated to ~4 MB,
 * written to $TMPDIR for the Hugging Face side (bench/tokenizer_hf.py, run with
 * golden/.venv's python through popen).
 *
 *   build/bench/tokenizer_bench [--tokenizer DIR] [--python PY] [--reps R] [--mb M]
 * Run from the source root. */
#include <glob.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "benchutil.h"
#include "circuitc/tokenizer.h"

static void append_file(const char *path, char **buf, size_t *len, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (*len + n > *cap) {
            *cap = 2 * (*len + n);
            *buf = realloc(*buf, *cap);
        }
        memcpy(*buf + *len, chunk, n);
        *len += n;
    }
    fclose(f);
}

/* The benchmark text: every file matching the patterns, repeated to at least MB megabytes. */
static char *bench_text(double mb, size_t *len)
{
    static const char *patterns[] = {"README.md", "docs/*.md", "src/*.c", "src/cli/*.c",
                                     "golden/out/gpt2-tokenizer/corpus.jsonl"};
    char *buf = NULL;
    size_t cap = 0, one = 0;
    *len = 0;
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        glob_t g;
        if (glob(patterns[p], 0, NULL, &g) != 0) continue;
        for (size_t i = 0; i < g.gl_pathc; i++) append_file(g.gl_pathv[i], &buf, len, &cap);
        globfree(&g);
    }
    one = *len;
    if (one == 0) return NULL;
    while (*len < mb * 1e6) {
        if (*len + one > cap) {
            cap = 2 * (*len + one);
            buf = realloc(buf, cap);
        }
        memcpy(buf + *len, buf, one);
        *len += one;
    }
    return buf;
}

/* CPU seconds of this process: on a shared machine a fairer clock than the
 * wall clock, which also counts the time other processes hold the cores. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Timings of REPS runs of one task: wall and CPU seconds, the first run and the best. */
typedef struct {
    double first_wall, first_cpu, best_wall, best_cpu;
} timings;

static void record(timings *t, int rep, double wall, double cpu)
{
    if (rep == 0) *t = (timings){wall, cpu, wall, cpu};
    if (wall < t->best_wall) t->best_wall = wall;
    if (cpu < t->best_cpu) t->best_cpu = cpu;
}

/* Timings from the Hugging Face side's [[wall, cpu], ...]. */
static timings from_json(json_t *runs)
{
    timings t = {0};
    for (size_t i = 0; i < json_array_size(runs); i++)
        record(&t, (int)i, json_real_value(json_array_get(json_array_get(runs, i), 0)),
               json_real_value(json_array_get(json_array_get(runs, i), 1)));
    return t;
}

static void report(const char *what, const timings *t, size_t bytes)
{
    printf("%-44s first %7.3f s wall %7.3f s CPU; best %7.3f s wall %7.3f s CPU = %6.2f MB/s CPU\n", what,
           t->first_wall, t->first_cpu, t->best_wall, t->best_cpu, bytes / 1e6 / t->best_cpu);
}

int main(int argc, char **argv)
{
    const char *tokenizer_dir = "third_party/gpt2-tokenizer", *python = "golden/.venv/bin/python";
    int reps = 5;
    double mb = 4;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) tokenizer_dir = argv[++i];
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) python = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) mb = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--tokenizer DIR] [--python PY] [--reps R] [--mb M]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 50) reps = 5;
    size_t len;
    char *text = bench_text(mb, &len);
    if (!text) {
        fprintf(stderr, "tokenizer_bench: no text found; run from the source root\n");
        return 1;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char text_path[4096], ids_path[4096];
    /* per-process names: two benchmarks running at once must not read each other's files */
    snprintf(text_path, sizeof text_path, "%s/circuitc-tokenizer-bench-%ld.txt", tmp, (long)getpid());
    snprintf(ids_path, sizeof ids_path, "%s/circuitc-tokenizer-bench-%ld.ids", tmp, (long)getpid());
    FILE *f = fopen(text_path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "tokenizer_bench: cannot write %s\n", text_path);
        return 1;
    }

    cc_tokenizer *tok;
    cc_error err;
    double t0 = bench_now();
    if (cc_tokenizer_load(tokenizer_dir, &tok, &err) != 0) {
        fprintf(stderr, "tokenizer_bench: %s\n", err.msg);
        return 1;
    }
    double load_s = bench_now() - t0;
    cc_token_ids whole = {0}, lines = {0};
    timings whole_t, lines_t;
    for (int r = 0; r < reps; r++) {
        whole.n = 0;
        double w0 = bench_now(), c0 = cpu_now();
        if (cc_tokenizer_encode(tok, text, len, CC_INVALID_UTF8_ERROR, &whole, &err) != 0) {
            fprintf(stderr, "tokenizer_bench: %s\n", err.msg);
            return 1;
        }
        record(&whole_t, r, bench_now() - w0, cpu_now() - c0);
    }
    for (int r = 0; r < reps; r++) {
        lines.n = 0;
        double w0 = bench_now(), c0 = cpu_now();
        for (size_t at = 0; at < len;) {
            const char *nl = memchr(text + at, '\n', len - at);
            size_t end = nl ? (size_t)(nl - text) + 1 : len;
            cc_tokenizer_encode(tok, text + at, end - at, CC_INVALID_UTF8_ERROR, &lines, &err);
            at = end;
        }
        record(&lines_t, r, bench_now() - w0, cpu_now() - c0);
    }
    printf("text: %.2f MB (%zu ids), tokenizer load %.3f s, %d reps (the first with an empty cache)\n", len / 1e6,
           whole.n, load_s, reps);
    report("circuitc, whole text", &whole_t, len);
    report("circuitc, line by line", &lines_t, len);

    char cmd[12288];
    snprintf(cmd, sizeof cmd, "%s bench/tokenizer_hf.py %s %s %s --reps %d", python, tokenizer_dir, text_path, ids_path,
             reps);
    FILE *p = popen(cmd, "r");
    json_t *hf = p ? json_loadf(p, 0, NULL) : NULL;
    if (p) pclose(p);
    if (!hf) {
        fprintf(stderr, "Hugging Face side failed (is golden/.venv set up? golden/setup-venv)\n");
        return 1;
    }
    timings hf_whole = from_json(json_object_get(hf, "whole_s")), hf_lines = from_json(json_object_get(hf, "lines_s"));
    report("tokenizers, whole text", &hf_whole, len);
    report("tokenizers, encode_batch_fast of lines", &hf_lines, len);
    printf("speed ratio circuitc / tokenizers (best CPU time): whole %.1fx (first runs %.1fx), lines %.1fx; "
           "(best wall time): whole %.1fx, lines %.1fx\n",
           hf_whole.best_cpu / whole_t.best_cpu, hf_whole.first_cpu / whole_t.first_cpu,
           hf_lines.best_cpu / lines_t.best_cpu, hf_whole.best_wall / whole_t.best_wall,
           hf_lines.best_wall / lines_t.best_wall);

    size_t hf_n;
    int32_t *hf_ids = NULL;
    FILE *idf = fopen(ids_path, "rb");
    if (idf) {
        hf_ids = malloc(whole.n * sizeof *hf_ids + 4);
        hf_n = fread(hf_ids, sizeof *hf_ids, whole.n + 1, idf);
        fclose(idf);
    }
    bool same = hf_ids && hf_n == whole.n && memcmp(hf_ids, whole.ids, whole.n * sizeof *hf_ids) == 0;
    bool same_lines = (size_t)json_integer_value(json_object_get(hf, "lines_ids")) == lines.n;
    printf("ids identical to tokenizers: whole text %s, line-by-line count %s\n", same ? "yes" : "NO",
           same_lines ? "yes" : "NO");
    free(hf_ids);
    remove(text_path);
    remove(ids_path);
    json_decref(hf);
    cc_token_ids_free(&whole);
    cc_token_ids_free(&lines);
    cc_tokenizer_free(tok);
    free(text);
    return same && same_lines ? 0 : 1;
}
