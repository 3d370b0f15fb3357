/* attribute_sweep.c — `circuitc attribute mlp_out` without a prompt pair: the
 * repeated-token sweep of `patch mlp_out` (mlp_out[p] <- mlp_out[p-n] on
 * [BOS, A, A], second-half loss) estimated from one backward pass, the
 * --verify K largest estimates patched exactly (cc_attr_mlp_sweep). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attribute_cli.h"
#include "circuitc/prompt_pair.h"
#include "circuitc/charts.h"
#include "plot_cli.h"
#include "runtime.h"

static void sweep_print(const cc_model *m, const rt_opts *o, const cc_attr_sweep *s, const int *tok, bool all,
                        int listed)
{
    int n = s->n, NP = n + 1;
    rt_print_header(m, o, 1);
    printf("clean loss (second half) %.4f; estimated loss(patched) - loss(clean), mlp_out[p] <- mlp_out[p-%d]: "
           "(mlp_out[p-%d] - mlp_out[p]) . d loss / d mlp_out[p]\n", s->clean_loss, n, n);
    printf("%5s %5s", "pos", "token");
    for (int l = 0; l < s->n_layers; l++) printf("  %7s%-2d", "layer ", l);
    printf("\n");
    for (int p = 0; p < NP; p++) {
        printf("%5d %5d", n + p, tok[n + p]);
        for (int l = 0; l < s->n_layers; l++) printf("  %+9.4f", cli_num(s->estimate[l * NP + p], 4));
        printf("\n");
    }
    if (all) printf("verify: exact patching of every node; correlation of estimate and exact effect %.4f\n",
                    cli_num(s->correlation, 4));
    if (listed) printf("%5s %8s %12s %12s\n", "layer", "position", "estimate", "exact");
    for (int i = 0; i < listed; i++)
        printf("%5d %8d %+12.5f %+12.5f\n", s->top[i] / NP, n + s->top[i] % NP, cli_num(s->estimate[s->top[i]], 5),
               cli_num(s->top_exact[i], 5));
}

static int sweep_plot(const char *out, const cc_model *m, const rt_opts *o, const cc_attr_sweep *s)
{
    cc_error err;
    char *model = cli_model_label(cc_model_path(m)), *title = NULL;
    if (asprintf(&title, "attribution patching mlp_out (estimate) — model %s, seed %llu, seq_len %d", model, o->seed,
                 s->n) < 0)
        title = NULL;
    cc_chart_opts co = {.out = out, .title = title ? title : "attribution patching"};
    int rc = cc_chart_patch(&co, s->n_layers, s->n, s->estimate, s->clean_loss, &err);
    free(model), free(title);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}

int attribute_sweep_run(const cli_args *a, int verify)
{
    rt_opts o;
    rt_begin(a, &o);
    if (strcmp(o.args[0], "mlp_out") != 0)
        return cli_usage_error("attribute", "attributing %s needs a prompt pair (--clean TEXT --corrupt TEXT); "
                                            "without one only the repeated-token mlp_out sweep runs", o.args[0]);
    static const opt_id pair_only[] = {O_CORRUPT, O_CORRUPT_TOKENS, O_ANSWER, O_WRONG, O_PER_HEAD, O_POSITIONS,
                                       O_METRIC, O_TOKENIZER, O_NO_BOS};
    for (size_t i = 0; i < sizeof pair_only / sizeof pair_only[0]; i++)
        if (a->v[pair_only[i]].given)
            return cli_usage_error("attribute", "--%s needs a prompt pair (--clean/--corrupt or --clean-tokens/"
                                                "--corrupt-tokens)", cli_options[pair_only[i]].name);
    cc_error err;
    cc_model *m = NULL;
    int *tok = NULL, k = verify, rc = CLI_OK;
    cc_attr_sweep s = {0};
    if (rt_setup(&o, 1, &m, &tok, &err) != 0 || cc_attr_mlp_sweep(m, tok, o.n, k, CC_KERNEL_FAST, 0, &s, &err) != 0)
        rc = cli_fail(&err);
    if (rc == CLI_OK) {
        bool all = k == CC_ATTR_VERIFY_ALL;
        int listed = all && s.n_top > a->v[O_TOP].i ? a->v[O_TOP].i : s.n_top;
        if (o.common.json) rc = cli_print_result(cc_attr_sweep_json(&s, o.seed, all, listed));
        else sweep_print(m, &o, &s, tok, all, listed);
        if (o.common.plot && sweep_plot(o.common.plot, m, &o, &s) != CLI_OK) rc = CLI_FAIL;
    }
    cc_attr_sweep_free(&s);
    free(tok);
    cc_model_free(m);
    return rc;
}
