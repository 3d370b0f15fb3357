/* cmd_cache.c — `circuitc cache`: TransformerLens' run_with_cache from the
 * command line. The hooks --hooks chooses (cc_hook_select) are cached in one
 * forward pass of the prompt batch and written to --out (cc_cache_write,
 * include/circuitc/act_cache.h). */
#include <stdio.h>

#include "circuitc/act_cache.h"
#include "circuitc/fsio.h"
#include "prompt_cli.h"

/* What was written: the file, then each hook's name and shape. */
static json_t *cache_json(const char *path, const cc_config *cfg, const uint64_t *sel, const cc_prompt_batch *b)
{
    json_t *hooks = json_array();
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < CC_FWD_MAX_LAYERS; l++) {
            if (!(sel[k] >> l & 1)) continue;
            char name[96];
            cc_act_shape s = cc_hook_shape(cfg, (cc_hook_kind)k, b->batch, b->pos);
            json_t *shape = json_array();
            for (int d = 0; d < s.ndim; d++) json_array_append_new(shape, json_integer(s.dim[d]));
            json_array_append_new(hooks, json_pack("{s:s, s:o}", "name", cc_hook_name((cc_hook_kind)k, l, name,
                                                                                         sizeof name), "shape", shape));
        }
    return json_pack("{s:o, s:I, s:o}", "out", cli_json_path(path), "bytes",
                     (json_int_t)cc_hook_select_bytes(cfg, sel, b->batch, b->pos), "hooks", hooks);
}

static void print_summary(json_t *j, const cc_prompt_batch *b)
{
    json_t *hooks = json_object_get(j, "hooks");
    printf("wrote %zu hooks (%.2f MiB, %d prompt%s x %d positions) to %s\n", json_array_size(hooks),
           (double)json_integer_value(json_object_get(j, "bytes")) / (1 << 20), b->batch, b->batch > 1 ? "s" : "",
           b->pos, json_string_value(json_object_get(j, "out")));
    size_t i;
    json_t *h;
    json_array_foreach(hooks, i, h) {
        printf("  %-36s [", json_string_value(json_object_get(h, "name")));
        size_t d;
        json_t *n;
        json_array_foreach(json_object_get(h, "shape"), d, n) printf("%s%lld", d ? ", " : "", json_integer_value(n));
        printf("]\n");
    }
}

static int run(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, false, &o);
    if (rc >= 0) return rc;
    const char *out = a->v[O_CACHE_OUT].s;
    if (!out) return cli_usage_error("cache", "--out FILE.safetensors or FILE.npz is required");
    cc_error err;
    cc_cache_format fmt;
    if (cc_cache_format_of(out, &fmt, &err) != 0 || cc_out_check(out, NULL, &err) != 0)
        return cli_usage_error("cache", "%s", err.msg);
    cc_model *m = NULL;
    cc_prompt_batch b;
    uint64_t sel[CC_HOOK_COUNT];
    cc_fwd_opts fo = {.kernel = CC_KERNEL_FAST};
    cc_fwd_result res = {0};
    if (prompt_setup(&o, 0, &m, &b, &err) != 0 || cc_hook_select(cc_model_config(m), a->v[O_HOOKS].s, sel, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        for (int k = 0; k < CC_HOOK_COUNT; k++) fo.cache[k] = sel[k];
        if (cc_forward(m, b.tokens, b.batch, b.pos, &fo, &res, &err) != 0 ||
            cc_cache_write(out, cc_model_config(m), &res, sel, &err) != 0) {
            rc = cli_fail(&err);
        } else {
            json_t *j = cache_json(out, cc_model_config(m), sel, &b);
            if (o.common.json) {
                rc = cli_print_result(j);
            } else {
                print_summary(j, &b);
                json_decref(j);
                rc = CLI_OK;
            }
        }
    }
    cc_fwd_result_free(&res);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_cache = {
    .name = "cache",
    .synopsis = "",
    .summary = "a prompt's activations at chosen hooks, to .safetensors or .npz (run_with_cache)",
    .description =
        "Runs the prompt (or a --prompt-file / --tokens batch, padded on the right as to_tokens does)\n"
        "through the model as TransformerLens' run_with_cache does and writes the activations of the\n"
        "hooks --hooks chooses to --out: each a float32 tensor named and shaped as TransformerLens\n"
        "names and shapes it (blocks.0.attn.hook_pattern [batch, heads, pos, pos], docs/hooks.md).\n"
        "FILE.safetensors loads with safetensors' load_file (numpy or torch), FILE.npz with\n"
        "numpy.load. Only the chosen hooks are kept in memory: --json gives their bytes. The file is\n"
        "written complete or not at all (README \"Reliability\").\n",
    .examples = "cache --tokens 511,17,301,99,4,17,301,99 --hooks 'blocks.*.attn.hook_pattern' -o /tmp/c.safetensors\n"
                "cache --tokens 511,17,301,99 --hooks resid_pre,logits --out /tmp/c.npz --json\n",
    .options = (const opt_id[]){CLI_PROMPT_OPTIONS, O_HOOKS, O_CACHE_OUT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
