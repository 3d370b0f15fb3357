/* main.c — circuitc's entry point: dispatches to one command per sub-command. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blas_select.h"
#include "circuitc/cleanup.h"
#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "describe a model: config, parameter count, processing, checksum"},
    {"kcomp", cmd_kcomp, "K-composition circuit of PREV and IND: exact accuracy, spectrum, score"},
    {"qcomp", cmd_qcomp, "Q-composition circuit of two heads"},
    {"vcomp", cmd_vcomp, "V-composition circuit of two heads"},
    {"ov", cmd_ov, "full OV circuit of a head: exact copying accuracy"},
    {"qk", cmd_qk, "full QK circuit of a head"},
    {"validate", cmd_validate, "weight-only predictions of PREV -> IND vs forward-pass evidence"},
    {"compile", cmd_compile, "compile a circuit file for some heads: shapes, split, plan (--explain)"},
    {"comp-scores", cmd_comp_scores, "Q/K/V composition scores of all head pairs vs a random baseline"},
    {"kcomp-chart", cmd_kcomp_chart, "bar chart of a composition circuit's exact top-1/top-K accuracy over head pairs"},
    {"report", cmd_report, "run the standard analyses and write an HTML page with every chart (--out DIR)"},
    {"tokenize", cmd_tokenize, "GPT-2 tokenizer: text to token ids and back (--decode)"},
    {"synth", cmd_synth, "write a seeded random GPT-2 model (docs/synthetic-models.md)"},
    {"repeat", cmd_repeat, "correct-token log-probs on repeated random tokens [BOS, A, A]"},
    {"heads", cmd_heads, "induction / previous / duplicate / current-token and detect_head scores"},
    {"pattern", cmd_pattern, "one head's attention pattern on a repeated sequence"},
    {"patch", cmd_patch, "activation-patching sweep of mlp_out over layers x positions"},
    {"ablate", cmd_ablate, "zero or mean ablation of heads: loss and induction-score changes"},
    {"run", cmd_run, "a prompt's next-token predictions: log-probs, ranks, top-K, loss"},
    {"lens", cmd_lens, "logit lens: the next token's probability and rank after every layer"},
    {"dla", cmd_dla, "direct logit attribution of an answer (- a wrong token) to heads, MLPs, embeddings"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "circuitc — mechanistic-interpretability analyses of GPT-2-style transformers\n\n"
            "Usage: circuitc <command> [options]\n"
            "       circuitc <command> --help\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nHeads are written L<layer>H<head> (L4H11) or <layer>.<head> (4.11), 0-based.\n"
            "Models: a Hugging Face GPT-2 folder (config.json + model.safetensors; F32, F16 or BF16),\n"
            "or a .safetensors file with --config. Default model: $CIRCUITC_MODEL, else the bundled one.\n");
}

/* Flushes and closes stdout, turning a failed write (full disk, closed pipe,
 * /dev/full) into a message and exit status 1: one place for every command. */
static int finish_stdout(int status)
{
    int e = 0;
    if (fflush(stdout) != 0) e = errno;
    else if (ferror(stdout)) e = EIO; /* an earlier buffered write failed */
    if (fclose(stdout) != 0 && !e) e = errno;
    if (!e) return status;
    fprintf(stderr, "circuitc: error: cannot write standard output: %s\n", strerror(e));
    return CLI_FAIL;
}

static int run(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], CLI_BLAS_SELF_CHECK_MODE) == 0) return cli_blas_self_check_main(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("circuitc %s\n", CIRCUITC_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        /* Before any GEMM: may re-execute circuitc on a faster kernel (docs/blas.md). */
        int rc = cli_blas_select(argv);
        return rc != CLI_OK ? rc : commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "circuitc: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    cc_cleanup_install(); /* temporary files go away on SIGINT/SIGTERM/SIGHUP */
    return finish_stdout(run(argc, argv));
}
