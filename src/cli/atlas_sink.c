/* atlas_sink.c — where `circuitc atlas` keeps its entries: the sink that hands
 * out units and records what they computed, and the JSON-lines file it streams
 * them to (OUT.partial while running, read back by --resume, OUT at the end). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atlas_cli.h"
#include "circuitc/fsio.h"
#include "options.h"
#include "progress.h"

enum { LINE_MAX_BYTES = 256, SYNC_SECONDS = 10 };

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int atlas_sink_next(void *ctx)
{
    atlas_sink *s = ctx;
    pthread_mutex_lock(&s->lock);
    int u = -1;
    while (u < 0 && s->next_unit < cc_atlas_n_units(s->a)) {
        long first;
        int count;
        cc_atlas_unit(s->a, s->next_unit, &first, &count);
        for (int k = 0; k < count; k++)
            if (!s->done[first + k]) u = s->next_unit;
        s->next_unit++;
    }
    pthread_mutex_unlock(&s->lock);
    return u;
}

int atlas_sink_store(void *ctx, const cc_atlas_entry *e, int count, cc_error *err)
{
    atlas_sink *s = ctx;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (int k = 0; k < count && rc == 0; k++) {
        long i = cc_atlas_pair_index(s->a, e[k].earlier, e[k].later);
        if (s->done[i]) continue; /* resumed: the file has it already */
        s->all[i] = e[k];
        s->done[i] = 1;
        s->n_done++;
        char line[LINE_MAX_BYTES];
        if (s->partial && (cc_atlas_entry_line(&e[k], line, sizeof line) < 0 || fprintf(s->partial, "%s\n", line) < 0))
            rc = cc_fail(err, "%s: cannot append: %s", s->partial_path, strerror(errno));
    }
    if (rc == 0 && s->partial) {
        /* flushed per unit, so a killed run keeps every finished unit; fsynced now and then */
        if (fflush(s->partial) != 0) rc = cc_fail(err, "%s: cannot write: %s", s->partial_path, strerror(errno));
        else if (now_seconds() - s->last_sync > SYNC_SECONDS) {
            fsync(fileno(s->partial));
            s->last_sync = now_seconds();
        }
    }
    cli_progress_update(NULL, s->n_done - s->n_resumed, cc_atlas_n_pairs(s->a) - s->n_resumed);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* The first line of the file: what the entries were computed from. A resumed
 * file must start with exactly this line. */
char *atlas_header_line(const cc_model *m, const cc_circuit *c, const cc_atlas *a, double min_acc, bool processed)
{
    json_t *h = json_pack("{s:i, s:s, s:s, s:o, s:b, s:i, s:i, s:i, s:f, s:I, s:b}", "atlas", 1, "circuit",
                          cc_circuit_name(c), "chain", cc_circuit_chain_text(c), "model", cli_json_path(cc_model_path(m)),
                          "processing", processed, "vocab", cc_model_config(m)->d_vocab, "n_layers", cc_model_config(m)->n_layers, "n_heads",
                          cc_model_config(m)->n_heads, "min_acc", min_acc, "pairs", (json_int_t)cc_atlas_n_pairs(a), "bound",
                          cc_atlas_uses_bound(a));
    char *s = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    return s;
}

/* Reads the entries of a previous run from PATH (the partial file, or the
 * finished one) into the sink. A last line without its newline was cut by the
 * interruption and is dropped. */
static int resume_from(atlas_sink *s, const char *path, const char *header, const cc_config *cfg, cc_error *err)
{
    FILE *f = cc_fopen_regular(path, "atlas file", err);
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[len - 1] != '\n') break; /* cut short by the interruption */
        line[len - 1] = '\0';
        if (no == 1) {
            if (strcmp(line, header) != 0)
                rc = cc_fail(err, "%s was written for other settings (its first line is %s; this run's is %s): use the "
                                  "same --circuit, --min-acc, model and processing, or drop --resume to start over",
                             path, line, header);
            continue;
        }
        cc_atlas_entry e;
        if (cc_atlas_entry_parse(line, cfg, &e, err) != 0) {
            rc = cc_fail_prefix(err, "%s line %ld is damaged (remove the file or drop --resume)", path, no);
        } else if (e.earlier.layer >= e.later.layer) {
            rc = cc_fail(err, "%s line %ld is damaged: not an earlier -> later head pair (remove the file or drop "
                              "--resume)", path, no);
        } else {
            long i = cc_atlas_pair_index(s->a, e.earlier, e.later);
            if (!s->done[i]) s->n_done++, s->n_resumed++;
            s->all[i] = e;
            s->done[i] = 1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* Writes HEADER and the entries marked done, in canonical order, to PATH
 * under the output-path rule (circuitc/fsio.h). */
static int write_entries(const atlas_sink *s, const char *path, const char *header, cc_error *err)
{
    cc_out o;
    if (cc_out_open(path, &o, err) != 0) return -1;
    fprintf(o.f, "%s\n", header);
    for (long i = 0; i < cc_atlas_n_pairs(s->a); i++) {
        char line[LINE_MAX_BYTES];
        if (s->done[i] && cc_atlas_entry_line(&s->all[i], line, sizeof line) >= 0) fprintf(o.f, "%s\n", line);
    }
    return cc_out_commit(&o, err);
}

/* Opens the partial file OUT.partial: a fresh one holding the header and what
 * --resume recovered (written atomically first, so an interruption now loses
 * nothing), then reopened for appending. An OUT written directly (a device or
 * FIFO, circuitc/fsio.h) has no partial file and cannot be resumed. */
int atlas_open_partial(atlas_sink *s, const char *out, bool resume, const char *header, const cc_config *cfg,
                        char **partial_path, cc_error *err)
{
    bool direct;
    if (cc_out_check(out, &direct, err) != 0) return -1;
    if (direct && resume)
        return cc_fail(err, "--resume needs --out to name a regular file; %s is a device or FIFO, which is written "
                            "once at the end", out);
    if (direct) return 0;
    size_t n = strlen(out) + sizeof ".partial";
    char *p = malloc(n);
    if (!p) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    snprintf(p, n, "%s.partial", out);
    *partial_path = p;
    s->partial_path = p;
    if (resume) {
        const char *from = access(p, F_OK) == 0 ? p : access(out, F_OK) == 0 ? out : NULL;
        if (from && resume_from(s, from, header, cfg, err) != 0) return -1;
    }
    if (write_entries(s, p, header, err) != 0) return -1;
    s->partial = fopen(p, "a");
    if (!s->partial) return cc_fail(err, "%s: cannot open for appending: %s", p, strerror(errno));
    s->last_sync = now_seconds();
    return 0;
}

/* Closes the partial file and replaces OUT with the complete, ordered file. */
int atlas_finish_file(atlas_sink *s, const char *out, const char *header, cc_error *err)
{
    FILE *f = s->partial;
    s->partial = NULL;
    if (f && fclose(f) != 0) return cc_fail(err, "%s: cannot write: %s", s->partial_path, strerror(errno));
    if (write_entries(s, out, header, err) != 0) return -1;
    if (f) unlink(s->partial_path); /* complete: OUT holds everything */
    return 0;
}
