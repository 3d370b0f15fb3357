/* commands.c — the command table: every circuitc command, in `circuitc --help`
 * order. Each command declares itself (options, arguments, help, examples) in
 * its own cmd_*.c as a cli_command (options.h); add it here too. */
#include "options.h"

extern const cli_command cli_cmd_info, cli_cmd_synth, cli_cmd_repeat, cli_cmd_heads, cli_cmd_pattern, cli_cmd_patch, cli_cmd_ablate,
    cli_cmd_atlas, cli_cmd_discover;

#define LEGACY(n, f, s) (&(const cli_command){.name = n, .synopsis = "", .summary = s, .examples = "", \
                                              .options = (const opt_id[]){O_NONE}, .legacy = f})

const cli_command *const cli_commands[] = {
    &cli_cmd_info,
    LEGACY("kcomp", cmd_kcomp, "K-composition circuit of PREV and IND: exact accuracy, spectrum, score"),
    LEGACY("qcomp", cmd_qcomp, "Q-composition circuit of two heads"),
    LEGACY("vcomp", cmd_vcomp, "V-composition circuit of two heads"),
    LEGACY("ov", cmd_ov, "full OV circuit of a head: exact copying accuracy"),
    LEGACY("qk", cmd_qk, "full QK circuit of a head"),
    LEGACY("validate", cmd_validate, "weight-only predictions of PREV -> IND vs forward-pass evidence"),
    LEGACY("compile", cmd_compile, "compile a circuit file for some heads: shapes, split, plan (--explain)"),
    LEGACY("comp-scores", cmd_comp_scores, "Q/K/V composition scores of all head pairs vs a random baseline"),
    &cli_cmd_discover,
    &cli_cmd_atlas,
    LEGACY("kcomp-chart", cmd_kcomp_chart, "bar chart of a composition circuit's exact top-1/top-K accuracy over head pairs"),
    LEGACY("report", cmd_report, "run the standard analyses and write an HTML page with every chart (--out DIR)"),
    LEGACY("tokenize", cmd_tokenize, "GPT-2 tokenizer: text to token ids and back (--decode)"),
    &cli_cmd_synth,
    &cli_cmd_repeat,
    &cli_cmd_heads,
    &cli_cmd_pattern,
    &cli_cmd_patch,
    &cli_cmd_ablate,
};

const int cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
