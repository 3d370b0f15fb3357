/* circuitc/charts.h — the charts behind `--plot FILE`: each function writes
 * its data files, runs its template plots/<name>.gp through plot.h and leaves
 * FILE (.png or .svg). Inputs are plain arrays, so the functions are usable
 * (and tested) without a model.
 *
 * Data files are whitespace-separated text with '#' comment headers naming
 * the columns; numbers are printed with %.9g. Heatmap grids are "col row value"
 * lines, one blank line after each row (gnuplot's grid format), row 0 first;
 * the templates draw row 0 at the top. Undefined cells are NaN.
 *
 * Sizes (pixels for PNG, points for SVG) are fixed per chart: CC_CHART_*_W/H. */
#ifndef CIRCUITC_CHARTS_H
#define CIRCUITC_CHARTS_H

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *out;        /* the image: *.png or *.svg */
    const char *title;      /* first title line: what, model, head(s), seed */
    const char *keep_data;  /* if not NULL: also copy each data file (and plot.gp) to <keep_data><file> */
    double scale_floor;     /* heatmap: the symmetric colour scale reaches at least +-this (0: the data's
                               largest magnitude), so noise near 0 is not drawn saturated */
} cc_chart_opts;

enum {
    CC_CHART_CIRCUIT_W = 1000, CC_CHART_CIRCUIT_H = 420,
    CC_CHART_COMP_W = 1300, CC_CHART_COMP_H = 480,   /* three panels; one or two panels are narrower */
    CC_CHART_HEADS_W = 1000, CC_CHART_HEADS_H = 440,
    CC_CHART_PATTERN_W = 700, CC_CHART_PATTERN_H = 640,
    CC_CHART_REPEAT_W = 900, CC_CHART_REPEAT_H = 420,
    CC_CHART_PATCH_W = 1000, CC_CHART_PATCH_H = 420,
    CC_CHART_HEATMAP_W = 1000, CC_CHART_HEATMAP_MIN_H = 360,
    CC_CHART_BARS_W = 900, CC_CHART_BARS_H = 440,
    CC_CHART_LENS_W_BASE = 260, CC_CHART_LENS_H_BASE = 240, /* plus 46 per position, 22 per layer */
    CC_CHART_DLA_W = 1200, CC_CHART_DLA_H = 460,
    CC_CHART_ATLAS_W = 1300, CC_CHART_ATLAS_H = 620,
};

/* Width of the comp-scores chart with N_MODES panels (1..3). */
int cc_chart_comp_width(int n_modes);

/* Top-k accuracy curves (k = 1..K) of a square circuit in both directions and
 * its singular-value spectrum, two panels (template circuit.gp). ROWS_LABEL and
 * COLS_LABEL name the directions (each may be NULL: "rows", "columns").
 * Files: topk.dat (k, rows_accuracy, cols_accuracy), spectrum.dat (i, sigma_i). */
int cc_chart_circuit(const cc_chart_opts *o, int K, const double *rows_acc, const double *cols_acc,
                     const char *rows_label, const char *cols_label, const double *sv, int n_sv, cc_error *err);

/* Composition-score heatmaps (earlier head = row, later head = column), one
 * panel per mode (template comp_scores.gp). SCORES[m] is [L*H][L*H] (flat head
 * index layer*H + head); entries with layer(row) >= layer(col) are drawn empty.
 * BASELINE_MEAN / STD: NaN when there is no baseline.
 * Files: comp_<mode>.dat grids. */
int cc_chart_comp_scores(const cc_chart_opts *o, int L, int H, int n_modes, const char *const *mode_names,
                         const double *const *scores, double baseline_mean, double baseline_std, cc_error *err);

/* Layer x head heatmaps of the induction and previous-token scores (each
 * [L][H], in [0,1]) with the TOP highest heads of each annotated (template heads.gp).
 * Files: induction.dat, previous_token.dat grids; induction_top.dat,
 * previous_token_top.dat (head, layer, value). */
int cc_chart_heads(const cc_chart_opts *o, int L, int H, const double *induction, const double *previous, int top,
                   cc_error *err);

/* One head's attention pattern, [T][T] (rows: destination, columns: source),
 * T = 1 + 2n; the induction diagonal (source = dest - n + 1) is outlined
 * (template pattern.gp). File: pattern.dat grid. */
int cc_chart_pattern(const cc_chart_opts *o, int n, const float *pattern, cc_error *err);

/* The same for a prompt: T positions labelled with TOKENS (each token's text)
 * on both axes, no repeat marked. */
int cc_chart_pattern_tokens(const cc_chart_opts *o, int T, const float *pattern, const char *const *tokens,
                            cc_error *err);

/* The logit lens: PROB [n_rows][T] (probability of the next token; NaN at the
 * last position) as a residual stream (row, ROW_LABELS) x position (TOKENS)
 * heatmap, each cell marked with its top token TOP_TOKENS [n_rows][T]
 * (template lens.gp). Size grows with T and n_rows (CC_CHART_LENS_*).
 * Files: lens.dat grid, lens_top.dat (col row "text" probability). */
int cc_chart_lens(const cc_chart_opts *o, int n_rows, int T, const double *prob, const char *const *row_labels,
                  const char *const *tokens, const char *const *top_tokens, cc_error *err);

/* Direct logit attribution, two panels (template dla.gp): bars of N_PARTS
 * signed PARTS (PART_LABELS: embeddings, each layer's attention and MLP, the
 * unembedding bias) and a layer x head heatmap of HEADS [L][H] on a colour
 * scale symmetric around 0. YLABEL names the metric.
 * Files: dla_parts.dat (index value), dla_heads.dat grid. */
int cc_chart_dla(const cc_chart_opts *o, int L, int H, const double *heads, int n_parts,
                 const char *const *part_labels, const double *parts, const char *ylabel, cc_error *err);

/* Mean correct-token log-prob per position (LOGPROB[2n], position i predicts
 * token i+1), the two halves marked with their means (template repeat.gp).
 * File: repeat.dat (position, mean_logprob, half). */
int cc_chart_repeat(const cc_chart_opts *o, int n, const double *logprob, double first_mean, double second_mean,
                    cc_error *err);

/* Loss change of the patching sweep, layer x position: DELTA [L][n+1] for
 * positions n..2n, on a colour scale symmetric around zero (template patch.gp).
 * File: patch.dat grid (columns are positions n..2n). */
int cc_chart_patch(const cc_chart_opts *o, int L, int n, const double *delta, double clean_loss, cc_error *err);

/* A labelled heatmap, VALUES [rows][cols] on a colour scale symmetric around 0
 * (the top row first; NaN cells blank): ROW_LABELS and COL_LABELS (any text,
 * e.g. the prompt's tokens) name the rows and columns; XLABEL, YLABEL, CBLABEL
 * the axes and SUBTITLE the second title line (template heatmap.gp). The
 * height grows with the rows. File: heatmap.dat grid. */
int cc_chart_heatmap(const cc_chart_opts *o, int rows, int cols, const double *values, const char *const *row_labels,
                     const char *const *col_labels, const char *xlabel, const char *ylabel, const char *cblabel,
                     const char *subtitle, cc_error *err);

/* ablate --plot: every head's induction-score change CHANGE [L][H] as a layer
 * x head heatmap (rows L0.., columns H0..) on a colour scale symmetric around
 * 0 (o->scale_floor keeps noise from saturating), the N_ABLATED heads ABLATED
 * (flat indices layer * H + head) framed; CBLABEL names the score, SUBTITLE
 * the ablation (template heatmap.gp). Files: heatmap.dat grid, marks.dat
 * (col row of each framed cell). */
int cc_chart_ablate(const cc_chart_opts *o, int L, int H, const double *change, int n_ablated, const int *ablated,
                    const char *cblabel, const char *subtitle, cc_error *err);

/* Grouped bars: N_GROUPS groups (labels GROUPS) of N_SERIES values each
 * (VALUES [n_groups][n_series], names SERIES), y in [0,1] (template bars.gp),
 * the y axis labelled YLABEL (may be NULL: none).
 * File: bars.dat (group label, then one column per series). */
int cc_chart_bars(const cc_chart_opts *o, const char *ylabel, int n_groups, const char *const *groups,
                  int n_series, const char *const *series, const double *values, cc_error *err);

/* The atlas (`circuitc atlas --plot`): top-1 accuracy of every earlier (row)
 * -> later (column) head pair, rows and columns direction side by side
 * (template atlas.gp). ROWS_ACC / COLS_ACC are [L*H][L*H]; NaN marks a pair
 * certified below MIN_ACC (drawn hatched grey), entries with layer(row) >=
 * layer(col) are drawn empty. Files: atlas_rows.dat, atlas_cols.dat grids. */
int cc_chart_atlas(const cc_chart_opts *o, int L, int H, const double *rows_acc, const double *cols_acc,
                   double min_acc, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
