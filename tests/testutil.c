/* testutil.c — helpers shared by the Check suites. */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "circuitc/model.h"
#include <unistd.h>

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = NULL;
    ck_assert(asprintf(&tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp") > 0);
    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp failed");
    return tmpl;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir)
{
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s", path);
    ck_assert(fwrite(data, 1, len, fp) == len);
    ck_assert(fclose(fp) == 0);
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert(fread(buf, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

uint8_t *tu_st_image(const char *header, size_t len_data, size_t *len_out)
{
    size_t n = strlen(header);
    uint8_t *buf = malloc(8 + n + len_data + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < len_data; i++) buf[8 + n + i] = (uint8_t)(i * 7 + 1);
    *len_out = 8 + n + len_data;
    return buf;
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    ssize_t k;
    while ((k = read(fd, s + len, cap - len - 1)) > 0) {
        len += (size_t)k;
        if (cap - len < 2) s = realloc(s, cap *= 2);
    }
    s[len] = 0;
    return s;
}

tu_run_result tu_run(const char *const *argv)
{
    const char *bin = getenv("CIRCUITC_BIN");
    ck_assert_msg(bin != NULL, "CIRCUITC_BIN is not set (run the tests through meson test)");
    char outp[] = "/tmp/circuitc-out-XXXXXX", errp[] = "/tmp/circuitc-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    ck_assert(ofd >= 0 && efd >= 0);
    size_t n = 0;
    while (argv[n]) n++;
    const char **full = calloc(n + 2, sizeof *full);
    full[0] = bin;
    memcpy(full + 1, argv, n * sizeof *argv);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execv(bin, (char *const *)full);
        _exit(127);
    }
    int st;
    struct rusage ru;
    ck_assert(wait4(pid, &st, 0, &ru) == pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(full);
    tu_run_result r = {0};
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    r.max_rss_kb = ru.ru_maxrss;
    lseek(ofd, 0, SEEK_SET);
    lseek(efd, 0, SEEK_SET);
    r.out = slurp_fd(ofd);
    r.err = slurp_fd(efd);
    close(ofd);
    close(efd);
    unlink(outp);
    unlink(errp);
    return r;
}

void tu_run_free(tu_run_result *r)
{
    free(r->out);
    free(r->err);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

json_t *tu_parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "not JSON (%s): %s", jerr.text, text);
    return j;
}

char *tu_tiny_model(const char *seed)
{
    char *dir = tu_tmpdir();
    tu_run_result r = tu_run((const char *const[]){"synth", "--preset", "tiny", "--seed", seed, "--out", dir, NULL});
    ck_assert_msg(r.status == 0, "synth failed: %s", r.err);
    tu_run_free(&r);
    return dir;
}

const char *tu_fixture_model(void)
{
    static char *path;
    cc_error err;
    if (!path) ck_assert_msg(cc_default_model_path(&path, &err) == 0, "%s", err.msg);
    return path;
}

json_t *tu_parse_ok(tu_run_result *r)
{
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    return tu_parse_json(r->out);
}

char *tu_error_text(const char *err)
{
    json_t *j = err[0] == '{' ? json_loads(err, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    char *text = strdup(msg ? msg : err);
    json_decref(j);
    return text;
}

void tu_expect_fail(tu_run_result r, int status, const char *needle)
{
    ck_assert_msg(r.status == status, "exit %d, wanted %d; stderr: %s", r.status, status, r.err);
    ck_assert_msg(r.out[0] == '\0', "stdout not empty on failure: %s", r.out);
    tu_assert_contains(r.err, needle);
    tu_run_free(&r);
}

char *tu_byte_vocab(const char *extra)
{
    json_t *v = json_object();
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        int cp = printable ? b : next++;
        char text[3] = {0};
        if (cp < 0x80) text[0] = (char)cp;
        else text[0] = (char)(0xC0 | cp >> 6), text[1] = (char)(0x80 | (cp & 0x3F));
        json_object_set_new(v, text, json_integer(b));
    }
    json_t *more = json_loads(extra, 0, NULL);
    ck_assert(more != NULL);
    json_object_update(v, more);
    json_decref(more);
    char *out = json_dumps(v, 0);
    json_decref(v);
    return out;
}
