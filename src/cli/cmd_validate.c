/* cmd_validate.c — `circuitc validate PREV IND`: the analyzer's weight-only
 * predictions checked against forward-pass evidence (and TransformerLens). */
#include <stdio.h>
#include <string.h>

#include "circuitc/validate.h"
#include "cli.h"
#include "progress.h"

static const char *HELP =
    "Usage: circuitc validate PREV IND [--golden DIR] [--seq-len N] [--batch B] [--seed S]\n"
    "                         [--ablate mean|zero] [--model PATH] [--json]\n\n"
    "Checks that PREV (a previous-token head) and IND (an induction head) form an induction\n"
    "circuit, joining the analyzer and the runtime on one model:\n"
    "  predictions (weights only): PREV's positional QK circuit peaks at the previous position;\n"
    "    the PREV -> IND K-composition score beats the random baseline by 3 std; the K-comp\n"
    "    full circuit's top-1 accuracy is at least 10x chance;\n"
    "  evidence (forward passes on [BOS, A, A]): PREV's previous-token score >= 0.5, IND's\n"
    "    induction score >= 0.4; ablating PREV cuts IND's induction score by >= 50% and raises\n"
    "    the second-half loss by >= 0.1 nats;\n"
    "  parity (--golden DIR, a golden/out/<model> folder): the tokens, both scores, the K-comp\n"
    "    top-1 counts, the composition score and the second-half log-prob against TransformerLens.\n"
    "Prints every check with its figure; exits 1 if any check fails.\n\n"
    "Options:\n"
    "  --golden DIR       also check parity with the TransformerLens goldens in DIR\n"
    "                     (the evidence then runs on the goldens' own token batch)\n"
    "  --seq-len N        length n of the repeated segment (default 50)\n"
    "  --batch B          sequences (default 10)\n"
    "  --seed S           token seed (default 0; also seeds the baseline)\n"
    "  --ablate MODE      mean (default) or zero ablation of PREV's output\n" CLI_COMMON_HELP;

static const char *kind_name(cc_check_kind k)
{
    return k == CC_CHECK_PREDICTION ? "prediction" : k == CC_CHECK_EVIDENCE ? "evidence" : "parity";
}

int cmd_validate(int argc, char **argv)
{
    enum { OPT_GOLDEN = OPT_FIRST_COMMAND_SPECIFIC, OPT_SEQ, OPT_BATCH, OPT_SEED, OPT_ABLATE };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS,
                                         {"golden", required_argument, NULL, OPT_GOLDEN},
                                         {"seq-len", required_argument, NULL, OPT_SEQ},
                                         {"batch", required_argument, NULL, OPT_BATCH},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"ablate", required_argument, NULL, OPT_ABLATE},
                                         {NULL, 0, NULL, 0}};
    cli_common common = {0};
    cc_validate_options o;
    cc_validate_defaults(&o);
    bool help = false;
    unsigned long long v;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_GOLDEN: o.golden_dir = optarg; break;
        case OPT_SEQ:
        case OPT_BATCH:
            if (cli_parse_u64("validate", c == OPT_SEQ ? "--seq-len" : "--batch", optarg, &v) != 0) return CLI_USAGE;
            if (v < 1 || v > 100000) return cli_usage_error("validate", "%s must be between 1 and 100000", c == OPT_SEQ ? "--seq-len" : "--batch");
            *(c == OPT_SEQ ? &o.seq_len : &o.batch) = (int)v;
            break;
        case OPT_SEED:
            if (cli_parse_u64("validate", "--seed", optarg, &v) != 0) return CLI_USAGE;
            o.seed = v;
            break;
        case OPT_ABLATE:
            if (strcmp(optarg, "mean") == 0) o.ablate = CC_ABLATE_MEAN;
            else if (strcmp(optarg, "zero") == 0) o.ablate = CC_ABLATE_ZERO;
            else return cli_usage_error("validate", "--ablate takes mean or zero, got \"%s\"", optarg);
            break;
        case ':': return cli_usage_error("validate", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("validate", "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        fputs(HELP, stdout);
        return CLI_OK;
    }
    if (argc - optind != 2)
        return cli_usage_error("validate", "expected 2 heads (PREV IND), got %d", argc - optind);
    cc_error err;
    cc_head heads[2];
    for (int i = 0; i < 2; i++)
        if (cc_head_parse(argv[optind + i], NULL, &heads[i], &err) != 0) return cli_usage_error("validate", "%s", err.msg);
    cc_model *m = NULL;
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    for (int i = 0; i < 2; i++)
        if (cc_head_parse(argv[optind + i], &m->cfg, &heads[i], &err) != 0) {
            cc_model_free(m);
            return cli_fail(&err);
        }
    cli_progress_begin("validate"); /* phases: top-1 rows, columns, forward passes */
    o.progress = cli_progress_update;
    cc_experiments_set_progress(cli_progress_update, NULL);
    cc_validation res;
    int rc = cc_validate(m, heads[0], heads[1], &o, &res, &err);
    const char *model_path = m->model_path;
    if (rc != 0) {
        cc_model_free(m);
        return cli_fail(&err);
    }
    int failed = 0;
    for (int i = 0; i < res.n_checks; i++) failed += !res.checks[i].pass;
    if (common.json) {
        json_t *checks = json_array();
        for (int i = 0; i < res.n_checks; i++) {
            const cc_check *k = &res.checks[i];
            json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:f, s:s, s:f, s:f, s:b}", "name", k->name, "kind",
                                                    kind_name(k->kind), "what", k->what, "value", k->value,
                                                    "relation", k->relation, "threshold", k->threshold,
                                                    "tolerance", k->tolerance, "pass", k->pass));
        }
        char p[32], q[32];
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:o, s:b, s:i}", "model", model_path, "prev",
                              cc_head_name(heads[0], p, sizeof p), "ind", cc_head_name(heads[1], q, sizeof q),
                              "seq_len", res.seq_len, "batch", res.batch, "seed", (json_int_t)res.seed, "checks",
                              checks, "all_pass", res.all_pass, "failed", failed);
        cc_model_free(m);
        return cli_print_json(j) == CLI_OK && res.all_pass ? CLI_OK : CLI_FAIL;
    }
    printf("validate  PREV L%dH%d -> IND L%dH%d on %s (seq_len %d, batch %d, seed %llu)\n\n", heads[0].layer,
           heads[0].head, heads[1].layer, heads[1].head, model_path, res.seq_len, res.batch,
           (unsigned long long)res.seed);
    for (int i = 0; i < res.n_checks; i++) {
        const cc_check *k = &res.checks[i];
        if (strcmp(k->relation, "~=") == 0)
            printf("%s  %-10s %-28s %12.6g ~= %-12.6g (tol %.1g)\n", k->pass ? "PASS" : "FAIL", kind_name(k->kind),
                   k->name, k->value, k->threshold, k->tolerance);
        else
            printf("%s  %-10s %-28s %12.6g >= %-12.6g\n", k->pass ? "PASS" : "FAIL", kind_name(k->kind), k->name,
                   k->value, k->threshold);
        printf("      %s\n", k->what);
    }
    printf("\n%s: %d of %d checks passed\n", res.all_pass ? "validated" : "NOT validated", res.n_checks - failed,
           res.n_checks);
    cc_model_free(m);
    return res.all_pass ? CLI_OK : CLI_FAIL;
}
