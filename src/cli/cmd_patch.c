/* cmd_patch.c — `circuitc patch HOOK`: activation patching at any hook on a
 * clean/corrupted prompt pair, or (no prompts) the mlp_out sweep on a repeated
 * random sequence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "patch_pair.h"
#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

/* The repeated-token sweep: mlp_out[p] <- mlp_out[p-n] on [BOS, A, A]. */
static int run_repeat(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    static const opt_id pair_only[] = {O_CORRUPT, O_CORRUPT_TOKENS, O_ANSWER, O_WRONG, O_PER_HEAD, O_POSITIONS,
                                       O_METRIC, O_TOKENIZER, O_NO_BOS};
    for (size_t i = 0; i < sizeof pair_only / sizeof pair_only[0]; i++)
        if (a->v[pair_only[i]].given)
            return cli_usage_error("patch", "--%s needs a prompt pair (--clean/--corrupt or --clean-tokens/"
                                            "--corrupt-tokens)", cli_options[pair_only[i]].name);
    if (strcmp(o.args[0], "mlp_out") != 0)
        return cli_usage_error("patch", "patching %s needs a prompt pair (--clean TEXT --corrupt TEXT); without one "
                                        "only the repeated-token mlp_out sweep runs", o.args[0]);
    cc_error err;
    cc_model *m = NULL;
    int *tok = NULL;
    cc_patch_sweep s = {0};
    if (rt_setup(&o, 1, &m, &tok, &err) != 0 ||
        cc_patch_mlp_sweep(m, tok, o.n, o.naive, CC_KERNEL_FAST, cli_progress_update, NULL, &s, &err) != 0) {
        free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    int n = o.n, L = s.n_layers, NP = n + 1;
    if (o.common.json) {
        json_t *j = rt_json_header(&o, 1);
        json_object_set_new(j, "hook", json_string("blocks.{layer}.hook_mlp_out"));
        json_object_set_new(j, "method", json_string(o.naive ? "naive" : "causal"));
        json_object_set_new(j, "n_layers", json_integer(L));
        json_object_set_new(j, "clean_loss", json_real(s.clean_loss));
        json_t *pos = json_array(), *delta = json_array(), *pl = json_array();
        for (int k = 0; k < NP; k++) json_array_append_new(pos, json_integer(n + k));
        for (int l = 0; l < L; l++) {
            json_t *dr = json_array(), *pr = json_array();
            for (int k = 0; k < NP; k++) {
                json_array_append_new(dr, json_real(s.delta[l * NP + k]));
                json_array_append_new(pr, json_real(s.patched_loss[l * NP + k]));
            }
            json_array_append_new(delta, dr);
            json_array_append_new(pl, pr);
        }
        json_object_set_new(j, "patch_positions", pos);
        json_object_set_new(j, "delta", delta);
        json_object_set_new(j, "patched_loss", pl);
        rc = cli_print_result(j);
    } else {
        rt_print_header(m, &o, 1);
        printf("clean loss (second half) %.4f; loss(patched) - loss(clean), mlp_out[p] <- clean mlp_out[p-%d] (%s)\n",
               s.clean_loss, n, o.naive ? "naive reruns" : "causal reuse");
        printf("%5s %5s", "pos", "token");
        for (int l = 0; l < L; l++) printf("  %7s%-2d", "layer ", l);
        printf("\n");
        for (int k = 0; k < NP; k++) {
            printf("%5d %5d", n + k, tok[n + k]);
            for (int l = 0; l < L; l++) printf("  %+9.4f", s.delta[l * NP + k]);
            printf("\n");
        }
        int best = 0;
        for (int i = 1; i < L * NP; i++)
            if (fabs(s.delta[i]) > fabs(s.delta[best])) best = i;
        printf("largest change: layer %d, position %d: %+.4f\n", best / NP, n + best % NP, s.delta[best]);
        rc = CLI_OK;
    }
    if (o.common.plot &&
        cli_plot_patch(o.common.plot, m->model_path, o.seed, n, L, s.delta, s.clean_loss, NULL) != CLI_OK)
        rc = CLI_FAIL;
    cc_patch_sweep_free(&s);
    free(tok);
    cc_model_free(m);
    return rc;
}

/* Row and column labels of the heatmap of R. Caller frees both lists and their strings. */
static void heatmap_labels(const patch_pair *pp, const cc_patch_result *r, bool by_head_rows, char ***rows,
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
static int plot_pair(const char *out, const cc_model *m, const patch_pair *pp, const cc_patch_opts *po,
                     const cc_patch_result *r)
{
    bool norm = isfinite(1.0 / (r->clean - r->corrupt)), by_head_rows = r->n_heads > 1 && r->n_pos > 1;
    size_t N = (size_t)r->n_layers * r->n_pos * r->n_heads;
    double *v = malloc(N * sizeof *v);
    char **rows = NULL, **cols = NULL, *title = NULL, *sub = NULL, *model = cli_model_label(m->model_path);
    int nr = 0, nc = 0, rc = CLI_FAIL;
    heatmap_labels(pp, r, by_head_rows, &rows, &cols, &nr, &nc);
    bool ok = v && rows && cols && model;
    for (int i = 0; ok && i < nr; i++) ok = rows[i] != NULL;
    for (int i = 0; ok && i < nc; i++) ok = cols[i] != NULL;
    if (ok && asprintf(&title, "patching %s%s%s — model %s", cc_patch_hook_name(po->hook),
                       po->per_head ? " per head" : "", po->all_positions ? ", all positions" : "", model) < 0)
        ok = false, title = NULL;
    if (ok && asprintf(&sub, "%s; clean %.4f, corrupt %.4f", norm ? "(patched - corrupt) / (clean - corrupt): 1 = "
                                                                     "clean restored" : "patched metric",
                       r->clean, r->corrupt) < 0)
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
        cc_chart_opts co = {.out = out, .title = title};
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
    bool norm = isfinite(1.0 / (r->clean - r->corrupt));
    const double *v = norm ? r->normalized : r->value;
    double base = norm ? 0 : r->corrupt;
    for (size_t i = 1; i < N; i++) { /* insertion sort: N is at most L x T x H */
        size_t x = order[i], j = i;
        while (j > 0 && fabs(v[order[j - 1]] - base) < fabs(v[x] - base)) order[j] = order[j - 1], j--;
        order[j] = x;
    }
}

static void print_pair(const cc_model *m, const patch_pair *pp, const cc_patch_opts *po, const cc_patch_result *r,
                       int top)
{
    int L = r->n_layers, P = r->n_pos, H = r->n_heads;
    printf("model %s (%s)\n", m->model_path, m->processed ? "processed" : "unprocessed");
    patch_pair_print(pp, r->clean, r->corrupt);
    char name[64];
    cc_hook_name(po->hook, 0, name, sizeof name);
    printf("patching blocks.{layer}.%s%s, %s; each cell (patched - corrupt) / (clean - corrupt); %s",
           name + strlen("blocks.0."), po->per_head ? " per head" : "",
           po->all_positions ? "all positions at once" : "one position at a time",
           po->naive ? "naive reruns\n" : "causal reuse");
    if (!po->naive) printf(", %ld of %d patches needed no run\n", r->skipped, L * P * H);
    if (H > 1 && P > 1) { /* layer x position x head: the strongest entries */
        size_t N = (size_t)L * P * H, *order = malloc(N * sizeof *order);
        if (!order) return;
        rank(r, N, order);
        printf("%5s %4s %-16s %10s %10s\n", "layer", "head", "position", "normalised", "metric");
        for (size_t k = 0; k < N && k < (size_t)top; k++) {
            size_t i = order[k];
            int l = (int)(i / ((size_t)P * H)), p = (int)(i / H % P), h = (int)(i % H), t = r->pos_lo + p;
            char *s = patch_pair_text(pp, pp->corrupt.tokens[t]);
            printf("%5d %4d %3d %-12s %+10.4f %10.4f\n", l, h, t, s ? s : "?", r->normalized[i], r->value[i]);
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
        for (int c = 0; c < cols; c++)
            printf(" %+10.4f", r->normalized[P > 1 ? (size_t)c * P + row : (size_t)row * H + c]);
        printf("\n");
    }
}

static json_t *result_json(const cc_patch_result *r, const double *v)
{
    json_t *layers = json_array();
    for (int l = 0; l < r->n_layers; l++) {
        json_t *pos = json_array();
        for (int p = 0; p < r->n_pos; p++) {
            json_t *heads = json_array();
            for (int h = 0; h < r->n_heads; h++)
                json_array_append_new(heads, patch_json_num(v[((size_t)l * r->n_pos + p) * r->n_heads + h]));
            json_array_append_new(pos, heads);
        }
        json_array_append_new(layers, pos);
    }
    return layers;
}

/* Activation patching on a prompt pair. */
static int run_pair(const cli_args *a)
{
    cli_common common = a->common;
    cc_hook_kind hook;
    cc_error err;
    if (a->v[O_SEQ_LEN].given || a->v[O_SEED].given)
        return cli_usage_error("patch", "--seq-len and --seed belong to the repeated-token sweep, not a prompt pair");
    if (cc_patch_hook_parse(a->pos[0], &hook, &err) != 0) return cli_usage_error("patch", "%s", err.msg);
    if (a->v[O_PER_HEAD].on && !cc_patch_hook_has_heads(hook))
        return cli_usage_error("patch", "--per-head: %s has no heads (z, pattern, q, k and v do)", a->pos[0]);
    cc_model *m = NULL;
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    patch_pair pp;
    int rc = patch_pair_load(a, m, &pp);
    if (rc != CLI_OK) {
        patch_pair_free(&pp);
        cc_model_free(m);
        return rc;
    }
    cli_progress_begin("patch");
    cc_patch_opts po = {.hook = hook, .per_head = a->v[O_PER_HEAD].on, .all_positions = a->v[O_POSITIONS].choice == 1,
                        .metric = pp.metric, .naive = a->v[O_NAIVE].on, .kernel = CC_KERNEL_FAST,
                        .progress = cli_progress_update};
    cc_patch_result r;
    if (cc_act_patch(m, pp.clean.tokens, pp.corrupt.tokens, pp.T, &po, &r, &err) != 0) {
        patch_pair_free(&pp);
        cc_model_free(m);
        return cli_fail(&err);
    }
    if (common.json) {
        json_t *j = json_object();
        json_object_set_new(j, "hook", json_string(cc_patch_hook_name(hook)));
        json_object_set_new(j, "per_head", json_boolean(po.per_head));
        json_object_set_new(j, "positions", json_string(po.all_positions ? "all" : "each"));
        json_object_set_new(j, "method", json_string(po.naive ? "naive" : "causal"));
        patch_pair_json(&pp, j);
        json_object_set_new(j, "clean", json_real(r.clean));
        json_object_set_new(j, "corrupt", json_real(r.corrupt));
        json_object_set_new(j, "shape", json_pack("[iii]", r.n_layers, r.n_pos, r.n_heads));
        json_object_set_new(j, "layout", json_string("[layer][position][head]; one position entry with --positions "
                                                     "all, one head entry without --per-head"));
        json_object_set_new(j, "value", result_json(&r, r.value));
        json_object_set_new(j, "normalized", result_json(&r, r.normalized));
        json_object_set_new(j, "skipped", json_integer(r.skipped));
        rc = cli_print_result(j);
    } else {
        print_pair(m, &pp, &po, &r, a->v[O_TOP].i);
        rc = CLI_OK;
    }
    if (common.plot && plot_pair(common.plot, m, &pp, &po, &r) != CLI_OK) rc = CLI_FAIL;
    cc_patch_result_free(&r);
    patch_pair_free(&pp);
    cc_model_free(m);
    return rc;
}

static int run(const cli_args *a)
{
    return patch_pair_given(a) ? run_pair(a) : run_repeat(a);
}

const cli_command cli_cmd_patch = {
    .name = "patch",
    .synopsis = "HOOK",
    .arg_noun = "hook",
    .min_args = 1,
    .max_args = 1,
    .summary = "activation patching at any hook on a prompt pair (or mlp_out on repeated tokens)",
    .description =
        "HOOK: resid_pre, resid_mid, attn_out, mlp_out, or per head z, pattern, q, k, v. With a prompt\n"
        "pair (--clean/--corrupt text, or --clean-tokens/--corrupt-tokens ids; the same length), runs\n"
        "the corrupted prompt with blocks.l.HOOK replaced by its clean value, for every layer l and\n"
        "position (--positions each) or all positions at once (--positions all), per head with\n"
        "--per-head, and reports the metric (--metric logit-diff: logit(--answer) - logit(--wrong)\n"
        "at the last position; loss: mean cross-entropy of the corrupted tokens) raw and normalised\n"
        "(patched - corrupt) / (clean - corrupt): TransformerLens' patching.get_act_patch_*.\n"
        "Patched runs resume from the corrupted run's cache at the patched hook and skip patches that\n"
        "cannot change the metric; --naive reruns the whole model per patch (the reference).\n"
        "Without a prompt pair: on one repeated random sequence [BOS, A, A] (|A| = n), replaces\n"
        "blocks.l.hook_mlp_out[p] by its value at p-n for p in [n, 2n] and reports loss(patched) -\n"
        "loss(clean) over the second half's predictions. --plot: layer x position heatmap, the\n"
        "positions labelled with the prompt's tokens. Per-head text output lists the --top entries.\n",
    .examples = "patch resid_pre --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens 511,10,20,30,40,60,70 "
                "--answer '#20' --wrong '#99'\n"
                "patch z --per-head --positions all --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens "
                "511,10,20,30,40,60,70 --metric loss --json\n"
                "patch mlp_out --seq-len 20\n",
    .options = (const opt_id[]){O_CLEAN, O_CORRUPT, O_CLEAN_TOKENS, O_CORRUPT_TOKENS, O_METRIC, O_ANSWER, O_WRONG,
                                O_PER_HEAD, O_POSITIONS, O_TOP, O_TOKENIZER, O_NO_BOS, O_SEQ_LEN, O_SEED, O_NAIVE,
                                O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
