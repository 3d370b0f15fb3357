/* cmd_synth.c — `circuitc synth`: write a seeded random GPT-2 model. */
#include <stdio.h>

#include "circuitc/synth.h"
#include "cli.h"
#include "options.h"

static int run(const cli_args *a)
{
    static const cc_dtype DTYPES[] = {CC_DT_F32, CC_DT_F16, CC_DT_BF16}; /* in the order of --dtype's choices */
    const char *out = a->v[O_OUT].s, *preset = a->v[O_PRESET].s;
    unsigned long long seed = a->v[O_SEED].u;
    if (!out) return cli_usage_error("synth", "--out DIR is required");
    cc_synth_options o = {.dtype = DTYPES[a->v[O_DTYPE].choice], .prefix = a->v[O_PREFIX].on,
                          .lm_head = a->v[O_LM_HEAD].on};
    cc_config cfg;
    cc_error err;
    if ((a->common.json && cli_require_utf8("--out folder", out, &err) != 0) || cc_synth_preset(preset, &cfg, &err) != 0 ||
        cc_synth_write(&cfg, seed, &o, out, &err) != 0)
        return cli_fail(&err);
    if (a->common.json)
        return cli_print_result(json_pack("{s:s, s:s, s:I, s:s, s:b, s:b}", "out", out, "preset", preset, "seed",
                                          (json_int_t)seed, "dtype", a->v[O_DTYPE].s, "prefix", o.prefix, "lm_head",
                                          o.lm_head));
    printf("wrote %s/model.safetensors and %s/config.json (preset %s, seed %llu)\n", out, out, preset, seed);
    return CLI_OK;
}

const cli_command cli_cmd_synth = {
    .name = "synth",
    .synopsis = "",
    .summary = "write a seeded random GPT-2 model (docs/synthetic-models.md)",
    .description =
        "Writes DIR/config.json and DIR/model.safetensors (--out DIR, required): a GPT-2 model with\n"
        "seeded uniform random weights, bit-identical to the golden generator's\n"
        "(docs/synthetic-models.md). Used for scale tests and benchmarks; it has no circuits.\n",
    .examples = "synth --out /tmp/tiny-model\n"
                "synth --out /tmp/tiny-bf16 --seed 7 --dtype bf16 --json\n",
    .options = (const opt_id[]){O_OUT, O_PRESET, O_SEED, O_DTYPE, O_PREFIX, O_LM_HEAD, O_JSON, O_NONE},
    .run = run,
};
