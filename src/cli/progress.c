/* progress.c — one self-overwriting stderr line (progress.h). */
#include "progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "eta.h"

enum { REDRAWS_PER_SECOND = 10 };

static bool silenced;

static struct {
    bool on;            /* stderr is a terminal and not --quiet */
    const char *label;
    cli_eta eta;        /* of the current phase */
    double last_draw;
    long last_done;
    bool drawn;         /* a line is on screen */
} line;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cli_progress_silence(void) { silenced = true; }

void cli_progress_begin(const char *label)
{
    cli_progress_clear();
    line.on = !silenced && isatty(STDERR_FILENO);
    line.label = label;
    cli_eta_reset(&line.eta);
    line.last_draw = -1;
    line.last_done = 0;
}

void cli_progress_default(const char *label)
{
    if (!line.label) cli_progress_begin(label);
}

void cli_progress_phase(void *ctx, const char *label)
{
    (void)ctx;
    cli_progress_begin(label);
}

int cli_progress_update(void *ctx, long done, long total)
{
    (void)ctx;
    if (!line.on || total <= 0) return 0;
    double t = now();
    if (done >= total) { /* whatever follows is a new phase, starting now */
        cli_progress_clear();
        cli_eta_reset(&line.eta);
        line.last_done = 0;
        return 0;
    }
    if (done < line.last_done) cli_eta_reset(&line.eta);
    line.last_done = done;
    cli_eta_update(&line.eta, t, done);
    if (t - line.last_draw < 1.0 / REDRAWS_PER_SECOND) return 0;
    line.last_draw = t;
    char eta[32] = "ETA --:--";
    double left_s = cli_eta_left(&line.eta, total);
    if (left_s >= 0) {
        long left = (long)(left_s + 0.5);
        snprintf(eta, sizeof eta, "ETA %ld:%02ld", left / 60, left % 60);
    }
    /* \r, then "erase to end of line" after the text: the line overwrites itself */
    fprintf(stderr, "\r%s: %3d%% %s\033[K", line.label, (int)(100.0 * (double)done / (double)total), eta);
    fflush(stderr);
    line.drawn = true;
    return 0; /* the CLI never cancels: Ctrl-C ends the process */
}

void cli_progress_clear(void)
{
    if (!line.drawn) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    line.drawn = false;
}
