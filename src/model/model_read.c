/* model_read.c — copies out of a model's mapped weights file: under a SIGBUS
 * guard (a file truncated while mapped is an error naming it, not a crash),
 * with every tensor read checked once for non-finite values, and the file's
 * checksum taken from the same mapping. */
#include "model_read.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/sha256.h"
#include "core/args.h"
#include "model/model_internal.h"

/* ---- guarded reads ---------------------------------------------------------------- */

/* A file truncated while mapped turns reads of the lost pages into SIGBUS.
 * Every copy out of the mapping runs under a handler that jumps back to the
 * copy's caller instead. The jump target is per thread; the handler is
 * installed while at least one thread copies (the first to start installs it,
 * the last to finish puts back what was there), and a SIGBUS that is not a
 * guarded copy's goes to that previous handler, so a program's own SIGBUS
 * handling keeps working while the library reads on another thread. */
static _Thread_local sigjmp_buf *fault_jump;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static int guard_users;                 /* threads inside a guarded copy */
static struct sigaction guard_previous; /* the disposition before the first of them */

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    if (fault_jump) siglongjmp(*fault_jump, 1);
    if (guard_previous.sa_flags & SA_SIGINFO) {
        guard_previous.sa_sigaction(sig, info, context);
    } else if (guard_previous.sa_handler != SIG_DFL && guard_previous.sa_handler != SIG_IGN) {
        guard_previous.sa_handler(sig);
    } else { /* an ignored fault would only come back: the default action, as without the guard */
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static void guard_enter(void)
{
    pthread_mutex_lock(&guard_lock);
    if (guard_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &guard_previous);
    }
    pthread_mutex_unlock(&guard_lock);
}

static void guard_leave(void)
{
    pthread_mutex_lock(&guard_lock);
    if (--guard_users == 0) sigaction(SIGBUS, &guard_previous, NULL);
    pthread_mutex_unlock(&guard_lock);
}

/* Converts row-major block [ROW0, ROW0+NROWS) x [COL0, COL0+NCOLS) of
 * tensor T (rows of its last dimension; rank 1 counts as one row) into DST [NROWS, NCOLS]. */
typedef struct {
    const cc_st_file *st;
    const cc_st_tensor *t;
    uint64_t row0, nrows, col0, ncols;
    float *dst;
    bool failed; /* a direct read found the file shorter than its tensors */
} block_copy;

/* Rank 2 and above are rows of their last dimension; rank 1 is one row. */
static uint64_t tensor_cols(const cc_st_tensor *t) { return t->ndim >= 2 ? t->shape[t->ndim - 1] : t->n_elements; }

/* Lets the kernel drop the mapping's pages in [FROM, TO) (rounded inwards to
 * pages): they stay readable, re-read from the file on access, and the
 * process does not hold a tensor's file bytes resident next to its copy. */
static void drop_pages(const uint8_t *from, const uint8_t *to)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)from + page - 1) & ~(page - 1), b = (uintptr_t)to & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Whole float32 rows of a mapped file are read with pread: the kernel copies
 * them from the page cache straight into DST, without mapping the file's
 * pages into the process to drop them again (a third less time for a
 * GPT-2-small-shaped file). Returns false when the file ends early (it
 * was truncated while circuitc reads it) or cannot be read. */
static bool read_rows_direct(const block_copy *b, uint64_t cols)
{
    uint8_t *dst = (uint8_t *)b->dst;
    size_t left = (size_t)(b->nrows * cols * 4);
    off_t at = (off_t)(b->t->data - b->st->map) + (off_t)(b->row0 * cols * 4);
    while (left > 0) {
        ssize_t got = pread(b->st->fd, dst, left, at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        dst += got, at += got, left -= (size_t)got;
    }
    return true;
}

static void copy_block(block_copy *b)
{
    size_t esize = cc_dtype_size(b->t->dtype);
    uint64_t cols = tensor_cols(b->t);
    cc_st_tensor run = *b->t;
    run.ndim = 1;
    run.n_elements = run.shape[0] = b->ncols;
    if (b->t->dtype == CC_DT_F32 && b->ncols == cols && b->st->map && b->st->fd >= 0) {
        b->failed = !read_rows_direct(b, cols);
        return;
    }
    /* whole rows are read once: drop them every 8 MiB as the copy goes, and
       the rest at the end (a model of many small tensors never reaches 8 MiB) */
    bool droppable = b->ncols == cols && (b->st->map || b->st->joined);
    const uint8_t *dropped = b->t->data + b->row0 * cols * esize, *done = dropped;
    for (uint64_t r = 0; r < b->nrows; r++) {
        run.data = b->t->data + ((b->row0 + r) * cols + b->col0) * esize;
        cc_st_read_f32(b->st, &run, b->dst + r * b->ncols, NULL); /* dtype checked at open: cannot fail */
        done = run.data + b->ncols * esize;
        if (droppable && done - dropped >= (8 << 20)) {
            drop_pages(dropped, done);
            dropped = done;
        }
    }
    if (droppable) drop_pages(dropped, done);
}

static int changed_while_reading(const cc_model *m, const char *what, cc_error *err)
{
    return cc_fail_code(err, CC_E_IO, "%s changed or was truncated while being read (%s); make sure nothing rewrites the file while "
                        "circuitc runs, then run again",
                   m->weights_path, what);
}

/* Runs FN(ARG) under the SIGBUS guard; a fault is reported as a change of
 * the file while reading WHAT. */
static int guarded(const cc_model *m, void (*fn)(void *), void *arg, const char *what, cc_error *err)
{
    guard_enter();
    sigjmp_buf jump;
    volatile int faulted = 0;
    if (sigsetjmp(jump, 1) == 0) {
        fault_jump = &jump;
        fn(arg);
    } else {
        faulted = 1;
    }
    fault_jump = NULL;
    guard_leave();
    return faulted ? changed_while_reading(m, what, err) : 0;
}

static void copy_block_fn(void *b) { copy_block(b); }

static int guarded_copy(const cc_model *m, block_copy *copy, cc_error *err)
{
    char what[160];
    snprintf(what, sizeof what, "tensor \"%s\"", copy->t->name);
    copy->failed = false;
    if (guarded(m, copy_block_fn, copy, what, err) != 0) return -1;
    return copy->failed ? changed_while_reading(m, what, err) : 0;
}

/* ---- checksum ----------------------------------------------------------------- */

typedef struct {
    const cc_st_file *st;
    cc_sha256 *sha;
} hash_job;

static void hash_mapping(void *arg)
{
    hash_job *j = arg;
    const size_t chunk = 8 << 20;
    for (size_t off = 0; off < j->st->map_size; off += chunk) {
        size_t n = j->st->map_size - off < chunk ? j->st->map_size - off : chunk;
        cc_sha256_update(j->sha, j->st->map + off, n);
        drop_pages(j->st->map + off, j->st->map + off + n);
    }
}

int cc_model_sha256(const cc_model *m, char hex[65], cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(hex, err, -1);
    cc_sha256 sha;
    cc_sha256_init(&sha);
    /* a sharded checkpoint: its shards in the index's order, as one stream */
    cc_st_file *const *files = m->n_shards ? m->shards : &m->st;
    for (size_t i = 0; i < (m->n_shards ? m->n_shards : 1); i++) {
        const cc_st_file *f = files[i];
        hash_job job = {f, &sha};
        if (guarded(m, hash_mapping, &job, "hashing it", err) != 0) return -1;
        struct stat now;
        long long now_size = stat(f->path, &now) == 0 ? (long long)now.st_size : -1;
        if (now_size < 0 || (uint64_t)now_size != f->file_size)
            return cc_fail_code(err, CC_E_IO, "%s changed or was truncated while being read (hashing it: %llu bytes when opened, "
                                "%lld now); make sure nothing rewrites the file while circuitc runs, then run again",
                           f->path, (unsigned long long)f->file_size, now_size);
    }
    uint8_t d[32];
    cc_sha256_final(&sha, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* ---- non-finite weights -------------------------------------------------------- */

/* Element FLAT of T is VALUE, not finite: refused, or with allow_nonfinite
 * only noted (the first one) for the caller to report. */
static int nonfinite_found(cc_model *m, const cc_st_tensor *t, uint64_t flat, float value, cc_error *err)
{
    char where[512], index[64] = "";
    if (t->ndim == 2)
        snprintf(index, sizeof index, " = [%llu, %llu]", (unsigned long long)(flat / t->shape[1]),
                 (unsigned long long)(flat % t->shape[1]));
    snprintf(where, sizeof where, "%s: tensor \"%s\" holds %s at flat index %llu%s (as float32)", m->weights_path,
             t->name, isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf", (unsigned long long)flat, index);
    if (!m->allow_nonfinite)
        return cc_fail_code(err, CC_E_NONFINITE, "%s; the weights are corrupt. Pass --allow-nonfinite to load them anyway for inspection",
                       where);
    if (!m->nonfinite_note.msg[0]) snprintf(m->nonfinite_note.msg, sizeof m->nonfinite_note.msg, "%s", where);
    return 0;
}

/* The index of X's first NaN or infinity, or -1. Chunks are screened without
 * a branch per value (the loop vectorises: NaN fails the comparison too), and
 * only a chunk that holds one is searched value by value. */
static long long first_nonfinite(const float *x, size_t n)
{
    enum { CHUNK = 1024 };
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = n - c0 < CHUNK ? n : c0 + CHUNK;
        int finite = 1;
        for (size_t i = c0; i < c1; i++) finite &= fabsf(x[i]) <= FLT_MAX;
        if (finite) continue;
        for (size_t i = c0; i < c1; i++)
            if (!isfinite(x[i])) return (long long)i;
    }
    return -1;
}

static size_t tensor_index(const cc_model *m, const cc_st_tensor *t) { return (size_t)(t - m->st->tensors); }

/* Checks that every value of T (converted to float32) is finite, once per tensor. */
static int check_finite(cc_model *m, const cc_st_tensor *t, cc_error *err)
{
    if (m->tensor_checked[tensor_index(m, t)]) return 0;
    enum { CHUNK = 4096 };
    float buf[CHUNK];
    uint64_t cols = tensor_cols(t), rows = t->n_elements / (cols ? cols : 1);
    block_copy run = {m->st, t, 0, 1, 0, 0, buf, false};
    /* One row at a time, in chunks of at most CHUNK values. */
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c0 = 0; c0 < cols; c0 += CHUNK) {
            run.row0 = r, run.col0 = c0, run.ncols = cols - c0 < CHUNK ? cols - c0 : CHUNK;
            if (guarded_copy(m, &run, err) != 0) return -1;
            long long bad = first_nonfinite(buf, (size_t)run.ncols);
            if (bad >= 0) { /* refused, or allowed with the first one noted */
                int rc = nonfinite_found(m, t, r * cols + c0 + (uint64_t)bad, buf[bad], err);
                if (rc == 0) m->tensor_checked[tensor_index(m, t)] = 1;
                return rc;
            }
        }
    m->tensor_checked[tensor_index(m, t)] = 1;
    return 0;
}

/* ---- reading ------------------------------------------------------------------- */

int cc_model_read_block(cc_model *m, const cc_st_tensor *t, uint64_t row0, uint64_t nrows, uint64_t col0,
                        uint64_t ncols, float *dst, cc_error *err)
{
    block_copy copy = {m->st, t, row0, nrows, col0, ncols, dst, false};
    bool whole = row0 == 0 && col0 == 0 && nrows * ncols == t->n_elements;
    if (whole) { /* check the copy itself: one pass over the file instead of two */
        if (guarded_copy(m, &copy, err) != 0) return -1;
        long long bad = first_nonfinite(dst, (size_t)t->n_elements);
        if (bad >= 0 && nonfinite_found(m, t, (uint64_t)bad, dst[bad], err) != 0) return -1;
        m->tensor_checked[tensor_index(m, t)] = 1;
        return 0;
    }
    return check_finite(m, t, err) != 0 ? -1 : guarded_copy(m, &copy, err);
}

/* DST [cols, rows] = transpose of SRC [rows, cols] (DST's rows DST_STRIDE apart), in cache-friendly blocks. */
static void transpose_rows(const float *src, float *dst, size_t rows, size_t cols, size_t dst_stride)
{
    const size_t B = 64;
    for (size_t r0 = 0; r0 < rows; r0 += B)
        for (size_t c0 = 0; c0 < cols; c0 += B)
            for (size_t c = c0; c < c0 + B && c < cols; c++) /* DST's rows written in runs: far apart, each a page */
                for (size_t r = r0; r < r0 + B && r < rows; r++) dst[c * dst_stride + r] = src[r * cols + c];
}

void cc_transpose_into(const float *src, float *dst, size_t rows, size_t cols)
{
    transpose_rows(src, dst, rows, cols, rows);
}

int cc_model_read_transposed(cc_model *m, const cc_st_tensor *t, float *dst, cc_error *err)
{
    uint64_t rows = t->shape[0], cols = rows ? t->n_elements / rows : 0;
    const uint64_t band = 64; /* rows per pass through the buffer: the transpose's block */
    float *buf = malloc((size_t)(band * (cols ? cols : 1)) * sizeof *buf);
    if (!buf) return cc_fail_code(err, CC_E_NOMEM, "out of memory reading tensor \"%s\" of %s", t->name, m->weights_path);
    bool checking = !m->tensor_checked[tensor_index(m, t)];
    for (uint64_t r0 = 0; r0 < rows; r0 += band) {
        uint64_t n = rows - r0 < band ? rows - r0 : band;
        block_copy copy = {m->st, t, r0, n, 0, cols, buf, false};
        if (guarded_copy(m, &copy, err) != 0) goto fail;
        long long bad = checking ? first_nonfinite(buf, (size_t)(n * cols)) : -1;
        if (bad >= 0) { /* refused, or allowed with the first one noted */
            if (nonfinite_found(m, t, r0 * cols + (uint64_t)bad, buf[bad], err) != 0) goto fail;
            checking = false;
        }
        transpose_rows(buf, dst + r0, (size_t)n, (size_t)cols, (size_t)rows);
    }
    free(buf);
    m->tensor_checked[tensor_index(m, t)] = 1;
    return 0;
fail:
    free(buf);
    return -1;
}
