/* runtime.c — shared option parsing and output for the runtime commands. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

void rt_begin(const cli_args *a, rt_opts *o)
{
    *o = (rt_opts){.common = a->common,
                   .n = a->v[O_SEQ_LEN].i,
                   .n_given = a->v[O_SEQ_LEN].given,
                   .batch = a->v[O_BATCH].i,
                   .seed = a->v[O_SEED].u,
                   .top = a->v[O_TOP].i,
                   .mode = a->v[O_ABLATE].choice == 0 ? CC_ABLATE_MEAN : CC_ABLATE_ZERO,
                   .naive = a->v[O_NAIVE].on,
                   .exclude_bos = a->v[O_EXCLUDE_BOS].on,
                   .exclude_current = a->v[O_EXCLUDE_CURRENT].on,
                   .args = a->pos,
                   .n_args = a->n_pos};
    cli_progress_begin(a->cmd->name); /* the forward passes report per layer (cli_progress_update) */
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

int rt_fit_seq_len(const cc_config *cfg, bool given, int *n, cc_error *err)
{
    int max_n = cc_repeat_max_n(cfg);
    if (!given && *n > max_n) *n = max_n;
    if (*n > max_n)
        return cc_fail(err,
                       "--seq-len %d is too long for this model: repeated tokens need 1+2*seq_len = %d positions but "
                       "n_ctx = %d; use --seq-len %d or less",
                       *n, 1 + 2 * *n, cfg->n_ctx, max_n);
    return 0;
}

int rt_prepare(rt_opts *o, int batch, cc_model **m, cc_error *err)
{
    if (cli_load_model(&o->common, m, err) != 0) return -1;
    if (rt_fit_seq_len(cc_model_config(*m), o->n_given, &o->n, err) != 0) return -1;
    return check_batch_memory(cc_model_config(*m), batch, 1 + 2 * o->n, err);
}

cc_repeat_input rt_input(const rt_opts *o) { return (cc_repeat_input){.seed = o->seed, .seq_len = o->n, .batch = o->batch}; }

int rt_setup(rt_opts *o, int batch, cc_model **m, int **tokens, cc_error *err)
{
    *tokens = NULL;
    if (rt_prepare(o, batch, m, err) != 0) return -1;
    int T = 1 + 2 * o->n;
    *tokens = malloc((size_t)batch * T * sizeof **tokens);
    if (!*tokens) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d x %d tokens", batch, T);
    return cc_repeat_tokens(cc_model_config(*m), o->seed, batch, o->n, *tokens, err);
}

void rt_print_header(const cc_model *m, const rt_opts *o, int batch)
{
    printf("model %s (%s), seed %llu, seq_len %d (%d positions: BOS + 2 x %d), batch %d\n", cc_model_path(m),
           cc_model_processed(m) ? "processed" : "unprocessed", o->seed, o->n, 1 + 2 * o->n, o->n, batch);
}

int rt_begin_prompt(const cli_args *a, prompt_opts *p)
{
    static const opt_id repeated[] = {O_SEQ_LEN, O_BATCH, O_SEED};
    for (size_t i = 0; i < sizeof repeated / sizeof *repeated; i++)
        if (a->v[repeated[i]].given)
            return cli_usage_error(a->cmd->name, "--%s sets the repeated random tokens: leave it out with --prompt, "
                                                 "--prompt-file or --tokens",
                                   cli_options[repeated[i]].name);
    return prompt_begin(a, false, p);
}

void rt_print_prompt_header(const cc_model *m, const cc_prompt_batch *b)
{
    printf("model %s (%s), %d prompt%s of %d %s\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed", b->batch,
           b->batch == 1 ? "" : "s", b->length[0], cli_tokens_word(b->length[0]));
}
