/* progress.h — the CLI's progress line: "LABEL: 42% ETA 0:13" on stderr, drawn
 * only when stderr is a terminal and --quiet is not given, redrawn at most 10
 * times a second and erased when its phase completes (or on an error), so
 * results and messages always start on a clean line. One per process: there
 * is one stderr. Private to src/cli/. */
#ifndef CIRCUITC_CLI_PROGRESS_H
#define CIRCUITC_CLI_PROGRESS_H

/* --quiet: never draw, for the rest of the process. */
void cli_progress_silence(void);

/* Labels the work that follows (LABEL must outlive it). */
void cli_progress_begin(const char *label);

/* cli_progress_begin(LABEL) unless a phase is already labelled. */
void cli_progress_default(const char *label);

/* cli_progress_begin as a library phase callback (CTX unused). */
void cli_progress_phase(void *ctx, const char *label);

/* A cc_progress_fn (CTX unused): DONE of TOTAL. A DONE smaller than the last
 * one starts a new phase (its own ETA); DONE == TOTAL erases the line. Returns
 * 0 (go on). */
int cli_progress_update(void *ctx, long done, long total);

/* Erases the line if one is drawn. */
void cli_progress_clear(void);

#endif
