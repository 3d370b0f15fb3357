/* cmd_validate.c — `circuitc validate PREV IND`: the analyzer's weight-only
 * predictions checked against forward-pass evidence (and TransformerLens). */
#include <stdio.h>
#include <string.h>

#include "circuitc/validate.h"
#include "cli.h"
#include "options.h"
#include "progress.h"
#include "runtime.h"

/* Prints the validation RES of HEADS as a table. */
static void print_human(const cc_head *heads, const char *model_path, const cc_validation *res, int failed)
{
    printf("validate  PREV L%dH%d -> IND L%dH%d on %s (seq_len %d, batch %d, seed %llu)\n\n", heads[0].layer,
           heads[0].head, heads[1].layer, heads[1].head, model_path, res->seq_len, res->batch,
           (unsigned long long)res->seed);
    for (int i = 0; i < res->n_checks; i++) {
        const cc_check *k = &res->checks[i];
        if (strcmp(k->relation, "~=") == 0)
            printf("%s  %-10s %-28s %12.6g ~= %-12.6g (tol %.1g)\n", k->pass ? "PASS" : "FAIL", cc_check_kind_name(k->kind),
                   k->name, cli_num(k->value, CLI_NUM_G), cli_num(k->threshold, CLI_NUM_G), k->tolerance);
        else
            printf("%s  %-10s %-28s %12.6g >= %-12.6g\n", k->pass ? "PASS" : "FAIL", cc_check_kind_name(k->kind), k->name,
                   cli_num(k->value, CLI_NUM_G), cli_num(k->threshold, CLI_NUM_G));
        printf("      %s\n", k->what);
    }
    printf("\n%s: %d of %d checks passed\n", res->all_pass ? "validated" : "NOT validated", res->n_checks - failed,
           res->n_checks);
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    cc_validate_options o;
    cc_validate_defaults(&o);
    o.golden_dir = a->v[O_GOLDEN].s;
    o.seq_len = a->v[O_SEQ_LEN].i;
    o.batch = a->v[O_BATCH].i;
    o.seed = a->v[O_SEED].u;
    o.ablate = a->v[O_ABLATE].choice == 0 ? CC_ABLATE_MEAN : CC_ABLATE_ZERO;
    cc_error err;
    cc_head heads[2];
    for (int i = 0; i < 2; i++)
        if (cc_head_parse(a->pos[i], NULL, &heads[i], &err) != 0) return cli_usage_error("validate", "%s", err.msg);
    cc_model *m = NULL;
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    bool ok = true;
    for (int i = 0; ok && i < 2; i++) ok = cc_head_parse(a->pos[i], cc_model_config(m), &heads[i], &err) == 0;
    if (!ok || rt_fit_seq_len(cc_model_config(m), a->v[O_SEQ_LEN].given, &o.seq_len, &err) != 0) {
        cc_model_free(m);
        return cli_fail(&err);
    }
    cli_progress_begin("validate"); /* phases: top-1 rows, columns, forward passes */
    o.progress = cli_progress_update;
    cc_validation res;
    const char *model_path = cc_model_path(m);
    if (cc_validate(m, heads[0], heads[1], &o, &res, &err) != 0) {
        cc_model_free(m);
        return cli_fail(&err);
    }
    int failed = 0;
    for (int i = 0; i < res.n_checks; i++) failed += !res.checks[i].pass;
    int rc = CLI_OK;
    if (common.json) rc = cli_print_result(cc_validation_json(&res, heads[0], heads[1]));
    else print_human(heads, model_path, &res, failed);
    cc_model_free(m);
    return rc == CLI_OK && res.all_pass ? CLI_OK : CLI_FAIL;
}

const cli_command cli_cmd_validate = {
    .name = "validate",
    .synopsis = "PREV IND",
    .arg_noun = "head",
    .min_args = 2,
    .max_args = 2,
    .summary = "weight-only predictions of PREV -> IND vs forward-pass evidence",
    .description =
        "Checks that PREV (a previous-token head) and IND (an induction head) form an induction\n"
        "circuit, joining the analyzer and the runtime on one model:\n"
        "  predictions (weights only): PREV's positional QK circuit peaks at the previous position;\n"
        "    the PREV -> IND K-composition score beats the random baseline by 3 std; the K-comp\n"
        "    full circuit's top-1 accuracy is at least 10x chance;\n"
        "  evidence (forward passes on [BOS, A, A]): PREV's previous-token score >= 0.5, IND's\n"
        "    induction score >= 0.4; ablating PREV (--ablate) cuts IND's induction score by >= 50%\n"
        "    and raises the second-half loss by >= 0.1 nats;\n"
        "  parity (--golden DIR, a golden/out/<model> folder): the tokens, both scores, the K-comp\n"
        "    top-1 counts, the composition score and the second-half log-prob against\n"
        "    TransformerLens; the evidence then runs on the goldens' own token batch.\n"
        "Prints every check with its figure; exits 1 if any check fails. --seed also seeds the\n"
        "baseline.\n",
    .examples = "validate L0H0 L1H0\n"
                "validate L0H0 L1H0 --golden golden/out/induction-3l4h --json\n",
    .options = (const opt_id[]){O_GOLDEN, O_SEQ_LEN, O_BATCH, O_SEED, O_ABLATE, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
