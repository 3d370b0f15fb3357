/* plot.c — one gnuplot chart: data files + driver script in a temporary
 * directory, gnuplot run as a child program, the image renamed into place
 * (include/circuitc/plot.h). */
#include "circuitc/plot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "circuitc/cleanup.h"
#include "circuitc/datadir.h"
#include "circuitc/fsio.h"
#include "core/args.h"

extern char **environ;

enum { MAX_FILES = 32 };

struct cc_plot {
    char *name;              /* template name */
    char *plots_dir;         /* the templates' directory (cc_plot_dir) */
    char *template_path;     /* <plots dir>/<name>.gp */
    char *out;               /* final image path */
    char *image;             /* the image gnuplot draws, in DIR (copied to OUT when complete) */
    bool png;                /* else svg */
    int width, height;
    char *dir;               /* temporary directory */
    char *vars;              /* gnuplot assignments, one a line */
    size_t vars_len;
    bool bad;                /* a set_* call failed */
    char bad_msg[256];
    char *files[MAX_FILES];  /* data files written, names relative to DIR */
    int n_files;
};

int cc_plot_dir(char **out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    return cc_data_find("CIRCUITC_PLOTS", "plots", out, err);
}

static int oom(cc_error *err) { return cc_fail_code(err, CC_E_NOMEM, "out of memory"); }

/* Removes a temporary file and drops it from the signal-cleanup registry. */
static void remove_temp(const char *path)
{
    unlink(path);
    cc_cleanup_forget(path);
}

/* Whether OUT ends in .png (1), .svg (2), or neither (0). */
static int out_kind(const char *out)
{
    size_t n = strlen(out);
    if (n > 4 && strcasecmp(out + n - 4, ".png") == 0) return 1;
    if (n > 4 && strcasecmp(out + n - 4, ".svg") == 0) return 2;
    return 0;
}

int cc_plot_check_output(const char *out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    if (!*out) return cc_fail(err, "--plot needs a file name ending in .png or .svg");
    if (!out_kind(out))
        return cc_fail(err, "cannot tell the chart format of \"%s\": the file name must end in .png or .svg", out);
    size_t n = strlen(out);
    if (out[n - 1] == '/' || (n >= 5 && out[n - 5] == '/'))
        return cc_fail(err, "\"%s\" is not a file name; give e.g. chart.png", out);
    return cc_out_check(out, NULL, err);
}

int cc_plot_begin(const char *name, const char *out, int width, int height, cc_plot **pp, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(pp, err, -1);
    *pp = NULL;
    if (cc_plot_check_output(out, err) != 0) return -1;
    if (width < 16 || height < 16 || width > 20000 || height > 20000)
        return cc_fail(err, "chart size %d x %d is out of range (16..20000)", width, height);
    cc_plot *p = calloc(1, sizeof *p);
    if (!p) return oom(err);
    p->png = out_kind(out) == 1;
    p->width = width, p->height = height;
    p->name = strdup(name);
    p->out = strdup(out);
    if (!p->name || !p->out) {
        cc_plot_end(p);
        return oom(err);
    }
    if (cc_plot_dir(&p->plots_dir, err) != 0) {
        cc_plot_end(p);
        return -1;
    }
    if (asprintf(&p->template_path, "%s/%s.gp", p->plots_dir, name) < 0) {
        p->template_path = NULL;
        cc_plot_end(p);
        return oom(err);
    }
    struct stat st;
    if (stat(p->template_path, &st) != 0 || !S_ISREG(st.st_mode)) {
        cc_fail_code(err, CC_E_IO, "chart template %s not found (%s)%s", p->template_path, strerror(errno ? errno : ENOENT),
                getenv("CIRCUITC_PLOTS") ? "; check CIRCUITC_PLOTS" : "; set CIRCUITC_PLOTS to the plots/ directory");
        cc_plot_end(p);
        return -1;
    }
    const char *base = getenv("TMPDIR");
    if (asprintf(&p->dir, "%s/circuitc-plot-XXXXXX", base && *base ? base : "/tmp") < 0) {
        p->dir = NULL;
        cc_plot_end(p);
        return oom(err);
    }
    sigset_t mask;
    cc_cleanup_block(&mask); /* a signal must not come between creating and registering it */
    bool made = mkdtemp(p->dir) != NULL;
    int e = errno;
    if (made) cc_cleanup_add(p->dir);
    cc_cleanup_unblock(&mask);
    if (!made) {
        cc_fail_code(err, CC_E_IO, "cannot create a temporary directory for the chart (%s): %s", p->dir, strerror(e));
        free(p->dir);
        p->dir = NULL;
        cc_plot_end(p);
        return -1;
    }
    *pp = p;
    return 0;
}

const char *cc_plot_tmpdir(const cc_plot *p)
{
    CC_ARG_NOT_NULL(p, NULL, NULL);
    return p->dir;
}

FILE *cc_plot_data(cc_plot *p, const char *file, cc_error *err)
{
    CC_ARG_NOT_NULL(p, err, NULL);
    CC_ARG_NOT_NULL(file, err, NULL);
    if (!*file || strchr(file, '/') || file[0] == '.') {
        cc_fail_code(err, CC_E_INTERNAL, "internal error: bad chart data file name \"%s\"", file);
        return NULL;
    }
    if (p->n_files == MAX_FILES) {
        cc_fail_code(err, CC_E_INTERNAL, "internal error: more than %d data files for one chart", MAX_FILES);
        return NULL;
    }
    char *path;
    if (asprintf(&path, "%s/%s", p->dir, file) < 0) {
        oom(err);
        return NULL;
    }
    cc_cleanup_add(path);
    FILE *f = fopen(path, "w");
    if (!f) {
        cc_fail_code(err, CC_E_IO, "cannot write chart data %s: %s", path, strerror(errno));
        cc_cleanup_forget(path);
        free(path);
        return NULL;
    }
    free(path);
    p->files[p->n_files] = strdup(file);
    if (!p->files[p->n_files]) {
        fclose(f);
        oom(err);
        return NULL;
    }
    p->n_files++;
    return f;
}

int cc_plot_data_close(cc_plot *p, FILE *f, cc_error *err)
{
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(f, err, -1);
    (void)p;
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = true;
    return bad ? cc_fail_code(err, CC_E_IO, "cannot write chart data in %s: %s", p->dir, strerror(errno ? errno : EIO)) : 0;
}

/* Appends LINE to P's variable block. */
static int add_var_line(cc_plot *p, const char *line)
{
    size_t n = strlen(line);
    char *v = realloc(p->vars, p->vars_len + n + 2);
    if (!v) {
        p->bad = true;
        snprintf(p->bad_msg, sizeof p->bad_msg, "out of memory");
        return -1;
    }
    p->vars = v;
    memcpy(p->vars + p->vars_len, line, n);
    p->vars_len += n;
    p->vars[p->vars_len++] = '\n';
    p->vars[p->vars_len] = '\0';
    return 0;
}

static bool is_identifier(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_') return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

/* S as a gnuplot single-quoted string ('' for a quote; newlines become spaces). Caller frees. */
static char *quote(const char *s)
{
    size_t n = 2;
    for (const char *c = s; *c; c++) n += *c == '\'' ? 2 : 1;
    char *q = malloc(n + 1), *w = q;
    if (!q) return NULL;
    *w++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'') *w++ = '\'';
        *w++ = (*c == '\n' || *c == '\r') ? ' ' : *c;
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}

int cc_plot_set_str(cc_plot *p, const char *name, const char *value)
{
    CC_ARG_NOT_NULL(p, NULL, -1);
    CC_ARG_NOT_NULL(name, NULL, -1);
    if (!is_identifier(name)) {
        p->bad = true;
        snprintf(p->bad_msg, sizeof p->bad_msg, "internal error: bad gnuplot variable name \"%s\"", name);
        return -1;
    }
    char *q = quote(value ? value : ""), *line = NULL;
    if (!q || asprintf(&line, "%s = %s", name, q) < 0) {
        free(q);
        p->bad = true;
        snprintf(p->bad_msg, sizeof p->bad_msg, "out of memory");
        return -1;
    }
    int rc = add_var_line(p, line);
    free(q);
    free(line);
    return rc;
}

int cc_plot_set_num(cc_plot *p, const char *name, double value)
{
    CC_ARG_NOT_NULL(p, NULL, -1);
    CC_ARG_NOT_NULL(name, NULL, -1);
    if (!is_identifier(name)) {
        p->bad = true;
        snprintf(p->bad_msg, sizeof p->bad_msg, "internal error: bad gnuplot variable name \"%s\"", name);
        return -1;
    }
    char line[300];
    if (isnan(value)) snprintf(line, sizeof line, "%s = NaN", name);
    else if (isinf(value)) snprintf(line, sizeof line, "%s = %s1e308", name, value < 0 ? "-" : "");
    else snprintf(line, sizeof line, "%s = %.17g", name, value);
    /* gnuplot reads 3 as an integer (integer division!); make every number a float */
    if (!isnan(value) && !strpbrk(line + strlen(name) + 3, ".eE")) strcat(line, ".0");
    return add_var_line(p, line);
}

/* The last MAX bytes of file PATH (its whole text when shorter), trimmed. Caller frees. */
static char *tail_of(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    long from = n > (long)max ? n - (long)max : 0;
    fseek(f, from, SEEK_SET);
    char *s = malloc(max + 1);
    size_t k = s ? fread(s, 1, max, f) : 0;
    fclose(f);
    if (!s) return NULL;
    s[k] = '\0';
    while (k > 0 && isspace((unsigned char)s[k - 1])) s[--k] = '\0';
    for (size_t i = 0; i < k; i++)
        if (s[i] == '\n') s[i] = ' ';  /* one line in the error message */
    return s;
}

/* Writes the driver script into P's directory. */
static int write_driver(cc_plot *p, const char *script, cc_error *err)
{
    char *qout = quote(p->image), *qdir = quote(p->dir), *qtpl = quote(p->template_path);
    FILE *f = fopen(script, "w");
    if (!qout || !qdir || !qtpl || !f) {
        free(qout), free(qdir), free(qtpl);
        if (f) fclose(f);
        return f ? oom(err) : cc_fail_code(err, CC_E_IO, "cannot write %s: %s", script, strerror(errno));
    }
    fprintf(f, "# circuitc chart driver: %s\n", p->name);
    fprintf(f, "set encoding utf8\n");
    if (p->png)
        fprintf(f, "set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,10' background '#ffffff'\n",
                p->width, p->height);
    else
        fprintf(f, "set terminal svg size %d,%d noenhanced font 'DejaVu Sans,10' background '#ffffff'\n", p->width,
                p->height);
    fprintf(f, "set output %s\n", qout);
    char *qplots = quote(p->plots_dir);
    fprintf(f, "datadir = %s\nplotsdir = %s\noutfmt = '%s'\nwidth = %d.0\nheight = %d.0\n", qdir,
            qplots ? qplots : "'.'", p->png ? "png" : "svg", p->width, p->height);
    free(qplots);
    if (p->vars) fputs(p->vars, f);
    fprintf(f, "load %s\nunset output\n", qtpl);
    free(qout), free(qdir), free(qtpl);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) return cc_fail_code(err, CC_E_IO, "cannot write %s: %s", script, strerror(errno ? errno : EIO));
    return 0;
}

/* How long gnuplot may take: $CIRCUITC_GNUPLOT_TIMEOUT seconds, default 60. */
static int gnuplot_timeout(int *seconds, cc_error *err)
{
    const char *s = getenv("CIRCUITC_GNUPLOT_TIMEOUT");
    *seconds = 60;
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || errno || v < 1 || v > 86400)
        return cc_fail(err, "CIRCUITC_GNUPLOT_TIMEOUT must be a whole number of seconds from 1 to 86400, got \"%s\"",
                       s);
    *seconds = (int)v;
    return 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* Waits for gnuplot PID at most TIMEOUT seconds (then kills its process group:
 * gnuplot and whatever it started); its wait status in *STATUS. */
static int wait_gnuplot(pid_t pid, int timeout, int *status, cc_error *err)
{
    struct timespec t0, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return cc_fail_code(err, CC_E_IO, "waiting for gnuplot: %s", strerror(errno));
        if (seconds_since(&t0) >= timeout) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
            return cc_fail_code(err, CC_E_IO, "gnuplot did not finish within %d s and was stopped; set CIRCUITC_GNUPLOT_TIMEOUT "
                                "(seconds) to allow more", timeout);
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000) nap.tv_nsec *= 2; /* poll from 1 ms up to 50 ms */
    }
}

/* Runs gnuplot SCRIPT with stdout+stderr into LOG; returns its wait status in
 * *STATUS, or -1 with ERR filled when it could not be started or timed out. */
static int run_gnuplot(const char *script, const char *log, int *status, cc_error *err)
{
    int timeout;
    if (gnuplot_timeout(&timeout, err) != 0) return -1;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return oom(err);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* its own process group, so that a timeout or a signal stops its children too */
    posix_spawnattr_t attr;
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return oom(err);
    }
    sigset_t mask;
    cc_cleanup_block(&mask); /* until the cleanup knows the child */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &mask);
    char *argv[] = {"gnuplot", (char *)script, NULL};
    pid_t pid;
    fflush(NULL);  /* nothing buffered may be lost or reordered around the child */
    int rc = posix_spawnp(&pid, "gnuplot", &fa, &attr, argv, environ);
    if (rc == 0) cc_cleanup_set_child(pid);
    cc_cleanup_unblock(&mask);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc == ENOENT)
        return cc_fail_code(err, CC_E_IO, "gnuplot is not installed (not found on PATH); install it to draw charts: "
                            "apt-get install gnuplot-nox");
    if (rc != 0) return cc_fail_code(err, CC_E_IO, "cannot run gnuplot: %s", strerror(rc));
    rc = wait_gnuplot(pid, timeout, status, err);
    cc_cleanup_set_child(0);
    return rc;
}

/* Whether the file at PATH is a complete image: a PNG must start with the PNG
 * signature and end with the IEND chunk, an SVG must end with </svg>. gnuplot
 * exits 0 even when the disk filled up under it, so this is what tells. */
static bool image_complete(const char *path, bool png)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char head[8], tail[64];
    bool ok = false;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long n = size < (long)sizeof tail ? size : (long)sizeof tail;
        if (n > 0 && fseek(f, size - n, SEEK_SET) == 0 && fread(tail, 1, (size_t)n, f) == (size_t)n) {
            if (png) {
                ok = n >= 12 && memcmp(tail + n - 12, iend, 12) == 0 && fseek(f, 0, SEEK_SET) == 0 &&
                     fread(head, 1, 8, f) == 8 && memcmp(head, sig, 8) == 0;
            } else {
                while (n > 0 && isspace(tail[n - 1])) n--;
                ok = n >= 6 && memcmp(tail + n - 6, "</svg>", 6) == 0;
            }
        }
    }
    fclose(f);
    return ok;
}

int cc_plot_render(cc_plot *p, cc_error *err)
{
    CC_ARG_NOT_NULL(p, err, -1);
    if (p->bad) return cc_fail(err, "chart %s: %s", p->name, p->bad_msg);
    /* gnuplot draws into the chart's directory; only a complete image is copied to OUT */
    char *script = NULL, *log = NULL;
    if (!p->image && asprintf(&p->image, "%s/image.%s", p->dir, p->png ? "png" : "svg") < 0) p->image = NULL;
    if (!p->image || asprintf(&script, "%s/plot.gp", p->dir) < 0 || asprintf(&log, "%s/gnuplot.log", p->dir) < 0) {
        free(script);
        return oom(err);
    }
    cc_cleanup_add(p->image);
    cc_cleanup_add(script);
    cc_cleanup_add(log);
    int status = 0, rc = write_driver(p, script, err);
    if (rc == 0) rc = run_gnuplot(script, log, &status, err);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char *msg = tail_of(log, 600);
        if (WIFEXITED(status))
            cc_fail_code(err, CC_E_IO, "gnuplot failed (exit status %d) drawing %s from %s: %s", WEXITSTATUS(status), p->out,
                    p->template_path, msg && *msg ? msg : "(no message)");
        else
            cc_fail_code(err, CC_E_IO, "gnuplot was killed by signal %d drawing %s from %s: %s", WTERMSIG(status), p->out,
                    p->template_path, msg && *msg ? msg : "(no message)");
        free(msg);
        rc = -1;
    }
    struct stat st;
    if (rc == 0 && (stat(p->image, &st) != 0 || st.st_size == 0))
        rc = cc_fail_code(err, CC_E_IO, "gnuplot wrote no image for %s (template %s)", p->out, p->template_path);
    if (rc == 0 && !image_complete(p->image, p->png))
        rc = cc_fail_code(err, CC_E_IO, "gnuplot wrote an incomplete %s image for %s (is the disk full?); nothing was written",
                     p->png ? "PNG" : "SVG", p->out);
    if (rc == 0) rc = cc_copy_file(p->image, p->out, err);
    remove_temp(p->image);
    free(script);
    free(log);
    return rc;
}

int cc_plot_keep_data(cc_plot *p, const char *prefix, cc_error *err)
{
    CC_ARG_NOT_NULL(p, err, -1);
    CC_ARG_NOT_NULL(prefix, err, -1);
    for (int i = 0; i < p->n_files; i++) {
        char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s/%s", p->dir, p->files[i]) < 0) return oom(err);
        if (asprintf(&to, "%s%s", prefix, p->files[i]) < 0) {
            free(from);
            return oom(err);
        }
        int rc = cc_copy_file(from, to, err);
        free(from);
        free(to);
        if (rc != 0) return -1;
    }
    /* the driver too, once rendered: the variables the template drew with */
    char *from = NULL, *to = NULL;
    struct stat st;
    if (asprintf(&from, "%s/plot.gp", p->dir) < 0) return oom(err);
    int rc = stat(from, &st) != 0 ? 0 : asprintf(&to, "%splot.gp", prefix) < 0 ? oom(err) : cc_copy_file(from, to, err);
    free(from);
    free(to);
    return rc;
}

void cc_plot_end(cc_plot *p)
{
    if (!p) return;
    if (p->image) remove_temp(p->image);
    if (p->dir) {
        char *path = NULL;
        for (int i = 0; i < p->n_files; i++)
            if (asprintf(&path, "%s/%s", p->dir, p->files[i]) >= 0) remove_temp(path), free(path);
        if (asprintf(&path, "%s/plot.gp", p->dir) >= 0) remove_temp(path), free(path);
        if (asprintf(&path, "%s/gnuplot.log", p->dir) >= 0) remove_temp(path), free(path);
        rmdir(p->dir);
        cc_cleanup_forget(p->dir);
    }
    for (int i = 0; i < p->n_files; i++) free(p->files[i]);
    free(p->name), free(p->plots_dir), free(p->template_path), free(p->out), free(p->image), free(p->dir), free(p->vars);
    free(p);
}
