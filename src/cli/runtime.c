/* runtime.c — shared option parsing and output for the runtime commands. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_cli.h"
#include "progress.h"

enum { OPT_SEQ_LEN = OPT_FIRST_COMMAND_SPECIFIC, OPT_BATCH, OPT_SEED, OPT_TOP, OPT_MODE, OPT_NAIVE, OPT_EXCL_BOS,
       OPT_EXCL_CUR };

/* Parses a positive int option value (1 to 1000000); -1 if bad (printed). */
static int parse_pos_int(const char *cmd, const char *opt, const char *s, int *out)
{
    return cli_parse_int(cmd, opt, s, 1, 1000000, out);
}

int rt_parse(const char *cmd, int argc, char **argv, unsigned mask, const char *help, rt_opts *o)
{
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, CLI_PLOT_OPTION,
                                         {"seq-len", required_argument, NULL, OPT_SEQ_LEN},
                                         {"batch", required_argument, NULL, OPT_BATCH},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"top", required_argument, NULL, OPT_TOP},
                                         {"mode", required_argument, NULL, OPT_MODE},
                                         {"naive", no_argument, NULL, OPT_NAIVE},
                                         {"exclude-bos", no_argument, NULL, OPT_EXCL_BOS},
                                         {"exclude-current", no_argument, NULL, OPT_EXCL_CUR},
                                         {NULL, 0, NULL, 0}};
    static const unsigned need[] = {[OPT_SEQ_LEN - OPT_FIRST_COMMAND_SPECIFIC] = RT_SEQ_LEN,
                                    [OPT_BATCH - OPT_FIRST_COMMAND_SPECIFIC] = RT_BATCH,
                                    [OPT_SEED - OPT_FIRST_COMMAND_SPECIFIC] = RT_SEED,
                                    [OPT_TOP - OPT_FIRST_COMMAND_SPECIFIC] = RT_TOP,
                                    [OPT_MODE - OPT_FIRST_COMMAND_SPECIFIC] = RT_MODE,
                                    [OPT_NAIVE - OPT_FIRST_COMMAND_SPECIFIC] = RT_NAIVE,
                                    [OPT_EXCL_BOS - OPT_FIRST_COMMAND_SPECIFIC] = RT_EXCLUDE,
                                    [OPT_EXCL_CUR - OPT_FIRST_COMMAND_SPECIFIC] = RT_EXCLUDE};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == OPT_PLOT && !(mask & RT_PLOT)) return cli_usage_error(cmd, "unknown option --plot");
        if (cli_common_option(c, &o->common, &o->help)) continue;
        if (c == ':') return cli_usage_error(cmd, "option %s needs a value", argv[optind - 1]);
        if (c < OPT_FIRST_COMMAND_SPECIFIC || c > OPT_EXCL_CUR)
            return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
        if (!(need[c - OPT_FIRST_COMMAND_SPECIFIC] & mask)) { /* an option of another runtime command */
            const char *name = "?";
            for (const struct option *op = opts; op->name; op++)
                if (op->val == c) name = op->name;
            return cli_usage_error(cmd, "unknown option --%s", name);
        }
        switch (c) {
        case OPT_SEQ_LEN:
            if (parse_pos_int(cmd, "--seq-len", optarg, &o->n)) return CLI_USAGE;
            break;
        case OPT_BATCH:
            if (parse_pos_int(cmd, "--batch", optarg, &o->batch)) return CLI_USAGE;
            break;
        case OPT_SEED:
            if (cli_parse_u64(cmd, "--seed", optarg, &o->seed)) return CLI_USAGE;
            break;
        case OPT_TOP:
            if (parse_pos_int(cmd, "--top", optarg, &o->top)) return CLI_USAGE;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "zero") == 0) o->mode = CC_ABLATE_ZERO;
            else if (strcmp(optarg, "mean") == 0) o->mode = CC_ABLATE_MEAN;
            else return cli_usage_error(cmd, "--mode takes zero or mean, got \"%s\"", optarg);
            break;
        case OPT_NAIVE: o->naive = true; break;
        case OPT_EXCL_BOS: o->exclude_bos = true; break;
        case OPT_EXCL_CUR: o->exclude_current = true; break;
        default: break;
        }
    }
    if (o->help) {
        fputs(help, stdout);
        if (mask & RT_PLOT) fputs(CLI_PLOT_HELP, stdout);
        fputs(CLI_COMMON_HELP, stdout);
        return CLI_OK;
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    cli_progress_begin(cmd); /* the forward passes report per layer */
    cc_experiments_set_progress(cli_progress_update, NULL);
    return cli_plot_check(cmd, &o->common);
}

/* Bytes of memory available to this process: MemAvailable, lowered by a cgroup
 * v2 memory limit; 0 when unknown. */
static double available_memory(const char **source)
{
    double avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = 1024.0 * (double)kb, *source = "MemAvailable";
    }
    if (f) fclose(f);
    unsigned long long max = 0, cur = 0;
    FILE *fm = fopen("/sys/fs/cgroup/memory.max", "r"), *fc = fopen("/sys/fs/cgroup/memory.current", "r");
    if (fm && fc && fscanf(fm, "%llu", &max) == 1 && fscanf(fc, "%llu", &cur) == 1 && max > cur &&
        (avail == 0 || (double)(max - cur) < avail))
        avail = (double)(max - cur), *source = "the cgroup memory limit";
    if (fm) fclose(fm);
    if (fc) fclose(fc);
    return avail;
}

/* Refuses a batch whose forward pass cannot fit in memory. Per position the
 * forward pass keeps about 9 d_model-wide activations, one d_mlp-wide, and
 * attention scores / cached patterns of n_heads x T per layer (what the
 * experiments hook), in float32. */
static int check_batch_memory(const cc_config *c, int batch, int T, cc_error *err)
{
    double per_position = 4.0 * (9.0 * c->d_model + c->d_mlp + (double)c->n_heads * T * (c->n_layers + 1) + 4);
    double need = per_position * T * batch;
    const char *source = "?";
    double avail = available_memory(&source);
    if (avail == 0 || need <= avail) return 0;
    long fits = (long)(avail / (per_position * T));
    const double gib = 1024.0 * 1024 * 1024;
    return cc_fail(err, "--batch %d needs about %.2f GiB for the forward pass (%d sequences x %d positions x %.0f KiB) "
                        "but about %.2f GiB is available (%s); use --batch %ld or less",
                   batch, need / gib, batch, T, per_position / 1024, avail / gib, source, fits > 0 ? fits : 0);
}

int rt_setup(const rt_opts *o, int batch, cc_model **m, int **tokens, cc_error *err)
{
    *tokens = NULL;
    if (cli_load_model(&o->common, m, err) != 0) return -1;
    int T = 1 + 2 * o->n;
    if (o->n > cc_repeat_max_n(&(*m)->cfg))
        return cc_fail(err,
                       "--seq-len %d is too long for this model: repeated tokens need 1+2*seq_len = %d positions but "
                       "n_ctx = %d; use --seq-len %d or less",
                       o->n, T, (*m)->cfg.n_ctx, cc_repeat_max_n(&(*m)->cfg));
    if (check_batch_memory(&(*m)->cfg, batch, T, err) != 0) return -1;
    *tokens = malloc((size_t)batch * T * sizeof **tokens);
    if (!*tokens) return cc_fail(err, "out of memory for %d x %d tokens", batch, T);
    return cc_repeat_tokens(&(*m)->cfg, o->seed, batch, o->n, *tokens, err);
}

json_t *rt_json_header(const char *cmd, const cc_model *m, const rt_opts *o, int batch)
{
    return json_pack("{s:s, s:s, s:b, s:I, s:i, s:i, s:i}", "command", cmd, "model", m->model_path, "processing",
                     m->processed, "seed", (json_int_t)o->seed, "seq_len", o->n, "positions", 1 + 2 * o->n, "batch",
                     batch);
}

json_t *rt_json_lh(const double *v, int L, int H)
{
    json_t *a = json_array();
    for (int l = 0; l < L; l++) {
        json_t *row = json_array();
        for (int h = 0; h < H; h++) json_array_append_new(row, json_real(v[l * H + h]));
        json_array_append_new(a, row);
    }
    return a;
}

void rt_print_header(const cc_model *m, const rt_opts *o, int batch)
{
    printf("model %s (%s), seed %llu, seq_len %d (%d positions: BOS + 2 x %d), batch %d\n", m->model_path,
           m->processed ? "processed" : "unprocessed", o->seed, o->n, 1 + 2 * o->n, o->n, batch);
}
