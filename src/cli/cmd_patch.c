/* cmd_patch.c — `circuitc patch HOOK`: activation patching at any hook on a
 * clean/corrupted prompt pair (its output: patch_output.c), or (no prompts)
 * the mlp_out sweep on a repeated random sequence (patch_sweep.c). */
#include "html_cli.h"
#include "patch_cli.h"
#include "progress.h"

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
    cc_prompt_pair pp;
    int rc = patch_pair_load(a, m, &pp);
    if (rc != CLI_OK) {
        cc_prompt_pair_free(&pp);
        cc_model_free(m);
        return rc;
    }
    cli_progress_begin("patch");
    cc_patch_opts po = {.hook = hook, .per_head = a->v[O_PER_HEAD].on, .all_positions = a->v[O_POSITIONS].choice == 1,
                        .metric = pp.metric, .naive = a->v[O_NAIVE].on, .kernel = CC_KERNEL_FAST,
                        .progress = cli_progress_update};
    cc_patch_result r;
    if (cc_act_patch(m, pp.clean.tokens, pp.corrupt.tokens, pp.T, &po, &r, &err) != 0) {
        cc_prompt_pair_free(&pp);
        cc_model_free(m);
        return cli_fail(&err);
    }
    if (common.json) {
        rc = cli_print_result(cc_patch_pair_json(&pp, &po, &r));
    } else {
        patch_pair_print_result(m, &pp, &po, &r, a->v[O_TOP].i);
        rc = CLI_OK;
    }
    if (common.plot && patch_pair_plot(common.plot, "patching", m, &pp, &po, &r) != CLI_OK) rc = CLI_FAIL;
    if (rc == CLI_OK && common.html)
        rc = cli_html_page(&common, CC_HTML_HEATMAP, "activation patching", cc_patch_pair_json(&pp, &po, &r));
    cc_patch_result_free(&r);
    cc_prompt_pair_free(&pp);
    cc_model_free(m);
    return rc;
}

static int run(const cli_args *a)
{
    return patch_pair_given(a) ? run_pair(a) : patch_sweep_run(a);
}

const cli_command cli_cmd_patch = {
    .name = "patch",
    .synopsis = "HOOK",
    .arg_noun = "hook",
    .min_args = 1,
    .max_args = 1,
    .summary = "activation patching at any hook on a prompt pair (or mlp_out on repeated tokens)",
    .description =
        "HOOK: resid_pre, resid_mid, attn_out, mlp_out, or per head z, pattern, q, k, v (also by their\n"
        "TransformerLens names: hook_resid_pre, attn.hook_z). With a prompt\n"
        "pair (--clean/--corrupt text, or --clean-tokens/--corrupt-tokens ids; the same length), runs\n"
        "the corrupted prompt with blocks.l.HOOK replaced by its clean value, for every layer l and\n"
        "position (--positions each) or all positions at once (--positions all), per head with\n"
        "--per-head, and reports the metric (--metric logit_diff: logit(--answer) - logit(--wrong)\n"
        "at the last position; loss: mean cross-entropy of the corrupted tokens) raw and normalised\n"
        "(patched - corrupt) / (clean - corrupt): TransformerLens' patching.get_act_patch_*.\n"
        "Patched runs resume from the corrupted run's cache at the patched hook and skip patches that\n"
        "cannot change the metric; --naive reruns the whole model per patch (the reference).\n"
        "Without a prompt pair: on one repeated random sequence [BOS, A, A] (|A| = n), replaces\n"
        "blocks.l.hook_mlp_out[p] by its value at p-n for p in [n, 2n] and reports loss(patched) -\n"
        "loss(clean) over the second half's predictions. --plot: layer x position heatmap, the\n"
        "positions labelled with the prompt's tokens. Per-head text output lists the --top entries.\n"
        "--html (a prompt pair): the same heatmap in a page, the exact values on hover.\n",
    .examples = "patch resid_pre --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens 511,10,20,30,40,60,70 "
                "--answer '#20' --wrong '#99'\n"
                "patch z --per-head --positions all --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens "
                "511,10,20,30,40,60,70 --metric loss --json\n"
                "patch mlp_out --seq-len 20\n",
    .options = (const opt_id[]){O_CLEAN, O_CORRUPT, O_CLEAN_TOKENS, O_CORRUPT_TOKENS, O_METRIC, O_ANSWER, O_WRONG,
                                O_PER_HEAD, O_POSITIONS, O_TOP, O_TOKENIZER, O_NO_BOS, O_SEQ_LEN, O_SEED, O_NAIVE,
                                O_PLOT, O_HTML, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
