/* cmd_attribute.c — `circuitc attribute HOOK`: attribution patching on a
 * clean/corrupted prompt pair (circuitc/attribution.h), every node `patch`
 * would run estimated from one backward pass; --verify K patches the K largest
 * estimates exactly, --verify all every node. Its table, JSON layout and
 * heatmap are patch's (patch_output.c): each cell is the estimate of what
 * `patch` reports. */
#include <stdlib.h>
#include <string.h>

#include "attribute_cli.h"
#include "circuitc/prompt_pair.h"
#include "patch_cli.h"

/* Node I of the [layer][position][head] layout as its layer, position and head. */
static void node_of(const cc_patch_result *r, int i, int *l, int *p, int *h)
{
    *l = i / (r->n_pos * r->n_heads), *p = r->pos_lo + i / r->n_heads % r->n_pos, *h = i % r->n_heads;
}

static void print_text(const cc_model *m, const cc_prompt_pair *pp, const cc_patch_opts *po, const cc_attr_report *v,
                       int top)
{
    const cc_attr_result *a = &v->attr;
    const cc_patch_result *r = &a->est;
    char name[64];
    printf("model %s (%s)\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed");
    patch_pair_print(pp, r->clean, r->corrupt);
    cc_hook_name(po->hook, 0, name, sizeof name);
    printf("attribution patching of blocks.{layer}.%s%s, %s: (clean - corrupt) . gradient of the corrupted run; "
           "each cell the estimated %s\n", name + strlen("blocks.0."), po->per_head ? " per head" : "",
           po->all_positions ? "all positions at once" : "one position at a time",
           patch_normalisable(r->clean, r->corrupt) ? "(patched - corrupt) / (clean - corrupt)" : "patched metric");
    patch_pair_print_table(pp, r, top);
    if (!v->verify) return;
    if (v->verify == CC_ATTR_VERIFY_ALL)
        printf("verify: exact patching of every node; correlation of estimate and exact effect %.4f\n",
               cli_num(v->correlation, 4));
    else
        printf("verify: exact patching of the %d largest estimates\n", v->n_top);
    printf("%5s %8s %4s %12s %12s\n", "layer", "position", "head", "estimate", "exact");
    for (int i = 0; i < v->n_top; i++) {
        int l, p, h, n = v->top[i];
        node_of(r, n, &l, &p, &h);
        printf("%5d %8d %4d %+12.5f %+12.5f\n", l, p, h, cli_num(a->attribution[n], 5),
               cli_num(v->exact.value[n] - v->exact.corrupt, 5));
    }
}

/* Attribution patching on a prompt pair; VERIFY_K: --verify K, or CC_ATTR_VERIFY_ALL. */
static int run_pair(const cli_args *a, int verify_k)
{
    cli_common common = a->common;
    cc_hook_kind hook;
    cc_error err;
    if (a->v[O_SEQ_LEN].given || a->v[O_SEED].given)
        return cli_usage_error("attribute", "--seq-len and --seed belong to the repeated-token sweep, not a prompt "
                                            "pair");
    if (cc_patch_hook_parse(a->pos[0], &hook, &err) != 0) return cli_usage_error("attribute", "%s", err.msg);
    if (a->v[O_PER_HEAD].on && !cc_patch_hook_has_heads(hook))
        return cli_usage_error("attribute", "--per-head: %s has no heads (z, pattern, q, k and v do)", a->pos[0]);
    cc_model *m = NULL;
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    cc_prompt_pair pp;
    int rc = patch_pair_load(a, m, &pp);
    cc_attr_report v = {0};
    cc_patch_opts po = {.hook = hook, .per_head = a->v[O_PER_HEAD].on, .all_positions = a->v[O_POSITIONS].choice == 1,
                        .metric = pp.metric, .kernel = CC_KERNEL_FAST};
    if (rc == CLI_OK && cc_attr_report_run(m, &pp, &po, verify_k, a->v[O_TOP].i, &v, &err) != 0) rc = cli_fail(&err);
    if (rc == CLI_OK) {
        if (common.json) rc = cli_print_result(cc_attr_report_json(&pp, &po, &v));
        else print_text(m, &pp, &po, &v, a->v[O_TOP].i);
        if (common.plot &&
            patch_pair_plot(common.plot, "attribution patching (estimate)", m, &pp, &po, &v.attr.est) != CLI_OK)
            rc = CLI_FAIL;
    }
    cc_attr_report_free(&v);
    cc_prompt_pair_free(&pp);
    cc_model_free(m);
    return rc;
}

static int run(const cli_args *a)
{
    int verify = 0;
    const char *vs = a->v[O_VERIFY].given ? a->v[O_VERIFY].s : "0";
    if (strcmp(vs, "all") == 0) verify = CC_ATTR_VERIFY_ALL;
    else if (!*vs || vs[strspn(vs, "0123456789")] || strlen(vs) > 7 || (verify = atoi(vs)) > 1000000)
        return cli_usage_error("attribute", "--verify takes a count K from 0 to 1000000 or \"all\", got \"%s\"", vs);
    return patch_pair_given(a) ? run_pair(a, verify) : attribute_sweep_run(a, verify);
}

const cli_command cli_cmd_attribute = {
    .name = "attribute",
    .synopsis = "HOOK",
    .arg_noun = "hook",
    .min_args = 1,
    .max_args = 1,
    .summary = "attribution patching: every patch of `patch HOOK` estimated from one backward pass",
    .description =
        "HOOK: resid_pre, resid_mid, attn_out, mlp_out, or per head z, pattern, q, k, v, as for\n"
        "patch. On a prompt pair (--clean/--corrupt text, or --clean-tokens/--corrupt-tokens ids; the\n"
        "same length) estimates, for every layer and position (or --positions all; per head with\n"
        "--per-head), what patch reports: the corrupted run with blocks.l.HOOK replaced by its clean\n"
        "value, to first order: (clean - corrupt) . d metric / d act, the gradient taken on the\n"
        "corrupted run (Neel Nanda's attribution patching, TransformerLens' demo). Same table, JSON\n"
        "layout (plus \"attribution\", the estimated patched - corrupt) and --plot heatmap as patch.\n"
        "--verify K patches the K largest estimates exactly and lists them beside their exact values\n"
        "(K patched runs, each resumed from the corrupted run at its layer and position); --verify all\n"
        "runs the exact patching of every node (what patch costs) and adds the correlation over every\n"
        "node, listing the --top largest. Without a prompt pair, `attribute mlp_out` estimates\n"
        "patch's repeated-token sweep (mlp_out[p] <- mlp_out[p-n] on [BOS, A, A], loss over the\n"
        "second half) from one backward pass of that sequence; --verify K and all as above.\n"
        "docs/gradients.md says what each costs and when the estimate misleads.\n",
    .examples = "attribute resid_pre --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens 511,10,20,30,40,60,70 "
                "--answer '#20' --wrong '#99' --verify 5\n"
                "attribute z --per-head --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens "
                "511,10,20,30,40,60,70 --metric loss --json\n"
                "attribute mlp_out --seq-len 20 --verify 5\n",
    .options = (const opt_id[]){O_CLEAN, O_CORRUPT, O_CLEAN_TOKENS, O_CORRUPT_TOKENS, O_METRIC, O_ANSWER, O_WRONG,
                                O_PER_HEAD, O_POSITIONS, O_TOP, O_VERIFY, O_TOKENIZER, O_NO_BOS, O_SEQ_LEN, O_SEED, O_PLOT,
                                CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
