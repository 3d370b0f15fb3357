/* circuitc/plot.h — render one chart with gnuplot: write data files and a
 * driver script into a private temporary directory, run gnuplot on a template
 * (plots/NAME.gp) as a child program, and move the finished image into place.
 *
 * One job per cc_plot:
 *
 *     cc_plot *p;
 *     cc_plot_begin("repeat", "out.png", 800, 420, &p, err);    // checks OUT, makes the temp dir
 *     FILE *f = cc_plot_data(p, "repeat.dat", err);             // write rows, then
 *     cc_plot_data_close(p, f, err);
 *     cc_plot_set_str(p, "title", "...");                       // gnuplot variables
 *     cc_plot_render(p, err);                                   // gnuplot, then the image to OUT
 *     cc_plot_end(p);                                           // removes the temp dir
 *
 * The format follows OUT's extension: .png (pngcairo) or .svg (svg), case
 * insensitive. gnuplot runs with the driver script as its argument (posix_spawnp,
 * stdin /dev/null, stdout and stderr captured): a failure is an error quoting
 * its exit status and the end of its stderr; a missing gnuplot is an error naming
 * the Debian package. gnuplot gets $CIRCUITC_GNUPLOT_TIMEOUT seconds (default
 * 60), then it and every process it started are killed and the chart fails.
 * gnuplot draws into the temporary directory; the image is copied to OUT
 * (under the output-path rule of circuitc/fsio.h: a regular file is replaced
 * atomically, a device or FIFO written directly, anything else refused) only
 * after gnuplot succeeded and the image checked complete (PNG signature and
 * IEND chunk, SVG closing tag: gnuplot exits 0 when the disk fills up), so OUT
 * is never left partial.
 * Every temporary file and the directory are registered with
 * circuitc/cleanup.h, so a SIGINT/SIGTERM removes them (and kills gnuplot)
 * when the program installed the handlers.
 *
 * Templates: cc_plot_dir ($CIRCUITC_PLOTS if set, else plots/ in the data directory).
 * Each template reads the variables `datadir` (the data files' directory, no
 * trailing slash), `outfmt` ("png" or "svg"), `width`, `height` and whatever
 * its caller sets; the terminal and output are already set when it runs.
 * Text is drawn "noenhanced" (no subscript markup), UTF-8. */
#ifndef CIRCUITC_PLOT_H
#define CIRCUITC_PLOT_H

#include <stdio.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_plot cc_plot;

/* The directory templates are read from: $CIRCUITC_PLOTS if set, else plots/
 * in the data directory (circuitc/datadir.h). Caller frees. */
int cc_plot_dir(char **out, cc_error *err);

/* Checks that OUT ends in .png or .svg and that its directory exists and is
 * writable; the commands call it before any analysis, so a bad path fails fast. */
int cc_plot_check_output(const char *out, cc_error *err);

/* Starts a chart from template NAME into OUT, WIDTH x HEIGHT pixels (points for
 * SVG): checks OUT and the template, creates the temporary directory. */
int cc_plot_begin(const char *name, const char *out, int width, int height, cc_plot **pp, cc_error *err);

/* Opens data file FILE (a plain name, no '/') in the temporary directory for
 * writing. Close it with cc_plot_data_close, which reports write errors. */
FILE *cc_plot_data(cc_plot *p, const char *file, cc_error *err);
int cc_plot_data_close(cc_plot *p, FILE *f, cc_error *err);

/* Defines gnuplot variable NAME (an identifier) for the template: a string
 * (quoted safely; a NULL VALUE is the empty string) or a number. Returns -1 (recorded; cc_plot_render fails) on a
 * bad name or out of memory. */
int cc_plot_set_str(cc_plot *p, const char *name, const char *value);
int cc_plot_set_num(cc_plot *p, const char *name, double value);

/* The temporary directory holding the data files. */
const char *cc_plot_tmpdir(const cc_plot *p);

/* Runs gnuplot and, on success, writes the image to OUT. */
int cc_plot_render(cc_plot *p, cc_error *err);

/* Copies every data file written so far to PREFIX<file> (e.g. PREFIX "out/kcomp-"
 * gives out/kcomp-topk.dat), and after cc_plot_render the driver script with
 * the chart's variables to PREFIXplot.gp, each under the output-path rule
 * (circuitc/fsio.h). */
int cc_plot_keep_data(cc_plot *p, const char *prefix, cc_error *err);

/* Removes the temporary directory (and a leftover temporary image) and frees P. */
void cc_plot_end(cc_plot *p);

#ifdef __cplusplus
}
#endif

#endif
