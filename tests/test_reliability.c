/* test_reliability.c — hostile input, faults and resource limits (issue 11):
 * each test is named after the failure it guards against. The CLI is run as a
 * child with its stdout on a chosen file (/dev/full, a file under
 * RLIMIT_FSIZE), extra environment (a fake gnuplot on PATH, CIRCUITC_*), and
 * signals sent at a deterministic point (the fake gnuplot announces itself). */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "circuitc/circuit.h"
#include "circuitc/cleanup.h"
#include "circuitc/config.h"
#include "circuitc/safetensors.h"
#include "circuitc/sha256.h"
#include "circuitc/utf8.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- running circuitc with a chosen stdout, environment and file-size limit ---- */

typedef struct {
    const char *stdout_path;       /* default /dev/null */
    const char *const *env;        /* NAME=VALUE additions, NULL-terminated (may be NULL) */
    long fsize_limit;              /* RLIMIT_FSIZE in bytes (0: none; stderr is then still kept whole);
                                    * SIGXFSZ left at its default, as in a shell */
} run_opts;

typedef struct {
    pid_t pid;
    pid_t copier; /* under a file-size limit: copies stderr from a pipe to ERR_PATH (0: none) */
    char err_path[64];
} child;

/* A process copying a new pipe's contents to the file EFD (so that the limit
 * of the process writing the pipe does not apply); the pipe's write end in *W. */
static pid_t start_copier(int efd, int *w)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        char buf[4096];
        ssize_t k;
        while ((k = read(p[0], buf, sizeof buf)) > 0)
            if (write(efd, buf, (size_t)k) != k) _exit(1);
        _exit(0);
    }
    close(p[0]);
    *w = p[1];
    return pid;
}

static child start(const run_opts *o, const char *const *argv)
{
    const char *bin = getenv("CIRCUITC_BIN");
    ck_assert_msg(bin != NULL, "CIRCUITC_BIN is not set (run the tests through meson test)");
    child c;
    snprintf(c.err_path, sizeof c.err_path, "/tmp/circuitc-rel-err-XXXXXX");
    int efd = mkstemp(c.err_path);
    ck_assert(efd >= 0);
    size_t n = 0;
    while (argv[n]) n++;
    const char **full = calloc(n + 2, sizeof *full);
    full[0] = bin;
    memcpy(full + 1, argv, n * sizeof *argv);
    int errw = efd;
    c.copier = o->fsize_limit ? start_copier(efd, &errw) : 0;
    c.pid = fork();
    ck_assert(c.pid >= 0);
    if (c.pid == 0) {
        for (const char *const *e = o->env; e && *e; e++) putenv((char *)*e);
        int ofd = open(o->stdout_path ? o->stdout_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (ofd < 0) _exit(126);
        dup2(ofd, 1);
        dup2(errw, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        if (o->fsize_limit) {
            signal(SIGXFSZ, SIG_DFL); /* circuitc itself must turn the limit into EFBIG and a message */
            struct rlimit rl = {(rlim_t)o->fsize_limit, (rlim_t)o->fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execv(bin, (char *const *)full);
        _exit(127);
    }
    free(full);
    close(efd);
    if (c.copier) close(errw);
    return c;
}

typedef struct {
    int status; /* exit status, or 128 + signal */
    char *err;
} outcome;

static outcome finish(child *c)
{
    int st;
    while (waitpid(c->pid, &st, 0) < 0) ck_assert(errno == EINTR);
    int copier_st;
    while (c->copier && waitpid(c->copier, &copier_st, 0) < 0) ck_assert(errno == EINTR);
    outcome r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), NULL};
    size_t len;
    r.err = (char *)tu_read_file(c->err_path, &len);
    unlink(c->err_path);
    return r;
}

static outcome run_with(const run_opts *o, const char *const *argv)
{
    child c = start(o, argv);
    return finish(&c);
}

static char *path_in(const char *dir, const char *name)
{
    char *p;
    ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* How many paths match PATTERN. */
static size_t count_matching(const char *pattern)
{
    glob_t g;
    size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static void write_text(const char *path, const char *text) { tu_write_file(path, text, strlen(text)); }

/* ---- 1. a bare CR at the end of a circuit file hung the parser ---------------------- */

START_TEST(circuit_bare_cr_does_not_hang_the_parser)
{
    static const char *texts[] = {"chain: W_E W_U\r", "chain: W_E W_U\r\n", "name: crlf\r\nchain: W_E W_U\r\n",
                                  "name: oldmac\rdescription: CR-only lines\rchain: W_E W_U\r"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cc_circuit *c = NULL;
        cc_error err;
        ck_assert_msg(cc_circuit_parse(texts[i], "t.circuit", &c, &err) == 0, "text %zu: %s", i, err.msg);
        ck_assert_int_eq(cc_circuit_n_terms(c), 2);
        if (i == 3) ck_assert_str_eq(cc_circuit_description(c), "CR-only lines");
        cc_circuit_free(c);
    }
    /* through a file and through CIRCUITC_CIRCUITS */
    char *dir = tu_tmpdir(), *file = path_in(dir, "crend.circuit");
    write_text(file, "chain: W_E W_U\r");
    tu_run_result r = RUN("compile", file);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "W_E W_U");
    tu_run_free(&r);
    char env[4200];
    snprintf(env, sizeof env, "CIRCUITC_CIRCUITS=%s", dir);
    char out[4200];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    outcome o = run_with(&(run_opts){.stdout_path = out, .env = ARGS(env)}, ARGS("compile", "crend"));
    ck_assert_msg(o.status == 0, "%s", o.err);
    free(o.err);
    tu_rmtree(dir);
    free(file), free(dir);
}
END_TEST

/* ---- 2. config sizes: signed overflow of 4 * n_embd, absurd dimensions ---------------- */

static void expect_config_refused(const char *json, const char *needle)
{
    char *dir = tu_tmpdir(), *path = path_in(dir, "config.json");
    write_text(path, json);
    cc_config cfg;
    cc_error err;
    ck_assert_msg(cc_config_load(path, &cfg, &err) == -1, "accepted: %s", json);
    tu_assert_contains(err.msg, path);
    tu_assert_contains(err.msg, needle);
    tu_rmtree(dir);
    free(path), free(dir);
}

START_TEST(config_huge_n_embd_does_not_overflow)
{
    /* n_inner null: the MLP width 4 x n_embd overflowed int (UB) */
    expect_config_refused("{\"n_layer\":1,\"n_head\":1,\"n_embd\":536870912,\"vocab_size\":10,"
                          "\"n_positions\":8,\"n_inner\":null}",
                          "\"n_embd\" is 536870912, above circuitc's limit of 32768");
    /* at the limit the default MLP width 4 x n_embd is computed and fits */
    char *dir = tu_tmpdir(), *path = path_in(dir, "config.json");
    write_text(path, "{\"n_layer\":1,\"n_head\":1,\"n_embd\":32768,\"vocab_size\":10,\"n_positions\":8}");
    cc_config cfg;
    cc_error err;
    ck_assert_msg(cc_config_load(path, &cfg, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cfg.d_mlp, 4 * 32768);
    tu_rmtree(dir);
    free(path), free(dir);
    expect_config_refused("{\"n_layer\":10000000,\"n_head\":1,\"n_embd\":8,\"vocab_size\":10,\"n_positions\":8}",
                          "\"n_layer\" is 10000000, above circuitc's limit of 1024");
    expect_config_refused("{\"n_layer\":1,\"n_head\":1,\"n_embd\":8,\"vocab_size\":10,\"n_positions\":8,"
                          "\"bos_token_id\":2000000}",
                          "\"bos_token_id\" is 2000000");
}
END_TEST

START_TEST(config_limits_are_enforced_at_the_boundary)
{
    cc_config c = {.n_layers = CC_CONFIG_MAX_LAYERS, .n_heads = 1, .d_model = 64, .d_head = 64, .d_mlp = 256,
                   .d_vocab = 100, .n_ctx = 16, .ln_eps = 1e-5, .bos_token_id = 0};
    cc_error err;
    ck_assert_int_eq(cc_config_validate(&c, "cfg", &err), 0);
    c.n_layers++;
    ck_assert_int_eq(cc_config_validate(&c, "cfg", &err), -1);
    tu_assert_contains(err.msg, "layers <= 1024");
    c.n_layers = 1;
    /* every size within its own limit, but the embedding matrix too large */
    c.d_vocab = CC_CONFIG_MAX_VOCAB, c.d_model = CC_CONFIG_MAX_D_MODEL, c.d_head = CC_CONFIG_MAX_D_MODEL;
    ck_assert_int_eq(cc_config_validate(&c, "cfg", &err), -1);
    tu_assert_contains(err.msg, "elements per matrix");
}
END_TEST

/* ---- 3. tensor lookup by name (validation was quadratic in the tensor count) ---------- */

START_TEST(tensor_lookup_by_name_scales_with_many_tensors)
{
    enum { N = 20000 };
    /* names in an order unrelated to their data offsets */
    size_t cap = (size_t)N * 80 + 16, len = 0;
    char *hdr = malloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < N; i++) {
        int id = (int)(((long long)i * 7919) % N);
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                                i ? "," : "", id, i, i + 1);
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    size_t img_len;
    uint8_t *img = tu_st_image(hdr, N, &img_len);
    cc_st_file *f = NULL;
    cc_error err;
    ck_assert_msg(cc_st_parse(img, img_len, "many", &f, &err) == 0, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", (int)(((long long)i * 7919) % N));
        const cc_st_tensor *t = cc_st_find(f, name);
        ck_assert_msg(t != NULL, "%s not found", name);
        ck_assert_uint_eq(t->begin, (uint64_t)i);
    }
    ck_assert_ptr_null(cc_st_find(f, "t"));
    ck_assert_ptr_null(cc_st_find(f, "t20000"));
    ck_assert_ptr_null(cc_st_find(f, ""));
    cc_st_close(f);
    free(img);
    free(hdr);
}
END_TEST

/* The safetensors image of a header with N one-byte tensors (header bytes in *HEADER_LEN). Caller frees. */
static uint8_t *many_tensors_image(int n, size_t *img_len, size_t *header_len)
{
    size_t cap = (size_t)n * 80 + 16, len = 0;
    char *hdr = malloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"tensor.%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                                i ? "," : "", i, i, i + 1);
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    uint8_t *img = tu_st_image(hdr, (size_t)n, img_len);
    *header_len = len;
    free(hdr);
    return img;
}

START_TEST(large_header_is_parsed_in_bounded_memory)
{
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's shadow memory and redzones make RSS meaningless here; the normal build checks it */
    return;
#endif
    size_t img_len, header_len;
    uint8_t *img = many_tensors_image(300000, &img_len, &header_len);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) { /* a fresh process, so its peak RSS is this parse's */
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        cc_st_file *f = NULL;
        cc_error err;
        int rc = cc_st_parse(img, img_len, "many", &f, &err);
        getrusage(RUSAGE_SELF, &after);
        double growth = 1024.0 * (double)(after.ru_maxrss - before.ru_maxrss);
        /* a jansson tree of this header took about 20 bytes per header byte */
        _exit(rc != 0 ? 2 : growth > 6.0 * (double)header_len ? 3 : 0);
    }
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "parse failed (2) or used more than 6 bytes per header byte "
                  "(3): status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    free(img);
}
END_TEST

/* ---- 4. a FIFO, device or directory where a file is expected blocked or misled -------- */

START_TEST(special_files_are_refused_without_blocking)
{
    char *model = tu_tiny_model("3");
    char *dir = tu_tmpdir();
    char *cfg = path_in(model, "config.json"), *weights = path_in(model, "model.safetensors");
    /* a folder whose model.safetensors is a FIFO */
    char *fifo_model = path_in(dir, "fifo-weights"), *fifo_w = path_in(fifo_model, "model.safetensors");
    ck_assert_int_eq(mkdir(fifo_model, 0755), 0);
    ck_assert_int_eq(mkfifo(fifo_w, 0644), 0);
    tu_run_result r = RUN("info", "--model", fifo_model, "--config", cfg);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "model.safetensors: is a FIFO (named pipe), not a regular file");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    /* a FIFO and a directory as config.json */
    char *fifo_cfg = path_in(dir, "config-fifo.json"), *dir_cfg = path_in(dir, "config-dir.json");
    ck_assert_int_eq(mkfifo(fifo_cfg, 0644), 0);
    ck_assert_int_eq(mkdir(dir_cfg, 0755), 0);
    r = RUN("info", "--model", weights, "--config", fifo_cfg);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "config-fifo.json: is a FIFO (named pipe), not a regular file; the config");
    tu_run_free(&r);
    r = RUN("info", "--model", weights, "--config", dir_cfg);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "config-dir.json: is a directory, not a regular file");
    tu_run_free(&r);
    /* a character device as the weights */
    r = RUN("info", "--model", "/dev/zero", "--config", cfg);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "/dev/zero: is a character device, not a regular file");
    tu_run_free(&r);
    /* a FIFO as a .circuit */
    char *fifo_circuit = path_in(dir, "x.circuit");
    ck_assert_int_eq(mkfifo(fifo_circuit, 0644), 0);
    r = RUN("compile", fifo_circuit, "--model", model);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "x.circuit: is a FIFO (named pipe), not a regular file; the circuit file");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    tu_rmtree(dir), tu_rmtree(model);
    free(fifo_circuit), free(fifo_cfg), free(dir_cfg), free(fifo_w), free(fifo_model), free(cfg), free(weights);
    free(dir), free(model);
}
END_TEST

/* Runs ARGV, expecting exit STATUS, NEEDLE on stderr and nothing on stdout. */
static void expect_refused(const char *const *argv, int status, const char *needle)
{
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == status, "%s %s: exit %d, want %d: %s", argv[0], argv[1], r.status, status, r.err);
    tu_assert_contains(r.err, needle);
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
}

/* A FIFO as a tokenizer file or as --prompt-file blocked the same way. */
START_TEST(tokenizer_and_prompt_fifos_are_refused_without_blocking)
{
    char *dir = tu_tmpdir(), *pair_dir = path_in(dir, "pair"), *json_dir = path_in(dir, "json");
    ck_assert_int_eq(mkdir(pair_dir, 0755), 0);
    ck_assert_int_eq(mkdir(json_dir, 0755), 0);
    /* vocab.json a FIFO beside an ordinary merges.txt */
    char *vocab = path_in(pair_dir, "vocab.json"), *merges = path_in(pair_dir, "merges.txt");
    ck_assert_int_eq(mkfifo(vocab, 0644), 0);
    write_text(merges, "#version: 0.2\n");
    expect_refused(ARGS("tokenize", "--tokenizer", pair_dir, "hello"), 1,
                   "vocab.json: is a FIFO (named pipe), not a regular file; the tokenizer vocabulary");
    /* tokenizer.json a FIFO */
    char *tokenizer_json = path_in(json_dir, "tokenizer.json");
    ck_assert_int_eq(mkfifo(tokenizer_json, 0644), 0);
    expect_refused(ARGS("tokenize", "--tokenizer", json_dir, "hello"), 1,
                   "tokenizer.json: is a FIFO (named pipe), not a regular file; the tokenizer file");
    /* --prompt-file a FIFO, with GPT-2's tokenizer */
    char *prompts = path_in(dir, "prompts.txt");
    ck_assert_int_eq(mkfifo(prompts, 0644), 0);
    expect_refused(ARGS("tokenize", "--tokenizer", getenv("CIRCUITC_GPT2_TOKENIZER"), "--prompt-file", prompts), 1,
                   "prompts.txt: is a FIFO (named pipe), not a regular file; the prompt file (--prompt-file)");
    tu_rmtree(dir);
    free(prompts), free(tokenizer_json), free(vocab), free(merges), free(json_dir), free(pair_dir), free(dir);
}
END_TEST

START_TEST(checksum_of_a_fifo_is_refused_without_blocking)
{
    char *dir = tu_tmpdir(), *fifo = path_in(dir, "weights.fifo");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    char hex[65];
    cc_error err;
    ck_assert_int_eq(cc_sha256_file(fifo, hex, &err), -1);
    tu_assert_contains(err.msg, "weights.fifo: is a FIFO (named pipe), not a regular file");
    tu_rmtree(dir);
    free(fifo), free(dir);
}
END_TEST

/* ---- 6. write errors: stdout, --json on a full disk, truncated images ------------------ */

START_TEST(stdout_write_error_exits_1_with_a_message)
{
    const char *const *cmds[] = {ARGS("info"), ARGS("info", "--json"), ARGS("kcomp", "L0H0", "L1H0", "--json"),
                                 ARGS("compile", "kcomp", "--bind", "prev=L0H0", "--bind", "ind=L1H0"),
                                 ARGS("--help")};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        outcome o = run_with(&(run_opts){.stdout_path = "/dev/full"}, cmds[i]);
        ck_assert_msg(o.status == 1, "%s > /dev/full exited %d: %s", cmds[i][0], o.status, o.err);
        tu_assert_contains(o.err, "cannot write standard output: No space left on device");
        free(o.err);
    }
}
END_TEST

START_TEST(json_into_a_full_disk_fails_loudly)
{
    char *dir = tu_tmpdir(), *out = path_in(dir, "info.json");
    /* a file-size limit below the JSON's size: the write fails with EFBIG like a full disk */
    outcome o = run_with(&(run_opts){.stdout_path = out, .fsize_limit = 64}, ARGS("info", "--json"));
    ck_assert_msg(o.status == 1, "exit %d: %s", o.status, o.err);
    tu_assert_contains(o.err, "cannot write standard output: File too large");
    free(o.err);
    tu_rmtree(dir);
    free(out), free(dir);
}
END_TEST

/* A bin directory holding an executable "gnuplot" running the shell SCRIPT. */
static char *fake_gnuplot(const char *script)
{
    char *bin = tu_tmpdir(), *gp = path_in(bin, "gnuplot");
    char *text;
    ck_assert(asprintf(&text, "#!/bin/sh\n%s\n", script) > 0);
    write_text(gp, text);
    ck_assert_int_eq(chmod(gp, 0755), 0);
    free(text), free(gp);
    return bin;
}

/* "PATH=BIN:$PATH" (caller frees). */
static char *path_env(const char *bin)
{
    char *e;
    ck_assert(asprintf(&e, "PATH=%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") > 0);
    return e;
}

/* The fake gnuplots read the output path from the driver script's "set output '...'" line. */
#define GP_OUTPUT "out=$(sed -n \"s/^set output '\\(.*\\)'$/\\1/p\" \"$1\")"

START_TEST(truncated_image_is_not_renamed_into_place)
{
    /* gnuplot exits 0 after a short write (what it does on a full disk) */
    char *bin = fake_gnuplot(GP_OUTPUT "\nprintf '\\211PNG\\r\\n\\032\\n\\0\\0\\0\\rIHDR' > \"$out\"\nexit 0");
    char *dir = tu_tmpdir(), *png = path_in(dir, "k.png"), *svg = path_in(dir, "k.svg"), *pe = path_env(bin);
    char tmpdir_env[4200], pattern[4200];
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", dir);
    outcome o = run_with(&(run_opts){.env = ARGS(pe, tmpdir_env)}, ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "gnuplot wrote an incomplete PNG image");
    ck_assert_int_eq(access(png, F_OK), -1);
    free(o.err);
    char *bin2 = fake_gnuplot(GP_OUTPUT "\nprintf '<svg xmlns=\"http://www.w3.org/2000/svg\">\\n<g>' > \"$out\"");
    char *pe2 = path_env(bin2);
    o = run_with(&(run_opts){.env = ARGS(pe2, tmpdir_env)}, ARGS("kcomp", "L0H0", "L1H0", "--plot", svg));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "gnuplot wrote an incomplete SVG image");
    ck_assert_int_eq(access(svg, F_OK), -1);
    free(o.err);
    snprintf(pattern, sizeof pattern, "%s/*", dir);
    ck_assert_uint_eq(count_matching(pattern), 0); /* no temporary image, no chart directory */
    tu_rmtree(dir), tu_rmtree(bin), tu_rmtree(bin2);
    free(png), free(svg), free(pe), free(pe2), free(dir), free(bin), free(bin2);
}
END_TEST

/* ---- 7. non-UTF-8 text ------------------------------------------------------------------ */

START_TEST(non_utf8_model_path_is_refused_clearly_with_json)
{
    char *model = tu_tiny_model("3"), *dir = tu_tmpdir();
    char *link = path_in(dir, "caf\xff");
    ck_assert_int_eq(symlink(model, link), 0);
    const char *const *cmds[] = {ARGS("info", "--json", "--model", link), ARGS("heads", "--json", "--model", link),
                                 ARGS("kcomp", "L0H0", "L1H0", "--json", "--model", link),
                                 ARGS("repeat", "--json", "--model", link)};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        tu_run_result r = tu_run(cmds[i]);
        ck_assert_msg(r.status == 1, "%s exited %d", cmds[i][0], r.status);
        tu_assert_contains(r.err, "is not valid UTF-8, and --json output");
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
    tu_run_result r = RUN("info", "--model", link); /* without --json the path is printed as it is */
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "caf\xff");
    tu_run_free(&r);
    tu_rmtree(dir), tu_rmtree(model);
    free(link), free(dir), free(model);
}
END_TEST

START_TEST(invalid_utf8_in_circuit_file_reports_line_and_column)
{
    cc_circuit *c = NULL;
    cc_error err;
    ck_assert_int_eq(cc_circuit_parse("name: x\ndescription: caf\xff\nchain: W_E W_U\n", "d.circuit", &c, &err), -1);
    tu_assert_contains(err.msg, "d.circuit:2:17: invalid UTF-8 (byte 0xff)");
    /* overlong, surrogate and truncated sequences too; valid multi-byte text passes */
    ck_assert_int_eq(cc_circuit_parse("description: \xc0\xaf\nchain: W_E W_U\n", "o.circuit", &c, &err), -1);
    tu_assert_contains(err.msg, "o.circuit:1:14: invalid UTF-8");
    ck_assert_int_eq(cc_circuit_parse("description: \xed\xa0\x80\nchain: W_E W_U\n", "s.circuit", &c, &err), -1);
    ck_assert_int_eq(cc_circuit_parse("description: \xe2\x82\nchain: W_E W_U\n", "t.circuit", &c, &err), -1);
    ck_assert_int_eq(cc_circuit_parse("description: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\nchain: W_E W_U\n",
                                      "ok.circuit", &c, &err), 0);
    cc_circuit_free(c);
    ck_assert(!cc_utf8_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
    /* through the CLI: the message, not "out of memory" */
    char *dir = tu_tmpdir(), *file = path_in(dir, "d.circuit");
    write_text(file, "description: caf\xff\nchain: W_E W_U\n");
    tu_run_result r = RUN("compile", file, "--json");
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "d.circuit:1:17: invalid UTF-8");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(file), free(dir);
}
END_TEST

/* ---- 8. CLI numbers ---------------------------------------------------------------------- */

START_TEST(signed_or_spaced_numbers_are_refused)
{
    expect_refused(ARGS("synth", "--seed", " -5", "--out", "/tmp/never"), 2, "--seed takes a non-negative integer");
    expect_refused(ARGS("synth", "--seed", "+5", "--out", "/tmp/never"), 2, "--seed takes a non-negative integer");
    expect_refused(ARGS("synth", "--seed", "18446744073709551616", "--out", "/tmp/never"), 2, "at most 18446744073709551615");
    expect_refused(ARGS("kcomp", "L0H0", "L1H0", "--components", " -1"), 2,
                   "--components takes an integer between 0 and 100000 (digits only), got \" -1\"");
    /* an option with a small range states that range, not the 64-bit limit of the digits */
    expect_refused(ARGS("kcomp", "L0H0", "L1H0", "--k", "99999999999999999999999"), 2,
                   "--k takes an integer between 1 and 64 (digits only)");
    expect_refused(ARGS("kcomp", "L0H0", "L1H0", "--components", "100001"), 2, "--components must be between 0 and 100000");
    expect_refused(ARGS("comp-scores", "--top", "0"), 2, "--top must be between 1 and 1000000");
    expect_refused(ARGS("repeat", "--seq-len", "5 "), 2, "--seq-len takes an integer between 1 and 1000000");
    expect_refused(ARGS("repeat", "--batch", "0x10"), 2, "--batch takes an integer between 1 and 1000000");
}
END_TEST

/* Both ends of an option's range are accepted, one past either end refused. */
START_TEST(numbers_at_the_ends_of_a_range_are_accepted)
{
    static const char *const ends[] = {"1", "64"};
    for (int i = 0; i < 2; i++) {
        tu_run_result r = RUN("kcomp", "L0H0", "L1H0", "--k", ends[i], "--json");
        ck_assert_msg(r.status == 0, "--k %s: exit %d: %s", ends[i], r.status, r.err);
        json_t *j = tu_parse_json(r.out);
        ck_assert_int_eq(json_array_size(json_object_get(json_object_get(j, "rows"), "topk_accuracy")),
                         atoi(ends[i]));
        json_decref(j);
        tu_run_free(&r);
    }
    expect_refused(ARGS("kcomp", "L0H0", "L1H0", "--k", "0"), 2, "--k must be between 1 and 64");
    expect_refused(ARGS("kcomp", "L0H0", "L1H0", "--k", "65"), 2, "--k must be between 1 and 64");
}
END_TEST

START_TEST(report_out_file_says_not_a_directory_once)
{
    char *dir = tu_tmpdir(), *file = path_in(dir, "plain");
    write_text(file, "x");
    tu_run_result r = RUN("report", "--out", file);
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "Not a directory");
    const char *first = strstr(r.err, "Not a directory");
    ck_assert_msg(strstr(first + 1, "Not a directory") == NULL, "repeated: %s", r.err);
    ck_assert_msg(strstr(r.err, "report: circuitc") == NULL, "a step ran: %s", r.err);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(file), free(dir);
}
END_TEST

START_TEST(report_seq_len_is_checked_against_n_ctx_before_any_step)
{
    char *dir = tu_tmpdir(), *out = path_in(dir, "rep");
    tu_run_result r = RUN("report", "--out", out, "--seq-len", "1000");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "--seq-len 1000 is too long for this model");
    ck_assert_msg(strstr(r.err, "report: circuitc") == NULL, "a step ran: %s", r.err);
    ck_assert_int_eq(access(out, F_OK), -1); /* nothing created */
    tu_run_free(&r);
    tu_rmtree(dir);
    free(out), free(dir);
}
END_TEST

START_TEST(batch_that_cannot_fit_in_memory_is_refused_with_the_estimate)
{
    tu_run_result r = RUN("repeat", "--batch", "1000000");
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "--batch 1000000 needs about");
    tu_assert_contains(r.err, "available");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    r = RUN("heads", "--batch", "2", "--seq-len", "8");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_run_free(&r);
}
END_TEST

/* ---- 9. children and signals -------------------------------------------------------------- */

static void wait_for(const char *path);

/* Reads the process id written in PATH. */
static pid_t pid_in(const char *path)
{
    size_t len;
    char *text = (char *)tu_read_file(path, &len);
    pid_t pid = (pid_t)atol(text);
    free(text);
    ck_assert_msg(pid > 1, "no process id in %s", path);
    return pid;
}

/* Whether process PID is the fake gnuplot's `sleep 30` (its command line):
 * once that child is gone its id can be reused by any process, and with
 * pid_max 32768 on a busy machine it can be within seconds. */
static bool is_our_sleep(pid_t pid)
{
    char path[64], cmd[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    return n == sizeof "sleep\0" "30" && memcmp(cmd, "sleep\0" "30", n) == 0;
}

/* Asserts that process PID, the fake gnuplot's child, is gone (or a zombie
 * awaiting its new parent) within 5 s. */
static void assert_process_gone(pid_t pid)
{
    char stat_path[64], state = 0;
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", (long)pid);
    for (int i = 0; i < 5000; i++) {
        FILE *f = fopen(stat_path, "r");
        if (!f) return;
        int got = fscanf(f, "%*d (%*[^)]) %c", &state);
        fclose(f);
        if (got == 1 && (state == 'Z' || state == 'X')) return;
        if (!is_our_sleep(pid)) return; /* gone, its id taken by another process */
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    kill(pid, SIGKILL);
    ck_abort_msg("process %ld started by gnuplot is still running (state %c)", (long)pid, state);
}

/* A fake gnuplot that starts a sleeping child (its pid into PIDFILE), announces
 * itself by creating MARKER, and waits. */
static char *gnuplot_with_a_child(const char *pidfile, const char *marker)
{
    char *script, *bin;
    ck_assert(asprintf(&script, "sleep 30 &\necho $! > '%s'\ntouch '%s'\nwait", pidfile, marker) > 0);
    bin = fake_gnuplot(script);
    free(script);
    return bin;
}

START_TEST(hung_gnuplot_is_stopped_with_its_children)
{
    char *dir = tu_tmpdir(), *pidfile = path_in(dir, "child.pid"), *marker = path_in(dir, "started");
    char *work = path_in(dir, "work"), *png = path_in(dir, "k.png"), tmpdir_env[4200];
    char *bin = gnuplot_with_a_child(pidfile, marker), *pe = path_env(bin);
    ck_assert_int_eq(mkdir(work, 0755), 0);
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", work);
    outcome o = run_with(&(run_opts){.env = ARGS(pe, tmpdir_env, "CIRCUITC_GNUPLOT_TIMEOUT=1")},
                         ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "gnuplot did not finish within 1 s");
    assert_process_gone(pid_in(pidfile));
    free(o.err);
    /* the same when circuitc is stopped by a signal while gnuplot runs */
    unlink(pidfile), unlink(marker);
    child c = start(&(run_opts){.env = ARGS(pe, tmpdir_env)}, ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    wait_for(marker);
    kill(c.pid, SIGTERM);
    o = finish(&c);
    ck_assert_msg(o.status == 128 + SIGTERM, "exit %d: %s", o.status, o.err);
    assert_process_gone(pid_in(pidfile));
    free(o.err);
    tu_rmtree(dir), tu_rmtree(bin);
    free(pidfile), free(marker), free(work), free(png), free(pe), free(dir), free(bin);
}
END_TEST

START_TEST(hung_gnuplot_times_out)
{
    char *bin = fake_gnuplot("exec sleep 30"), *dir = tu_tmpdir(), *png = path_in(dir, "k.png"), *pe = path_env(bin);
    char tmpdir_env[4200], pattern[4200];
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", dir);
    outcome o = run_with(&(run_opts){.env = ARGS(pe, tmpdir_env, "CIRCUITC_GNUPLOT_TIMEOUT=1")},
                         ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "gnuplot did not finish within 1 s");
    free(o.err);
    snprintf(pattern, sizeof pattern, "%s/*", dir);
    ck_assert_uint_eq(count_matching(pattern), 0);
    o = run_with(&(run_opts){.env = ARGS(pe, "CIRCUITC_GNUPLOT_TIMEOUT=-3")}, ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "CIRCUITC_GNUPLOT_TIMEOUT must be a whole number of seconds");
    free(o.err);
    tu_rmtree(dir), tu_rmtree(bin);
    free(png), free(pe), free(dir), free(bin);
}
END_TEST

/* Waits (up to 60 s) until PATH exists. */
static void wait_for(const char *path)
{
    for (int i = 0; i < 60000 && access(path, F_OK) != 0; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_msg(access(path, F_OK) == 0, "%s never appeared", path);
}

static void signal_during_plot_leaves_nothing(int sig)
{
    char *dir = tu_tmpdir(), *marker = path_in(dir, "gnuplot-started");
    char *script;
    ck_assert(asprintf(&script, "touch '%s'\nexec sleep 30", marker) > 0);
    char *bin = fake_gnuplot(script), *pe = path_env(bin);
    char *work = path_in(dir, "work"), *png = path_in(work, "k.png"), tmpdir_env[4200], pattern[4200];
    ck_assert_int_eq(mkdir(work, 0755), 0);
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", work);
    child c = start(&(run_opts){.env = ARGS(pe, tmpdir_env)}, ARGS("kcomp", "L0H0", "L1H0", "--plot", png));
    wait_for(marker);
    kill(c.pid, sig);
    outcome o = finish(&c);
    ck_assert_msg(o.status == 128 + sig, "exit %d, want death by signal %d: %s", o.status, sig, o.err);
    snprintf(pattern, sizeof pattern, "%s/*", work);
    ck_assert_msg(count_matching(pattern) == 0, "left behind in %s", work); /* k.png.tmp-*, circuitc-plot-* */
    free(o.err);
    tu_rmtree(dir), tu_rmtree(bin);
    free(script), free(marker), free(pe), free(work), free(png), free(dir), free(bin);
}

START_TEST(sigterm_during_plot_removes_temporary_files)
{
    signal_during_plot_leaves_nothing(SIGTERM);
}
END_TEST

START_TEST(sigint_during_plot_removes_temporary_files)
{
    signal_during_plot_leaves_nothing(SIGINT);
}
END_TEST

START_TEST(sigterm_during_report_stops_the_step_and_removes_temporary_files)
{
    char *dir = tu_tmpdir(), *marker = path_in(dir, "gnuplot-started"), *script;
    ck_assert(asprintf(&script, "touch '%s'\nexec sleep 30", marker) > 0);
    char *bin = fake_gnuplot(script), *pe = path_env(bin);
    char *work = path_in(dir, "work"), *out = path_in(dir, "report"), tmpdir_env[4200], pattern[4200];
    ck_assert_int_eq(mkdir(work, 0755), 0);
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", work);
    child c = start(&(run_opts){.env = ARGS(pe, tmpdir_env)}, ARGS("report", "--out", out));
    wait_for(marker); /* the first step (comp-scores) is drawing its chart */
    kill(c.pid, SIGTERM);
    outcome o = finish(&c);
    ck_assert_msg(o.status == 128 + SIGTERM, "exit %d: %s", o.status, o.err);
    snprintf(pattern, sizeof pattern, "%s/*", work);
    ck_assert_msg(count_matching(pattern) == 0, "the step's chart directory was left in %s", work);
    snprintf(pattern, sizeof pattern, "%s/.*tmp*", out);
    ck_assert_msg(count_matching(pattern) == 0, "step output left in %s", out);
    snprintf(pattern, sizeof pattern, "%s/*tmp*", out);
    ck_assert_msg(count_matching(pattern) == 0, "temporary chart left in %s", out);
    free(o.err);
    tu_rmtree(dir), tu_rmtree(bin);
    free(script), free(marker), free(pe), free(work), free(out), free(dir), free(bin);
}
END_TEST

START_TEST(sigterm_during_synth_removes_the_partial_model)
{
    char *dir = tu_tmpdir(), *out = path_in(dir, "m"), pattern[4200];
    child c = start(&(run_opts){0}, ARGS("synth", "--preset", "gpt2-small", "--out", out));
    snprintf(pattern, sizeof pattern, "%s/model.safetensors.tmp-*", out);
    for (int i = 0; i < 60000 && count_matching(pattern) == 0; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    ck_assert_msg(count_matching(pattern) == 1, "synth never started writing");
    kill(c.pid, SIGTERM);
    outcome o = finish(&c);
    ck_assert_msg(o.status == 128 + SIGTERM, "exit %d: %s", o.status, o.err);
    ck_assert_uint_eq(count_matching(pattern), 0);
    snprintf(pattern, sizeof pattern, "%s/model.safetensors", out);
    ck_assert_uint_eq(count_matching(pattern), 0);
    free(o.err);
    tu_rmtree(dir);
    free(out), free(dir);
}
END_TEST

/* A thread that never blocks SIGTERM, like OpenBLAS' workers. */
static void *idle_thread(void *arg)
{
    (void)arg;
    for (;;) pause();
    return NULL;
}

/* A SIGTERM sent to the process while the installing thread had it blocked
 * (between creating a file and registering it) went to another thread, whose
 * handler cleaned up without the file and killed the process: the partial
 * model of a `synth` stayed behind when OpenBLAS ran its own threads. */
START_TEST(signal_taken_by_another_thread_still_removes_the_file_being_registered)
{
    char *dir = tu_tmpdir(), *path = path_in(dir, "partial.tmp");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cc_cleanup_install();
        pthread_t t;
        if (pthread_create(&t, NULL, idle_thread, NULL) != 0) _exit(3);
        sigset_t old;
        cc_cleanup_block(&old);
        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        if (fd < 0) _exit(4);
        close(fd);
        kill(getpid(), SIGTERM);                               /* only the idle thread can take it now */
        nanosleep(&(struct timespec){0, 200000000}, NULL); /* ... and it has, by now */
        cc_cleanup_add(path);
        cc_cleanup_unblock(&old); /* the handler runs here, on this thread */
        _exit(5);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x: not killed by SIGTERM", status);
    ck_assert_msg(access(path, F_OK) != 0, "%s was left behind", path);
    tu_rmtree(dir);
    free(path), free(dir);
}
END_TEST

/* ---- 10. a file-size limit (ulimit -f) killed circuitc silently ------------------------ */

/* The names in DIR matching *TMP*, *.partial or circuitc-* (temporary files and chart directories). */
static size_t temporaries_in(const char *dir)
{
    static const char *const globs[] = {"*tmp*", ".*tmp*", "*.partial", "circuitc-*"};
    size_t n = 0;
    char pattern[4200];
    for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++) {
        snprintf(pattern, sizeof pattern, "%s/%s", dir, globs[i]);
        n += count_matching(pattern);
    }
    return n;
}

/* Runs ARGV with stdout on DIR/stdout, TMPDIR=DIR/scratch and files limited to LIMIT bytes:
 * it must exit 1 with NEEDLE on stderr and leave no temporary file in DIR or DIR/scratch. */
static void expect_fsize_failure(const char *dir, long limit, const char *const *argv, const char *needle)
{
    char *out = path_in(dir, "stdout"), *tmp = path_in(dir, "scratch"), tmpdir_env[4200];
    mkdir(tmp, 0755);
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", tmp);
    outcome o = run_with(&(run_opts){.stdout_path = out, .env = ARGS(tmpdir_env), .fsize_limit = limit}, argv);
    ck_assert_msg(o.status == 1, "%s: exit %d, want 1: %s", argv[0], o.status, o.err);
    tu_assert_contains(o.err, needle);
    ck_assert_msg(temporaries_in(dir) == 0 && temporaries_in(tmp) == 0, "%s left temporary files", argv[0]);
    free(o.err), free(out), free(tmp);
}

START_TEST(file_size_limit_is_an_error_message_not_a_silent_death)
{
    char *dir = tu_tmpdir(), *png = path_in(dir, "k.png"), *model = path_in(dir, "m"), *rep = path_in(dir, "r");
    expect_fsize_failure(dir, 1024, ARGS("kcomp", "L0H0", "L1H0", "--plot", png), "k.png");
    ck_assert_int_eq(access(png, F_OK), -1);
    expect_fsize_failure(dir, 1 << 20, ARGS("synth", "--preset", "gpt2-small", "--out", model), "File too large");
    ck_assert_int_eq(access(model, F_OK), 0);
    expect_fsize_failure(dir, 1024, ARGS("report", "--out", rep), "File too large");
    ck_assert_uint_eq(temporaries_in(rep), 0);
    tu_rmtree(dir);
    free(png), free(model), free(rep), free(dir);
}
END_TEST

START_TEST(report_step_failing_on_a_full_disk_says_why)
{
    /* a limit so small that a step's error message would not fit in a file either */
    char *dir = tu_tmpdir(), *rep = path_in(dir, "r"), *scratch = path_in(dir, "scratch"), tmpdir_env[4200];
    ck_assert_int_eq(mkdir(scratch, 0755), 0);
    snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s", scratch);
    outcome o = run_with(&(run_opts){.env = ARGS(tmpdir_env), .fsize_limit = 16}, ARGS("report", "--out", rep));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "report: step comp-scores failed: exit status 1: circuitc: error: ");
    ck_assert_msg(strstr(o.err, "(no message)") == NULL, "a step's message was lost: %s", o.err);
    free(o.err);
    tu_rmtree(dir);
    free(rep), free(scratch), free(dir);
}
END_TEST

START_TEST(report_step_that_fails_leaves_no_json)
{
    /* every step prints its analysis, then its chart fails */
    char *bin = fake_gnuplot("echo 'gnuplot: broken' >&2\nexit 1"), *pe = path_env(bin);
    char *dir = tu_tmpdir(), *rep = path_in(dir, "r"), pattern[4200];
    outcome o = run_with(&(run_opts){.env = ARGS(pe)}, ARGS("report", "--out", rep));
    ck_assert_int_eq(o.status, 1);
    tu_assert_contains(o.err, "report: step repeat failed: exit status 1: circuitc: error: gnuplot failed");
    snprintf(pattern, sizeof pattern, "%s/*.json", rep);
    ck_assert_msg(count_matching(pattern) == 0, "a failed step's JSON is in %s", rep);
    ck_assert_uint_eq(temporaries_in(rep), 0);
    free(o.err);
    tu_rmtree(dir), tu_rmtree(bin);
    free(rep), free(pe), free(dir), free(bin);
}
END_TEST

/* ---- 11. an output path replaced whatever was there ---------------------------------- */

/* A fake gnuplot drawing a complete (signature + IEND) PNG. */
#define GP_COMPLETE_PNG GP_OUTPUT "\nprintf '\\211PNG\\r\\n\\032\\n\\0\\0\\0\\0IEND\\256B`\\202' > \"$out\""

/* Writes PATH with `atlas --out PATH` (CHART false) or `kcomp L0H0 L1H0 --plot
 * PATH` (a fake gnuplot's complete PNG). */
static outcome write_output(bool chart, const char *path)
{
    if (!chart) return run_with(&(run_opts){0}, ARGS("atlas", "--out", path, "--quiet"));
    char *bin = fake_gnuplot(GP_COMPLETE_PNG), *pe = path_env(bin);
    outcome o = run_with(&(run_opts){.env = ARGS(pe)}, ARGS("kcomp", "L0H0", "L1H0", "--plot", path));
    tu_rmtree(bin);
    free(pe), free(bin);
    return o;
}

/* What each kind of output starts with. */
static const char *output_head(bool chart) { return chart ? "\x89PNG" : "{\"atlas\":1"; }

static mode_t lstat_type(const char *path)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & S_IFMT;
}

/* No name in DIR contains ".tmp" or ".partial". */
static void assert_no_leftovers(const char *dir)
{
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/*.tmp*", dir);
    ck_assert_msg(count_matching(pattern) == 0, "temporary file left in %s", dir);
    snprintf(pattern, sizeof pattern, "%s/*.partial", dir);
    ck_assert_msg(count_matching(pattern) == 0, "partial file left in %s", dir);
}

/* A reader copying the FIFO at PATH into COPY (a child process). */
static pid_t start_fifo_reader(const char *path, const char *copy)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open(path, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buf[4096];
        ssize_t k;
        while (in >= 0 && out >= 0 && (k = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)k) != k) _exit(1);
        _exit(in >= 0 && out >= 0 ? 0 : 1);
    }
    return pid;
}

/* Waits up to 10 s for the reader; then kills it (nothing ever opened the FIFO). */
static void stop_fifo_reader(pid_t pid)
{
    int st;
    for (int i = 0; i < 10000 && waitpid(pid, &st, WNOHANG) == 0; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (kill(pid, SIGKILL) == 0) waitpid(pid, &st, 0);
}

static void assert_file_starts_with(const char *path, const char *head)
{
    size_t len;
    char *text = (char *)tu_read_file(path, &len);
    ck_assert_msg(len >= strlen(head) && memcmp(text, head, strlen(head)) == 0, "%s does not start with %s", path,
                  head);
    free(text);
}

START_TEST(output_onto_a_device_or_fifo_writes_it_without_replacing_it)
{
    for (int chart = 0; chart < 2; chart++) {
        char *dir = tu_tmpdir(), *dev = path_in(dir, "dev.png"), *null_link = path_in(dir, "null.png");
        char *fifo = path_in(dir, "fifo.png"), *copy = path_in(dir, "fifo-copy");
        /* a character device: made here when allowed (root), else /dev/null through a link */
        if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
            outcome o = write_output(chart, dev);
            ck_assert_msg(o.status == 0, "onto a device: exit %d: %s", o.status, o.err);
            ck_assert_msg(lstat_type(dev) == S_IFCHR, "the device node was replaced");
            free(o.err);
        }
        ck_assert_int_eq(symlink("/dev/null", null_link), 0);
        outcome o = write_output(chart, null_link);
        ck_assert_msg(o.status == 0, "onto a link to /dev/null: exit %d: %s", o.status, o.err);
        ck_assert_msg(lstat_type(null_link) == S_IFLNK, "the link to /dev/null was replaced");
        free(o.err);
        if (!chart) { /* nothing to resume from: a device has no partial file */
            o = run_with(&(run_opts){0}, ARGS("atlas", "--out", null_link, "--quiet", "--resume"));
            ck_assert_int_eq(o.status, 1);
            tu_assert_contains(o.err, "--resume needs --out to name a regular file");
            free(o.err);
        }
        /* a FIFO: its reader gets the output */
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        pid_t reader = start_fifo_reader(fifo, copy);
        o = write_output(chart, fifo);
        stop_fifo_reader(reader);
        ck_assert_msg(o.status == 0, "onto a FIFO: exit %d: %s", o.status, o.err);
        ck_assert_msg(lstat_type(fifo) == S_IFIFO, "the FIFO was replaced");
        assert_file_starts_with(copy, output_head(chart));
        free(o.err);
        assert_no_leftovers(dir);
        tu_rmtree(dir);
        free(dev), free(null_link), free(fifo), free(copy), free(dir);
    }
}
END_TEST

START_TEST(output_through_a_symlink_replaces_its_target_atomically)
{
    for (int chart = 0; chart < 2; chart++) {
        char *dir = tu_tmpdir(), *target = path_in(dir, "target.png"), *link = path_in(dir, "link.png");
        write_text(target, "old");
        ck_assert_int_eq(symlink("target.png", link), 0); /* relative, as ln -s makes them */
        outcome o = write_output(chart, link);
        ck_assert_msg(o.status == 0, "exit %d: %s", o.status, o.err);
        ck_assert_msg(lstat_type(link) == S_IFLNK, "the link was replaced by a file");
        assert_file_starts_with(target, output_head(chart));
        assert_no_leftovers(dir);
        free(o.err);
        tu_rmtree(dir);
        free(target), free(link), free(dir);
    }
}
END_TEST

/* --out /dev/stdout (and /dev/fd/1) with stdout redirected into a regular
 * file: the output goes through the shell's descriptor into that file, which
 * is not replaced behind the shell's back (same inode, output in it). */
START_TEST(output_onto_own_stdout_goes_through_the_descriptor)
{
    static const char *names[] = {"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *dir = tu_tmpdir(), *out = path_in(dir, "out.jsonl");
        write_text(out, "");
        struct stat before, after;
        ck_assert_int_eq(stat(out, &before), 0);
        outcome o = run_with(&(run_opts){.stdout_path = out}, ARGS("atlas", "--out", names[i], "--quiet"));
        ck_assert_msg(o.status == 0, "%s: exit %d: %s", names[i], o.status, o.err);
        ck_assert_int_eq(stat(out, &after), 0);
        ck_assert_msg(after.st_ino == before.st_ino, "%s: the shell's file was replaced", names[i]);
        assert_file_starts_with(out, output_head(false));
        assert_no_leftovers(dir);
        free(o.err);
        tu_rmtree(dir);
        free(out), free(dir);
    }
}
END_TEST

/* A listening Unix socket at PATH (its descriptor). */
static int make_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert(fd >= 0 && strlen(path) < sizeof a.sun_path);
    strcpy(a.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Writing to PATH fails with exit 1 and NEEDLE, and PATH is still of type TYPE. */
static void expect_output_refused(bool chart, const char *path, const char *needle, mode_t type)
{
    outcome o = write_output(chart, path);
    ck_assert_msg(o.status == 1, "%s: exit %d: %s", path, o.status, o.err);
    tu_assert_contains(o.err, needle);
    ck_assert_msg(lstat_type(path) == type, "%s was replaced", path);
    free(o.err);
}

START_TEST(output_onto_a_directory_socket_block_device_or_dangling_link_is_refused)
{
    for (int chart = 0; chart < 2; chart++) {
        char *dir = tu_tmpdir(), *sub = path_in(dir, "sub.png"), *sock = path_in(dir, "sock.png");
        char *blk = path_in(dir, "blk.png"), *dangling = path_in(dir, "dangling.png");
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        expect_output_refused(chart, sub, "sub.png: it is a directory; name a regular file", S_IFDIR);
        int fd = make_socket(sock);
        expect_output_refused(chart, sock, "sock.png: it is a socket", S_IFSOCK);
        close(fd);
        ck_assert_int_eq(symlink("no-such-file", dangling), 0);
        expect_output_refused(chart, dangling, "dangling.png: it is a symbolic link that leads nowhere", S_IFLNK);
        if (mknod(blk, S_IFBLK | 0600, makedev(7, 0)) == 0) /* root only */
            expect_output_refused(chart, blk, "blk.png: it is a block device", S_IFBLK);
        assert_no_leftovers(dir);
        tu_rmtree(dir);
        free(sub), free(sock), free(blk), free(dangling), free(dir);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reliability");
    TCase *hang = tcase_create("hang");
    tcase_set_timeout(hang, 20); /* the bare-CR hang shows as a timeout */
    tcase_add_test(hang, circuit_bare_cr_does_not_hang_the_parser);
    tcase_add_test(hang, special_files_are_refused_without_blocking);
    tcase_add_test(hang, tokenizer_and_prompt_fifos_are_refused_without_blocking);
    tcase_add_test(hang, checksum_of_a_fifo_is_refused_without_blocking);
    suite_add_tcase(s, hang);
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, config_huge_n_embd_does_not_overflow);
    tcase_add_test(tc, config_limits_are_enforced_at_the_boundary);
    tcase_add_test(tc, tensor_lookup_by_name_scales_with_many_tensors);
    tcase_add_test(tc, large_header_is_parsed_in_bounded_memory);
    tcase_add_test(tc, stdout_write_error_exits_1_with_a_message);
    tcase_add_test(tc, json_into_a_full_disk_fails_loudly);
    tcase_add_test(tc, truncated_image_is_not_renamed_into_place);
    tcase_add_test(tc, non_utf8_model_path_is_refused_clearly_with_json);
    tcase_add_test(tc, invalid_utf8_in_circuit_file_reports_line_and_column);
    tcase_add_test(tc, signed_or_spaced_numbers_are_refused);
    tcase_add_test(tc, numbers_at_the_ends_of_a_range_are_accepted);
    tcase_add_test(tc, report_out_file_says_not_a_directory_once);
    tcase_add_test(tc, report_seq_len_is_checked_against_n_ctx_before_any_step);
    tcase_add_test(tc, batch_that_cannot_fit_in_memory_is_refused_with_the_estimate);
    tcase_add_test(tc, hung_gnuplot_times_out);
    tcase_add_test(tc, hung_gnuplot_is_stopped_with_its_children);
    tcase_add_test(tc, sigterm_during_plot_removes_temporary_files);
    tcase_add_test(tc, sigint_during_plot_removes_temporary_files);
    tcase_add_test(tc, sigterm_during_report_stops_the_step_and_removes_temporary_files);
    tcase_add_test(tc, sigterm_during_synth_removes_the_partial_model);
    tcase_add_test(tc, signal_taken_by_another_thread_still_removes_the_file_being_registered);
    tcase_add_test(tc, file_size_limit_is_an_error_message_not_a_silent_death);
    tcase_add_test(tc, report_step_failing_on_a_full_disk_says_why);
    tcase_add_test(tc, report_step_that_fails_leaves_no_json);
    tcase_add_test(tc, output_onto_a_device_or_fifo_writes_it_without_replacing_it);
    tcase_add_test(tc, output_onto_own_stdout_goes_through_the_descriptor);
    tcase_add_test(tc, output_through_a_symlink_replaces_its_target_atomically);
    tcase_add_test(tc, output_onto_a_directory_socket_block_device_or_dangling_link_is_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
