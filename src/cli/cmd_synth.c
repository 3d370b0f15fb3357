/* cmd_synth.c — `circuitc synth`: write a seeded random GPT-2 model. */
#include <stdio.h>
#include <string.h>

#include "circuitc/synth.h"
#include "cli.h"

static const char *HELP =
    "Usage: circuitc synth --out DIR [--preset gpt2-small|tiny] [--seed N] [--dtype f32|f16|bf16]\n"
    "                      [--prefix] [--lm-head]\n\n"
    "Writes DIR/config.json and DIR/model.safetensors: a GPT-2 model with seeded uniform random\n"
    "weights, bit-identical to the golden generator's (docs/synthetic-models.md). Used for scale\n"
    "tests and benchmarks; it has no circuits.\n\n"
    "Options:\n"
    "  --out DIR          folder to write (created if missing)\n"
    "  --preset NAME      gpt2-small (12x12, d 768, vocab 50257; ~500 MB) or tiny (default: tiny)\n"
    "  --seed N           64-bit seed (default: 0)\n"
    "  --dtype T          f32 (default), f16 or bf16\n"
    "  --prefix           name tensors \"transformer.*\" as some checkpoints do\n"
    "  --lm-head          also write an untied lm_head.weight\n"
    "  --help             this help\n";

int cmd_synth(int argc, char **argv)
{
    enum { OPT_OUT = OPT_FIRST_COMMAND_SPECIFIC, OPT_PRESET, OPT_SEED, OPT_DTYPE, OPT_PREFIX, OPT_LM_HEAD };
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},   {"preset", required_argument, NULL, OPT_PRESET},
        {"seed", required_argument, NULL, OPT_SEED}, {"dtype", required_argument, NULL, OPT_DTYPE},
        {"prefix", no_argument, NULL, OPT_PREFIX},   {"lm-head", no_argument, NULL, OPT_LM_HEAD},
        {"help", no_argument, NULL, OPT_HELP},       {NULL, 0, NULL, 0}};
    const char *out = NULL, *preset = "tiny";
    unsigned long long seed = 0;
    cc_synth_options o = {.dtype = CC_DT_F32};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_OUT: out = optarg; break;
        case OPT_PRESET: preset = optarg; break;
        case OPT_SEED:
            if (cli_parse_u64("synth", "--seed", optarg, &seed) != 0) return CLI_USAGE;
            break;
        case OPT_DTYPE:
            if (strcmp(optarg, "f32") == 0) o.dtype = CC_DT_F32;
            else if (strcmp(optarg, "f16") == 0) o.dtype = CC_DT_F16;
            else if (strcmp(optarg, "bf16") == 0) o.dtype = CC_DT_BF16;
            else return cli_usage_error("synth", "--dtype takes f32, f16 or bf16, got \"%s\"", optarg);
            break;
        case OPT_PREFIX: o.prefix = true; break;
        case OPT_LM_HEAD: o.lm_head = true; break;
        case OPT_HELP: fputs(HELP, stdout); return CLI_OK;
        case ':': return cli_usage_error("synth", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("synth", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("synth", "unexpected argument \"%s\"", argv[optind]);
    if (!out) return cli_usage_error("synth", "--out DIR is required");
    cc_config cfg;
    cc_error err;
    if (cc_synth_preset(preset, &cfg, &err) != 0 || cc_synth_write(&cfg, seed, &o, out, &err) != 0)
        return cli_fail(&err);
    printf("wrote %s/model.safetensors and %s/config.json (preset %s, seed %llu)\n", out, out, preset, seed);
    return CLI_OK;
}
