/* circuitc/fsio.h — file handling shared by the readers and writers: open only
 * regular files (a FIFO, device or directory is refused without blocking), and
 * write every output under one rule (cc_out): a regular file is replaced
 * atomically (checked flush, fsync, rename; nothing partial left behind on
 * failure), a device or FIFO is written directly, anything else refused. */
#ifndef CIRCUITC_FSIO_H
#define CIRCUITC_FSIO_H

#include <stdbool.h>
#include <stdio.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens PATH read-only. Anything but a regular file is refused (the open uses
 * O_NONBLOCK, so a FIFO with no writer cannot hang it); WHAT names the file in
 * the message ("config", "circuit file"...). Returns the descriptor (blocking
 * mode restored, close-on-exec), or -1 with ERR filled. */
int cc_open_regular(const char *path, const char *what, cc_error *err);

/* Like cc_open_regular, as a stdio stream ("rb"). */
FILE *cc_fopen_regular(const char *path, const char *what, cc_error *err);

/* The output-path rule, shared by every file circuitc writes (README
 * "Reliability"). What PATH is decides how it is written:
 *   - one of this process's descriptors (/dev/stdout, /dev/stderr, /dev/fd/N,
 *     /proc/self/fd/N): written through that descriptor, whatever it leads to
 *     (so `--out /dev/stdout > f` appends to the shell's f, never replaces it);
 *   - nothing, or a regular file: a temporary file beside it, renamed over it
 *     when complete (readers see the old file or the whole new one);
 *   - a symbolic link: followed; a link to a regular file has that file
 *     replaced atomically as above (the link stays), a link to a character
 *     device or FIFO is written directly, a dangling link is refused;
 *   - a character device or FIFO (/dev/null, a terminal, a named pipe):
 *     opened and written directly, never replaced;
 *   - anything else (a directory, block device or socket): refused.
 * An existing target that is not a regular file is never replaced. */
typedef struct {
    FILE *f;      /* write here */
    char *tmp;    /* the temporary beside DEST, renamed onto it by cc_out_commit;
                   * NULL when F is written directly (a device, FIFO or own descriptor) */
    char *dest;   /* the file replaced: PATH, or the regular file a link PATH leads to */
    char *path;   /* PATH as given, for messages */
} cc_out;

/* Checks that PATH can be written under the rule without writing anything (a
 * command checks its output paths before it starts work); *DIRECT (may be
 * NULL) tells whether it would be written directly (a device or FIFO). 0, or
 * -1 with ERR naming PATH and what it is. */
int cc_out_check(const char *path, bool *direct, cc_error *err);

/* Opens PATH for writing under the rule; a temporary file is created with mode
 * 0666 & ~umask and registered for removal on a signal (circuitc/cleanup.h).
 * 0 with *O filled, or -1 with ERR filled (*O then needs no cleanup). */
int cc_out_open(const char *path, cc_out *o, cc_error *err);

/* Finishes O: checks every buffered write, and for a temporary file fsyncs it
 * and renames it onto its destination. On failure the temporary file is
 * removed and ERR names PATH and the cause (e.g. "No space left on device").
 * O is released in every case. */
int cc_out_commit(cc_out *o, cc_error *err);

/* Releases O without finishing it: a temporary file is removed, the
 * destination left as it was. Safe on a zeroed cc_out. */
void cc_out_abandon(cc_out *o);

/* Copies the file FROM to TO under the output-path rule. */
int cc_copy_file(const char *from, const char *to, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
