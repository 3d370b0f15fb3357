/* patch_output.c — what `circuitc patch` shows for a prompt pair: the text
 * table (or the strongest per-head entries), the JSON arrays and the --plot
 * heatmap. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "patch_cli.h"
#include "plot_cli.h"

/* Row and column labels of the heatmap of R. Caller frees both lists and their strings. */
static void heatmap_labels(const cc_prompt_pair *pp, const cc_patch_result *r, bool by_head_rows, char ***rows,
                           char ***cols, int *nr, int *nc)
{
    int L = r->n_layers, H = r->n_heads;
    *nr = by_head_rows ? L * H : L;
    *nc = by_head_rows ? r->n_pos : (r->n_pos > 1 ? r->n_pos : H);
    *rows = calloc((size_t)*nr, sizeof **rows);
    *cols = calloc((size_t)*nc, sizeof **cols);
    if (!*rows || !*cols) return;
    for (int i = 0; i < *nr; i++)
        if (asprintf(&(*rows)[i], by_head_rows ? "L%dH%d" : "layer %d", by_head_rows ? i / H : i, i % H) < 0)
            (*rows)[i] = NULL;
    for (int i = 0; i < *nc; i++) {
        if (r->n_pos > 1) { /* a position: its index and token */
            int t = r->pos_lo + i;
            char *s = patch_pair_text(pp, pp->corrupt.tokens[t]);
            if (asprintf(&(*cols)[i], "%d %s", t, s ? s : "?") < 0) (*cols)[i] = NULL;
            free(s);
        } else if (H > 1) {
            if (asprintf(&(*cols)[i], "head %d", i) < 0) (*cols)[i] = NULL;
        } else {
            (*cols)[i] = strdup("all positions");
        }
    }
}

static void free_labels(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* The layer x position (or x head) heatmap of the normalised results (raw when
 * the clean and corrupted metrics are equal). */
int patch_pair_plot(const char *out, const char *what, const cc_model *m, const cc_prompt_pair *pp,
                    const cc_patch_opts *po, const cc_patch_result *r)
{
    bool norm = patch_normalisable(r->clean, r->corrupt), by_head_rows = r->n_heads > 1 && r->n_pos > 1;
    size_t N = (size_t)r->n_layers * r->n_pos * r->n_heads;
    double *v = malloc(N * sizeof *v);
    char **rows = NULL, **cols = NULL, *title = NULL, *sub = NULL, *model = cli_model_label(cc_model_path(m));
    int nr = 0, nc = 0, rc = CLI_FAIL;
    heatmap_labels(pp, r, by_head_rows, &rows, &cols, &nr, &nc);
    bool ok = v && rows && cols && model;
    for (int i = 0; ok && i < nr; i++) ok = rows[i] != NULL;
    for (int i = 0; ok && i < nc; i++) ok = cols[i] != NULL;
    if (ok && asprintf(&title, "%s %s%s%s — model %s", what, cc_patch_hook_name(po->hook),
                       po->per_head ? " per head" : "", po->all_positions ? ", all positions" : "", model) < 0)
        ok = false, title = NULL;
    if (ok && asprintf(&sub, "%s; clean %.4f, corrupt %.4f", norm ? "(patched - corrupt) / (clean - corrupt): 1 = "
                                                                     "clean restored" : "patched metric",
                       cli_num(r->clean, 4), cli_num(r->corrupt, 4)) < 0)
        ok = false, sub = NULL;
    if (!ok) {
        fprintf(stderr, "circuitc patch: --plot: out of memory\n");
    } else {
        for (int l = 0; l < r->n_layers; l++) /* [L, P, H] -> rows x cols */
            for (int p = 0; p < r->n_pos; p++)
                for (int h = 0; h < r->n_heads; h++) {
                    size_t i = ((size_t)l * r->n_pos + p) * r->n_heads + h;
                    size_t at = by_head_rows ? ((size_t)l * r->n_heads + h) * r->n_pos + p : i;
                    v[at] = norm ? r->normalized[i] : r->value[i];
                }
        /* normalised scores: +-1 is the whole effect, so the scale never shrinks below it */
        cc_chart_opts co = {.out = out, .title = title, .scale_floor = norm ? 1.0 : 0.0};
        cc_error err;
        if (cc_chart_heatmap(&co, nr, nc, v, (const char *const *)rows, (const char *const *)cols,
                             by_head_rows || r->n_pos > 1 ? "patched position (corrupted prompt's token)" : "head",
                             by_head_rows ? "head" : "layer", norm ? "normalised patching effect" : "patched metric",
                             sub, &err) != 0)
            cli_fail(&err);
        else rc = CLI_OK;
    }
    free(v), free(title), free(sub), free(model);
    free_labels(rows, nr), free_labels(cols, nc);
    return rc;
}

/* Entries of R ranked by |normalised| (raw when not normalisable), best first, into ORDER [N]. */
static void rank(const cc_patch_result *r, size_t N, size_t *order)
{
    for (size_t i = 0; i < N; i++) order[i] = i;
    bool norm = patch_normalisable(r->clean, r->corrupt);
    const double *v = norm ? r->normalized : r->value;
    double base = norm ? 0 : r->corrupt;
    for (size_t i = 1; i < N; i++) { /* insertion sort: N is at most L x T x H */
        size_t x = order[i], j = i;
        while (j > 0 && fabs(v[order[j - 1]] - base) < fabs(v[x] - base)) order[j] = order[j - 1], j--;
        order[j] = x;
    }
}

void patch_pair_print_result(const cc_model *m, const cc_prompt_pair *pp, const cc_patch_opts *po, const cc_patch_result *r,
                       int top)
{
    int L = r->n_layers, P = r->n_pos, H = r->n_heads;
    printf("model %s (%s)\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed");
    patch_pair_print(pp, r->clean, r->corrupt);
    char name[64];
    cc_hook_name(po->hook, 0, name, sizeof name);
    bool norm = patch_normalisable(r->clean, r->corrupt);
    printf("patching blocks.{layer}.%s%s, %s; each cell %s; %s", name + strlen("blocks.0."),
           po->per_head ? " per head" : "", po->all_positions ? "all positions at once" : "one position at a time",
           norm ? "(patched - corrupt) / (clean - corrupt)" : "the patched metric",
           po->naive ? "naive reruns\n" : "causal reuse");
    if (!po->naive) printf(", %ld of %d patches needed no run\n", r->skipped, L * P * H);
    patch_pair_print_table(pp, r, top);
}

void patch_pair_print_table(const cc_prompt_pair *pp, const cc_patch_result *r, int top)
{
    int L = r->n_layers, P = r->n_pos, H = r->n_heads;
    bool norm = patch_normalisable(r->clean, r->corrupt);
    if (H > 1 && P > 1) { /* layer x position x head: the strongest entries */
        size_t N = (size_t)L * P * H, *order = malloc(N * sizeof *order);
        if (!order) return;
        rank(r, N, order);
        printf("%5s %4s %-16s %10s %10s\n", "layer", "head", "position", "normalised", "metric");
        for (size_t k = 0; k < N && k < (size_t)top; k++) {
            size_t i = order[k];
            int l = (int)(i / ((size_t)P * H)), p = (int)(i / H % P), h = (int)(i % H), t = r->pos_lo + p;
            char *s = patch_pair_text(pp, pp->corrupt.tokens[t]);
            printf("%5d %4d %3d %-12s", l, h, t, s ? s : "?");
            patch_print_normalised(r->normalized[i]);
            printf(" %10.4f\n", cli_num(r->value[i], 4));
            free(s);
        }
        free(order);
        return;
    }
    int cols = P > 1 ? L : H; /* positions x layers, or layers x heads */
    printf("%-18s", P > 1 ? "position" : "layer");
    for (int c = 0; c < cols; c++) printf(" %8s%-2d", P > 1 ? "layer " : "head ", c);
    printf("\n");
    for (int row = 0; row < (P > 1 ? P : L); row++) {
        if (P > 1) {
            char *s = patch_pair_text(pp, pp->corrupt.tokens[r->pos_lo + row]);
            printf("%3d %-14.14s", r->pos_lo + row, s ? s : "?");
            free(s);
        } else {
            printf("%-18d", row);
        }
        for (int c = 0; c < cols; c++) {
            size_t i = P > 1 ? (size_t)c * P + row : (size_t)row * H + c;
            printf(" %+10.4f", cli_num(norm ? r->normalized[i] : r->value[i], 4));
        }
        printf("\n");
    }
}
