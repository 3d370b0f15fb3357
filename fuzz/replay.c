/* replay.c — a plain main() for a harness: runs LLVMFuzzerTestOneInput on
 * saved inputs, so that builds without libFuzzer (gcc, the sanitizer build)
 * replay the seed corpus and every regression input.
 *
 *   fuzz_<target>_replay --fuzz-dir FUZZ_DIR   every file of FUZZ_DIR/corpus/<target>/
 *                                              and of FUZZ_DIR/regress/<target>/ (optional)
 *   fuzz_<target>_replay FILE...               the given inputs (e.g. a crasher)
 *
 * Each input's name is printed before it runs, so a hang or crash names it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"<target name>\""
#endif

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz_%s_replay: cannot open %s: %s\n", FUZZ_TARGET, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    int bad = !buf || ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        fprintf(stderr, "fuzz_%s_replay: cannot read %s\n", FUZZ_TARGET, path);
        return -1;
    }
    printf("  %s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

/* Replays every file of DIR in name order; returns how many, or -1. */
static int replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) return -1;
    int replayed = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && rc == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            rc = replay_file(path);
            replayed++;
        }
        free(names[i]);
    }
    free(names);
    return rc == 0 ? replayed : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--fuzz-dir") == 0) {
        char corpus[4096], regress[4096];
        snprintf(corpus, sizeof corpus, "%s/corpus/%s", argv[2], FUZZ_TARGET);
        snprintf(regress, sizeof regress, "%s/regress/%s", argv[2], FUZZ_TARGET);
        int n_corpus = replay_dir(corpus);
        if (n_corpus <= 0) {
            fprintf(stderr, "fuzz_%s_replay: no seed corpus in %s; every target commits one\n", FUZZ_TARGET, corpus);
            return 1;
        }
        /* A target without a regression input yet has no regress directory. */
        int n_regress = access(regress, F_OK) == 0 ? replay_dir(regress) : 0;
        if (n_regress < 0) {
            fprintf(stderr, "fuzz_%s_replay: cannot replay %s\n", FUZZ_TARGET, regress);
            return 1;
        }
        printf("fuzz_%s: %d seed and %d regression inputs replayed cleanly\n", FUZZ_TARGET, n_corpus, n_regress);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: fuzz_%s_replay --fuzz-dir FUZZ_DIR | FILE...\n", FUZZ_TARGET);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (replay_file(argv[i]) != 0) return 1;
    printf("fuzz_%s: %d inputs replayed cleanly\n", FUZZ_TARGET, argc - 1);
    return 0;
}
