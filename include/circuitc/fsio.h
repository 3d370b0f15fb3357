/* circuitc/fsio.h — file handling shared by the readers and writers: open only
 * regular files (a FIFO, device or directory is refused without blocking), and
 * finish a file written beside its destination atomically (checked flush,
 * fsync, rename; nothing partial left behind on failure). */
#ifndef CIRCUITC_FSIO_H
#define CIRCUITC_FSIO_H

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

/* Creates a temporary file beside PATH (PATH.tmp-XXXXXX, mode 0666 & ~umask),
 * registered for removal on a signal (circuitc/cleanup.h). *TMP gets its name
 * (caller frees). Returns the stream, or NULL with ERR filled. */
FILE *cc_create_beside(const char *path, char **tmp, cc_error *err);

/* Finishes F, written to the temporary TMP: checks every buffered write,
 * fsyncs, closes and renames TMP to PATH. On failure TMP is removed and ERR
 * names PATH and the cause (e.g. "No space left on device"). F is closed and
 * TMP unregistered in every case. */
int cc_commit_file(FILE *f, const char *tmp, const char *path, cc_error *err);

/* Closes F and removes TMP (an abandoned cc_create_beside). */
void cc_abandon_file(FILE *f, const char *tmp);

#ifdef __cplusplus
}
#endif

#endif
