/* cmd_patch.c — `circuitc patch mlp_out`: the MLP activation-patching sweep. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    if (strcmp(o.args[0], "mlp_out") != 0)
        return cli_usage_error("patch", "cannot patch \"%s\": the supported activation is mlp_out", o.args[0]);
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

const cli_command cli_cmd_patch = {
    .name = "patch",
    .synopsis = "mlp_out",
    .arg_noun = "activation",
    .min_args = 1,
    .max_args = 1,
    .summary = "activation-patching sweep of mlp_out over layers x positions",
    .description =
        "On one repeated random sequence [BOS, A, A] (|A| = n): for every layer l and position p in\n"
        "[n, 2n], replaces blocks.l.hook_mlp_out[p] by the clean run's value at p-n (the same token's\n"
        "first occurrence) and reports loss(patched) - loss(clean), where loss is the mean\n"
        "cross-entropy of the second half's next-token predictions (positions n..2n-1). The sweep\n"
        "reuses the clean run's keys and values (a patch at (l, p) cannot change earlier layers or\n"
        "positions) and batches each layer's patches into one pass; --naive reruns the whole model\n"
        "per patch instead (the reference, same numbers). --plot: layer x position heatmap.\n",
    .examples = "patch mlp_out --seq-len 20\n"
                "patch mlp_out --seq-len 10 --naive --json\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_SEED, O_NAIVE, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
