/* commands.c — the command table: every circuitc command, in `circuitc --help`
 * order. Each command declares itself (options, arguments, help, examples) in
 * its own cmd_*.c as a cli_command (options.h); add it here too. */
#include "options.h"

extern const cli_command cli_cmd_kcomp, cli_cmd_qcomp, cli_cmd_vcomp, cli_cmd_ov, cli_cmd_qk;
extern const cli_command cli_cmd_comp_scores, cli_cmd_compile, cli_cmd_validate, cli_cmd_kcomp_chart, cli_cmd_tokenize, cli_cmd_report;
extern const cli_command cli_cmd_info, cli_cmd_synth, cli_cmd_repeat, cli_cmd_heads, cli_cmd_pattern, cli_cmd_patch, cli_cmd_ablate;
extern const cli_command cli_cmd_run, cli_cmd_lens, cli_cmd_dla, cli_cmd_cache;
extern const cli_command cli_cmd_atlas, cli_cmd_discover, cli_cmd_path_patch, cli_cmd_attribute, cli_cmd_eap;

const cli_command *const cli_commands[] = {
    &cli_cmd_info,
    &cli_cmd_kcomp,
    &cli_cmd_qcomp,
    &cli_cmd_vcomp,
    &cli_cmd_ov,
    &cli_cmd_qk,
    &cli_cmd_validate,
    &cli_cmd_compile,
    &cli_cmd_comp_scores,
    &cli_cmd_discover,
    &cli_cmd_atlas,
    &cli_cmd_kcomp_chart,
    &cli_cmd_report,
    &cli_cmd_tokenize,
    &cli_cmd_synth,
    &cli_cmd_repeat,
    &cli_cmd_heads,
    &cli_cmd_pattern,
    &cli_cmd_patch,
    &cli_cmd_path_patch,
    &cli_cmd_attribute,
    &cli_cmd_eap,
    &cli_cmd_ablate,
    &cli_cmd_run,
    &cli_cmd_lens,
    &cli_cmd_dla,
    &cli_cmd_cache,
};

const int cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
