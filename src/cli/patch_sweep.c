/* patch_sweep.c — `circuitc patch mlp_out` without a prompt pair: the sweep
 * mlp_out[p] <- mlp_out[p-n] on one repeated random sequence [BOS, A, A]
 * (cc_patch_sweep_report_run, include/circuitc/runtime_report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_cli.h"
#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

/* The repeated-token sweep: mlp_out[p] <- mlp_out[p-n] on [BOS, A, A]. */
int patch_sweep_run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    static const opt_id pair_only[] = {O_CORRUPT, O_CORRUPT_TOKENS, O_ANSWER, O_WRONG, O_PER_HEAD, O_POSITIONS,
                                       O_METRIC, O_TOKENIZER, O_NO_BOS, O_HTML};
    for (size_t i = 0; i < sizeof pair_only / sizeof pair_only[0]; i++)
        if (a->v[pair_only[i]].given)
            return cli_usage_error("patch", "--%s needs a prompt pair (--clean/--corrupt or --clean-tokens/"
                                            "--corrupt-tokens)", cli_options[pair_only[i]].name);
    cc_hook_kind hook;
    if (cc_patch_hook_parse(o.args[0], &hook, NULL) != 0 || hook != CC_HOOK_MLP_OUT)
        return cli_usage_error("patch", "patching %s needs a prompt pair (--clean TEXT --corrupt TEXT); without one "
                                        "only the repeated-token mlp_out sweep runs", o.args[0]);
    cc_error err;
    cc_model *m = NULL;
    cc_patch_sweep_report r = {0};
    if (rt_prepare(&o, 1, &m, &err) != 0 ||
        cc_patch_sweep_report_run(m, &(cc_patch_sweep_options){.input = rt_input(&o), .naive = o.naive,
                                                                .progress = cli_progress_update},
                                  &r, &err) != 0) {
        cc_patch_sweep_report_free(&r);
        cc_model_free(m);
        return cli_fail(&err);
    }
    const cc_patch_sweep *s = &r.sweep;
    const int *tok = r.tokens;
    int n = o.n, L = s->n_layers, NP = n + 1;
    if (o.common.json) {
        rc = cli_print_result(cc_patch_sweep_report_json(&r));
    } else {
        rt_print_header(m, &o, 1);
        printf("clean loss (second half) %.4f; loss(patched) - loss(clean), mlp_out[p] <- clean mlp_out[p-%d] (%s)\n",
               s->clean_loss, n, o.naive ? "naive reruns" : "causal reuse");
        printf("%5s %5s", "pos", "token");
        for (int l = 0; l < L; l++) printf("  %7s%-2d", "layer ", l);
        printf("\n");
        for (int k = 0; k < NP; k++) {
            printf("%5d %5d", n + k, tok[n + k]);
            for (int l = 0; l < L; l++) printf("  %+9.4f", cli_num(s->delta[l * NP + k], 4));
            printf("\n");
        }
        int best = 0;
        for (int i = 1; i < L * NP; i++)
            if (fabs(s->delta[i]) > fabs(s->delta[best])) best = i;
        printf("largest change: layer %d, position %d: %+.4f\n", best / NP, n + best % NP, cli_num(s->delta[best], 4));
        rc = CLI_OK;
    }
    if (o.common.plot &&
        cli_plot_patch(o.common.plot, cc_model_path(m), o.seed, n, L, s->delta, s->clean_loss, NULL) != CLI_OK)
        rc = CLI_FAIL;
    cc_patch_sweep_report_free(&r);
    cc_model_free(m);
    return rc;
}
